"""Operands: registers, literals, labels and remaps, globals, types and callees.

All parsers take a :class:`~pyree.bytecode.asm.lexer.Tok` and raise ``SyntaxIssue``
pointing into it. :class:`Context` is the state they need (the module and function being
built and the references to check when the function or file ends).
"""

from __future__ import annotations

import re

import attrs
from pyree.bytecode import isa
from pyree.bytecode.asm import numbers
from pyree.bytecode.asm.errors import AssemblyRangeError, SyntaxIssue
from pyree.bytecode.asm.lexer import SYMBOL_RE, Tok, find_top, split_top
from pyree.bytecode.builder import FunctionBuilder, FunctionRef, Label, ModuleBuilder

MAX_SLOT = isa.I32_INDEX_MASK
MAX_REF = isa.REF_INDEX_MASK
_TYPES_RE = re.compile(r"\.types\[(.*)\]")
_CALLEE_RE = re.compile(r"@([A-Za-z0-9_$.:]+)")


@attrs.define(eq=False)
class Context:
    """What operand parsing needs to know and record."""

    module: ModuleBuilder
    module_name: str  # as written in ``vm.module`` (for ``@MODULE:N`` / ``@MODULE.fn``)
    function: FunctionBuilder | None = None
    #: first reference of each label in the current function: name -> (token, line)
    label_refs: dict[str, tuple[Tok, int]] = attrs.Factory(dict)
    #: function references to resolve at end of file: (name, token, line)
    function_refs: list[tuple[str, Tok, int]] = attrs.Factory(list)
    #: the line being parsed (1-based)
    line: int = 0
    #: trailing metadata items of the current line not consumed yet: key -> (value, col)
    meta: dict[str, tuple[object, int]] = attrs.Factory(dict)

    def take_meta(self, key: str):
        item = self.meta.pop(key, None)
        return None if item is None else item[0]


def range_issue(tok: Tok, message: str) -> SyntaxIssue:
    return SyntaxIssue(message, tok.col, AssemblyRangeError)


# -- numbers ----------------------------------------------------------------------------


def parse_uint(tok: Tok, what: str, limit: int = 0xFFFFFFFF) -> int:
    """An unsigned number (auto base) that must be the whole token."""
    text = tok.text
    scanned = numbers.scan_int(text, signed=False) if text[:1].isdigit() else None
    if scanned is None or scanned[1] != len(text):
        raise tok.issue(f"expected {what} (unsigned integer), found {tok.shown()}")
    if scanned[0] > limit:
        raise range_issue(tok, f"{what} {text} is out of range (maximum {limit})")
    return scanned[0]


def parse_int_literal(tok: Tok, bits: int) -> int:
    """``strtol``/``strtoll`` with auto base; trailing text after the digits is ignored."""
    text = tok.text
    max_len = 15 if bits == 32 else 31
    if len(text) > max_len:
        raise range_issue(tok, f"i{bits} literal {text!r} is longer than {max_len} characters")
    scanned = numbers.scan_int(text)
    if scanned is None:
        raise tok.issue(f"expected i{bits} literal, found {tok.shown()}")
    value = scanned[0]
    if bits == 32:
        value &= 0xFFFFFFFF
        return value - (1 << 32) if value >> 31 else value
    if not -(1 << 63) <= value < 1 << 63:
        raise range_issue(tok, f"i64 literal {text} does not fit in a signed 64-bit value")
    return value


def parse_float_literal(tok: Tok, type_name: str) -> int:
    try:
        return numbers.parse_float(tok.text, numbers.FORMATS[type_name])
    except numbers.FloatRangeError as e:
        raise range_issue(tok, str(e)) from None
    except numbers.FloatSyntaxError:
        raise tok.issue(f"expected {type_name} literal, found {tok.shown()}") from None


# -- registers --------------------------------------------------------------------------


def describe_bank(bank: str) -> str:
    if bank in ("i64", "f64"):
        return f"{bank} register like %i0:1"
    if bank == "ref":
        return "ref register like %r0"
    if bank in ("i32", "f32"):
        return f"{bank} register like %i0"
    return "register like %i0, %i0:1 or %r0"


def parse_register(tok: Tok, bank: str, ctx: Context, *, move_ok: bool = False) -> int:
    """A register for a field of ``bank`` (i32 f32 i64 f64 ref, or ``any``)."""
    text = tok.text
    if text.startswith("%i"):
        first, end = _reg_number(tok, 2, bank)
        second = None
        if end < len(text) and text[end] == ":":
            second, end = _reg_number(tok, end + 1, bank)
        if end != len(text):
            raise tok.issue(f"expected {describe_bank(bank)}, found {tok.shown()}")
        if second is not None:
            if second != first + 1:
                raise tok.issue(f"register pair {text}: the second slot must be {first + 1}")
            if bank in ("i32", "f32", "ref"):
                raise tok.issue(f"expected {describe_bank(bank)}, found {tok.shown()}")
            if second > MAX_SLOT:
                raise range_issue(tok, f"register slot {second} is out of range "
                                       f"(maximum {MAX_SLOT})")
            ctx.function.reserve_registers(i32=second + 1)
            return first
        if bank in ("i64", "f64", "ref"):
            raise tok.issue(f"expected {describe_bank(bank)}, found {tok.shown()}")
        return first
    if text.startswith(("%r", "%R")):
        if bank not in ("ref", "any"):
            raise tok.issue(f"expected {describe_bank(bank)}, found {tok.shown()}")
        index, end = _reg_number(tok, 2, bank)
        if end != len(text):
            raise tok.issue(f"expected {describe_bank(bank)}, found {tok.shown()}")
        if index > MAX_REF:
            raise range_issue(tok, f"ref register {index} is out of range (maximum {MAX_REF})")
        ordinal = isa.REF_BIT | index
        if text[1] == "R":
            if not (move_ok or bank == "any"):
                raise tok.issue(f"move (%R) is not allowed on this operand, found {text}")
            ordinal |= isa.MOVE_BIT
        return ordinal
    raise tok.issue(f"expected {describe_bank(bank)}, found {tok.shown()}")


def _reg_number(tok: Tok, pos: int, bank: str) -> tuple[int, int]:
    text = tok.text
    scanned = numbers.scan_int(text, pos, signed=False) if text[pos:pos + 1].isdigit() else None
    if scanned is None:
        raise tok.issue(f"expected {describe_bank(bank)}, found {tok.shown()}")
    if scanned[0] > MAX_SLOT:
        raise range_issue(tok, f"register {text} is out of range (maximum slot {MAX_SLOT})")
    return scanned


def parse_register_list(toks: list[Tok], bank: str, ctx: Context, *, move_ok=True) -> tuple:
    out = []
    for tok in toks:
        if not tok:
            raise tok.issue("expected register, found an empty list entry")
        out.append(parse_register(tok, bank, ctx, move_ok=move_ok))
    return tuple(out)


# -- labels and remaps ------------------------------------------------------------------


def parse_target(tok: Tok, ctx: Context) -> tuple[Label, tuple]:
    """``^label`` or ``^label(src->dst, ...)`` -> (Label, remap pairs)."""
    text = tok.text
    m = SYMBOL_RE.match(text, 1) if text.startswith("^") else None
    if m is None:
        raise tok.issue(f"expected block label like ^bb1, found {tok.shown()}")
    name = m.group(0)
    ctx.label_refs.setdefault(name, (tok, ctx.line))
    rest = tok.sub(m.end()).strip()
    if not rest:
        return Label(name), ()
    return Label(name), parse_paren_remaps(rest, ctx)


def parse_paren_remaps(tok: Tok, ctx: Context) -> tuple:
    text = tok.text
    if not (text.startswith("(") and text.endswith(")")):
        raise tok.issue(f"expected remap list like (%i0->%i1), found {tok.shown()}")
    pairs = []
    for item in split_top(tok.sub(1, len(text) - 1)):
        arrow = find_top(item, "->")
        if arrow < 0:
            raise item.issue(f"expected remap like %i0->%i1, found {item.shown()}")
        src = parse_register(item.sub(0, arrow).strip(), "any", ctx)
        dst = parse_register(item.sub(arrow + 2).strip(), "any", ctx)
        pairs.append((src, dst))
    return tuple(pairs)


def parse_paren_list(tok: Tok, what: str) -> list[Tok]:
    """``( a, b )`` -> [a, b]."""
    text = tok.text
    if not (text.startswith("(") and text.endswith(")")):
        raise tok.issue(f"expected {what} in parentheses, found {tok.shown()}")
    return split_top(tok.sub(1, len(text) - 1))


# -- globals, types, callees ------------------------------------------------------------


def parse_global(tok: Tok, op: isa.Op, ctx: Context) -> int:
    """``@name`` / ``.rwdata[N]`` for primitive globals, ``.refs[N]`` for ref globals."""
    kind = op.mnemonic.rsplit(".", 1)[1]
    text = tok.text
    if kind == "ref":
        if not (text.startswith(".refs[") and text.endswith("]")):
            raise tok.issue(f"expected ref global like .refs[0], found {tok.shown()}")
        index = parse_uint(tok.sub(6, len(text) - 1).strip(), "ref global index")
        ctx.module.use_ref_global(index)
        return index
    width = 4 if kind in ("i32", "f32") else 8
    if text.startswith(".rwdata[") and text.endswith("]"):
        offset = parse_uint(tok.sub(8, len(text) - 1).strip(), "rwdata byte offset")
        ctx.module.use_rwdata(offset, width)
        return offset
    if text.startswith("@") and SYMBOL_RE.fullmatch(text, 1):
        name = text[1:]
        try:
            offset, gtype = ctx.module.global_slot(name)
        except LookupError:
            raise tok.issue(f"unknown global @{name}") from None
        gwidth = 4 if gtype in ("i32", "f32") else 8
        if gwidth != width:
            raise tok.issue(f"storage class mismatch: @{name} is {gtype}, "
                            f"vm.{op.mnemonic} needs a {width}-byte global")
        return offset
    raise tok.issue(f"expected global like @name or .rwdata[0], found {tok.shown()}")


def parse_type(tok: Tok, ctx: Context) -> int:
    """A type name (appended to the type table on first use) or pyree's ``.types[N]``."""
    if not tok:
        raise tok.issue("expected type name, found end of line")
    m = _TYPES_RE.fullmatch(tok.text)
    if m is not None:
        return parse_uint(tok.sub(m.start(1), m.end(1)).strip(), "type ordinal")
    return ctx.module.type_index(tok.text)


def parse_callee(tok: Tok, ctx: Context):
    """``@MODULE:N``, ``@import.full.name``, ``@MODULE.fn`` or ``@fn``.

    Returns the func_attr value, or a :class:`FunctionRef` recorded for resolution at end
    of file.
    """
    m = _CALLEE_RE.fullmatch(tok.text)
    if m is None:
        raise tok.issue(f"expected callee like @name or @module:0, found {tok.shown()}")
    name = m.group(1)
    if ":" in name:
        module = name.partition(":")[0]
        if module != ctx.module_name:
            raise tok.issue(f"expected this module's name @{ctx.module_name}:N, "
                            f"found @{module}:")
        return parse_uint(tok.sub(2 + len(module)), "function ordinal", 0x7FFFFFFF)
    ordinal = ctx.module.find_import(name)
    if ordinal is not None:
        return ordinal
    ctx.function_refs.append((name, tok, ctx.line))
    return FunctionRef(name)
