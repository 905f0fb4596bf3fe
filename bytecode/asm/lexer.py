"""Line-level lexing: comments, ``[offset]`` prefixes, tokens that remember their column.

Every piece of text the parser looks at is a :class:`Tok`: a string plus the 0-based
column of its first character in the original line, so errors can point at it. Splitting
respects double-quoted strings (no escapes: a string runs to the next ``"``) and nesting
of ``()``, ``[]`` and ``{}`` (and ``<>`` where asked, for type names in signatures).
"""

from __future__ import annotations

import re

import attrs
from pyree.bytecode.asm.errors import SyntaxIssue

#: C ``isspace``: what ``trim`` removes.
SPACE = " \t\n\v\f\r"
SYMBOL_RE = re.compile(r"[A-Za-z0-9_$.]+")
_ANNOTATION_RE = re.compile(r"[ \t\n\v\f\r]:[ \t\n\v\f\r]")


@attrs.frozen
class Tok:
    text: str
    col: int  # 0-based column of text[0] in the source line

    def __str__(self) -> str:
        return self.text

    def __bool__(self) -> bool:
        return bool(self.text)

    def strip(self) -> Tok:
        lead = len(self.text) - len(self.text.lstrip(SPACE))
        return Tok(self.text.strip(SPACE), self.col + lead)

    def sub(self, start: int, end: int | None = None) -> Tok:
        end = len(self.text) if end is None else end
        return Tok(self.text[start:end], self.col + start)

    def issue(self, message: str, offset: int = 0) -> SyntaxIssue:
        return SyntaxIssue(message, self.col + offset)

    def shown(self) -> str:
        """The text as shown in messages: ``end of line`` when empty."""
        return repr(self.text) if self.text else "end of line"


@attrs.frozen
class Line:
    """One source line after comment removal, trimming and ``[...]`` prefix removal."""

    number: int  # 1-based
    code: Tok  # may be empty
    comment: Tok  # the comment text including its ``#``/``//``, or empty


def find_comment(text: str) -> int:
    """Index of the first ``#`` or ``//`` outside a double-quoted string, or -1."""
    in_string = False
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            in_string = not in_string
        elif not in_string and (c == "#" or (c == "/" and i + 1 < n and text[i + 1] == "/")):
            return i
        i += 1
    return -1


def lex_line(raw: str, number: int) -> Line:
    cut = find_comment(raw)
    code = Tok(raw if cut < 0 else raw[:cut], 0)
    comment = Tok("", len(raw)) if cut < 0 else Tok(raw[cut:], cut)
    code = code.strip()
    if code.text.startswith("["):
        close = code.text.find("]")
        if close >= 0:
            code = code.sub(close + 1).strip()
    return Line(number, code, comment)


_OPEN = {"(": ")", "[": "]", "{": "}"}


def split_top(tok: Tok, sep: str = ",", *, angle: bool = False) -> list[Tok]:
    """Split at ``sep`` outside strings and brackets; pieces are stripped.

    An empty input gives an empty list; an empty piece (``a,,b``) is kept (and rejected by
    whoever expects an operand there).
    """
    if not tok.strip():
        return []
    pieces = []
    depth = 0
    in_string = False
    start = 0
    text = tok.text
    opens = "([{<" if angle else "([{"
    closes = ")]}>" if angle else ")]}"
    for i, c in enumerate(text):
        if c == '"':
            in_string = not in_string
        elif in_string:
            continue
        elif c in opens:
            depth += 1
        elif c in closes:
            depth -= 1
        elif c == sep and depth == 0:
            pieces.append(tok.sub(start, i).strip())
            start = i + 1
    pieces.append(tok.sub(start).strip())
    return pieces


def find_top(tok: Tok, needle: str, start: int = 0) -> int:
    """Index of ``needle`` outside strings and brackets, or -1."""
    depth = 0
    in_string = False
    text = tok.text
    for i in range(start, len(text)):
        c = text[i]
        if c == '"':
            in_string = not in_string
        elif in_string:
            continue
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0 and text.startswith(needle, i):
            return i
    return -1


def split_annotation(tok: Tok) -> tuple[Tok, Tok | None]:
    """``value : TYPE`` (colon with whitespace on both sides) -> (value, TYPE)."""
    depth = 0
    in_string = False
    text = tok.text
    for i, c in enumerate(text):
        if c == '"':
            in_string = not in_string
        elif in_string:
            continue
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0 and c == ":" and i > 0 and _ANNOTATION_RE.match(text, i - 1):
            return tok.sub(0, i).strip(), tok.sub(i + 1).strip()
    return tok, None


def split_word(tok: Tok) -> tuple[Tok, Tok]:
    """First whitespace-delimited word and the (stripped) rest."""
    tok = tok.strip()
    text = tok.text
    i = 0
    while i < len(text) and text[i] not in SPACE:
        i += 1
    return tok.sub(0, i), tok.sub(i).strip()


def expect_symbol(tok: Tok, what: str) -> str:
    """``@name`` -> ``name``."""
    text = tok.text
    if not text.startswith("@") or not SYMBOL_RE.fullmatch(text, 1):
        raise tok.issue(f"expected {what} like @name, found {tok.shown()}")
    return text[1:]


def is_symbol(name: str) -> bool:
    return SYMBOL_RE.fullmatch(name) is not None


def parse_string(tok: Tok, what: str = "string") -> str:
    """``"text"`` -> text (no escapes; the text cannot contain a quote)."""
    text = tok.text
    if len(text) < 2 or text[0] != '"' or text[-1] != '"' or '"' in text[1:-1]:
        raise tok.issue(f'expected {what} like "text", found {tok.shown()}')
    return text[1:-1]
