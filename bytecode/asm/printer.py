"""Printing decoded instructions as assembly text: the instruction half of the
disassembler, kept beside the parsers so each special form has its parser (``forms.py``)
and its printer here, and both follow ``vmasm.md`` 5.

:func:`print_instruction` returns a :class:`Printed`: the text, an informative comment
(hex of constants, rodata sizes) and pyree metadata items (``bits=`` for NaN payloads,
``str=`` for strings vmasm cannot spell) that the assembler reads back.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
from pyree.bytecode import isa
from pyree.bytecode.asm import numbers
from pyree.bytecode.encoding import Instr

IMPORT_BIT = 0x80000000


@attrs.frozen
class Printed:
    text: str
    info: str = ""
    items: tuple = ()  # (key, value) metadata pairs


class Names:
    """How the disassembler refers to functions, types, blocks (provided by disasm.py)."""

    def callee(self, value: int) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    def type_name(self, index: int) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    def label(self, pc: int) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    def rodata_size(self, index: int) -> int | None:  # pragma: no cover - interface
        raise NotImplementedError


Printer = Callable[[Instr, Names], Printed]
PRINTERS: dict[str, Printer] = {}


def printer(*mnemonics: str):
    def register(fn: Printer) -> Printer:
        for mnemonic in mnemonics:
            if mnemonic not in isa.BY_MNEMONIC or mnemonic in PRINTERS:
                raise ImportError(f"bad printer registration for {mnemonic!r}")
            PRINTERS[mnemonic] = fn
        return fn
    return register


def print_instruction(instr: Instr, names: Names) -> Printed:
    return PRINTERS.get(instr.op.mnemonic, print_generic)(instr, names)


# -- pieces -----------------------------------------------------------------------------


def reg(ordinal: int, bank: str = "any") -> str:
    """A register as written for a field of ``bank``."""
    if bank in ("i64", "f64"):
        return f"%i{ordinal}:{ordinal + 1}"
    if bank == "ref" or (bank == "any" and ordinal & isa.REF_BIT):
        letter = "R" if ordinal & isa.MOVE_BIT else "r"
        return f"%{letter}{ordinal & isa.REF_INDEX_MASK}"
    return f"%i{ordinal}"


def regs(ordinals, bank: str = "any") -> str:
    return ", ".join(reg(o, bank) for o in ordinals)


def remaps(pairs) -> str:
    return "(" + ", ".join(f"{reg(s)}->{reg(d)}" for s, d in pairs) + ")"


def target(names: Names, pc: int, pairs) -> str:
    return names.label(pc) + remaps(pairs)


def global_ref(op: isa.Op, value: int) -> str:
    return f".refs[{value}]" if op.mnemonic.endswith(".ref") else f".rwdata[{value}]"


def string_literal(raw: bytes) -> tuple[str, tuple]:
    """``"text"`` plus a ``str=`` item when the text cannot carry the bytes exactly."""
    text = raw.decode("utf-8", errors="replace")
    shown = "".join("'" if c == '"' else "?" if ord(c) < 0x20 or c in "\x7f\ufffd" else c
                    for c in text)
    items = () if shown.encode("utf-8") == raw else (("str", raw.hex().upper()),)
    return f'"{shown}"', items


def attribute(field: isa.Field, value: int) -> tuple[str, str, tuple]:
    """(text, info, items) of an immediate."""
    if field.type == "i32":
        return str(value), f"0x{value & 0xFFFFFFFF:08X}", ()
    if field.type == "i64":
        return str(value), f"0x{value & 0xFFFFFFFFFFFFFFFF:016X}", ()
    fmt = numbers.FORMATS[field.type]
    text, exact = numbers.format_float(value, fmt)
    digits = fmt.bits // 4
    hex_bits = f"0x{value:0{digits}X}"
    return text, hex_bits, (() if exact else (("bits", hex_bits),))


def _join_line(results: list[str], op: isa.Op, operands: list[str]) -> str:
    head = (", ".join(results) + " = ") if results else ""
    tail = (" " + ", ".join(operands)) if operands else ""
    return f"{head}vm.{op.mnemonic}{tail}"


# -- the generic form -------------------------------------------------------------------


def operand_texts(instr: Instr, names: Names) -> tuple[list[str], list[str], list, list]:
    """(results, operands, info parts, items) in field order."""
    op = instr.op
    results: list[str] = []
    operands: list[str] = []
    info: list[str] = []
    items: list = []
    pending_type = None
    for i, (field, value) in enumerate(zip(op.fields, instr.args)):
        kind = field.kind
        if field.access == "write" or kind == "variadic_results":
            if kind == "variadic_results":
                results.extend(reg(v) for v in value)
            else:
                results.append(reg(value, field.type))
        elif kind == "register":
            operands.append(reg(value, field.type))
        elif kind == "attribute":
            text, hex_info, extra = attribute(field, value)
            operands.append(text)
            info.append(hex_info)
            items.extend(extra)
        elif kind == "global_attr":
            operands.append(global_ref(op, value))
        elif kind == "rodata_attr":
            operands.append(str(value))
            size = names.rodata_size(value)
            if size is not None:
                info.append(f"{size}b")
        elif kind == "func_attr":
            operands.append(names.callee(value))
        elif kind == "type_of":
            type_text = " : " + names.type_name(value)
            if operands:
                operands[-1] += type_text
            else:
                pending_type = type_text
        elif kind == "string_attr":
            text, extra = string_literal(value)
            operands.append(text)
            items.extend(extra)
        elif kind == "branch_target":
            operands.append(target(names, value, instr.args[i + 1]))
        elif kind == "variadic_operands":
            operands.extend(reg(v, field.type) for v in value)
    if pending_type is not None:
        if operands:
            operands[-1] += pending_type
        else:
            operands.append(pending_type.strip())
    return results, operands, info, items


def print_generic(instr: Instr, names: Names) -> Printed:
    results, operands, info, items = operand_texts(instr, names)
    return Printed(_join_line(results, instr.op, operands), "  ".join(info), tuple(items))


# -- special forms ----------------------------------------------------------------------


def _fields(instr: Instr) -> dict:
    return {f.name: a for f, a in zip(instr.op.fields, instr.args)}


def _result(instr: Instr) -> str:
    field = next(f for f in instr.op.fields if f.access == "write")
    return reg(_fields(instr)[field.name], field.type)


@printer(*[m for m in isa.BY_MNEMONIC if m.startswith("buffer.store.")])
def _buffer_store(instr, names):
    a = _fields(instr)
    bank = instr.op.field("value").type
    text = (f"vm.{instr.op.mnemonic} {reg(a['value'], bank)}, {reg(a['target_buffer'], 'ref')}, "
            f"{reg(a['target_offset'], 'i64')}")
    return Printed(text)


@printer("global.store.i32", "global.store.i64", "global.store.f32", "global.store.f64",
         "global.store.ref")
def _global_store(instr, names):
    op = instr.op
    a = _fields(instr)
    if op.mnemonic.endswith(".ref"):
        location = f"{global_ref(op, a['global'])} : {names.type_name(a['type_def'])}"
        return Printed(f"vm.{op.mnemonic} {reg(a['value'], 'ref')}, {location}")
    value = reg(a["value"], op.field("value").type)
    return Printed(f"vm.{op.mnemonic} {value}, {global_ref(op, a['byte_offset'])}")


@printer(*[m for m in isa.BY_MNEMONIC if m.startswith("select.")])
def _select(instr, names):
    a = _fields(instr)
    bank = instr.op.field("true_value").type
    text = (f"{_result(instr)} = vm.{instr.op.mnemonic} {reg(a['condition'], 'i32')} ? "
            f"{reg(a['true_value'], bank)} : {reg(a['false_value'], bank)}")
    if bank == "ref":
        text += f" -> {names.type_name(a['true_value_type_def'])}"
    return Printed(text)


@printer(*[m for m in isa.BY_MNEMONIC if m.startswith("switch.")])
def _switch(instr, names):
    a = _fields(instr)
    bank = instr.op.field("default_value").type
    text = (f"{_result(instr)} = vm.{instr.op.mnemonic} {reg(a['index'], 'i32')}"
            f"[{regs(a['values'], bank)}] else {reg(a['default_value'], bank)}")
    if bank == "ref":
        text += f" -> {names.type_name(a['type_def'])}"
    return Printed(text)


@printer("cast.any.ref")
def _cast_any_ref(instr, names):
    a = _fields(instr)
    return Printed(f"{_result(instr)} = vm.cast.any.ref {reg(a['operand'], 'ref')} : "
                   f"!vm.ref<?> -> {names.type_name(a['result_type'])}")


@printer("list.alloc")
def _list_alloc(instr, names):
    a = _fields(instr)
    return Printed(f"{_result(instr)} = vm.list.alloc {reg(a['initial_capacity'], 'i32')} : "
                   f"!vm.list<{names.type_name(a['element_type'])}>")


@printer("br_table")
def _br_table(instr, names):
    a = _fields(instr)
    entries = [f"default: {target(names, a['default_dest_pc'], a['default_operands'])}"]
    entries += [f"{i}: {target(names, pc, pairs)}" for i, (pc, pairs) in enumerate(a["cases"])]
    return Printed(f"vm.br_table {reg(a['index'], 'i32')} {{ {', '.join(entries)} }}")


@printer("call", "call.variadic", "call.yieldable", "call.variadic.yieldable")
def _call(instr, names):
    a = _fields(instr)
    text = f"vm.{instr.op.mnemonic} {names.callee(a['callee_ordinal'])}"
    if "segment_sizes" in a:
        text += f" segments[{', '.join(str(s) for s in a['segment_sizes'])}]"
    text += f"({regs(a['operands'])})"
    if "dest_pc" in a:
        return Printed(f"{text} -> {names.label(a['dest_pc'])}({regs(a['results'])})")
    if a["results"]:
        text = f"{regs(a['results'])} = {text}"
    return Printed(text)
