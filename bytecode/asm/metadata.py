"""pyree metadata carried in comments (``spec/assembly.md`` section "Metadata").

vmasm has no syntax for some facts a :class:`~pyree.bytecode.module_def.ModuleDef` holds
(debug locations, exact register counts, NaN payloads, ...). The disassembler writes them
inside comments, which IREE's assembler ignores, and pyree's assembler reads them back:

* a whole-line directive ``//! pyree.NAME JSON`` (``pyree.module``, ``pyree.function``,
  ``pyree.type``, ``pyree.export``);
* trailing items on an instruction or label line, after ``//!``:
  ``//! loc="file.vmasm:12" bits="0x7FC00001" str="DEADBEEF"``; each value is JSON.

A ``//!`` comment that does not have one of these shapes is an ordinary comment.
"""

from __future__ import annotations

import json
import re

from pyree.bytecode.asm.errors import SyntaxIssue
from pyree.bytecode.asm.lexer import SPACE, Tok

MARK = "//!"
_DIRECTIVE_RE = re.compile(r"//![ \t]*pyree\.([A-Za-z_]+)")
_ITEM_RE = re.compile(r"[ \t]*([a-z_]+)=")
_ITEM_START_RE = re.compile(r"//![ \t]+[a-z_]+=")
_DECODER = json.JSONDecoder()

#: Trailing item keys understood by the assembler.
ITEM_KEYS = frozenset({"loc", "bits", "str"})


def directive(comment: Tok) -> tuple[str, object, Tok] | None:
    """``//! pyree.NAME JSON`` as (NAME, value, value token) for a comment-only line."""
    m = _DIRECTIVE_RE.match(comment.text)
    if m is None:
        return None
    value_tok = comment.sub(m.end()).strip()
    try:
        value = json.loads(value_tok.text)
    except ValueError as e:
        raise value_tok.issue(f"expected JSON value after pyree.{m.group(1)}: {e}") from None
    return m.group(1), value, value_tok


def items(comment: Tok) -> list[tuple[str, object, int]]:
    """Trailing ``//! key=JSON ...`` items of an instruction or label line.

    Returns (key, value, column) triples in order; an empty list when there are none.
    """
    at = comment.text.find(MARK)
    if at < 0 or not _ITEM_START_RE.match(comment.text, at):
        return []
    text = comment.text
    pos = at + len(MARK)
    out = []
    while True:
        while pos < len(text) and text[pos] in SPACE:
            pos += 1
        if pos >= len(text):
            return out
        m = _ITEM_RE.match(text, pos)
        if m is None:
            raise SyntaxIssue(f"expected metadata item like key=VALUE, found {text[pos:]!r}",
                              comment.col + pos)
        key = m.group(1)
        if key not in ITEM_KEYS:
            raise SyntaxIssue(f"unknown metadata item {key!r} (expected one of "
                              f"{', '.join(sorted(ITEM_KEYS))})", comment.col + pos)
        try:
            value, end = _DECODER.raw_decode(text, m.end())
        except ValueError:
            raise SyntaxIssue(f"expected JSON value for metadata item {key!r}",
                              comment.col + m.end()) from None
        out.append((key, value, comment.col + pos))
        pos = end


def format_items(pairs) -> str:
    """``//! k=v k=v`` for (key, value) pairs, or '' when there are none."""
    if not pairs:
        return ""
    return MARK + " " + " ".join(f"{k}={dumps(v)}" for k, v in pairs)


def format_directive(name: str, value) -> str:
    return f"{MARK} pyree.{name} {dumps(value)}"


def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=True, separators=(", ", ": "))


# -- schemas of the directives ----------------------------------------------------------


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _is_pairs(v, second=str) -> bool:
    return isinstance(v, list) and all(
        isinstance(p, list) and len(p) == 2 and _is_int(p[0]) and isinstance(p[1], second)
        for p in v)


_MODULE_KEYS = {
    # key: (ModuleDef field, validator, converter)
    "name": ("name", lambda v: isinstance(v, str), str),
    "source": ("source", lambda v: v is None or isinstance(v, str), lambda v: v),
    "rwdata_size": ("rwdata_size", _is_int, int),
    "ref_global_count": ("ref_global_count", _is_int, int),
    "bytecode_version": ("bytecode_version",
                         lambda v: isinstance(v, list) and len(v) == 2 and all(map(_is_int, v)),
                         tuple),
    "dependencies": ("dependencies",
                     lambda v: isinstance(v, list) and all(
                         isinstance(d, list) and len(d) == 3 and isinstance(d[0], str)
                         and _is_int(d[1]) and _is_int(d[2]) for d in v),
                     lambda v: v),
}

_FUNCTION_KEYS = {
    "name": ("name", lambda v: v is None or isinstance(v, str), lambda v: v),
    "cconv": ("cconv", lambda v: isinstance(v, str), str),
    "i32_registers": ("i32_register_count", _is_int, int),
    "ref_registers": ("ref_register_count", _is_int, int),
    "blocks": ("block_count", _is_int, int),
    "requirements": ("requirements", _is_int, int),
    "local_names": ("local_names", _is_pairs, lambda v: tuple((o, n) for o, n in v)),
    "locations": ("locations", lambda v: v == "inline" or _is_pairs(v), lambda v: v),
}


def _fields(value, tok: Tok, what: str, schema: dict) -> dict:
    if not isinstance(value, dict):
        raise tok.issue(f"expected a JSON object after pyree.{what}, found {tok.shown()}")
    out = {}
    for key, item in value.items():
        if key not in schema:
            raise tok.issue(f"unknown key {key!r} in pyree.{what} (expected one of "
                            f"{', '.join(schema)})")
        field, valid, convert = schema[key]
        if not valid(item):
            raise tok.issue(f"invalid value for {key!r} in pyree.{what}: {item!r}")
        out[field] = convert(item)
    return out


def module_fields(value, tok: Tok) -> dict:
    """``pyree.module`` object -> ModuleDef field overrides (dependencies still lists)."""
    return _fields(value, tok, "module", _MODULE_KEYS)


def function_fields(value, tok: Tok) -> dict:
    """``pyree.function`` object -> FunctionDef field overrides; ``locations`` stays
    ``"inline"`` or a list of [pc, text] pairs."""
    return _fields(value, tok, "function", _FUNCTION_KEYS)
