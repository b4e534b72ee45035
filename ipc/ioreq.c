/* SPDX-License-Identifier: MIT */
#include "ipc/ioreq.h"

const char *ioreq_type_name(unsigned type)
{
	switch (type) {
	case IOREQ_TYPE_PIO:
		return "pio";
	case IOREQ_TYPE_COPY:
		return "mmio";
	case IOREQ_TYPE_PCI_CONFIG:
		return "pci-config";
	case IOREQ_TYPE_TIMEOFFSET:
		return "timeoffset";
	case IOREQ_TYPE_INVALIDATE:
		return "invalidate";
	default:
		return "unknown";
	}
}

const char *ioreq_state_name(unsigned state)
{
	switch (state) {
	case STATE_IOREQ_NONE:
		return "none";
	case STATE_IOREQ_READY:
		return "ready";
	case STATE_IOREQ_INPROCESS:
		return "inprocess";
	case STATE_IORESP_READY:
		return "resp-ready";
	default:
		return "invalid";
	}
}
