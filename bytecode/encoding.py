"""Encoder and decoder of ISA v17 instruction streams, driven by the ISA table.

A decoded instruction is an :class:`Instr`: its :class:`~pyree.bytecode.isa.Op`, its pc
(byte offset from the function start), its encoded size and one argument per field, in
field order:

=======================================  ==================================================
field kind                               decoded argument
=======================================  ==================================================
register                                 int, the raw u16 ordinal (ref and move bits kept)
attribute (i32/i64)                      int, signed
attribute (f32/f64)                      int, the raw IEEE bits (unsigned), bit-exact
global/rodata/func attr, type_of         int (u32)
string_attr                              bytes
const_i16                                int (u16)
branch_target                            int (pc of the target Block marker)
variadic_operands / variadic_results     tuple of u16 ints
branch_operands                          tuple of (src, dst) u16 pairs
branch_table_cases                       tuple of (target, remap tuple) per case
=======================================  ==================================================

Register lists and remap lists are 2-aligned relative to the function start (a zero pad
byte when the pc is odd). :func:`decode` raises :class:`DecodeError` (an
``INVALID_ARGUMENT``) naming the pc on truncated or unknown input; it never lets a
``struct.error`` or ``IndexError`` escape.
"""

from __future__ import annotations

import struct

import attrs

from pyree.bytecode import isa
from pyree.status import InvalidArgumentError

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_I64 = struct.Struct("<q")
_U64 = struct.Struct("<Q")


class DecodeError(InvalidArgumentError):
    """Malformed instruction bytes; ``pc`` is the offset of the instruction at fault."""

    def __init__(self, message: str, pc: int | None = None, **kwargs):
        super().__init__(message if pc is None else f"pc {pc}: {message}", **kwargs)
        self.pc = pc


@attrs.frozen
class Instr:
    op: isa.Op
    pc: int
    size: int
    args: tuple

    def arg(self, name: str):
        for f, a in zip(self.op.fields, self.args):
            if f.name == name:
                return a
        raise KeyError(name)

    @property
    def end(self) -> int:
        return self.pc + self.size


class _Reader:
    __slots__ = ("data", "pos", "start")

    def __init__(self, data: bytes, pos: int):
        self.data = data
        self.pos = pos
        self.start = pos

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise DecodeError(f"truncated instruction (needs {n} more bytes at offset "
                              f"{self.pos})", self.start)
        out = self.data[self.pos:end]
        self.pos = end
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return _U16.unpack(self.take(2))[0]

    def u32(self) -> int:
        return _U32.unpack(self.take(4))[0]

    def align2(self) -> None:
        if self.pos & 1:
            self.take(1)

    def reg_list(self) -> tuple[int, ...]:
        self.align2()
        count = self.u16()
        raw = self.take(2 * count)
        return struct.unpack(f"<{count}H", raw)

    def remap_list(self) -> tuple[tuple[int, int], ...]:
        self.align2()
        count = self.u16()
        raw = struct.unpack(f"<{2 * count}H", self.take(4 * count))
        return tuple(zip(raw[0::2], raw[1::2]))


def _read_field(r: _Reader, field: isa.Field, args: list):
    kind = field.kind
    if kind == "register" or kind == "const_i16":
        return r.u16()
    if kind == "attribute":
        if field.type == "i32":
            return _I32.unpack(r.take(4))[0]
        if field.type == "i64":
            return _I64.unpack(r.take(8))[0]
        if field.type == "f32":
            return _U32.unpack(r.take(4))[0]
        return _U64.unpack(r.take(8))[0]
    if kind in ("global_attr", "rodata_attr", "func_attr", "type_of", "branch_target"):
        return r.u32()
    if kind == "string_attr":
        return r.take(r.u16())
    if kind in ("variadic_operands", "variadic_results"):
        return r.reg_list()
    if kind == "branch_operands":
        return r.remap_list()
    if kind == "branch_table_cases":
        table_size = args[-1]
        return tuple((r.u32(), r.remap_list()) for _ in range(table_size))
    raise DecodeError(f"unknown field kind {kind!r}", r.start)


def decode_one(code: bytes, pc: int) -> Instr:
    """Decode the instruction at ``pc`` of a function's bytecode."""
    r = _Reader(code, pc)
    b = r.u8()
    prefix = None
    if b in (isa.PREFIX_EXT_F32, isa.PREFIX_EXT_F64):
        prefix, b = b, r.u8()
    op = isa.BY_CODE.get((prefix, b))
    if op is None:
        where = f"0x{prefix:02X} " if prefix is not None else ""
        raise DecodeError(f"unknown opcode {where}0x{b:02X}", pc)
    args: list = []
    for field in op.fields:
        args.append(_read_field(r, field, args))
    return Instr(op, pc, r.pos - pc, tuple(args))


def decode(code: bytes) -> list[Instr]:
    """Decode a whole function body (``code`` starts at the function's pc 0)."""
    out = []
    pc = 0
    n = len(code)
    while pc < n:
        ins = decode_one(code, pc)
        out.append(ins)
        pc = ins.end
    return out


class _Writer:
    __slots__ = ("buf",)

    def __init__(self, buf: bytearray):
        self.buf = buf

    def align2(self) -> None:
        if len(self.buf) & 1:
            self.buf.append(0)

    def u16(self, v: int) -> None:
        self.buf += _U16.pack(v & 0xFFFF)

    def u32(self, v: int) -> None:
        self.buf += _U32.pack(v & 0xFFFFFFFF)

    def reg_list(self, values) -> None:
        self.align2()
        self.u16(len(values))
        for v in values:
            self.u16(v)

    def remap_list(self, pairs) -> None:
        self.align2()
        self.u16(len(pairs))
        for src, dst in pairs:
            self.u16(src)
            self.u16(dst)


def encode_into(buf: bytearray, op: isa.Op, args) -> None:
    """Append one instruction to ``buf``, whose offset 0 is the function start."""
    w = _Writer(buf)
    if op.prefix is not None:
        buf.append(op.prefix)
    buf.append(op.opcode)
    if len(args) != len(op.fields):
        raise InvalidArgumentError(
            f"{op.mnemonic} takes {len(op.fields)} fields, got {len(args)}")
    for field, value in zip(op.fields, args):
        kind = field.kind
        if kind == "register" or kind == "const_i16":
            w.u16(value)
        elif kind == "attribute":
            if field.type == "i32":
                buf += _I32.pack(_wrap_signed(value, 32))
            elif field.type == "i64":
                buf += _I64.pack(_wrap_signed(value, 64))
            elif field.type == "f32":
                w.u32(value)
            else:
                buf += _U64.pack(value & 0xFFFFFFFFFFFFFFFF)
        elif kind in ("global_attr", "rodata_attr", "func_attr", "type_of", "branch_target"):
            w.u32(value)
        elif kind == "string_attr":
            if len(value) > 0xFFFF:
                raise InvalidArgumentError(f"{op.mnemonic}: string longer than 65535 bytes")
            w.u16(len(value))
            buf += value
        elif kind in ("variadic_operands", "variadic_results"):
            w.reg_list(value)
        elif kind == "branch_operands":
            w.remap_list(value)
        elif kind == "branch_table_cases":
            for target, remap in value:
                w.u32(target)
                w.remap_list(remap)
        else:  # pragma: no cover - the table has no other kinds
            raise InvalidArgumentError(f"unknown field kind {kind!r}")


def encode(op: isa.Op, args, pc: int = 0) -> bytes:
    """Encode one instruction placed at ``pc`` (only its parity matters for padding)."""
    buf = bytearray(pc & 1)
    encode_into(buf, op, args)
    return bytes(buf[pc & 1:])


def _wrap_signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value
