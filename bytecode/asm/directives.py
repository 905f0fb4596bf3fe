"""Module-level lines (``vmasm.md`` 2 and 3): ``vm.module``, ``vm.type``, ``vm.import``,
``vm.rodata``, ``vm.global.*``, ``vm.export``, the ``vm.func`` header, and pyree's
``//! pyree.*`` metadata directives."""

from __future__ import annotations

import re

import attrs
from pyree.bytecode import cconv as cconv_mod
from pyree.bytecode.asm import metadata
from pyree.bytecode.asm import operands as ops
from pyree.bytecode.asm.errors import AssemblyUnimplementedError, SyntaxIssue
from pyree.bytecode.asm.lexer import (
    Tok,
    expect_symbol,
    parse_string,
    split_annotation,
    split_top,
    split_word,
)
from pyree.bytecode.builder import GLOBAL_WIDTH, ModuleBuilder

_TYPE_CHARS = {"i32": "i", "i64": "I", "f32": "f", "f64": "F"}
_RODATA_RE = re.compile(r"vm\.rodata\[(?P<n>[^\]]*)\]\s*=\s*(?P<hex>.*)", re.DOTALL)
_HEADER_RE = re.compile(r"@(?P<name>[A-Za-z0-9_$.]+)\s*\(")


@attrs.define(eq=False)
class ModuleState:
    """The assembler's module-level state."""

    filename: str
    builder: ModuleBuilder | None = None
    ctx: ops.Context | None = None
    functions_started: bool = False
    #: (export name, function name or ordinal, token, line), in declaration order
    exports: list = attrs.Factory(list)
    line: int = 0  # the line being read
    module_overrides: dict = attrs.Factory(dict)
    #: ``pyree.function`` metadata waiting for the next ``vm.func``: (fields, token)
    pending_function: tuple | None = None


def _require_before_functions(state: ModuleState, word: Tok) -> None:
    if state.functions_started:
        raise word.issue(f"{word.text} is not allowed after the first vm.func")


def handle_module(state: ModuleState, rest: Tok) -> None:
    name_tok, rest = split_word(rest)
    name = expect_symbol(name_tok, "module name")
    version = 0
    if rest:
        keyword, value = split_word(rest)
        if keyword.text != "version" or not value:
            raise rest.issue(f"expected 'version N' after the module name, found {rest.shown()}")
        version = ops.parse_uint(value, "module version")
    state.builder = ModuleBuilder(name, version, source=state.filename)
    state.ctx = ops.Context(state.builder, name)


def handle_type(state: ModuleState, word: Tok, rest: Tok) -> None:
    _require_before_functions(state, word)
    if not rest:
        raise rest.issue("expected type name after vm.type, found end of line")
    if rest.text in state.builder.types:
        raise rest.issue(f"duplicate type {rest.text!r}")
    state.builder.add_type(rest.text)


def handle_import(state: ModuleState, word: Tok, rest: Tok) -> None:
    _require_before_functions(state, word)
    first, rest = split_word(rest)
    optional = first.text == "optional"
    if optional:
        first, rest = split_word(rest)
    name = expect_symbol(first, "import name")
    keyword, value = split_word(rest)
    if keyword.text != "cconv":
        raise keyword.issue(f"expected 'cconv \"...\"' after the import name, "
                            f"found {keyword.shown()}")
    cconv = parse_string(value, "calling convention string")
    if state.builder.find_import(name) is not None:
        raise first.issue(f"duplicate import @{name}")
    state.builder.add_import(name, cconv, optional)


def handle_rodata(state: ModuleState, code: Tok) -> None:
    _require_before_functions(state, Tok("vm.rodata", code.col))
    m = _RODATA_RE.fullmatch(code.text)
    if m is None:
        raise code.issue(f"expected 'vm.rodata[N] = HEX', found {code.shown()}")
    index = ops.parse_uint(code.sub(*m.span("n")).strip(), "rodata segment ordinal")
    expected = len(state.builder.rodata)
    if index != expected:
        raise code.issue(f"expected vm.rodata[{expected}] (segments are declared densely in "
                         f"order), found vm.rodata[{index}]")
    hex_tok = code.sub(*m.span("hex"))
    for i, c in enumerate(hex_tok.text):
        if c not in "0123456789abcdefABCDEF":
            raise hex_tok.issue(f"expected hex digits, found {c!r}", i)
    if len(hex_tok.text) % 2:
        raise hex_tok.issue(f"expected an even number of hex digits, found {len(hex_tok.text)}")
    state.builder.add_rodata(bytes.fromhex(hex_tok.text))


def handle_global(state: ModuleState, word: Tok, rest: Tok) -> None:
    _require_before_functions(state, word)
    type_name = word.text[len("vm.global."):]
    if type_name not in GLOBAL_WIDTH:
        raise word.issue(f"expected vm.global.i32, .i64, .f32 or .f64, found {word.shown()}")
    first, rest = split_word(rest)
    while first.text in ("private", "mutable"):
        first, rest = split_word(rest)
    name = expect_symbol(first, "global name")
    if rest:
        if not rest.text.startswith("="):
            raise rest.issue(f"expected '= 0 : {type_name}' or end of line, found {rest.shown()}")
        value, init_type = split_annotation(rest.sub(1).strip())
        if init_type is None or init_type.text != type_name:
            where = init_type or Tok("", rest.col + len(rest.text))
            raise where.issue(f"expected initialiser type ' : {type_name}', found {where.shown()}")
        if type_name in ("i32", "i64"):
            bits = ops.parse_int_literal(value, 32 if type_name == "i32" else 64)
        else:
            bits = ops.parse_float_literal(value, type_name)
        if bits != 0:
            raise SyntaxIssue(f"nonzero initialiser {value.text} for global @{name} is not "
                              "supported (initialise it in an __init function)",
                              value.col, AssemblyUnimplementedError)
    try:
        state.builder.declare_global(name, type_name)
    except ValueError:
        raise first.issue(f"duplicate global @{name}") from None


def handle_export(state: ModuleState, rest: Tok) -> None:
    first, tail = split_word(rest)
    alias = expect_symbol(first, "export name")
    target_tok = first
    if tail:
        if not tail.text.startswith("="):
            raise tail.issue(f"expected '= @function' or end of line, found {tail.shown()}")
        target_tok = tail.sub(1).strip()
        target = expect_symbol(target_tok, "function name")
    else:
        target = alias
    state.exports.append((alias, target, target_tok, state.line))


def handle_metadata(state: ModuleState, name: str, value, tok: Tok) -> None:
    """``//! pyree.NAME JSON`` lines at module level."""
    if state.builder is None:
        raise tok.issue(f"pyree.{name} must follow the vm.module directive")
    if name == "module":
        state.module_overrides.update(metadata.module_fields(value, tok))
    elif name == "type":
        if not isinstance(value, str):
            raise tok.issue(f"expected a JSON string after pyree.type, found {tok.shown()}")
        _require_before_functions(state, Tok("pyree.type", tok.col))
        state.builder.add_type(value, allow_duplicate=True)
    elif name == "export":
        if not (isinstance(value, dict) and set(value) == {"name", "function"}
                and isinstance(value["name"], str) and isinstance(value["function"], int)):
            raise tok.issue('expected {"name": "...", "function": ORDINAL} after pyree.export')
        state.exports.append((value["name"], value["function"], tok, state.line))
    elif name == "function":
        if state.pending_function is not None:
            raise tok.issue("two pyree.function lines before one vm.func")
        state.pending_function = (metadata.function_fields(value, tok), tok)
    else:
        raise tok.issue(f"unknown metadata directive pyree.{name} (expected module, type, "
                        "export or function)")


@attrs.frozen
class Header:
    name: str
    cconv: str
    i32_slots: int
    refs: int


def parse_header(rest: Tok) -> Header:
    """``@name(%i0: i32, %r0: !t) -> (i32) {`` (after ``vm.func``)."""
    m = _HEADER_RE.match(rest.text)
    if m is None:
        raise rest.issue(f"expected '@name(ARGS) -> (RESULTS) {{', found {rest.shown()}")
    close = _matching(rest.text, m.end() - 1)
    if close < 0:
        raise rest.issue("expected ')' closing the argument list")
    arg_chars, slots, refs = _parse_args(rest.sub(m.end(), close))
    tail = rest.sub(close + 1).strip()
    if not tail.text.startswith("->"):
        raise tail.issue(f"expected '-> (RESULTS)' after the arguments, found {tail.shown()}")
    tail = tail.sub(2).strip()
    rclose = _matching(tail.text, 0) if tail.text.startswith("(") else -1
    if rclose < 0:
        raise tail.issue(f"expected '(RESULTS)', found {tail.shown()}")
    result_chars = ""
    for item in split_top(tail.sub(1, rclose), angle=True):
        colon = item.text.rfind(":")
        type_tok = item.sub(colon + 1).strip() if colon >= 0 else item
        result_chars += _type_char(type_tok)
    brace = tail.sub(rclose + 1).strip()
    if brace.text != "{":
        raise brace.issue(f"expected '{{' ending the function header, found {brace.shown()}")
    return Header(m.group("name"), cconv_mod.make(arg_chars, result_chars), slots, refs)


def _matching(text: str, start: int) -> int:
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _type_char(tok: Tok) -> str:
    if tok.text in _TYPE_CHARS:
        return _TYPE_CHARS[tok.text]
    if tok.text.startswith("!"):
        return "r"
    raise tok.issue(f"expected type i32, i64, f32, f64 or !ref_type, found {tok.shown()}")


def _parse_args(text: Tok) -> tuple[str, int, int]:
    chars = ""
    slot = 0
    ref = 0
    for item in split_top(text, angle=True):
        colon = item.text.rfind(":")
        if colon < 0:
            raise item.issue(f"expected 'REGISTER : TYPE', found {item.shown()}")
        reg = item.sub(0, colon).strip()
        char = _type_char(item.sub(colon + 1).strip())
        chars += char
        if char == "r":
            expected = f"%r{ref}"
            ref += 1
        elif char in "IF":
            expected = f"%i{slot}:{slot + 1}"
            slot += 2
        else:
            expected = f"%i{slot}"
            slot += 1
        if not _same_register(reg.text, expected):
            raise reg.issue(f"expected argument register {expected} (arguments are "
                            f"sequential), found {reg.shown()}")
    return chars, slot, ref


def _same_register(text: str, expected: str) -> bool:
    """Compare register spellings numerically (``%i010`` is octal 8, as C reads it)."""
    if text == expected:
        return True
    prefix = expected[:2]
    if not text.startswith(prefix):
        return False
    parts = text[2:].split(":")
    want = expected[2:].split(":")
    if len(parts) != len(want):
        return False
    for got, exp in zip(parts, want):
        tok = Tok(got, 0)
        try:
            value = ops.parse_uint(tok, "register")
        except SyntaxIssue:
            return False
        if value != int(exp):
            return False
    return True
