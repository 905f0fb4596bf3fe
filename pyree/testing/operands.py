"""Operands for one instruction, field by field from the ISA table.

:func:`draw_instruction` fills every field of a row from its kind and bank (see
:mod:`pyree.bytecode.isa`): registers from the layout's role pools, immediates from
interesting values, globals, rodata, types and imports from the module environment. The
fields that take a count or a position (offsets, lengths, indices, capacities, sizes,
alignments, indirect global offsets) are recognised by name and usually get a small
constant materialised into a scratch register just before the instruction, so that
memory operations mostly succeed and occasionally go out of range. Nothing drawn here can
fail verification: every choice comes from a set of valid values.
"""

from __future__ import annotations

import functools
import struct

from hypothesis import strategies as st

from pyree.bytecode import isa
from pyree.testing.layout import ALIAS_CHANCE

IMPORT_BIT = 0x80000000

#: Field names that hold a count or a position: materialised as small constants.
_POSITION_NAMES = frozenset({"index", "length", "alignment", "new_size", "global"})

#: Element types a generated ``list.alloc`` uses, and the ref types ref ops check against.
VALUE_TYPES = ("i8", "i16", "i32", "i64", "f32", "f64")
REF_TYPES = ("!vm.buffer", "!vm.list<i32>", "!vm.opaque")
#: The type table of every generated module (value types, variant, ref types).
STANDARD_TYPES = VALUE_TYPES + REF_TYPES

INTERESTING_I32 = (0, 1, -1, 2, 7, 31, 32, 255, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF,
                   -0x80000000, 100, -7)
INTERESTING_I64 = (0, 1, -1, 2, 63, 64, 0xFFFFFFFF, 0x100000000, 0x7FFFFFFFFFFFFFFF,
                   -0x8000000000000000, -2)
_F32 = struct.Struct("<f")
_F64 = struct.Struct("<d")


def _f32_bits(x: float) -> int:
    return struct.unpack("<I", _F32.pack(x))[0]


def _f64_bits(x: float) -> int:
    return struct.unpack("<Q", _F64.pack(x))[0]


INTERESTING_F32 = tuple(_f32_bits(x) for x in (
    0.0, 1.0, -1.0, 0.5, -0.5, 2.5, -2.5, 1.5, 3.0, -0.0, float("inf"), float("-inf"),
    3e9, -3e9, 1e-45, 16777217.0, 0.49999997)) + (0x7FC00000, 0x7F800001, 0xFFC00001)
INTERESTING_F64 = tuple(_f64_bits(x) for x in (
    0.0, 1.0, -1.0, 0.5, -0.5, 2.5, -2.5, 1.5, -0.0, float("inf"), float("-inf"), 1e40,
    0.49999999999999994, 9.3e18, -9.3e18, 2.0 ** 64, 5e-324)) + (
    0x7FF8000000000000, 0x7FF0000000000001)


def is_position(field: isa.Field) -> bool:
    name = field.name
    return name in _POSITION_NAMES or name.endswith(("offset", "capacity"))


@functools.cache
def int_values(bits: int):
    interesting = INTERESTING_I32 if bits == 32 else INTERESTING_I64
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return st.sampled_from(interesting) | st.integers(lo, hi)


@functools.cache
def float_bits(bits: int):
    if bits == 32:
        return st.sampled_from(INTERESTING_F32) | st.floats(width=32).map(_f32_bits)
    return st.sampled_from(INTERESTING_F64) | st.floats().map(_f64_bits)


def attribute_values(type_name: str):
    return _ATTRIBUTES[type_name]


def _attributes():
    return {"i32": int_values(32), "i64": int_values(64), "f32": float_bits(32),
            "f64": float_bits(64)}


def position_values(name: str, env) -> st.SearchStrategy:
    """Small values for a position field; sometimes just out of range, rarely wild."""
    return _positions(name, env.rwdata_size, env.ref_global_count)


@functools.cache
def _positions(name: str, rwdata_size: int, ref_global_count: int) -> st.SearchStrategy:
    if name == "alignment":
        small, wild = (0, 1, 2, 4, 8, 16, 64), (3, -1, 1 << 20, 0x80000000)
    elif name == "byte_offset":
        small = tuple(range(rwdata_size + 5))
        wild = (-4, -1, 0x7FFFFFFF, rwdata_size - 1)
    elif name == "global":
        small, wild = tuple(range(ref_global_count + 1)), (-1, 0x7FFFFFFF)
    else:
        small, wild = tuple(range(20)), (64, 255, 4096, -1, -8, 0x7FFFFFFF, 1 << 40)
    values = small * 3 + wild  # wild values one time in about 4 * len(small) / len(wild)
    return st.integers(0, len(values) - 1).map(values.__getitem__)


def ref_role(op: isa.Op, field: isa.Field) -> str:
    """The ref pool a field reads or writes."""
    ns = op.mnemonic.split(".", 1)[0]
    if ns == "buffer" or op.mnemonic == "const.ref.rodata":
        return "buffer"
    if ns == "list" and (field.name == "list" or op.mnemonic == "list.alloc"):
        return "list"
    return "any"


class OperandDrawer:
    """Draws the operands of one instruction for a function (``layout``) of a module
    (``env``); ``emit`` receives materialisation instructions (``const.*``) first."""

    def __init__(self, draw, layout, env, emit):
        self.draw = draw
        self.layout = layout
        self.env = env
        self.emit = emit

    # -- registers -----------------------------------------------------------------------

    def read(self, bank: str) -> int:
        draw, layout = self.draw, self.layout
        if bank == "ref":
            return 0x8000 | pick(draw, layout.all_refs())
        if draw(index(16)) >= 16 - ALIAS_CHANCE:
            return pick(draw, layout.any_slot(bank in isa.WIDE_BANKS))
        return pick(draw, layout.values[bank])

    def read_ref(self, role: str, move_ok: bool) -> int:
        draw = self.draw
        pool = self.layout.refs[role] if draw(index(8)) < 7 else self.layout.all_refs()
        ordinal = 0x8000 | pick(draw, pool)
        if move_ok and draw(index(8)) == 7:
            ordinal |= isa.MOVE_BIT
        return ordinal

    def write(self, bank: str) -> int:
        return pick(self.draw, self.layout.values[bank])

    def write_ref(self, role: str) -> int:
        return 0x8000 | pick(self.draw, self.layout.refs[role])

    def materialise(self, field: isa.Field, k: int) -> int:
        """A scratch register holding a small position value, set just before use."""
        bank = "i64" if field.type == "i64" else "i32"
        pool = self.layout.scratch[bank]
        reg = pool[k % len(pool)]
        value = self.draw(position_values(field.name, self.env))
        self.emit(isa.BY_MNEMONIC[f"const.{bank}"], (value, reg))
        return reg

    # -- fields --------------------------------------------------------------------------

    def instruction(self, op: isa.Op) -> tuple:
        args: list = []
        materialised = 0
        for field in op.fields:
            kind = field.kind
            if kind == "register":
                if field.type == "ref":
                    role = ref_role(op, field)
                    if field.access == "write":
                        reg = self.write_ref(role)
                        if field.move and self.draw(index(8)) == 7:
                            reg |= isa.MOVE_BIT
                    else:
                        reg = self.read_ref(role, field.move)
                    args.append(reg)
                elif field.access == "write":
                    args.append(self.write(field.type))
                elif is_position(field) and self.draw(index(8)):
                    args.append(self.materialise(field, materialised))
                    materialised += 1
                else:
                    args.append(self.read(field.type))
            elif kind == "attribute":
                args.append(self.draw(attribute_values(field.type)))
            elif kind == "global_attr":
                args.append(self._global(op))
            elif kind == "rodata_attr":
                args.append(self.draw(index(len(self.env.rodata))))
            elif kind == "type_of":
                args.append(self._type(op))
            elif kind == "func_attr":  # import.resolved
                args.append(IMPORT_BIT | self.draw(index(len(self.env.imports))))
            elif kind == "string_attr":
                args.append(pick(self.draw, (b"", b"x", b"event", b"a b")))
            elif kind == "variadic_operands":
                args.append(self._list(op, field))
            else:
                raise AssertionError(f"no operand drawer for {op.mnemonic}.{field.name}")
        return tuple(args)

    def _global(self, op: isa.Op) -> int:
        env = self.env
        if op.mnemonic.endswith(".ref"):
            return self.draw(index(env.ref_global_count))
        width = 8 if op.mnemonic.endswith(("64",)) else 4
        return self.draw(index(env.rwdata_size - width + 1))

    def _type(self, op: isa.Op) -> int:
        names = STANDARD_TYPES if op.mnemonic == "list.alloc" else REF_TYPES
        return self.env.types.index(pick(self.draw, names))

    def _list(self, op: isa.Op, field: isa.Field) -> tuple:
        draw = self.draw
        n = draw(index(4))
        if field.type == "any":  # trace / print / discard.refs
            if op.mnemonic == "discard.refs":
                return tuple(self.read_ref("any", True) for _ in range(n))
            out = []
            for _ in range(n):
                bank = pick(draw, ("i32", "ref", "i64", "f32"))
                out.append(self.read_ref("any", True) if bank == "ref" else self.read(bank))
            return tuple(out)
        if field.type == "ref":
            return tuple(self.read_ref("any", field.move) for _ in range(n))
        return tuple(self.read(field.type) for _ in range(n))


def feasible(op: isa.Op, env) -> bool:
    """Whether a row can be drawn validly in a module environment."""
    for field in op.fields:
        if field.kind == "global_attr":
            if op.mnemonic.endswith(".ref"):
                if env.ref_global_count == 0:
                    return False
            elif env.rwdata_size < (8 if op.mnemonic.endswith("64") else 4):
                return False
        elif field.kind == "rodata_attr" and not env.rodata or field.kind == "func_attr" and not env.imports:
            return False
    return True


_INDEX: dict[int, st.SearchStrategy] = {}


def index(n: int) -> st.SearchStrategy:
    """``st.integers(0, n - 1)``, cached (drawing is hot: strategies are built once)."""
    s = _INDEX.get(n)
    if s is None:
        s = _INDEX[n] = st.integers(0, n - 1)
    return s


def pick(draw, seq):
    """One element of a sequence; shrinks towards the first."""
    return seq[draw(index(len(seq)))] if len(seq) > 1 else seq[0]


_ATTRIBUTES = _attributes()
