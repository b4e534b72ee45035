# dm-broker: one non-recursive Makefile.
#
#   make              build everything into $(BUILD) (default build/)
#   make check        the whole test suite (the README's test command)
#   make check-asan   the unit and integration suites built with ASan+UBSan
#   make bench        benchmarks (figures and ratios, not pass/fail)
#   make demo         the main job on the simulator
#   make format       apply .clang-format
#
# SANITIZE=1 builds with ASan+UBSan (check-asan uses BUILD=build/asan).

BUILD    ?= build
O        := $(BUILD)/obj
BIN      := $(BUILD)/bin
LIBEXEC  := $(BUILD)/libexec
TESTBIN  := $(BUILD)/tests

CC       ?= cc
CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
            -Wformat=2 -Wpointer-arith -Wvla -Wno-format-nonliteral
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE -D__XEN_TOOLS__ -I. $(WARN) $(CFLAGS) -MMD -MP
ALL_LDFLAGS := $(LDFLAGS)

# Quiet by default; V=1 shows every command.
ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-6s %s\n' $(1) $(2)
endif

ifeq ($(SANITIZE),1)
ALL_CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
ALL_LDFLAGS += -fsanitize=address,undefined
endif

PKG_LIBS_EVENT   := $(shell pkg-config --libs libevent)
PKG_LIBS_JSON    := $(shell pkg-config --libs json-c)
PKG_LIBS_SECCOMP := $(shell pkg-config --libs libseccomp)
PKG_LIBS_CAPNG   := $(shell pkg-config --libs libcap-ng)
PKG_CFLAGS_JSON  := $(shell pkg-config --cflags json-c)
ALL_CFLAGS += $(PKG_CFLAGS_JSON)
XEN_LIBS := -lxendevicemodel -lxenforeignmemory -lxenevtchn -lxenstore -lxenctrl -lxentoolcore

# ---- libraries -------------------------------------------------------------

COMMON_SRCS := $(wildcard common/*.c)
IPC_SRCS    := $(wildcard ipc/*.c)
HV_SRCS     := $(filter-out hv/hv_xen.c,$(wildcard hv/*.c))
HVXEN_SRCS  := $(wildcard hv/hv_xen.c)
DMB_SRCS    := $(wildcard dm/*.c)
SIM_SRCS    := $(filter-out sim/main-%.c,$(wildcard sim/*.c))
DEV_SRCS    := $(filter-out devices/main-%.c,$(wildcard devices/*.c))
DAEMON_SRCS := $(filter-out daemon/main.c,$(wildcard daemon/*.c))

obj = $(patsubst %.c,$(O)/%.o,$(1))

LIBCOMMON := $(O)/libcommon.a
LIBIPC    := $(O)/libipc.a
LIBHV     := $(O)/libhv.a
LIBDMB    := $(O)/libdmb.a
LIBSIM    := $(O)/libsim.a
LIBDEV    := $(O)/libdevices.a
LIBDAEMON := $(O)/libdaemon.a

$(LIBCOMMON): $(call obj,$(COMMON_SRCS))
$(LIBIPC):    $(call obj,$(IPC_SRCS))
$(LIBHV):     $(call obj,$(HV_SRCS) $(HVXEN_SRCS))
$(LIBDMB):    $(call obj,$(DMB_SRCS))
$(LIBSIM):    $(call obj,$(SIM_SRCS))
$(LIBDEV):    $(call obj,$(DEV_SRCS))
$(LIBDAEMON): $(call obj,$(DAEMON_SRCS))

$(O)/%.a:
	@mkdir -p $(dir $@)
	@rm -f $@
	$(call msg,AR,$@)
	$(Q)$(AR) rcs $@ $^

# Xen's xenctrl.h (hv/hv_xen.c only) uses anonymous unions: GNU C for that one file.
$(O)/hv/hv_xen.o: ALL_CFLAGS += -std=gnu11

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call msg,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

# ---- programs --------------------------------------------------------------

BASE_LIBS := $(LIBIPC) $(LIBCOMMON)

PROGRAMS := $(BIN)/dmbsimd $(BIN)/dmbsimctl
DEVICES  := $(patsubst devices/main-%.c,$(LIBEXEC)/dm-%,$(wildcard devices/main-*.c))

ifneq ($(wildcard daemon/main.c),)
PROGRAMS += $(BIN)/dmbrokerd
endif
ifneq ($(wildcard cli/dmbrokerctl.c),)
PROGRAMS += $(BIN)/dmbrokerctl
endif

$(BIN)/dmbsimd: $(O)/sim/main-simd.o $(LIBSIM) $(BASE_LIBS)
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ -lpthread

$(BIN)/dmbsimctl: $(O)/sim/main-simctl.o $(LIBSIM) $(LIBHV) $(BASE_LIBS)
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ -lpthread $(XEN_LIBS)

$(BIN)/dmbrokerd: $(O)/daemon/main.o $(LIBDAEMON) $(LIBHV) $(LIBSIM) $(BASE_LIBS)
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS_EVENT) $(PKG_LIBS_JSON) $(PKG_LIBS_SECCOMP) \
		$(PKG_LIBS_CAPNG) $(XEN_LIBS) -lpthread

$(BIN)/dmbrokerctl: $(O)/cli/dmbrokerctl.o $(LIBDAEMON) $(LIBHV) $(LIBSIM) $(BASE_LIBS)
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS_JSON) $(PKG_LIBS_EVENT) $(PKG_LIBS_SECCOMP) \
		$(PKG_LIBS_CAPNG) $(XEN_LIBS) -lpthread

# Device models link no Xen library: libdmb talks to privcmd/evtchn fds with ioctls.
$(LIBEXEC)/dm-%: $(O)/devices/main-%.o $(LIBDEV) $(LIBDMB) $(BASE_LIBS)
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS_SECCOMP)

# ---- tests -----------------------------------------------------------------

TEST_SRCS  := $(wildcard tests/unit/test-*.c)
TESTS      := $(patsubst tests/unit/%.c,$(TESTBIN)/%,$(TEST_SRCS))
TEST_HELPERS := $(filter-out tests/unit/test-%.c,$(wildcard tests/unit/*.c)) tests/test.c
TEST_HELPER_OBJS := $(call obj,$(TEST_HELPERS))
TEST_LINK := $(LIBDAEMON) $(LIBDEV) $(LIBDMB) $(LIBHV) $(LIBSIM) $(BASE_LIBS) \
	$(PKG_LIBS_EVENT) $(PKG_LIBS_JSON) $(PKG_LIBS_SECCOMP) $(PKG_LIBS_CAPNG) $(XEN_LIBS) -lpthread

# Test helper programs (probes, raw device models) built from tests/progs/*.c.
TPROG_SRCS := $(wildcard tests/progs/*.c)
TPROGS     := $(patsubst tests/progs/%.c,$(TESTBIN)/progs/%,$(TPROG_SRCS))

$(TESTBIN)/test-%: $(O)/tests/unit/test-%.o $(TEST_HELPER_OBJS) $(TEST_LINK_DEPS) \
		$(LIBDAEMON) $(LIBDEV) $(LIBDMB) $(LIBHV) $(LIBSIM) $(BASE_LIBS)
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(O)/tests/unit/test-$*.o $(TEST_HELPER_OBJS) $(TEST_LINK)

$(TESTBIN)/progs/%: $(O)/tests/progs/%.o $(LIBDAEMON) $(LIBDEV) $(LIBDMB) $(LIBHV) $(LIBSIM) $(BASE_LIBS)
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS_SECCOMP) $(XEN_LIBS) -lpthread

# ---- benchmarks ------------------------------------------------------------

BENCH_SRCS := $(wildcard bench/*.c)
BENCHES    := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))

$(BUILD)/bench/%: $(O)/bench/%.o $(LIBDAEMON) $(LIBDEV) $(LIBDMB) $(LIBHV) $(LIBSIM) $(BASE_LIBS)
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS_EVENT) $(PKG_LIBS_JSON) $(PKG_LIBS_SECCOMP) \
		$(PKG_LIBS_CAPNG) $(XEN_LIBS) -lpthread

# ---- real-Xen guest images -------------------------------------------------
# `make check-xen` boots Debian's Xen 4.17 under qemu (tests/xen/run.sh) and
# runs scenario files in a tiny PVH guest kernel of our own (tests/xen/guest).
# scn2c, a host tool, compiles .scn files into C tables; guest-NAME.elf is the
# guest linked with the table of XEN_GUEST_SCN_NAME, built with the extra
# flags XEN_GUEST_DEFS_NAME.  The guest is 32-bit and freestanding: gcc -m32
# and ld -m elf_i386, no 32-bit libc needed.

XENT  := $(TESTBIN)/xen
SCN2C := $(XENT)/scn2c

$(SCN2C): $(O)/tests/xen/scn2c.o $(LIBSIM) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^

XEN_GUESTS            := all devices uart crash bench pair adopt echo
XEN_GUEST_SCN_all     := tests/scenarios/all.scn
XEN_GUEST_SCN_devices := $(addprefix tests/scenarios/,hostbridge.scn unclaimed.scn pcitest.scn \
                         barmove.scn)
XEN_GUEST_SCN_uart    := tests/scenarios/uart.scn
XEN_GUEST_SCN_crash   := tests/scenarios/crash.scn
XEN_GUEST_DEFS_crash  := -DSCN_REPEAT=20
XEN_GUEST_SCN_bench   := tests/scenarios/echo.scn
XEN_GUEST_DEFS_bench  := -DBENCH_PORT=0x510 -DBENCH_N=2000
XEN_GUEST_SCN_pair    := tests/scenarios/echo.scn
XEN_GUEST_DEFS_pair   := -DBENCH_PORT=0x510 -DBENCH_PORT2=0x520 -DBENCH_N=2000
XEN_GUEST_SCN_adopt   := tests/scenarios/adopt.scn
XEN_GUEST_DEFS_adopt  := -DSCN_REPEAT=300
XEN_GUEST_SCN_echo    := tests/scenarios/echo.scn

GUEST_CC      := gcc
GUEST_LD      := ld
GUEST_CFLAGS  := -m32 -march=i686 -std=gnu11 -O2 -g -ffreestanding -nostdlib -fno-pic -fno-pie \
                 -fno-stack-protector -fno-asynchronous-unwind-tables -mno-sse -mno-mmx \
                 -Wall -Wextra -Werror -Wmissing-prototypes -Wstrict-prototypes -Itests/xen/guest
GUEST_LDFLAGS := -m elf_i386 -nostdlib -static -T tests/xen/guest/guest.ld \
                 $(shell $(GUEST_LD) --help 2>/dev/null | grep -q no-warn-rwx-segments && \
                         echo --no-warn-rwx-segments)
GUEST_HDRS    := tests/xen/guest/guest.h tests/xen/guest/scn-table.h
GUEST_OBJS     = $(addprefix $(XENT)/obj-$(1)/,head.o cpu.o runner.o table.o)

# One object directory per image: XEN_GUEST_DEFS_NAME may change any object
# (and the Makefile holds them, hence the dependency).
define xen_guest
$(XENT)/obj-$(1)/table.c: $(XEN_GUEST_SCN_$(1)) $(SCN2C)
	@mkdir -p $$(dir $$@)
	$$(call msg,SCN2C,$$@)
	$$(Q)$(SCN2C) -o $$@ $(XEN_GUEST_SCN_$(1))

$(XENT)/obj-$(1)/table.o: $(XENT)/obj-$(1)/table.c $(GUEST_HDRS)
	$$(call msg,CC32,$$@)
	$$(Q)$(GUEST_CC) $(GUEST_CFLAGS) $(XEN_GUEST_DEFS_$(1)) -c -o $$@ $$<

$(XENT)/obj-$(1)/%.o: tests/xen/guest/%.c $(GUEST_HDRS) Makefile
	@mkdir -p $$(dir $$@)
	$$(call msg,CC32,$$@)
	$$(Q)$(GUEST_CC) $(GUEST_CFLAGS) $(XEN_GUEST_DEFS_$(1)) -c -o $$@ $$<

$(XENT)/obj-$(1)/%.o: tests/xen/guest/%.S Makefile
	@mkdir -p $$(dir $$@)
	$$(call msg,AS32,$$@)
	$$(Q)$(GUEST_CC) $(GUEST_CFLAGS) $(XEN_GUEST_DEFS_$(1)) -c -o $$@ $$<

$(XENT)/guest-$(1).elf: $(call GUEST_OBJS,$(1)) tests/xen/guest/guest.ld
	$$(call msg,LD32,$$@)
	$$(Q)$(GUEST_LD) $(GUEST_LDFLAGS) -o $$@ $(call GUEST_OBJS,$(1))
endef
$(foreach g,$(XEN_GUESTS),$(eval $(call xen_guest,$(g))))

XEN_GUEST_ELFS := $(foreach g,$(XEN_GUESTS),$(XENT)/guest-$(g).elf)

.PHONY: xen-guests check-xen
xen-guests: $(SCN2C) $(XEN_GUEST_ELFS)

# Also run by `make check` (tests/run-all.sh; CHECK_XEN=0 skips it): needs the
# Debian archive (tests/xen/fetch.sh) and about three minutes.  dom0 gets the
# programs, the device models and tests/progs.
check-xen: programs $(TPROGS) xen-guests
	@tests/xen/scn2c-test.sh $(BUILD) > $(XENT)/scn2c-test.log || \
		{ cat $(XENT)/scn2c-test.log; exit 1; }
	@tail -n 1 $(XENT)/scn2c-test.log
	@tests/xen/fetch.sh
	@tests/xen/build-initramfs.sh $(BUILD)
	@tests/xen/run.sh $(BUILD)

# ---- top-level targets -----------------------------------------------------

# Keep objects that only pattern chains need (make would delete them as intermediates).
.SECONDARY:

.PHONY: all programs tests check check-unit check-asan bench demo format clean
.DEFAULT_GOAL := all

all: programs tests $(BENCHES)
programs: $(PROGRAMS) $(DEVICES)
tests: $(TESTS) $(TPROGS)

# The whole suite: plain build, then the ASan+UBSan build; one summary line.
check: all
	@tests/run-all.sh

check-unit: all
	@tests/run.sh --build $(BUILD)

check-asan:
	@$(MAKE) --no-print-directory BUILD=build/asan SANITIZE=1 all
	@tests/run.sh --build build/asan

bench: all
	@bench/run.sh $(BUILD)

demo: all
	@tools/demo.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)

# ---- security suite: make check-security ------------------------------------
# tests/security/test-*.c: live device models under dmbrokerd on the simulator,
# attacked by tests/progs/security-probe (built with the other test programs),
# and `dmbrokerctl verify` (docs/security.md).  The binary goes next to the unit
# tests ($(TESTBIN)/test-security), so tests/run.sh runs it like any of them.
# check-security-asan runs it against the ASan+UBSan broker (build/asan); the
# device models and probes always come from the plain build (TEST_DM_BUILDDIR).

SECTEST_SRCS := $(wildcard tests/security/test-*.c)
SECTESTS     := $(patsubst tests/security/%.c,$(TESTBIN)/%,$(SECTEST_SRCS))

$(SECTESTS): $(TESTBIN)/%: $(O)/tests/security/%.o $(TEST_HELPER_OBJS) \
		$(LIBDAEMON) $(LIBDEV) $(LIBDMB) $(LIBHV) $(LIBSIM) $(BASE_LIBS)
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(O)/tests/security/$*.o $(TEST_HELPER_OBJS) $(TEST_LINK)

.PHONY: security-tests check-security check-security-asan
security-tests: programs $(TPROGS) $(SECTESTS)
# Part of every build, so that `make check` (tests/run.sh) runs it too.
tests: $(SECTESTS)

check-security: security-tests
	@tests/run.sh --build $(BUILD) $(SECTESTS)

check-security-asan:
	@$(MAKE) --no-print-directory security-tests
	@$(MAKE) --no-print-directory BUILD=build/asan SANITIZE=1 security-tests
	@tests/run.sh --build build/asan --label asan: build/asan/tests/test-security

# ---- end of the security suite -----------------------------------------------

# ---- man pages: make check-man ----------------------------------------------
# tests/docs/test-manpages.sh checks man/*.[358] against the code they describe
# (options, commands, policy keys, dm/dmb.h) and that each formats without a
# warning; `make check` runs it too (tests/run-all.sh).

.PHONY: check-man
check-man: programs
	@tests/run.sh --build $(BUILD) tests/docs/test-manpages.sh

# ---- end of the man pages ----------------------------------------------------

-include $(shell find $(O) -name '*.d' 2>/dev/null)

# ---- fuzzing ---------------------------------------------------------------
#
#   make fuzz-build   the libFuzzer targets tests/fuzz/fuzz-*.c, into $(FUZZ_BUILD)
#   make fuzz         build them, then run each for FUZZ_TIME seconds (default 60) on a
#                     scratch copy of its corpus (tests/fuzz/run.sh; the repo is not touched)
#
# clang only (Debian: clang, libclang-rt-14-dev).  Every source a target links is compiled
# again here with clang, ASan+UBSan and libFuzzer's coverage instrumentation, into its own
# object directory: the gcc objects in $(O) carry no coverage.  Everything, helpers
# included, goes into one archive, so each target links only what it uses.

FUZZ_CC     ?= clang
FUZZ_BUILD  ?= $(BUILD)/fuzz
FUZZ_TIME   ?= 60
FUZZ_O      := $(FUZZ_BUILD)/obj
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# No -Werror: a clang warning gcc does not give must not stop the fuzzers from building
# (clang flags seccomp.h's SCMP_A0() initialisers).
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -D__XEN_TOOLS__ -I. $(filter-out -Werror,$(WARN)) \
               -Wno-missing-field-initializers $(PKG_CFLAGS_JSON) -g -O1 $(FUZZ_SAN) \
               -fsanitize=fuzzer-no-link -MMD -MP
FUZZ_LIBS   := $(PKG_LIBS_EVENT) $(PKG_LIBS_JSON) $(PKG_LIBS_SECCOMP) $(PKG_LIBS_CAPNG) \
               $(XEN_LIBS) -lpthread
# A target never starts a process: tests/fuzz/fakehv.c stands in for sandbox_spawn().
FUZZ_WRAP   := -Wl,--wrap=sandbox_spawn

fuzzobj = $(patsubst %.c,$(FUZZ_O)/%.o,$(1))

FUZZ_SRCS    := $(wildcard tests/fuzz/fuzz-*.c)
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(FUZZ_SRCS))
FUZZ_HELPERS := $(filter-out $(FUZZ_SRCS),$(wildcard tests/fuzz/*.c))
FUZZ_LIB     := $(FUZZ_O)/libfuzzdeps.a
FUZZ_LIB_SRCS := $(COMMON_SRCS) $(IPC_SRCS) $(HV_SRCS) $(HVXEN_SRCS) $(DMB_SRCS) $(SIM_SRCS) \
                 $(DAEMON_SRCS) $(FUZZ_HELPERS)

$(FUZZ_LIB): $(call fuzzobj,$(FUZZ_LIB_SRCS))
	@mkdir -p $(dir $@)
	@rm -f $@
	$(call msg,AR,$@)
	$(Q)$(AR) rcs $@ $^

$(FUZZ_O)/hv/hv_xen.o: FUZZ_CFLAGS += -std=gnu11

$(FUZZ_O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

# Targets with fake device models: pidfd_send_signal() only ever reaches a fake pidfd (an
# eventfd), and a fake device model told to shut down exits (tests/fuzz/fakehv.c).
$(FUZZ_BUILD)/fuzz-dmframes $(FUZZ_BUILD)/fuzz-control: \
	FUZZ_WRAP += -Wl,--wrap=syscall,--wrap=frame_send
# fuzz-dmframes sees which frame the broker is handling when it calls the hypervisor.
$(FUZZ_BUILD)/fuzz-dmframes: FUZZ_WRAP += -Wl,--wrap=frame_recv,--wrap=dmchan_readable

$(FUZZ_BUILD)/fuzz-%: $(FUZZ_O)/tests/fuzz/fuzz-%.o $(FUZZ_LIB)
	$(call msg,LD,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $(FUZZ_WRAP) -o $@ $^ $(FUZZ_LIBS)

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_TARGETS)

fuzz:
	@tests/fuzz/run.sh --time $(FUZZ_TIME) --build $(FUZZ_BUILD)

-include $(shell find $(FUZZ_O) -name '*.d' 2>/dev/null)

# ---- install, uninstall, Debian package --------------------------------------
#
#   make install     [PREFIX=/usr/local] [DESTDIR=] (and any *DIR below)
#   make uninstall   the same variables: removes exactly what install put there
#   make deb         dm-broker and libdmb-dev .debs from a copy of the tree, into $(BUILD)/deb
#   make check-install   tests/install/test-install.sh (part of make check)
#   make check-systemd   the .deb under Debian's systemd as PID 1 in a qemu VM (tests/systemd)
#
# Policies name device models by their Debian path, /usr/libexec/dm-broker/NAME.
# The installed dmbrokerd is built to look for them in LIBEXECDIR instead
# (daemon/main.c, DMB_LIBEXECDIR), so a /usr/local install runs its own;
# --libexec-dir overrides.
# The policy goes to $(SYSCONFDIR)/dm-broker only if none is there, and
# uninstall removes it only if unchanged.  libdmb.a is one relocatable object
# whose only global symbols are dmb_*: common/ and ipc/ stay private to it.

PREFIX         ?= /usr/local
BINDIR         ?= $(PREFIX)/bin
SBINDIR        ?= $(PREFIX)/sbin
LIBDIR         ?= $(PREFIX)/lib
LIBEXECDIR     ?= $(PREFIX)/libexec/dm-broker
INCLUDEDIR     ?= $(PREFIX)/include
PKGCONFIGDIR   ?= $(LIBDIR)/pkgconfig
DATADIR        ?= $(PREFIX)/share
MANDIR         ?= $(DATADIR)/man
POLICYDIR      ?= $(DATADIR)/dm-broker/policies
SYSCONFDIR     ?= /etc
# Debian 12 keeps units in /lib (not /usr/lib) until its /usr merge is finished.
SYSTEMDUNITDIR ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
OBJCOPY        ?= objcopy
INSTALL        ?= install
DMB_VERSION    := $(or $(shell awk -F'[()]' 'NR == 1 { print $$2 }' debian/changelog 2> /dev/null),0)

# What depends on the directories is remade when they change: the stamp is
# rewritten only then (the installed dmbrokerd, dmb.pc, the units).
INSTALL_PATHS := $(PREFIX) $(SBINDIR) $(LIBDIR) $(LIBEXECDIR) $(INCLUDEDIR) $(DMB_VERSION)
PATHS_STAMP   := $(BUILD)/install-paths.stamp
$(PATHS_STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(INSTALL_PATHS)' | cmp -s - $@ || echo '$(INSTALL_PATHS)' > $@

# The installed dmbrokerd looks for device models in LIBEXECDIR, and the
# installed dmbrokerctl's `policy check` with it; $(BIN)/dmbrokerd keeps
# /usr/libexec/dm-broker (tests/xen's initramfs puts them there).  Linked as
# the $(BIN) ones are.
INST_BROKER := $(BUILD)/install/dmbrokerd
INST_CTL    := $(BUILD)/install/dmbrokerctl
$(O)/%-installed.o: %.c $(PATHS_STAMP)
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -DDMB_LIBEXECDIR='"$(LIBEXECDIR)"' -c -o $@ $<

$(INST_BROKER): $(O)/daemon/main-installed.o
$(INST_CTL): $(O)/cli/dmbrokerctl-installed.o
$(INST_BROKER) $(INST_CTL): $(LIBDAEMON) $(LIBHV) $(LIBSIM) $(BASE_LIBS)
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(filter-out %.o,$^) $(PKG_LIBS_EVENT) $(PKG_LIBS_JSON) $(PKG_LIBS_SECCOMP) \
		$(PKG_LIBS_CAPNG) $(XEN_LIBS) -lpthread

LIBDMB_PUB  := $(BUILD)/lib/libdmb.a
LIBDMB_OBJS := $(call obj,$(DMB_SRCS) $(IPC_SRCS) $(COMMON_SRCS))
DMB_PC      := $(BUILD)/lib/dmb.pc
UNITS       := $(wildcard systemd/*.service systemd/*.socket systemd/*.target)
UNITS_OUT   := $(patsubst systemd/%,$(BUILD)/systemd-units/%,$(UNITS))
MANPAGES     = $(wildcard man/*.[1-8])

$(LIBDMB_PUB): $(LIBDMB_OBJS)
	@mkdir -p $(dir $@)
	$(call msg,AR,$@)
	$(Q)$(LD) -r -o $(@:.a=.o) $^
	$(Q)$(OBJCOPY) --wildcard --keep-global-symbol='dmb_*' $(@:.a=.o)
	$(Q)rm -f $@ && $(AR) rcs $@ $(@:.a=.o) && rm -f $(@:.a=.o)

# Static only: libdmb's own dependencies belong on every link line, so in Libs.
$(DMB_PC): $(PATHS_STAMP) Makefile
	@mkdir -p $(dir $@)
	$(call msg,GEN,$@)
	$(Q)printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCLUDEDIR)' '' \
		'Name: dmb' 'Description: libdmb, the library of dm-broker device models' \
		'Version: $(DMB_VERSION)' 'Cflags: -I$${includedir}' \
		'Libs: -L$${libdir} -ldmb $(strip $(PKG_LIBS_SECCOMP))' > $@

$(BUILD)/systemd-units/%: systemd/% $(PATHS_STAMP) Makefile
	@mkdir -p $(dir $@)
	$(call msg,GEN,$@)
	$(Q)sed 's|/usr/sbin/dmbrokerd|$(SBINDIR)/dmbrokerd|g' $< > $@

.PHONY: install-files install uninstall deb check-install check-systemd FORCE
install-files: programs $(INST_BROKER) $(INST_CTL) $(LIBDMB_PUB) $(DMB_PC) $(UNITS_OUT)

install: install-files
	$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) \
		$(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(INCLUDEDIR)/dmb \
		$(DESTDIR)$(POLICYDIR) $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSCONFDIR)/dm-broker
	$(INSTALL) -m 0755 $(INST_BROKER) $(DESTDIR)$(SBINDIR)/
	$(INSTALL) -m 0755 $(INST_CTL) $(BIN)/dmbsimd $(BIN)/dmbsimctl $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 0755 $(DEVICES) $(DESTDIR)$(LIBEXECDIR)/
	$(INSTALL) -m 0644 $(LIBDMB_PUB) $(DESTDIR)$(LIBDIR)/
	$(INSTALL) -m 0644 $(DMB_PC) $(DESTDIR)$(PKGCONFIGDIR)/
	$(INSTALL) -m 0644 dm/dmb.h $(DESTDIR)$(INCLUDEDIR)/dmb/
	$(INSTALL) -m 0644 policy/examples/*.json $(DESTDIR)$(POLICYDIR)/
	$(INSTALL) -m 0644 $(UNITS_OUT) $(DESTDIR)$(SYSTEMDUNITDIR)/
	[ -e $(DESTDIR)$(SYSCONFDIR)/dm-broker/policy.json ] || \
		$(INSTALL) -m 0644 policy/policy.json $(DESTDIR)$(SYSCONFDIR)/dm-broker/policy.json
	for m in $(MANPAGES); do \
		s=$${m##*.}; $(INSTALL) -d $(DESTDIR)$(MANDIR)/man$$s && \
		$(INSTALL) -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/ || exit 1; \
	done

# rmdir only the directories that are ours alone, and only if empty.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/dmbrokerd $(addprefix $(DESTDIR)$(BINDIR)/,dmbrokerctl dmbsimd \
		dmbsimctl) $(addprefix $(DESTDIR)$(LIBEXECDIR)/,$(notdir $(DEVICES))) \
		$(DESTDIR)$(LIBDIR)/libdmb.a $(DESTDIR)$(PKGCONFIGDIR)/dmb.pc \
		$(DESTDIR)$(INCLUDEDIR)/dmb/dmb.h \
		$(addprefix $(DESTDIR)$(POLICYDIR)/,$(notdir $(wildcard policy/examples/*.json))) \
		$(addprefix $(DESTDIR)$(SYSTEMDUNITDIR)/,$(notdir $(UNITS)))
	for m in $(MANPAGES); do rm -f $(DESTDIR)$(MANDIR)/man$${m##*.}/$${m##*/}; done
	if cmp -s policy/policy.json $(DESTDIR)$(SYSCONFDIR)/dm-broker/policy.json; then \
		rm -f $(DESTDIR)$(SYSCONFDIR)/dm-broker/policy.json; \
	elif [ -e $(DESTDIR)$(SYSCONFDIR)/dm-broker/policy.json ]; then \
		echo "uninstall: keeping $(DESTDIR)$(SYSCONFDIR)/dm-broker/policy.json (changed)"; \
	fi
	for d in $(LIBEXECDIR) $(INCLUDEDIR)/dmb $(POLICYDIR) $(DATADIR)/dm-broker \
		$(SYSCONFDIR)/dm-broker; do rmdir $(DESTDIR)$$d 2> /dev/null || true; done

deb:
	@tools/build-deb.sh $(BUILD)/deb

check-install: install-files
	@tests/install/test-install.sh --build $(BUILD)

# Needs Debian's kernel (tests/xen/fetch.sh's cache) and a few minutes under TCG.
check-systemd: deb
	@tests/xen/fetch.sh
	@tests/systemd/run.sh --build $(BUILD)

# ---- end of install, uninstall, Debian package --------------------------------
