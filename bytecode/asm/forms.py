"""Instructions whose text differs from the field order (``vmasm.md`` 5.2 - 5.7).

Each parser is registered for its mnemonics with :func:`~.instructions.parser`. Besides
the canonical assembler forms this accepts, as a convenience, the disassembler spellings
IREE cannot read back (``vmasm.md`` 9): indirect globals written ``.rwdata[%i0]`` /
``.refs[%i0]`` and ``vm.print "name"(%a, %b)``; and pyree's ``vm.switch.ref`` form
(``spec/assembly.md``).
"""

from __future__ import annotations

import re

from pyree.bytecode import isa
from pyree.bytecode.asm import operands as ops
from pyree.bytecode.asm.instructions import parse_generic, parse_results, parser
from pyree.bytecode.asm.lexer import SYMBOL_RE, Tok, split_annotation, split_top

_MNEMONICS = tuple(isa.BY_MNEMONIC)
_VALUE_TYPES = ("i32", "i64", "f32", "f64")
_CALLEE_RE = re.compile(r"@[A-Za-z0-9_$.:]+")
_SWITCH_RE = re.compile(r"(?P<index>[^\[]+?)\s*\[(?P<values>.*)\]\s*else\s+(?P<default>.+)",
                        re.DOTALL)


def _mnemonics(prefix: str, suffixes=None) -> list[str]:
    return [m for m in _MNEMONICS if m.startswith(prefix)
            and (suffixes is None or m[len(prefix):] in suffixes)]


def _split_arrow_type(text: Tok, what: str) -> tuple[Tok, Tok]:
    """``... -> TYPE`` -> (before, TYPE)."""
    arrow = text.text.rfind("->")
    if arrow < 0:
        raise text.sub(len(text.text)).issue(f"expected '-> TYPE' naming the {what}, "
                                             "found end of line")
    return text.sub(0, arrow).strip(), text.sub(arrow + 2).strip()


@parser(*_mnemonics("buffer.store."))
def _buffer_store(ctx, op, results, text):
    """``%VALUE, %BUFFER, %OFFSET`` (the encoding stores buffer, offset, value)."""
    toks = split_top(text)
    if len(toks) >= 3:
        toks = [toks[1], toks[2], toks[0], *toks[3:]]
    return parse_generic(ctx, op, results, text, toks)


@parser(*_mnemonics("global.store.", (*_VALUE_TYPES, "ref")))
def _global_store(ctx, op, results, text):
    """``%VALUE, GLOBAL`` (value first; the encoding stores the global first)."""
    toks = split_top(text)
    if len(toks) >= 2:
        toks = [toks[1], toks[0], *toks[2:]]
    return parse_generic(ctx, op, results, text, toks)


def _unwrap_location(tok: Tok) -> tuple | None:
    """``.rwdata[%i0]`` / ``.refs[%i0] : T`` (disassembler spelling) -> (%i0, T)."""
    value, annotation = split_annotation(tok)
    for prefix in (".rwdata[", ".refs["):
        if value.text.startswith(prefix + "%") and value.text.endswith("]"):
            return value.sub(len(prefix), len(value.text) - 1).strip(), annotation
    return None


@parser(*_mnemonics("global.load.indirect."))
def _global_load_indirect(ctx, op, results, text):
    toks = split_top(text)
    if toks and (unwrapped := _unwrap_location(toks[0])) is not None:
        toks = [unwrapped, *toks[1:]]
    return parse_generic(ctx, op, results, text, toks)


@parser(*_mnemonics("global.store.indirect."))
def _global_store_indirect(ctx, op, results, text):
    """``%OFFSET, %VALUE`` or the disassembler's ``%VALUE, .rwdata[%OFFSET]``."""
    toks = split_top(text)
    if len(toks) >= 2 and (unwrapped := _unwrap_location(toks[1])) is not None:
        toks = [unwrapped, toks[0], *toks[2:]]
    return parse_generic(ctx, op, results, text, toks)


@parser(*_mnemonics("select."))
def _select(ctx, op, results, text):
    """``%COND ? %TRUE : %FALSE`` (``-> TYPE`` after it for select.ref)."""
    args = [None] * len(op.fields)
    parse_results(ctx, op, results, args)
    bank = op.field("true_value").type
    if bank == "ref":
        text, type_tok = _split_arrow_type(text, "result type")
        args[1] = ops.parse_type(type_tok, ctx)
    q = text.text.find("?")
    if q < 0:
        raise text.issue(f"expected '%COND ? %TRUE : %FALSE', found {text.shown()}")
    true_tok, false_tok = split_annotation(text.sub(q + 1).strip())
    if false_tok is None:
        raise true_tok.issue("expected '%TRUE : %FALSE' (a colon with spaces around it), "
                             f"found {true_tok.shown()}")
    move = bank == "ref"
    fields = {f.name: i for i, f in enumerate(op.fields)}
    args[fields["condition"]] = ops.parse_register(text.sub(0, q).strip(), "i32", ctx)
    args[fields["true_value"]] = ops.parse_register(true_tok, bank, ctx, move_ok=move)
    args[fields["false_value"]] = ops.parse_register(false_tok, bank, ctx, move_ok=move)
    return args


@parser(*_mnemonics("switch."))
def _switch(ctx, op, results, text):
    """``%INDEX[%v0, %v1] else %DEFAULT`` (pyree: ``-> TYPE`` after it for switch.ref)."""
    args = [None] * len(op.fields)
    parse_results(ctx, op, results, args)
    fields = {f.name: i for i, f in enumerate(op.fields)}
    bank = op.field("default_value").type
    if bank == "ref":
        text, type_tok = _split_arrow_type(text, "value type")
        args[fields["type_def"]] = ops.parse_type(type_tok, ctx)
    m = _SWITCH_RE.fullmatch(text.text)
    if m is None:
        raise text.issue(f"expected '%INDEX[%v0, ...] else %DEFAULT', found {text.shown()}")
    move = bank == "ref"
    args[fields["index"]] = ops.parse_register(text.sub(*m.span("index")), "i32", ctx)
    values = split_top(text.sub(*m.span("values")))
    args[fields["values"]] = ops.parse_register_list(values, bank, ctx, move_ok=move)
    default = text.sub(*m.span("default")).strip()
    args[fields["default_value"]] = ops.parse_register(default, bank, ctx, move_ok=move)
    return args


@parser("cast.any.ref")
def _cast_any_ref(ctx, op, results, text):
    """``%SRC [: SOURCE_TYPE] -> RESULT_TYPE`` (the source type is ignored)."""
    args = [None] * len(op.fields)
    parse_results(ctx, op, results, args)
    text, type_tok = _split_arrow_type(text, "result type")
    source, _ = split_annotation(text)
    args[0] = ops.parse_register(source, "ref", ctx, move_ok=True)
    args[1] = ops.parse_type(type_tok, ctx)
    return args


@parser("list.alloc")
def _list_alloc(ctx, op, results, text):
    """``%CAPACITY : !vm.list<ELEMENT>``; the element type is encoded."""
    args = [None] * len(op.fields)
    parse_results(ctx, op, results, args)
    toks = split_top(text)
    if len(toks) != 1:
        where = toks[1] if len(toks) > 1 else text
        raise where.issue(f"expected '%CAPACITY : !vm.list<TYPE>', found {text.shown()}")
    value, list_type = split_annotation(toks[0])
    if list_type is None or not (list_type.text.startswith("!vm.list<")
                                 and list_type.text.endswith(">")):
        where = list_type or Tok("", text.col + len(text.text))
        raise where.issue(f"expected ' : !vm.list<TYPE>', found {where.shown()}")
    args[1] = ops.parse_register(value, "i32", ctx)
    args[0] = ops.parse_type(list_type.sub(9, len(list_type.text) - 1).strip(), ctx)
    return args


@parser("br_table")
def _br_table(ctx, op, results, text):
    """``%INDEX { default: ^bbD, 0: ^bb0, 1: ^bb1(%a->%b), ... }`` on one line."""
    args = [None] * len(op.fields)
    parse_results(ctx, op, results, args)
    brace = text.text.find("{")
    if brace < 0 or not text.text.endswith("}"):
        raise text.issue(f"expected '%INDEX {{ default: ^bbN, 0: ^bbM, ... }}', "
                         f"found {text.shown()}")
    args[0] = ops.parse_register(text.sub(0, brace).strip(), "i32", ctx)
    entries = split_top(text.sub(brace + 1, len(text.text) - 1))
    cases = []
    for position, entry in enumerate(entries):
        colon = entry.text.find(":")
        if colon < 0:
            raise entry.issue(f"expected 'CASE: ^bbN', found {entry.shown()}")
        key = entry.sub(0, colon).strip()
        target = ops.parse_target(entry.sub(colon + 1).strip(), ctx)
        if position == 0:
            if key.text != "default":
                raise key.issue(f"expected 'default:' first, found {key.shown()}")
            args[1], args[2] = target
            continue
        number = ops.parse_uint(key, "case number")
        if number != position - 1:
            raise key.issue(f"expected case {position - 1} (cases are dense and in order), "
                            f"found {key.text}")
        cases.append(target)
    if not entries:
        raise text.issue("expected 'default:' in br_table")
    if len(cases) > 0xFFFF:
        raise ops.range_issue(text, f"br_table has {len(cases)} cases (maximum 65535)")
    args[3] = len(cases)
    args[4] = tuple(cases)
    return args


def _close_paren(text: str, start: int) -> int:
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


@parser("call", "call.variadic", "call.yieldable", "call.variadic.yieldable")
def _call(ctx, op, results, text):
    """``@CALLEE [segments[...]](ARGS)``, yieldable: ``... -> ^bbN(RESULTS)``."""
    fields = {f.name: i for i, f in enumerate(op.fields)}
    args = [None] * len(op.fields)
    yieldable = "dest_pc" in fields
    m = _CALLEE_RE.match(text.text)
    if m is None:
        raise text.issue(f"expected callee like @name, found {text.shown()}")
    args[0] = ops.parse_callee(text.sub(0, m.end()), ctx)
    rest = text.sub(m.end()).strip()
    if "segment_sizes" in fields:
        if not rest.text.startswith("segments"):
            raise rest.issue(f"expected 'segments[...]' after the callee, found {rest.shown()}")
        rest = rest.sub(8).strip()
        close = rest.text.find("]")
        if not rest.text.startswith("[") or close < 0:
            raise rest.issue(f"expected '[COUNT, ...]', found {rest.shown()}")
        args[1] = tuple(ops.parse_uint(t, "segment size", 0xFFFF)
                        for t in split_top(rest.sub(1, close)))
        rest = rest.sub(close + 1).strip()
    close = _close_paren(rest.text, 0) if rest.text.startswith("(") else -1
    if close < 0:
        raise rest.issue(f"expected '(ARGUMENTS)' after the callee, found {rest.shown()}")
    operands = ops.parse_paren_list(rest.sub(0, close + 1), "arguments")
    args[fields["operands"]] = ops.parse_register_list(operands, "any", ctx)
    rest = rest.sub(close + 1).strip()
    if not yieldable:
        if rest:
            raise rest.issue(f"too many operands for instruction vm.{op.mnemonic}: "
                             f"unexpected {rest.shown()}")
        toks = split_top(results)
        args[fields["results"]] = ops.parse_register_list(toks, "any", ctx)
        return args
    if results:
        raise results.issue(f"vm.{op.mnemonic} results go after the resume label "
                            "('-> ^bbN(%r, ...)'), not before '='")
    if not rest.text.startswith("->"):
        raise rest.issue(f"expected '-> ^bbN(RESULTS)' after the arguments, "
                         f"found {rest.shown()}")
    target = rest.sub(2).strip()
    label = SYMBOL_RE.match(target.text, 1) if target.text.startswith("^") else None
    if label is None:
        raise target.issue(f"expected resume label like ^bb1, found {target.shown()}")
    args[fields["dest_pc"]] = ops.parse_target(target.sub(0, label.end()), ctx)[0]
    tail = target.sub(label.end()).strip()
    result_toks = ops.parse_paren_list(tail, "results") if tail else []
    args[fields["results"]] = ops.parse_register_list(result_toks, "any", ctx)
    return args


@parser("print", "trace")
def _print(ctx, op, results, text):
    """``"name", %a, %b`` or the disassembler's ``"name"(%a, %b)``."""
    toks = split_top(text)
    if toks and toks[0].text.startswith('"'):
        first = toks[0]
        end_quote = first.text.find('"', 1)
        tail = first.sub(end_quote + 1).strip() if end_quote > 0 else Tok("", 0)
        if tail.text.startswith("("):
            inner = ops.parse_paren_list(tail, "operands")
            toks = [first.sub(0, end_quote + 1), *inner, *toks[1:]]
    return parse_generic(ctx, op, results, text, toks)
