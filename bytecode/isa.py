"""The instruction set: one table, and everything derives from it.

The table is IREE's ``isa.json`` (bytecode version 17.0, kept byte-for-byte in
``data/isa.json``) joined with pyree's one-line semantics (``semantics.py``). Each row
is an :class:`Op`: opcode set, opcode number, prefix byte, mnemonic, and the fully
resolved list of :class:`Field` s in encoding order (operation classes are expanded and
``$value_type`` parameters substituted). The encoder and decoder (``encoding.py``), the
assembler and disassembler, the verifier's operand checks, the interpreter's handler
table, the hypothesis strategies and the ``spec/`` opcode reference are all generated
from these rows; none of them lists opcodes of its own.

Field kinds (``Field.kind``) and what ``Field.type`` means for each:

==========================  ===========================================================
``register``                one u16 ordinal; ``type`` is the bank: i32 i64 f32 f64 ref
``attribute``               an immediate; ``type`` is i32 i64 f32 f64
``global_attr``             u32 byte offset (primitive) or ref-global index
``rodata_attr``             u32 rodata segment ordinal
``func_attr``               u32 function ordinal; bit 31 marks an import
``type_of``                 u32 type-table index
``string_attr``             u16 length + bytes
``const_i16``               u16 immediate (``br_table`` case count)
``branch_target``           u32 pc of a Block marker
``variadic_operands``       2-aligned u16 count + u16 ordinals; ``type`` is the element
``variadic_results``        bank (``any``, ``i32`` for plain counts, ``ref``, ...)
``branch_operands``         2-aligned u16 count + (u16 src, u16 dst) pairs
``branch_table_cases``      ``table_size`` x (u32 target + remap list)
==========================  ===========================================================
"""

from __future__ import annotations

import json
from importlib import resources

import attrs

BYTECODE_VERSION_MAJOR = 17
BYTECODE_VERSION_MINOR = 0

PREFIX_EXT_F32 = 0xE0
PREFIX_EXT_F64 = 0xE1
BLOCK_OPCODE = 121

#: Function requirement bits (function descriptor ``requirements``).
REQ_EXT_F32 = 1 << 0
REQ_EXT_F64 = 1 << 1
REQ_YIELD = 1 << 2
REQ_UNWIND = 1 << 3

#: Register ordinal bits.
REF_BIT = 0x8000
MOVE_BIT = 0x4000
REF_INDEX_MASK = 0x3FFF
I32_INDEX_MASK = 0x7FFF

#: Opcode sets in table order; the index is part of :attr:`Op.key`.
OPCODE_SETS = ("core", "ext_f32", "ext_f64")
SET_PREFIX = {"core": None, "ext_f32": PREFIX_EXT_F32, "ext_f64": PREFIX_EXT_F64}
SET_REQUIREMENT = {"core": 0, "ext_f32": REQ_EXT_F32, "ext_f64": REQ_EXT_F64}

TERMINATORS = frozenset({
    "br", "cond_br", "br_table", "return", "fail", "yield", "break", "cond_break",
    "call.yieldable", "call.variadic.yieldable",
})

#: Banks whose register fields hold a 64-bit pair (even ordinal).
WIDE_BANKS = frozenset({"i64", "f64"})


@attrs.frozen
class Field:
    """One operand field of an instruction, in encoding order."""

    name: str
    kind: str
    type: str | None = None
    access: str | None = None  # "read" / "write" for registers
    move: bool = False  # whether the move bit is legal on this field

    @property
    def is_result(self) -> bool:
        return self.access == "write" or self.kind == "variadic_results"


@attrs.frozen
class Op:
    """One row of the instruction table."""

    opcode_set: str
    opcode: int
    symbol: str
    mnemonic: str
    encoding: str
    fields: tuple[Field, ...]
    semantics: str
    key: int  # unique dense id: set index * 256 + opcode

    @property
    def prefix(self) -> int | None:
        return SET_PREFIX[self.opcode_set]

    @property
    def requirement(self) -> int:
        return SET_REQUIREMENT[self.opcode_set]

    @property
    def is_terminator(self) -> bool:
        return self.mnemonic in TERMINATORS

    @property
    def is_block(self) -> bool:
        return self.opcode_set == "core" and self.opcode == BLOCK_OPCODE

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.mnemonic} has no field {name!r}")


#: The Block marker's mnemonic in pyree's table (isa.json gives it none).
BLOCK_MNEMONIC = "block"


def _substitute(value, params):
    if isinstance(value, str) and value.startswith("$"):
        return params[value[1:]]
    return value


def _resolve_fields(encoding_name: str, data: dict) -> tuple[Field, ...]:
    enc = data["encodings"][encoding_name]
    if "fields" in enc:
        raw, params = enc["fields"], {}
    else:
        raw = data["operation_classes"][enc["class"]]["fields"]
        params = enc.get("parameters", {})
    fields = []
    for f in raw:
        kind = f["kind"]
        ftype = _substitute(f.get("bank", f.get("type")), params)
        fields.append(Field(
            name=f["name"], kind=kind, type=ftype, access=f.get("access"),
            move=f.get("move") == "allow",
        ))
    return tuple(fields)


def _load_json() -> dict:
    text = resources.files("pyree.bytecode").joinpath("data/isa.json").read_text("utf-8")
    return json.loads(text)


def _build_table() -> tuple[Op, ...]:
    from pyree.bytecode.semantics import SEMANTICS

    data = _load_json()
    version = data["bytecode_version"]
    if (version["major"], version["minor"]) != (BYTECODE_VERSION_MAJOR, BYTECODE_VERSION_MINOR):
        raise ImportError(f"isa.json is bytecode {version}, pyree implements 17.0")
    ops = []
    for row in data["instructions"]:
        kind = row.get("kind")
        if kind == "prefix":
            continue
        set_index = OPCODE_SETS.index(row["opcode_set"])
        if kind == "marker":
            mnemonic, encoding, fields = BLOCK_MNEMONIC, "marker", ()
        else:
            mnemonic, encoding = row["mnemonic"], row["encoding"]
            fields = _resolve_fields(encoding, data)
        ops.append(Op(
            opcode_set=row["opcode_set"], opcode=row["opcode"], symbol=row["symbol"],
            mnemonic=mnemonic, encoding=encoding, fields=fields,
            semantics=SEMANTICS.get(mnemonic, ""), key=set_index * 256 + row["opcode"],
        ))
    missing = [op.mnemonic for op in ops if not op.semantics]
    extra = sorted(set(SEMANTICS) - {op.mnemonic for op in ops})
    if missing or extra:
        raise ImportError(f"semantics table out of sync: missing {missing}, unknown {extra}")
    return tuple(ops)


#: Every instruction of ISA v17 (262 instructions plus the Block marker), table order.
OPS: tuple[Op, ...] = _build_table()
BY_MNEMONIC: dict[str, Op] = {op.mnemonic: op for op in OPS}
#: (prefix byte or None, opcode) -> Op
BY_CODE: dict[tuple[int | None, int], Op] = {(op.prefix, op.opcode): op for op in OPS}
BY_KEY: dict[int, Op] = {op.key: op for op in OPS}
BLOCK: Op = BY_MNEMONIC[BLOCK_MNEMONIC]

if len(OPS) != 263 or len(BY_MNEMONIC) != len(OPS):
    raise ImportError(f"ISA table has {len(OPS)} rows; expected 263 (262 ops + Block)")


def lookup(mnemonic: str) -> Op | None:
    """The op for a mnemonic, with or without the ``vm.`` prefix."""
    if mnemonic.startswith("vm."):
        mnemonic = mnemonic[3:]
    return BY_MNEMONIC.get(mnemonic)
