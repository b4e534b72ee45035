#!/usr/bin/env python3
# Regenerate the seed corpora of tests/fuzz/corpus/ (small files, committed):
#   policy    the example policies and the good/bad policy corpus
#   scenario  the scenario files, good and bad
#   control   one request per control command, and near misses
#   ioreq     claim messages and requests in fuzz-ioreq's input format
#   dmframes  device-model conversations in fuzz-dmframes' input format
# The binary formats are the ones fuzz-ioreq.c and fuzz-dmframes.c read; keep them in step.
#   tests/fuzz/mkseeds.py [OUTDIR]     (default tests/fuzz/corpus; run from the repo root)
import os
import shutil
import struct
import sys

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests/fuzz/corpus")


def put(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def copy(target, prefix, paths):
    for p in paths:
        src = os.path.join(root, p)
        if os.path.exists(src) and os.path.getsize(src) <= 4096:
            put(target, prefix + os.path.basename(p), open(src, "rb").read())


def u8(v): return struct.pack("<B", v & 0xff)
def u16(v): return struct.pack("<H", v & 0xffff)
def u32(v): return struct.pack("<I", v & 0xffffffff)
def u64(v): return struct.pack("<Q", v & 0xffffffffffffffff)


# ---- policy, scenario: the project's own corpora ---------------------------------------

def ls(d, ext):
    p = os.path.join(root, d)
    return sorted(os.path.join(d, f) for f in os.listdir(p) if f.endswith(ext)) if os.path.isdir(p) else []


copy("policy", "example-", ls("policy/examples", ".json"))
copy("policy", "good-", [p for p in ls("tests/policies/good", ".json") if not p.endswith(".expect.json")])
bad = ls("tests/policies/bad", ".json")
copy("policy", "bad-", bad[::4])  # every fourth: a sample of each kind of mistake

copy("scenario", "", ls("tests/scenarios", ".scn"))
copy("scenario", "parser-", ls("tests/scenarios/parser", ".scn"))
copy("scenario", "bad-", ls("tests/scenarios/bad", ".scn")[::3])

# ---- control: every command, and what is wrong with requests ---------------------------

control = {
    "status": '{"cmd":"status"}',
    "domains": '{"cmd":"domains"}',
    "dms": '{"cmd":"dms"}',
    "dms-one": '{"cmd":"dms","domid":5}',
    "dms-unknown": '{"cmd":"dms","domid":6}',
    "dms-bad-domid": '{"cmd":"dms","domid":"5"}',
    "attach": '{"cmd":"attach","domid":6}',
    "attach-again": '{"cmd":"attach","domid":5}',
    "attach-nodomain": '{"cmd":"attach","domid":7}',
    "attach-nomatch": '{"cmd":"attach","domid":8}',
    "attach-dying": '{"cmd":"attach","domid":9}',
    "attach-range": '{"cmd":"attach","domid":32752}',
    "detach": '{"cmd":"detach","domid":5}',
    "detach-none": '{"cmd":"detach","domid":6}',
    "restart": '{"cmd":"restart","domid":5,"dm":"uart"}',
    "restart-unknown": '{"cmd":"restart","domid":5,"dm":"nope"}',
    "logs": '{"cmd":"logs","domid":5,"dm":"uart","lines":3}',
    "logs-all": '{"cmd":"logs","domid":5,"dm":"pcitest"}',
    "verify": '{"cmd":"verify","domid":5,"dm":"uart"}',
    "policy-reload": '{"cmd":"policy-reload"}',
    "events": '{"cmd":"events","last":5}',
    "events-follow": '{"cmd":"events","follow":true}\n{"cmd":"restart","domid":5,"dm":"uart"}\n'
                     '{"cmd":"attach","domid":6}',
    "events-bad": '{"cmd":"events","last":-1,"follow":"yes"}',
    "metrics": '{"cmd":"metrics"}',
    "unknown": '{"cmd":"frobnicate"}',
    "not-object": '["status"]',
    "no-cmd": '{"domid":5}',
    "cmd-number": '{"cmd":1}',
    "trailing": '{"cmd":"status"} x',
    "dup-key": '{"cmd":"status","cmd":"dms"}',
    "nested": '{"cmd":"dms","x":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}',
    "escapes": '{"cmd":"logs","domid":5,"dm":"u\\u0061rt"}',
    "nul": '{"cmd":"st\\u0000atus"}',
    "empty-lines": '\n\n{"cmd":"status"}\n\n',
    "attach-detach": '{"cmd":"attach","domid":6}\n{"cmd":"dms"}\n{"cmd":"detach","domid":6}\n'
                     '{"cmd":"domains"}',
    "restart-then-dms": '{"cmd":"restart","domid":5,"dm":"pcitest"}\n{"cmd":"dms","domid":5}',
    "detach-then-attach": '{"cmd":"detach","domid":5}\n{"cmd":"attach","domid":5}\n{"cmd":"status"}',
    "everything": "\n".join(['{"cmd":"status"}', '{"cmd":"domains"}', '{"cmd":"dms"}',
                             '{"cmd":"logs","domid":5,"dm":"uart"}', '{"cmd":"policy-reload"}',
                             '{"cmd":"verify","domid":5,"dm":"pcitest"}',
                             '{"cmd":"restart","domid":5,"dm":"uart"}',
                             '{"cmd":"attach","domid":6}', '{"cmd":"detach","domid":5}']),
}
for k, v in control.items():
    put("control", k, v)

# ---- ioreq ---------------------------------------------------------------------------
# [n_msgs] claim messages: [mode] (kind = mode % 3, n = (mode >> 2) & 15 unless flags)
#   then per range [how] start (how & 3: u8, u16, 0xe0000000 + u16 << 4, u64)
#   and end: how & 0x80 -> u64; PCI without 0x40 -> = start; else start + ((how >> 2) & 15)
#   * (0x40 ? 0x1000 : 1) + (0x20 ? 0xf : 0)
# then records [sel]: sel & 3 == 0 raw ioreq_t (32 bytes); 1 aimed; 2 buffered (16 bytes);
#   3 another claim message (sel & 4: a BAR move instead).

IOREQ_PIO, IOREQ_COPY, IOREQ_PCI, IOREQ_TIMEOFFSET, IOREQ_INVALIDATE = 0, 1, 2, 7, 8


def ioreq_t(addr, data=0, count=1, size=1, state=1, dip=0, dir_=0, df=0, type_=0):
    flags = (state & 0xf) | (dip & 1) << 4 | (dir_ & 1) << 5 | (df & 1) << 6
    return u64(addr) + u64(data) + u32(count) + u32(size) + u32(0) + u16(0) + u8(flags) + u8(type_)


def buf_ioreq(type_, dir_, size_log2, addr, data):
    return u32(type_ | (dir_ & 1) << 9 | (size_log2 & 3) << 10 | (addr & 0xfffff) << 12) + u32(data)


def claim_ports(ranges):  # ranges of (start u16, extra 0..15)
    s = u8(0 | len(ranges) << 2)
    for start, extra in ranges:
        s += u8(1 | extra << 2) + u16(start)
    return s


def claim_mmio(ranges):  # (u16 offset from 0xe0000000 >> 4, pages 0..15)
    s = u8(1 | len(ranges) << 2)
    for off, pages in ranges:
        s += u8(2 | pages << 2 | 0x40) + u16(off)
    return s


def claim_pci(sbdfs):
    s = u8(2 | len(sbdfs) << 2)
    for sbdf in sbdfs:
        s += u8(1) + u16(sbdf)
    return s


std = u8(3) + claim_ports([(0x3f8, 7), (0x60, 4)]) + claim_mmio([(0, 1), (0x100, 0)]) + \
    claim_pci([0x18, 0x20])
put("ioreq", "claims-only", std)
put("ioreq", "pio-ok", std + u8(0) + ioreq_t(0x3f8, size=1, type_=IOREQ_PIO) +
    u8(0) + ioreq_t(0x3fc, 0x12345678, size=4, type_=IOREQ_PIO))
put("ioreq", "pio-bad", std + u8(0) + ioreq_t(0x3fe, size=4, type_=IOREQ_PIO) +
    u8(0) + ioreq_t(0x10000, size=1, type_=IOREQ_PIO) + u8(0) + ioreq_t(0x3f8, size=3) +
    u8(0) + ioreq_t(0x3f8, size=1, count=2) + u8(0) + ioreq_t(0x3f8, size=1, dip=1))
put("ioreq", "mmio-ok", std + u8(0) + ioreq_t(0xe0000000, size=8, type_=IOREQ_COPY, dir_=1) +
    u8(0) + ioreq_t(0xe0000ff8, 0xffffffffffffffff, size=8, type_=IOREQ_COPY))
put("ioreq", "mmio-bad", std + u8(0) + ioreq_t(0xe0000ffc, size=8, type_=IOREQ_COPY) +
    u8(0) + ioreq_t(0xfffffffffffffffc, size=8, type_=IOREQ_COPY) +
    u8(0) + ioreq_t(0xe0000000, size=16, type_=IOREQ_COPY) +
    u8(0) + ioreq_t(0xe0000008, size=4, count=0xffffffff, df=1, type_=IOREQ_COPY))
put("ioreq", "pci-ok", std + u8(0) + ioreq_t(0x18 << 32 | 0x10, size=4, type_=IOREQ_PCI, dir_=1) +
    u8(0) + ioreq_t(0x20 << 32 | 0xffe, size=2, type_=IOREQ_PCI))
put("ioreq", "pci-bad", std + u8(0) + ioreq_t(0x28 << 32, size=4, type_=IOREQ_PCI) +
    u8(0) + ioreq_t(0x18 << 32 | 0xffe, size=4, type_=IOREQ_PCI) +
    u8(0) + ioreq_t(0x18 << 32 | 0x1000, size=1, type_=IOREQ_PCI))
put("ioreq", "other-types", std + u8(0) + ioreq_t(0, 0x1234, size=8, type_=IOREQ_TIMEOFFSET) +
    u8(0) + ioreq_t(0, size=3, type_=IOREQ_INVALIDATE) + u8(0) + ioreq_t(0, type_=3) +
    u8(0) + ioreq_t(0, type_=0xff))
put("ioreq", "aimed", std + b"".join(u8(1 | d << 4) + u8(t) + u8(i) + u16(off) + u64(0xa5a5a5a5a5a5a5a5)
                                     for t, i, off, d in [(0, 0, 0, 0), (1 | 3 << 3, 0, 0xfff8, 1),
                                                          (2 | 2 << 3, 1, 0x40, 0), (0, 0x80, 1, 0),
                                                          (3, 0, 0, 0), (4, 0, 0, 1),
                                                          (0x20, 0, 0, 0)]))
put("ioreq", "buffered", std + u8(2) + buf_ioreq(IOREQ_PIO, 0, 0, 0x3f8, 0x41) + bytes(8) +
    u8(2 | 8) + buf_ioreq(IOREQ_COPY, 0, 3, 0x0, 0x1) + buf_ioreq(0, 0, 0, 0, 2) +
    u8(2) + buf_ioreq(IOREQ_COPY, 0, 3, 0x0, 0x1) + bytes(8) +
    u8(2) + buf_ioreq(IOREQ_PIO, 1, 0, 0x3f8, 0) + bytes(8) +
    u8(2) + buf_ioreq(IOREQ_TIMEOFFSET, 0, 2, 0, 7) + bytes(8) +
    u8(2 | 4) + buf_ioreq(IOREQ_COPY, 0, 2, 0, 9) + bytes(8))
put("ioreq", "claims-overlap", u8(2) + claim_ports([(0x3f8, 7), (0x3fc, 1)]) +
    claim_ports([(0x3f8, 7), (0x400, 0)]))
put("ioreq", "claims-bad", u8(4) + u8(0x80) + u32(7) + u8(0x40 | 0) + u16(300) +
    u8(0 | 1 << 2) + u8(0x80 | 1) + u16(0xfff0) + u64(0x10000) +
    u8(2 | 1 << 2) + u8(0x40 | 1) + u16(0x18))
put("ioreq", "claims-edges", u8(3) + u8(1 | 1 << 2) + u8(3 | 0x80) + u64(0xfffffffffffff000) +
    u64(0xffffffffffffffff) + claim_ports([(0xfff0, 15)]) + claim_pci([0xffff]) +
    u8(0) + ioreq_t(0xfffffffffffffff8, size=8, type_=IOREQ_COPY) +
    u8(0) + ioreq_t(0xfffc, size=4, type_=IOREQ_PIO))
put("ioreq", "move", std + u8(3 | 4) + u8(0) + u64(0xe0100000) +
    u8(3 | 4) + u8(0x81) + u64(0xe0200000) + u64(0x1000) +
    u8(0) + ioreq_t(0xe0100000, size=4, type_=IOREQ_COPY))
put("ioreq", "empty", b"")
put("ioreq", "no-claims", u8(0) + u8(0) + ioreq_t(0x3f8) + u8(1) + u8(0) + u8(0) + u16(0) + u64(0))

put("ioreq", "pio-edges", u8(1) + claim_ports([(0xfff0, 15)]) +
    u8(0) + ioreq_t(0xfffe, size=2, type_=IOREQ_PIO) + u8(0) + ioreq_t(0xffff, size=2, type_=IOREQ_PIO) +
    u8(0) + ioreq_t(0xffff, size=1, type_=IOREQ_PIO, dir_=1) + u8(0) + ioreq_t(0x1ffff, size=1))
put("ioreq", "df-and-counts", std + u8(0) + ioreq_t(0xe0000010, size=4, df=1, type_=IOREQ_COPY) +
    u8(0) + ioreq_t(0xe0000010, size=4, count=0, type_=IOREQ_COPY) +
    u8(0) + ioreq_t(0xe0000010, size=4, count=4, dip=1, type_=IOREQ_COPY) +
    u8(0) + ioreq_t(0x3f8, size=1, count=0x80000000, df=1, type_=IOREQ_PIO))
put("ioreq", "max-claims", u8(1) + u8(0x40) + u16(256) +
    b"".join(u8(1) + u16(i * 16) for i in range(256)) +
    u8(0) + ioreq_t(0xff0, size=1) + u8(0) + ioreq_t(0xff1, size=1))
put("ioreq", "too-many-claims", u8(1) + u8(0x40) + u16(257) + b"".join(u8(0) + u8(i) for i in range(8)))
put("ioreq", "adjacent", u8(1) + u8(0 | 2 << 2) + u8(1 | 3 << 2) + u16(0x100) + u8(1 | 3 << 2) + u16(0x104) +
    u8(0) + ioreq_t(0x102, size=4) + u8(0) + ioreq_t(0x104, size=4) + u8(0) + ioreq_t(0x100, size=4))
put("ioreq", "mmio-top", u8(1) + u8(1 | 1 << 2) + u8(3 | 0x80) + u64(0xfffffffffffff000) +
    u64(0xffffffffffffffff) + u8(0) + ioreq_t(0xfffffffffffffff8, size=8, type_=IOREQ_COPY) +
    u8(0) + ioreq_t(0xfffffffffffffffc, size=8, type_=IOREQ_COPY) +
    u8(2) + buf_ioreq(IOREQ_COPY, 0, 2, 0xffffc, 1) + bytes(8))
put("ioreq", "pci-regs", std + u8(0) + ioreq_t(0x18 << 32 | 0xffc, size=4, type_=IOREQ_PCI) +
    u8(0) + ioreq_t(0x18 << 32 | 0xfff, size=1, type_=IOREQ_PCI) +
    u8(0) + ioreq_t(0x18 << 32 | 0x2, size=2, type_=IOREQ_PCI, dir_=1) +
    u8(0) + ioreq_t(0x18 << 32 | 0x0, size=8, type_=IOREQ_PCI) +
    u8(0) + ioreq_t(0x10018 << 32, size=4, type_=IOREQ_PCI))
put("ioreq", "buffered-edges", std + u8(2) + buf_ioreq(IOREQ_PIO, 0, 2, 0x3fc, 0xdeadbeef) + bytes(8) +
    u8(2) + buf_ioreq(IOREQ_PIO, 0, 3, 0x3f8, 1) + buf_ioreq(0, 0, 0, 0, 1) +
    u8(2 | 8) + buf_ioreq(IOREQ_PIO, 0, 3, 0x3f8, 1) + buf_ioreq(0, 0, 0, 0, 1) +
    u8(2) + buf_ioreq(IOREQ_PCI, 0, 2, 0x0, 1) + bytes(8) +
    u8(2 | 8) + buf_ioreq(IOREQ_TIMEOFFSET, 0, 3, 0, 0xffffffff) + buf_ioreq(0, 0, 0, 0, 0x7fffffff))
put("ioreq", "reclaim", std + u8(3) + claim_ports([]) + u8(0) + ioreq_t(0x3f8) +
    u8(3) + claim_ports([(0x3f8, 0)]) + u8(0) + ioreq_t(0x3f8))
put("ioreq", "moves", std + u8(3 | 4) + u8(1) + u64(0xe0000000) + u8(3 | 4) + u8(0) + u64(0xe0001000) +
    u8(3 | 4) + u8(0x80) + u64(0xe0400000) + u64(0) + u8(3 | 4) + u8(0x80) + u64(0) + u64(0xffffffffffffffff) +
    u8(3 | 4) + u8(0) + u64(0xfffffffffffff000))

# ---- dmframes ------------------------------------------------------------------------
# [cfg] bit 0: guest B (one DM "solo") instead of A ("uart", "pcitest"); bits 1-2: stage
# (0 attaching, 1 A's first DM ready, 2 running, 3 running with the first DM restarted);
# bit 3: read the broker's frames; bit 4: close to the rate limit; bit 5: 0 ms ready deadline
# after the setup.
# [nf] & 31 fault bytes follow (>= 0x80: that hypervisor call fails).
# Records [o]: DM o >> 7; o & 7: 0 raw, 1 header+raw, 2 typed frame, 3/7 structured DM-op,
# 4 any header, 5 special, 6 repeat the last datagram; (o & 0x38) == 0x38: no loop run after.

READY, DMOP, STATS, HELLO = 64, 65, 66, 1
A, B = 0, 1
ATTACHING, ONE_READY, RUNNING, RESTARTED = 0, 2, 4, 6
DRAIN, NEAR_RATE, IMPATIENT = 8, 16, 32


def hdr(cfg, faults=b""):
    return u8(cfg) + u8(len(faults)) + faults


def rec_typed(dm, tidx, payload=b"", id_=1, plen=None):
    t = tidx | (0x80 if plen is not None else 0)
    s = u8(dm << 7 | 2) + u8(t)
    if plen is not None:
        s += u8(plen)
    return s + u16(id_) + payload


def ready(dm):
    return rec_typed(dm, 0)


def stats(dm, vals=(1, 2, 3, 4, 5, 6, 7, 0)):
    return rec_typed(dm, 2, b"".join(u64(v) for v in vals))


def raw(dm, data):
    return u8(dm << 7 | 0) + u8(len(data)) + data


def header_raw(dm, type_, payload, id_=3):
    return u8(dm << 7 | 1) + u16(type_) + u8(len(payload)) + u16(id_) + payload


def any_header(dm, version, type_, length, id_, flags, payload=b""):
    body = u16(version) + u16(type_) + u32(length) + u32(id_) + u32(flags) + payload
    return u8(dm << 7 | 4) + u8(len(body) - 16) + body


def special(dm, sub, extra=b"", hold=False):
    return u8(dm << 7 | 5 | (0x38 if hold else 0)) + u8(sub) + extra


def repeat(dm, n):
    return u8(dm << 7 | 6) + u8(n - 1)


def opk(op, flags=0):
    """The k byte of a structured DM-op: op = k % 6, with the flag bits 0x40/0x80 asked for."""
    return u8(next(k for k in range(256) if k % 6 == op and k & 0xc0 == flags))


def isa_irq(dm, irq, level, id_=7):
    return u8(dm << 7 | 3) + opk(1) + u8(irq) + u8(level) + u16(id_)


def pci_intx(dm, claim_idx, pin, level, other=False, raw_sbdf=None, id_=8):
    if raw_sbdf is not None:
        s = u8(3) + u32(raw_sbdf)
    else:
        s = u8(claim_idx << 3 | (4 if other else 0))
    return u8(dm << 7 | 3) + opk(2) + s + u8(pin) + u8(level) + u16(id_)


def msi(dm, addr_low, data, id_=9):
    return u8(dm << 7 | 3) + opk(3) + u32(addr_low) + u32(data) + u16(id_)


def msi_raw(dm, addr, data, id_=9):
    return u8(dm << 7 | 3) + opk(3, 0x40) + u64(addr) + u32(data) + u16(id_)


def bar_move(dm, new, claim_idx=0, sbdf_idx=0, bar=0, from_other=False, size_log2=None,
             other_sbdf=False, id_=10):
    sel = (1 if from_other else 0) | (2 if size_log2 is not None else 0) | 3 << 2
    s = u8(dm << 7 | 3) + opk(4) + u8(sel) + u8(sbdf_idx << 3 | (4 if other_sbdf else 0)) + u8(bar)
    s += u8(claim_idx)
    if size_log2 is not None:
        s += u8(size_log2)
    return s + u64(new) + u16(id_)


def bar_move_hole(dm, k, claim_idx=0, id_=11):
    # new = hole start + size * k
    return u8(dm << 7 | 3) + opk(4) + u8(0 << 2) + u8(0) + u8(0) + u8(claim_idx) + u16(k) + u16(id_)


def bar_move_onto(dm, claim_idx, target_idx, other=False, half=False, id_=12):
    sel = 2 << 2 | (16 if other else 0) | (32 if half else 0)
    return u8(dm << 7 | 3) + opk(4) + u8(sel) + u8(0) + u8(0) + u8(claim_idx) + u8(target_idx) + \
        u16(id_)


UART, PCITEST = 0, 1
frames = {
    "attach-both-ready": hdr(A | ATTACHING | DRAIN) + ready(UART) + ready(PCITEST) + stats(UART),
    "attach-one-ready-then-other": hdr(A | ONE_READY | DRAIN) + ready(PCITEST) +
    isa_irq(UART, 4, 1),
    "attach-ready-twice": hdr(A | ATTACHING | DRAIN) + ready(UART) + ready(UART),
    "attach-dmop-too-early": hdr(A | ATTACHING | DRAIN) + isa_irq(UART, 4, 1),
    "attach-dies": hdr(A | ONE_READY | DRAIN) + special(PCITEST, 4) + ready(PCITEST),
    "attach-dies-race": hdr(A | ONE_READY | DRAIN) + special(UART, 4, hold=True) +
    ready(PCITEST),
    "attach-fault-start": hdr(A | ATTACHING | DRAIN, b"\x00\x81") + ready(UART) + ready(PCITEST),
    "attach-fault-ports": hdr(A | ATTACHING | DRAIN, b"\x00\x00\x00\x86") + ready(UART) +
    ready(PCITEST),
    "attach-fault-unpause": hdr(A | ATTACHING | DRAIN, b"\x00\x00\x00\x00\x85") + ready(UART) +
    ready(PCITEST),
    "run-isa-irq": hdr(A | RUNNING | DRAIN) + isa_irq(UART, 4, 1) + isa_irq(UART, 4, 0) +
    isa_irq(UART, 5, 1) + isa_irq(PCITEST, 10, 1) + isa_irq(PCITEST, 16, 0) + isa_irq(UART, 4, 2),
    "run-pci-intx": hdr(A | RUNNING | DRAIN) + pci_intx(PCITEST, 0, 0, 1) +
    pci_intx(PCITEST, 1, 3, 0) + pci_intx(PCITEST, 0, 4, 1) +
    pci_intx(PCITEST, 0, 0, 1, raw_sbdf=0x28) + pci_intx(UART, 0, 0, 1, other=True),
    "run-msi": hdr(A | RUNNING | DRAIN) + msi(PCITEST, 0x1000, 0x4041) +
    msi_raw(PCITEST, 0xfef00000, 1) + msi(UART, 0, 0x30),
    "run-bar-move": hdr(A | RUNNING | DRAIN) + bar_move(PCITEST, 0xe0100000) +
    bar_move(PCITEST, 0xe0000000) + isa_irq(UART, 4, 1),
    "run-bar-move-outside": hdr(A | RUNNING | DRAIN) + bar_move(PCITEST, 0xf0000000) +
    bar_move(PCITEST, 0xdffff000) + bar_move(PCITEST, 0xeffff000) + bar_move(PCITEST, 0xe0100800),
    "run-bar-move-not-owned": hdr(A | RUNNING | DRAIN) + bar_move(PCITEST, 0xe0100000, bar=6) +
    bar_move(UART, 0xe0100000, from_other=True) +
    bar_move(PCITEST, 0xe0100000, size_log2=13) + bar_move(PCITEST, 0xe0100000, claim_idx=2),
    "run-bar-move-overlap": hdr(A | RUNNING | DRAIN) + bar_move_onto(PCITEST, 0, 1) +
    bar_move_onto(PCITEST, 1, 0, half=True) + bar_move_hole(PCITEST, 16, claim_idx=1) +
    bar_move_hole(PCITEST, 1),
    "run-bar-move-faults": hdr(A | RUNNING | DRAIN, b"\x82\x00\x83\x00\x00\x84\x84") +
    bar_move(PCITEST, 0xe0100000) + bar_move(PCITEST, 0xe0200000) + bar_move(PCITEST, 0xe0300000),
    "run-bar-move-pci-other": hdr(A | RUNNING | DRAIN) + bar_move(PCITEST, 0xe0100000, sbdf_idx=1),
    "run-stats": hdr(A | RUNNING | DRAIN) + stats(UART) + stats(PCITEST) +
    rec_typed(UART, 2, bytes(10), plen=10),
    "run-unknown-type": hdr(A | RUNNING | DRAIN) + header_raw(UART, 0x1234, b"abc"),
    "run-ready-again": hdr(A | RUNNING | DRAIN) + ready(UART),
    "run-broker-type": hdr(A | RUNNING | DRAIN) + rec_typed(UART, 5, bytes(56)),
    "run-bad-version": hdr(A | RUNNING | DRAIN) + any_header(UART, 2, DMOP, 0, 1, 0),
    "run-bad-flags": hdr(A | RUNNING | DRAIN) + any_header(PCITEST, 1, STATS, 0, 1, 1),
    "run-bad-len": hdr(A | RUNNING | DRAIN) + any_header(UART, 1, READY, 4, 1, 0),
    "run-short": hdr(A | RUNNING | DRAIN) + raw(UART, b"\x01\x00\x40"),
    "run-oversized": hdr(A | RUNNING | DRAIN) + special(UART, 0),
    "run-stray-fd": hdr(A | RUNNING | DRAIN) + special(PCITEST, 1),
    "run-empty": hdr(A | RUNNING | DRAIN) + special(UART, 2),
    "run-close": hdr(A | RUNNING | DRAIN) + special(UART, 3) + special(UART, 5) + ready(UART),
    "run-exit-restart": hdr(A | RUNNING | DRAIN) + special(UART, 4) + special(UART, 5) +
    ready(UART) + isa_irq(UART, 4, 1),
    "run-exit-destroy": hdr(A | RUNNING | DRAIN) + special(PCITEST, 4) + special(UART, 5) +
    isa_irq(UART, 4, 1),
    "run-crash-loop": hdr(A | RUNNING | DRAIN) + b"".join(special(UART, 4) + special(UART, 5) +
                                                        ready(UART) for _ in range(4)),
    "run-logs": hdr(A | RUNNING | DRAIN) + special(UART, 7, u8(20) + b"hello\x1b[2J\x00world\n" +
                                                    bytes(2)) + special(PCITEST, 7, u8(0x85) + b"err\n\n"),
    "run-detach": hdr(A | RUNNING | DRAIN) + special(UART, 8) + special(UART, 8) + ready(UART) +
    ready(PCITEST),
    "run-reattach-faults": hdr(A | ATTACHING | DRAIN, b"\x00" * 6 + b"\x80") + special(UART, 8) +
    special(UART, 8) + special(UART, 8),
    "run-scribble": hdr(A | RUNNING | DRAIN) + special(UART, 9, u8(1) + bytes(30) + b"\x01\x00") +
    special(UART, 4),
    "run-no-drain": hdr(A | RUNNING) + b"".join(isa_irq(UART, 4, i & 1) for i in range(30)),
    "run-burst": hdr(A | RUNNING | DRAIN | NEAR_RATE) + stats(UART) + repeat(UART, 20),
    "run-fairness": hdr(A | RUNNING | DRAIN) + stats(UART) + repeat(UART, 40) +
    special(UART, 5),
    "restarted-ready": hdr(A | RESTARTED | DRAIN) + ready(UART) + isa_irq(UART, 4, 1),
    "restarted-fault": hdr(A | RESTARTED | DRAIN, b"\x81\x00") + ready(UART) + ready(UART),
    "restarted-dmop": hdr(A | RESTARTED | DRAIN) + isa_irq(UART, 4, 1),
    "solo-running": hdr(B | RUNNING | DRAIN) + isa_irq(0, 1, 1) + isa_irq(0, 12, 0) +
    pci_intx(0, 0, 1, 1) + msi(0, 0x2000, 0x50),
    "solo-vga-move": hdr(B | RUNNING | DRAIN) + bar_move(0, 0xf0200000, claim_idx=1) +
    bar_move(0, 0xa0000, claim_idx=0) + bar_move_hole(0, 3, claim_idx=1),
    "solo-attaching": hdr(B | ATTACHING | DRAIN) + ready(0) + stats(0),
    "solo-restarted": hdr(B | RESTARTED | DRAIN) + ready(0) + special(0, 4) + special(0, 5),
    "impatient-restart": hdr(A | RUNNING | DRAIN | IMPATIENT) + special(UART, 4) + special(UART, 5) +
    special(UART, 5) + ready(UART),
    "impatient-reattach": hdr(B | RUNNING | DRAIN | IMPATIENT) + special(0, 8) + special(0, 8) +
    special(0, 5) + ready(0),
    "impatient-race": hdr(A | RESTARTED | DRAIN | IMPATIENT) + ready(UART),
}
for k, v in frames.items():
    put("dmframes", k, v)
