"""Code-scope verifier rules: decoding, block structure and branch targets.

Contract: ``verifier.py`` docstring. The "decode" rule runs first and stores the decoded
instructions in the :class:`FunctionContext`; the others only read them.
"""

from __future__ import annotations

from pyree.bytecode import encoding, isa
from pyree.bytecode.verifier_base import FunctionContext, rule


@rule("decode", "code")
def _decode(f: FunctionContext) -> None:
    try:
        f.instrs = encoding.decode(bytes(f.fn.code))
    except encoding.DecodeError as e:
        detail = e.message.split(": ", 1)[1] if e.pc is not None else e.message
        raise f.fail("decode", f"cannot decode instruction: {detail}", e.pc) from None
    f.block_pcs = frozenset(ins.pc for ins in f.instrs if ins.op.is_block)


@rule("entry-block", "code")
def _entry_block(f: FunctionContext) -> None:
    if not f.instrs:
        raise f.fail("entry-block", "function has no bytecode; expected a Block marker at "
                     "pc 0", 0)
    first = f.instrs[0]
    if not first.op.is_block:
        raise f.fail("entry-block", f"expected a Block marker at pc 0, found "
                     f"{first.op.mnemonic}", 0)


def _walk(f: FunctionContext):
    """Yield (instr, in_block) where ``in_block`` is the state before the instruction."""
    in_block = False
    for ins in f.instrs:
        yield ins, in_block
        in_block = not ins.op.is_terminator if in_block or ins.op.is_block else in_block


@rule("not-in-block", "code")
def _not_in_block(f: FunctionContext) -> None:
    for ins, in_block in _walk(f):
        if not in_block and not ins.op.is_block:
            raise f.fail("not-in-block", f"op at pc {ins.pc} is not in a block: "
                         f"{ins.op.mnemonic} follows a terminator; expected a Block marker",
                         ins.pc)


@rule("block-in-block", "code")
def _block_in_block(f: FunctionContext) -> None:
    for ins, in_block in _walk(f):
        if in_block and ins.op.is_block:
            raise f.fail("block-in-block", f"op at pc {ins.pc} is a block while still in a "
                         "block: the previous block lacks a terminator", ins.pc)


@rule("missing-terminator", "code")
def _missing_terminator(f: FunctionContext) -> None:
    last = f.instrs[-1]
    if not last.op.is_terminator:
        raise f.fail("missing-terminator", "function missing terminator in the last block: "
                     f"expected one of {', '.join(sorted(isa.TERMINATORS))}, found "
                     f"{last.op.mnemonic} at pc {last.pc}", last.pc)


@rule("block-count", "code")
def _block_count(f: FunctionContext) -> None:
    found = len(f.block_pcs)
    if found != f.fn.block_count:
        raise f.fail("block-count", f"block_count is {f.fn.block_count} but the bytecode has "
                     f"{found} Block markers")


def branch_targets(ins: encoding.Instr):
    """Yield (field label, target pc) of every branch target of an instruction."""
    for field, arg in zip(ins.op.fields, ins.args):
        if field.kind == "branch_target":
            yield field.name, arg
        elif field.kind == "branch_table_cases":
            for k, (target, _) in enumerate(arg):
                yield f"cases[{k}]", target


_HAS_TARGETS = frozenset(
    op.key for op in isa.OPS
    if any(fl.kind in ("branch_target", "branch_table_cases") for fl in op.fields))


@rule("branch-target", "code")
def _branch_target(f: FunctionContext) -> None:
    for ins in f.instrs:
        if ins.op.key not in _HAS_TARGETS:
            continue
        for label, target in branch_targets(ins):
            if target not in f.block_pcs:
                raise f.fail("branch-target", f"{ins.op.mnemonic} {label}: expected the pc of "
                             f"a Block marker, found {target} (blocks at "
                             f"{_some(sorted(f.block_pcs))})", ins.pc)


def _some(pcs: list[int]) -> str:
    return ", ".join(map(str, pcs[:8])) + (", ..." if len(pcs) > 8 else "")
