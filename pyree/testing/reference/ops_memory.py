"""Globals and buffers (vm-isa.md 5.1, 5.2 rodata, 5.11)."""

from __future__ import annotations

from pyree.bytecode import isa
from pyree.status import StatusCode as S
from pyree.testing.reference import values as V
from pyree.testing.reference.machine import handler
from pyree.testing.reference.objects import (
    MUTABLE,
    ORIGIN_GUEST,
    RBuffer,
    Trap,
    trap,
    type_accepts,
)
from pyree.testing.reference.siphash import siphash24

_WIDTH = {"i32": 4, "f32": 4, "i64": 8, "f64": 8}


def _fields(ins) -> dict:
    return {f.name: (f, a) for f, a in zip(ins.op.fields, ins.args)}


# -- primitive globals --------------------------------------------------------------------

def _global_value(bank: str):
    width = _WIDTH[bank]

    def load(m, frame, ins, depth):
        f = _fields(ins)
        offset = _offset(m, frame, f, width)
        raw = int.from_bytes(m.rwdata[offset:offset + width], "little")
        frame.set(bank, f["result"][1], raw)

    def store(m, frame, ins, depth):
        f = _fields(ins)
        offset = _offset(m, frame, f, width)
        value = frame.get(bank, f["value"][1])
        m.rwdata[offset:offset + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(
            width, "little")
    return load, store


def _offset(m, frame, f, width: int) -> int:
    field, arg = f["byte_offset"]
    if field.kind == "global_attr":
        return arg
    offset = frame.get("i32", arg) & V.M32
    if offset + width > len(m.rwdata):
        raise trap(S.OUT_OF_RANGE, f"global byte_offset out of range: {offset} "
                                   f"(rwdata={len(m.rwdata)})")
    return offset


for _b in _WIDTH:
    _load, _store = _global_value(_b)
    handler(f"global.load.{_b}", f"global.load.indirect.{_b}")(_load)
    handler(f"global.store.{_b}", f"global.store.indirect.{_b}")(_store)


def _ref_index(m, frame, f) -> int:
    field, arg = f["global"]
    if field.kind == "global_attr":
        return arg
    index = frame.get("i32", arg) & V.M32
    if index >= len(m.ref_globals):
        raise trap(S.OUT_OF_RANGE, f"global ref ordinal out of range: {index} "
                                   f"(table={len(m.ref_globals)})")
    return index


@handler("global.load.ref", "global.load.indirect.ref")
def _global_load_ref(m, frame, ins, depth):
    f = _fields(ins)
    index = _ref_index(m, frame, f)
    obj = m.ref_globals[index]
    if not type_accepts(m.types[f["type_def"][1]], obj):
        raise trap(S.INVALID_ARGUMENT, "source ref type mismatch")
    result = f["value"][1]
    if result & isa.MOVE_BIT:
        m.ref_globals[index] = None
    frame.set("ref", result, obj)


@handler("global.store.ref", "global.store.indirect.ref")
def _global_store_ref(m, frame, ins, depth):
    f = _fields(ins)
    index = _ref_index(m, frame, f)
    ordinal = f["value"][1]
    if not type_accepts(m.types[f["type_def"][1]], frame.get("ref", ordinal)):
        raise trap(S.INVALID_ARGUMENT, "source ref type mismatch")
    m.ref_globals[index] = frame.take_ref(ordinal)


@handler("const.ref.rodata")
def _const_rodata(m, frame, ins, depth):
    segment, result = ins.args
    frame.set("ref", result, m.rodata[segment])


# -- buffers ------------------------------------------------------------------------------

def _buffer(frame, ordinal: int, name: str) -> RBuffer:
    obj = frame.get("ref", ordinal)
    if not isinstance(obj, RBuffer):
        raise trap(S.INVALID_ARGUMENT, f"{name} is null")
    return obj


def _range(buf: RBuffer, offset: int, count: int, size: int) -> int:
    """Byte offset of elements [offset, offset+count) of ``size`` bytes, bounds-checked
    with unbounded integers."""
    if (offset + count) * size > len(buf.data):
        raise trap(S.OUT_OF_RANGE, f"out-of-bounds access detected (offset={offset * size}, "
                                   f"length={count * size}, alignment={size}, "
                                   f"buffer length={len(buf.data)})")
    return offset * size


def _writable(buf: RBuffer) -> None:
    if not buf.flags & MUTABLE:
        raise trap(S.PERMISSION_DENIED,
                   "buffer is read-only and cannot be mapped for mutation")


def _u64(frame, ordinal: int) -> int:
    return frame.get("i64", ordinal) & V.M64


_ELEMENT = {"i8": 1, "i16": 2, "i32": 4, "i64": 8, "f32": 4, "f64": 8}
_LOAD_BANK = {"i8": "i32", "i16": "i32", "i32": "i32", "i64": "i64", "f32": "f32",
              "f64": "f64"}


def _load(element: str, signed: bool):
    size = _ELEMENT[element]

    def run(m, frame, ins, depth):
        src, offset, result = ins.args
        buf = _buffer(frame, src, "buffer")
        at = _range(buf, _u64(frame, offset), 1, size)
        raw = int.from_bytes(buf.data[at:at + size], "little", signed=signed)
        frame.set(_LOAD_BANK[element], result, raw)
    return run


def _store(element: str):
    size = _ELEMENT[element]

    def run(m, frame, ins, depth):
        dst, offset, value = ins.args
        buf = _buffer(frame, dst, "buffer")
        _writable(buf)
        at = _range(buf, _u64(frame, offset), 1, size)
        raw = frame.get(_LOAD_BANK[element], value) & ((1 << (8 * size)) - 1)
        buf.data[at:at + size] = raw.to_bytes(size, "little")
    return run


def _fill(element: str):
    size = _ELEMENT[element]

    def run(m, frame, ins, depth):
        dst, offset, length, value = ins.args
        buf = _buffer(frame, dst, "buffer")
        _writable(buf)
        count = _u64(frame, length)
        at = _range(buf, _u64(frame, offset), count, size)
        raw = frame.get(_LOAD_BANK[element], value) & ((1 << (8 * size)) - 1)
        buf.data[at:at + count * size] = raw.to_bytes(size, "little") * count
    return run


for _e in _ELEMENT:
    handler(f"buffer.store.{_e}")(_store(_e))
    handler(f"buffer.fill.{_e}")(_fill(_e))
    if _e in ("i8", "i16"):
        handler(f"buffer.load.{_e}.u")(_load(_e, False))
        handler(f"buffer.load.{_e}.s")(_load(_e, True))
    else:
        handler(f"buffer.load.{_e}")(_load(_e, _e != "f32" and _e != "f64"))


def _alignment_errors(m, alignment: int) -> set:
    """vm-isa.md 5.11 does not say whether the i32 alignment is read as u32 or sign-
    extended: 0x80000000 is a (too large) power of two one way and no power of two the
    other, so either error is accepted."""
    a = alignment & V.M32
    errors = set()
    if a and a & (a - 1):
        errors.add(S.INVALID_ARGUMENT)
    elif a > m.limits["max_buffer_alignment"]:
        errors.add(S.RESOURCE_EXHAUSTED)
    if a == 0x80000000:
        errors.add(S.INVALID_ARGUMENT)
    return errors


@handler("buffer.alloc")
def _alloc(m, frame, ins, depth):
    length, alignment, result = ins.args
    n = _u64(frame, length)
    errors = _alignment_errors(m, frame.get("i32", alignment))
    if n > m.limits["max_buffer_bytes"]:
        errors.add(S.RESOURCE_EXHAUSTED)
    if errors:
        raise Trap(errors, "buffer.alloc")
    frame.set("ref", result, RBuffer(bytearray(n), MUTABLE | ORIGIN_GUEST))


@handler("buffer.clone")
def _clone(m, frame, ins, depth):
    src, offset, length, alignment, result = ins.args
    buf = _buffer(frame, src, "source")
    start, n = _u64(frame, offset), _u64(frame, length)
    errors = _alignment_errors(m, frame.get("i32", alignment))
    if start + n > len(buf.data):
        errors.add(S.OUT_OF_RANGE)
    if errors:
        raise Trap(errors, "buffer.clone")
    frame.set("ref", result, RBuffer(bytearray(buf.data[start:start + n]),
                                     MUTABLE | ORIGIN_GUEST))


@handler("buffer.length")
def _length(m, frame, ins, depth):
    buf, result = ins.args
    frame.set("i64", result, len(_buffer(frame, buf, "buffer").data))


@handler("buffer.copy")
def _copy(m, frame, ins, depth):
    src, src_off, dst, dst_off, length = ins.args
    s = _buffer(frame, src, "source_buffer")
    d = _buffer(frame, dst, "target_buffer")
    n = _u64(frame, length)
    a = _range(s, _u64(frame, src_off), n, 1)
    _writable(d)
    b = _range(d, _u64(frame, dst_off), n, 1)
    d.data[b:b + n] = bytes(s.data[a:a + n])


@handler("buffer.compare")
def _compare(m, frame, ins, depth):
    lhs, lhs_off, rhs, rhs_off, length, result = ins.args
    x = _buffer(frame, lhs, "lhs_buffer")
    y = _buffer(frame, rhs, "rhs_buffer")
    n = _u64(frame, length)
    a = _range(x, _u64(frame, lhs_off), n, 1)
    b = _range(y, _u64(frame, rhs_off), n, 1)
    frame.set("i32", result, int(x.data[a:a + n] == y.data[b:b + n]))


@handler("buffer.hash")
def _hash(m, frame, ins, depth):
    src, offset, length, result = ins.args
    buf = _buffer(frame, src, "source_buffer")
    n = _u64(frame, length)
    a = _range(buf, _u64(frame, offset), n, 1)
    frame.set("i64", result, siphash24(bytes(buf.data[a:a + n])))

