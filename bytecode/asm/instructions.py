"""Instruction lines: ``[RESULTS =] [vm.]MNEMONIC OPERANDS``.

The generic parser is driven by the ISA table: operands are written in field order,
skipping result fields (written before ``=``), with ``type_of`` fields taken from a
``value : TYPE`` annotation on the preceding operand (or on the last operand when the type
is the first field) and a ``branch_target`` written together with its remap list.
Instructions with a special syntax (``vmasm.md`` 5.2 - 5.8) register their own parser in
:data:`PARSERS` with :func:`parser` (see ``forms.py``); every other row of the table uses
:func:`parse_generic`.
"""

from __future__ import annotations

from collections.abc import Callable

from pyree.bytecode import isa
from pyree.bytecode.asm import operands as ops
from pyree.bytecode.asm.lexer import Tok, parse_string, split_annotation, split_top, split_word

Parser = Callable[[ops.Context, isa.Op, Tok, Tok], list]
#: mnemonic -> parser of (context, op, results text, operands text) -> field arguments
PARSERS: dict[str, Parser] = {}


def parser(*mnemonics: str):
    def register(fn: Parser) -> Parser:
        for mnemonic in mnemonics:
            if mnemonic not in isa.BY_MNEMONIC:
                raise ImportError(f"parser for unknown instruction {mnemonic!r}")
            if mnemonic in PARSERS:
                raise ImportError(f"two parsers for {mnemonic!r}")
            PARSERS[mnemonic] = fn
        return fn
    return register


def split_results(code: Tok) -> tuple[Tok, Tok]:
    """(results text, rest): a line has results when the text before the first ``=``
    starts with ``%``."""
    eq = code.text.find("=")
    if eq > 0 and code.text.startswith("%"):
        return code.sub(0, eq).strip(), code.sub(eq + 1).strip()
    return Tok("", code.col), code


def parse_instruction(ctx: ops.Context, code: Tok) -> tuple[isa.Op, list]:
    results, rest = split_results(code)
    mnemonic, operand_text = split_word(rest)
    op = isa.lookup(mnemonic.text)
    if op is None or op.is_block:
        raise mnemonic.issue(f"expected instruction mnemonic like vm.add.i32, "
                             f"found {mnemonic.shown()}")
    handler = PARSERS.get(op.mnemonic, parse_generic)
    return op, handler(ctx, op, results, operand_text)


def describe(field: isa.Field) -> str:
    kind = field.kind
    if kind == "register":
        return ops.describe_bank(field.type)
    if kind == "attribute":
        return f"{field.type} literal"
    return {
        "global_attr": "global like @name or .rwdata[0]",
        "rodata_attr": "rodata segment ordinal",
        "func_attr": "callee like @name",
        "string_attr": 'string like "text"',
        "branch_target": "block label like ^bb1",
        "type_of": "type annotation like ' : !vm.buffer'",
    }.get(kind, field.name)


def parse_results(ctx: ops.Context, op: isa.Op, results: Tok, args: list) -> None:
    """Fill the register result fields from the text before ``=``."""
    slots = [i for i, f in enumerate(op.fields) if f.access == "write"]
    toks = split_top(results)
    if len(toks) != len(slots):
        where = results if results else Tok("", results.col)
        raise where.issue(f"vm.{op.mnemonic} has {len(slots)} result(s), "
                          f"found {len(toks)} before '='")
    for i, tok in zip(slots, toks):
        field = op.fields[i]
        args[i] = ops.parse_register(tok, field.type, ctx, move_ok=field.move)


def parse_generic(ctx: ops.Context, op: isa.Op, results: Tok, operand_text: Tok,
                  toks: list | None = None) -> list:
    """Operands in field order.

    ``toks`` overrides the comma split (special forms reorder operands with it); an entry
    is a token, or a (value, annotation) pair already split.
    """
    args: list = [None] * len(op.fields)
    parse_results(ctx, op, results, args)
    if toks is None:
        toks = split_top(operand_text)
    pairs = [t if isinstance(t, tuple) else split_annotation(t) for t in toks]
    used_annotations: set[int] = set()
    ti = 0
    end = Tok("", operand_text.col + len(operand_text.text))
    for index, field in enumerate(op.fields):
        kind = field.kind
        if field.access == "write" or kind == "branch_operands":
            continue
        if kind == "type_of":
            source = ti - 1 if ti > 0 else len(pairs) - 1
            annotation = pairs[source][1] if source >= 0 else None
            if annotation is None:
                near = pairs[source][0] if source >= 0 else end
                raise near.issue(f"expected ' : TYPE' after {near.shown()} "
                                 f"(vm.{op.mnemonic} names a type)")
            used_annotations.add(source)
            args[index] = ops.parse_type(annotation, ctx)
            continue
        if kind == "variadic_operands":
            rest = [p[0] for p in pairs[ti:]]
            args[index] = ops.parse_register_list(rest, field.type, ctx)
            ti = len(pairs)
            continue
        if ti >= len(pairs):
            raise end.issue(f"expected {describe(field)} for vm.{op.mnemonic}, "
                            "found end of line")
        tok = pairs[ti][0]
        ti += 1
        if not tok:
            raise tok.issue(f"expected {describe(field)}, found an empty operand")
        if kind == "branch_target":
            args[index], args[index + 1] = ops.parse_target(tok, ctx)
        else:
            args[index] = parse_field(ctx, op, field, tok)
    if ti < len(pairs):
        raise pairs[ti][0].issue(f"too many operands for instruction vm.{op.mnemonic}: "
                                 f"unexpected {pairs[ti][0].shown()}")
    for i, (_, annotation) in enumerate(pairs):
        if annotation is not None and i not in used_annotations:
            raise annotation.issue(f"unexpected type annotation {annotation.shown()} "
                                   f"for vm.{op.mnemonic}")
    return args


def parse_field(ctx: ops.Context, op: isa.Op, field: isa.Field, tok: Tok):
    kind = field.kind
    if kind == "register":
        return ops.parse_register(tok, field.type, ctx, move_ok=field.move)
    if kind == "attribute":
        if field.type in ("f32", "f64"):
            bits = ctx.take_meta("bits")
            value = ops.parse_float_literal(tok, field.type)
            return value if bits is None else _meta_bits(bits, tok, field.type)
        return ops.parse_int_literal(tok, 32 if field.type == "i32" else 64)
    if kind == "global_attr":
        return ops.parse_global(tok, op, ctx)
    if kind == "rodata_attr":
        return ops.parse_uint(tok, "rodata segment ordinal")
    if kind == "func_attr":
        return ops.parse_callee(tok, ctx)
    if kind == "string_attr":
        text = parse_string(tok)
        raw = ctx.take_meta("str")
        if raw is None:
            return text.encode("utf-8")
        try:
            return bytes.fromhex(raw)
        except (TypeError, ValueError):
            raise tok.issue(f"metadata str= must be a hex string, found {raw!r}") from None
    raise tok.issue(f"vm.{op.mnemonic}: field {field.name} ({kind}) has no generic syntax")


def _meta_bits(value, tok: Tok, type_name: str) -> int:
    width = 32 if type_name == "f32" else 64
    try:
        bits = int(value, 16) if isinstance(value, str) else None
    except ValueError:
        bits = None
    if bits is None or not 0 <= bits < 1 << width:
        raise tok.issue(f"metadata bits= must be a hex string of a {type_name}, "
                        f"found {value!r}")
    return bits
