"""Instruction-scope verifier rules: operands, attributes, callees and signatures.

Contract: ``verifier.py`` docstring. The driver computes :func:`register_operands` once per
instruction and passes it to every rule; ``applies`` restricts a rule to the opcodes whose
fields it inspects (evaluated once per opcode).
"""

from __future__ import annotations

from pyree.bytecode import isa
from pyree.bytecode.cconv import CHAR_BANK, Span
from pyree.bytecode.encoding import Instr
from pyree.bytecode.verifier_base import FunctionContext, fmt_reg, rule

from pyree.status import StatusCode

IMPORT_BIT = 0x80000000
_VARIADIC_CALLS = frozenset({"call.variadic", "call.variadic.yieldable"})
_CALLS = frozenset({"call", "call.yieldable"}) | _VARIADIC_CALLS
#: Register lists whose entries may be of either bank and may carry the move bit.
_ANY = "any"


def register_operands(ins: Instr) -> list[tuple[str, int, str, bool]]:
    """(label, raw ordinal, expected bank, move bit allowed) for every register named by
    an instruction: register fields, register lists and both sides of remap entries.
    Bank ``any`` means "either bank" (call/return/trace/print lists, remap entries).
    ``segment_sizes`` holds counts, not registers, and is skipped."""
    out = []
    mnemonic = ins.op.mnemonic
    for field, arg in zip(ins.op.fields, ins.args):
        kind = field.kind
        if kind == "register":
            out.append((field.name, arg, field.type, field.move))
        elif kind in ("variadic_operands", "variadic_results"):
            if field.name == "segment_sizes":
                continue
            bank = "ref" if mnemonic == "discard.refs" else field.type
            move = field.move or bank == _ANY or mnemonic == "discard.refs"
            out.extend((f"{field.name}[{i}]", reg, bank, move) for i, reg in enumerate(arg))
        elif kind == "branch_operands":
            _remaps(out, field.name, arg)
        elif kind == "branch_table_cases":
            for k, (_, remap) in enumerate(arg):
                _remaps(out, f"cases[{k}].operands", remap)
    return out


def _remaps(out: list, label: str, pairs) -> None:
    for j, (src, dst) in enumerate(pairs):
        out.append((f"{label}[{j}].source", src, _ANY, True))
        out.append((f"{label}[{j}].dest", dst, _ANY, False))


def _has(*kinds: str):
    return lambda op: any(fl.kind in kinds for fl in op.fields)


def _where(ins: Instr, label: str) -> str:
    return f"{ins.op.mnemonic} {label}"


# --------------------------------------------------------------------------- feature bits


@rule("requirements", "instruction", applies=lambda op: op.requirement != 0)
def _requirements(f: FunctionContext, ins: Instr, regs) -> None:
    if not f.fn.requirements & ins.op.requirement:
        feature = "EXT_F32" if ins.op.requirement == isa.REQ_EXT_F32 else "EXT_F64"
        raise f.fail("requirements", f"{ins.op.mnemonic} uses prefix 0x{ins.op.prefix:02X}; "
                     f"expected the {feature} requirement bit, found requirements "
                     f"0x{f.fn.requirements:x}", ins.pc)


# --------------------------------------------------------------------------- registers

_REGS = _has("register", "variadic_operands", "variadic_results", "branch_operands",
             "branch_table_cases")


@rule("register-bank", "instruction", applies=_REGS)
def _register_bank(f: FunctionContext, ins: Instr, regs) -> None:
    for label, reg, bank, _ in regs:
        if bank == _ANY:
            continue
        is_ref = bool(reg & isa.REF_BIT)
        if is_ref != (bank == "ref"):
            found = "ref" if is_ref else "non-ref"
            raise f.fail("register-bank", f"{_where(ins, label)}: {bank} register required but "
                         f"{found} provided ({fmt_reg(reg)}, ordinal 0x{reg:04X})", ins.pc)


@rule("move-bit", "instruction", applies=_REGS)
def _move_bit(f: FunctionContext, ins: Instr, regs) -> None:
    for label, reg, _, move_ok in regs:
        if reg & isa.REF_BIT and reg & isa.MOVE_BIT and not move_ok:
            raise f.fail("move-bit", f"{_where(ins, label)}: move bit not allowed here, found "
                         f"{fmt_reg(reg)}; expected {fmt_reg(reg & ~isa.MOVE_BIT)}", ins.pc)


@rule("register-range", "instruction", applies=_REGS)
def _register_range(f: FunctionContext, ins: Instr, regs) -> None:
    for label, reg, _, _ in regs:
        if reg & isa.REF_BIT:
            index, limit, count, bank = (reg & isa.REF_INDEX_MASK, f.ref_limit,
                                         f.fn.ref_register_count, "ref")
        else:
            index, limit, count, bank = (reg & isa.I32_INDEX_MASK, f.i32_limit,
                                         f.fn.i32_register_count, "i32")
        if index >= limit:
            raise f.fail("register-range", f"{_where(ins, label)}: {bank} register "
                         f"{fmt_reg(reg)} out of range; expected < {limit} ({bank} register "
                         f"count {count} rounded up to a power of two)", ins.pc)


@rule("even-pair", "instruction", applies=_REGS)
def _even_pair(f: FunctionContext, ins: Instr, regs) -> None:
    for label, reg, bank, _ in regs:
        if bank in isa.WIDE_BANKS:
            _check_pair(f, ins, "even-pair", label, bank, reg)


def _check_pair(f: FunctionContext, ins: Instr, rule_id: str, label: str, bank: str,
                reg: int) -> None:
    if reg & 1 or reg + 1 >= f.i32_limit:
        raise f.fail(rule_id, f"{_where(ins, label)}: {bank} value needs an even slot pair "
                     f"n, n+1 with n+1 < {f.i32_limit}; found %i{reg}", ins.pc)


@rule("remap-bank", "instruction", applies=_has("branch_operands", "branch_table_cases"))
def _remap_bank(f: FunctionContext, ins: Instr, regs) -> None:
    for i, (label, src, _, _) in enumerate(regs):
        if not label.endswith(".source"):
            continue
        dst = regs[i + 1][1]
        if (src ^ dst) & isa.REF_BIT:
            raise f.fail("remap-bank", f"{_where(ins, label[:-7])}: remap source "
                         f"{fmt_reg(src)} and destination {fmt_reg(dst)} are in different "
                         "banks; each entry moves one i32 slot or one ref", ins.pc)


# --------------------------------------------------------------------------- attributes


def _attrs(ins: Instr, kind: str, name: str | None = None):
    for field, arg in zip(ins.op.fields, ins.args):
        if field.kind == kind and (name is None or field.name == name):
            yield field.name, arg


def _global_width(op: isa.Op) -> int:
    banks = [fl.type for fl in op.fields if fl.kind == "register"]
    return 8 if any(b in isa.WIDE_BANKS for b in banks) else 4


@rule("global-offset", "instruction", StatusCode.OUT_OF_RANGE,
      applies=lambda op: any(fl.kind == "global_attr" and fl.name == "byte_offset"
                             for fl in op.fields))
def _global_offset(f: FunctionContext, ins: Instr, regs) -> None:
    width = _global_width(ins.op)
    for _, offset in _attrs(ins, "global_attr", "byte_offset"):
        if offset + width > f.module.rwdata_size:
            raise f.fail("global-offset", f"{ins.op.mnemonic}: global byte_offset out of "
                         f"range: {offset} + {width} bytes; expected <= rwdata size "
                         f"{f.module.rwdata_size}", ins.pc)


@rule("ref-global", "instruction", StatusCode.OUT_OF_RANGE,
      applies=lambda op: any(fl.kind == "global_attr" and fl.name != "byte_offset"
                             for fl in op.fields))
def _ref_global(f: FunctionContext, ins: Instr, regs) -> None:
    for name, index in _attrs(ins, "global_attr"):
        if name != "byte_offset" and index >= f.module.ref_global_count:
            raise f.fail("ref-global", f"{ins.op.mnemonic}: global ref ordinal out of range: "
                         f"{index}; expected < ref-global count {f.module.ref_global_count}",
                         ins.pc)


@rule("rodata-ordinal", "instruction", StatusCode.OUT_OF_RANGE, applies=_has("rodata_attr"))
def _rodata_ordinal(f: FunctionContext, ins: Instr, regs) -> None:
    for _, index in _attrs(ins, "rodata_attr"):
        if index >= len(f.module.rodata):
            raise f.fail("rodata-ordinal", f"{ins.op.mnemonic}: rodata ordinal {index} out of "
                         f"range; expected < {len(f.module.rodata)} segments", ins.pc)


@rule("type-id", "instruction", StatusCode.OUT_OF_RANGE, applies=_has("type_of"))
def _type_id(f: FunctionContext, ins: Instr, regs) -> None:
    for name, index in _attrs(ins, "type_of"):
        if index >= len(f.module.types):
            raise f.fail("type-id", f"{ins.op.mnemonic} {name}: type id {index} out of range; "
                         f"expected < {len(f.module.types)} (type table size)", ins.pc)


@rule("import-resolved", "instruction", applies=lambda op: op.mnemonic == "import.resolved")
def _import_resolved(f: FunctionContext, ins: Instr, regs) -> None:
    ordinal = ins.args[0]
    if not ordinal & IMPORT_BIT:
        raise f.fail("import-resolved", "import.resolved: expected an import ordinal (bit 31 "
                     f"set), found internal function ordinal {ordinal}", ins.pc)


@rule("function-ordinal", "instruction", StatusCode.OUT_OF_RANGE, applies=_has("func_attr"))
def _function_ordinal(f: FunctionContext, ins: Instr, regs) -> None:
    for _, ordinal in _attrs(ins, "func_attr"):
        if not ordinal & IMPORT_BIT and ordinal >= len(f.module.functions):
            raise f.fail("function-ordinal", f"{ins.op.mnemonic}: function ordinal {ordinal} "
                         f"out of range; expected < {len(f.module.functions)}", ins.pc)


@rule("import-ordinal", "instruction", StatusCode.OUT_OF_RANGE, applies=_has("func_attr"))
def _import_ordinal(f: FunctionContext, ins: Instr, regs) -> None:
    for _, ordinal in _attrs(ins, "func_attr"):
        index = ordinal & ~IMPORT_BIT
        if ordinal & IMPORT_BIT and index >= len(f.module.imports):
            raise f.fail("import-ordinal", f"{ins.op.mnemonic}: import ordinal {index} out of "
                         f"range; expected < {len(f.module.imports)}", ins.pc)


# --------------------------------------------------------------------------- calls


@rule("variadic-callee", "instruction", StatusCode.FAILED_PRECONDITION,
      applies=lambda op: op.mnemonic in _VARIADIC_CALLS)
def _variadic_callee(f: FunctionContext, ins: Instr, regs) -> None:
    callee = ins.arg("callee_ordinal")
    if not callee & IMPORT_BIT:
        raise f.fail("variadic-callee", f"{ins.op.mnemonic}: variadic calls are only "
                     f"supported to imports; found internal function {callee}", ins.pc)


@rule("segment-sizes", "instruction", applies=lambda op: op.mnemonic in _VARIADIC_CALLS)
def _segment_sizes(f: FunctionContext, ins: Instr, regs) -> None:
    label, cc = f.mctx.callee_cconv(ins.arg("callee_ordinal"))
    sizes = ins.arg("segment_sizes")
    if len(sizes) != len(cc.args):
        raise f.fail("segment-sizes", f"{ins.op.mnemonic} to {label}: expected one segment "
                     f"size per top-level argument of cconv {cc.text!r} ({len(cc.args)}), "
                     f"found {len(sizes)}", ins.pc)


def _expand(elements, sizes) -> str:
    if sizes is None:
        return "".join(elements)
    return "".join(e.elements * n if isinstance(e, Span) else e for e, n in zip(elements, sizes))


def check_list(f: FunctionContext, ins: Instr, rule_id: str, what: str, chars: str,
               regs) -> None:
    """Entries of a call/return register list against flat cconv characters."""
    if len(regs) != len(chars):
        raise f.fail(rule_id, f"{ins.op.mnemonic} {what}: expected {len(chars)} values for "
                     f"cconv characters {chars!r}, found {len(regs)}", ins.pc)
    for i, (c, reg) in enumerate(zip(chars, regs)):
        bank = CHAR_BANK[c]
        if bool(reg & isa.REF_BIT) != (bank == "ref"):
            raise f.fail(rule_id, f"{ins.op.mnemonic} {what}[{i}]: expected {bank} "
                         f"(cconv {c!r}), found {fmt_reg(reg)}", ins.pc)
        if bank in isa.WIDE_BANKS:
            _check_pair(f, ins, rule_id, f"{what}[{i}]", bank, reg)


@rule("callee-signature", "instruction", applies=lambda op: op.mnemonic in _CALLS)
def _callee_signature(f: FunctionContext, ins: Instr, regs) -> None:
    label, cc = f.mctx.callee_cconv(ins.arg("callee_ordinal"))
    variadic = ins.op.mnemonic in _VARIADIC_CALLS
    if cc.has_spans and not variadic:
        raise f.fail("callee-signature", f"{ins.op.mnemonic} to {label}: callee cconv "
                     f"{cc.text!r} has variadic spans; expected call.variadic", ins.pc)
    if any(isinstance(e, Span) for e in cc.results):
        raise f.fail("callee-signature", f"{ins.op.mnemonic} to {label}: spans are not "
                     f"supported in results (cconv {cc.text!r})", ins.pc)
    args = _expand(cc.args, ins.arg("segment_sizes") if variadic else None)
    check_list(f, ins, "callee-signature", f"operands (to {label})", args,
               ins.arg("operands"))
    check_list(f, ins, "callee-signature", f"results (from {label})", "".join(cc.results),
               ins.arg("results"))


@rule("return-signature", "instruction", applies=lambda op: op.mnemonic == "return")
def _return_signature(f: FunctionContext, ins: Instr, regs) -> None:
    sig = f.signature
    check_list(f, ins, "return-signature", f"operands (function cconv {sig.text!r})",
               "".join(sig.results), ins.arg("operands"))
