"""Shared test helpers: a tiny by-hand function builder and ModuleDef strategies.

``function(body)`` builds a FunctionDef from a list of items:

* ``"^name"``: a Block marker starting block ``name``;
* ``(mnemonic, arg, ...)``: one instruction, args in ISA field order. A ``"^name"``
  string in a ``branch_target`` field (or as a ``br_table`` case target) is replaced by
  the pc of that block's marker; ints are used as they are.

block_count and requirements default to what the body contains; register counts default
to 8 i32 slots and 4 refs.

Strategies: ``modules()`` draws arbitrary (mostly unverifiable) ModuleDefs for container
round trips; ``random_body()`` draws block-structured instruction streams with operands
near the edges of a small test module, for verifier robustness.
"""

from __future__ import annotations

import zlib

from hypothesis import strategies as st
from pyree.bytecode import isa
from pyree.bytecode.encoding import encode_into
from pyree.bytecode.module_def import (
    DebugLocation,
    DependencyDef,
    ExportDef,
    FunctionDef,
    ImportDef,
    ModuleDef,
)


def R(n: int) -> int:
    """Ref register ordinal ``%rN``."""
    return 0x8000 | n


def RM(n: int) -> int:
    """Ref register ordinal with the move bit, ``%RN``."""
    return 0xC000 | n


IMPORT = 0x80000000


def _resolve(value, labels):
    if isinstance(value, str) and value.startswith("^"):
        return labels.get(value, 0)
    return value


def assemble(body) -> tuple[bytes, dict[str, int], int, int]:
    """(code, label pcs, block markers, requirement bits) of a body."""
    labels: dict[str, int] = {}
    for _ in range(2):  # pass 1 finds label pcs (sizes do not depend on targets)
        buf = bytearray()
        blocks = req = 0
        for item in body:
            if isinstance(item, str):
                labels[item] = len(buf)
                buf.append(isa.BLOCK_OPCODE)
                blocks += 1
                continue
            op = isa.BY_MNEMONIC[item[0]]
            req |= op.requirement
            args = []
            for field, arg in zip(op.fields, item[1:]):
                if field.kind == "branch_target":
                    arg = _resolve(arg, labels)
                elif field.kind == "branch_table_cases":
                    arg = tuple((_resolve(t, labels), remap) for t, remap in arg)
                args.append(arg)
            args.extend(item[1 + len(args):])
            encode_into(buf, op, args)
    return bytes(buf), labels, blocks, req


def function(body, *, cconv: str = "0v_v", i32: int = 8, refs: int = 4,
             blocks: int | None = None, requirements: int | None = None,
             name: str | None = None) -> FunctionDef:
    code, _, n_blocks, req = assemble(body)
    return FunctionDef(
        cconv=cconv, code=code, i32_register_count=i32, ref_register_count=refs,
        block_count=n_blocks if blocks is None else blocks,
        requirements=req if requirements is None else requirements, name=name)


RETURN = ["^entry", ("return", ())]


def module(*functions: FunctionDef, **kwargs) -> ModuleDef:
    """A module named ``test`` (default: one ``() -> ()`` function that returns)."""
    kwargs.setdefault("name", "test")
    return ModuleDef(functions=functions or (function(RETURN),), **kwargs)


def fix_header(data: bytes) -> bytes:
    """Re-stamp the file length and CRC of a (mutated) container so the parser is reached."""
    if len(data) < 32:
        return data
    out = bytearray(data)
    out[16:24] = len(out).to_bytes(8, "little")
    out[12:16] = zlib.crc32(bytes(out[16:])).to_bytes(4, "little")
    return bytes(out)


# --------------------------------------------------------------------------- strategies

names = st.text(max_size=12)
small = st.integers(0, 0xFFFFFFFF)


@st.composite
def functions(draw) -> FunctionDef:
    return FunctionDef(
        cconv=draw(st.sampled_from(["", "0v_v", "0i_i", "0Ifr_ir", "0CiD_v"]) | names),
        code=draw(st.binary(max_size=40)),
        i32_register_count=draw(st.integers(0, 0xFFFF)),
        ref_register_count=draw(st.integers(0, 0xFFFF)),
        block_count=draw(st.integers(0, 0xFFFF)),
        requirements=draw(small),
        name=draw(st.none() | names),
        local_names=tuple(draw(st.lists(st.tuples(st.integers(0, 0xFFFF), names),
                                        max_size=3))),
        locations=tuple(DebugLocation(pc, loc) for pc, loc in draw(
            st.lists(st.tuples(small, names), max_size=3))),
    )


@st.composite
def modules(draw) -> ModuleDef:
    return ModuleDef(
        name=draw(names),
        version=draw(small),
        types=tuple(draw(st.lists(names, max_size=4))),
        imports=tuple(ImportDef(n, c, o) for n, c, o in draw(
            st.lists(st.tuples(names, names, st.booleans()), max_size=3))),
        exports=tuple(ExportDef(n, f) for n, f in draw(
            st.lists(st.tuples(names, small), max_size=3))),
        functions=tuple(draw(st.lists(functions(), max_size=4))),
        rodata=tuple(draw(st.lists(st.binary(max_size=130), max_size=4))),
        rwdata_size=draw(small),
        ref_global_count=draw(small),
        dependencies=tuple(DependencyDef(n, v, f) for n, v, f in draw(
            st.lists(st.tuples(names, small, small), max_size=2))),
        bytecode_version=(17, 0),
        source=draw(st.none() | names),
    )


# --------------------------------------------------------------------------- instruction streams

_REG = st.sampled_from([0, 1, 2, 3, 6, 7, 9, 0x4001, R(0), R(1), R(4), RM(0), RM(2)])
_NON_TERMINATORS = [op for op in isa.OPS if not op.is_terminator and not op.is_block]
_TERMINATORS = [op for op in isa.OPS if op.is_terminator]


def random_instr(ops, labels):
    """Instructions of ``ops`` with operands drawn near the edges of the test module."""
    target = st.sampled_from(labels) | st.integers(0, 20)

    @st.composite
    def build(draw):
        op = draw(st.sampled_from(ops))
        args = []
        for field in op.fields:
            kind = field.kind
            if kind == "register":
                args.append(draw(_REG))
            elif kind == "attribute":
                args.append(draw(st.integers(0, 2**31 - 1)))
            elif kind in ("global_attr", "rodata_attr", "type_of"):
                args.append(draw(st.integers(0, 3)))
            elif kind == "branch_target":
                args.append(draw(target))
            elif kind == "func_attr":
                args.append(draw(st.sampled_from([0, 1, 3, IMPORT, IMPORT | 1, IMPORT | 7])))
            elif kind == "string_attr":
                args.append(draw(st.binary(max_size=3)))
            elif kind == "const_i16":
                args.append(draw(st.integers(0, 2)))
            elif kind == "branch_table_cases":
                args.append(tuple((draw(target), ()) for _ in range(args[-1])))
            elif kind == "branch_operands":
                args.append(tuple(draw(st.lists(st.tuples(_REG, _REG), max_size=2))))
            elif field.name == "segment_sizes":
                args.append(tuple(draw(st.lists(st.integers(0, 2), max_size=2))))
            else:
                args.append(tuple(draw(st.lists(_REG, max_size=3))))
        return (op.mnemonic, *args)

    return build()


@st.composite
def random_body(draw):
    """1-3 blocks of random non-terminators, each ending in a random terminator."""
    labels = [f"^b{i}" for i in range(draw(st.integers(1, 3)))]
    items = []
    for label in labels:
        items.append(label)
        items += draw(st.lists(random_instr(_NON_TERMINATORS, labels), max_size=3))
        items.append(draw(random_instr(_TERMINATORS, labels)))
    return items
