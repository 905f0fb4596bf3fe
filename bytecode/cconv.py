"""Calling-convention strings (``vm-runtime.md`` section 2).

``"0" arguments ["_" results]``; each fragment is ``v`` (empty) or a sequence of
elements ``i I f F r`` and spans ``C...D`` (a count, then that many tuples). ``v`` inside
a fragment is ignored. :func:`parse` returns a :class:`CConv` whose ``args`` and
``results`` are tuples of elements: a one-character string for a value or ref, or a
:class:`Span` for a span.
"""

from __future__ import annotations

import functools

import attrs

from pyree.status import InvalidArgumentError, UnimplementedError

VALUE_CHARS = frozenset("iIfFr")
#: Bank of each cconv character.
CHAR_BANK = {"i": "i32", "I": "i64", "f": "f32", "F": "f64", "r": "ref"}
BANK_CHAR = {v: k for k, v in CHAR_BANK.items()}


@attrs.frozen
class Span:
    """``C<elements>D``: a count followed by ``count`` tuples of ``elements``."""

    elements: str


@attrs.frozen
class CConv:
    text: str
    args: tuple
    results: tuple

    @property
    def has_spans(self) -> bool:
        return any(isinstance(e, Span) for e in self.args + self.results)

    @property
    def arg_chars(self) -> str:
        """Flat argument characters; fails for spans (they cannot be counted statically)."""
        return _flat(self.args)

    @property
    def result_chars(self) -> str:
        return _flat(self.results)


def _flat(elements) -> str:
    if any(isinstance(e, Span) for e in elements):
        raise InvalidArgumentError("cannot statically count cconv values with variadic value spans")
    return "".join(elements)


def _parse_fragment(text: str, whole: str) -> tuple:
    out: list = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "v":
            i += 1
        elif c in VALUE_CHARS:
            out.append(c)
            i += 1
        elif c == "C":
            end = text.find("D", i + 1)
            if end < 0:
                raise InvalidArgumentError(f"unterminated span in cconv {whole!r}")
            inner = text[i + 1:end]
            if "C" in inner or any(ch not in VALUE_CHARS and ch != "v" for ch in inner):
                raise InvalidArgumentError(f"invalid span {inner!r} in cconv {whole!r}")
            out.append(Span(inner.replace("v", "")))
            i = end + 1
        else:
            raise InvalidArgumentError(f"invalid character {c!r} in cconv {whole!r}")
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def parse(text: str) -> CConv:
    """Parse a cconv string. ``""`` means ``() -> ()``."""
    if text == "":
        return CConv(text, (), ())
    if text[0] != "0":
        raise UnimplementedError(f"unsupported cconv version {text[0]!r} in {text!r}")
    body = text[1:]
    args_text, _, results_text = body.partition("_")
    return CConv(text, _parse_fragment(args_text, text), _parse_fragment(results_text, text))


def make(arg_chars: str, result_chars: str) -> str:
    """The canonical cconv string for flat signatures: ``0ir_I``, ``0v_v``."""
    return "0" + (arg_chars or "v") + "_" + (result_chars or "v")


def canonical(text: str) -> str:
    """Canonical spelling (``""``, ``0``, ``0v`` and ``0_v`` all become ``0v_v``)."""
    cc = parse(text)
    return "0" + (_render(cc.args) or "v") + "_" + (_render(cc.results) or "v")


def _render(elements) -> str:
    return "".join(e if isinstance(e, str) else "C" + e.elements + "D" for e in elements)


def register_placement(chars: str) -> tuple[list[int], int, int]:
    """Register ordinals of flat values placed in a bytecode frame (section 2.3).

    Returns (ordinals, i32 slots used, refs used); ordinals of refs carry the ref bit.
    """
    ordinals = []
    slot = 0
    ref = 0
    for c in chars:
        if c == "r":
            ordinals.append(0x8000 | ref)
            ref += 1
        elif c in "IF":
            slot += slot & 1
            ordinals.append(slot)
            slot += 2
        else:
            ordinals.append(slot)
            slot += 1
    return ordinals, slot, ref
