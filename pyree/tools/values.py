"""Values on the command line: ``--input`` parsing and result printing.

Follows ``iree-run-module`` (``hal-abi.md`` section 6). This module owns the syntax of
*primitive* values and the shape of the output; ref types plug in their own syntax through
two registries, so the HAL can add ``!hal.buffer_view`` without touching this file:

* :func:`register_input_parser` ``(fn)``: ``fn(text, state)`` returns a list of ref values
  (usually one; ``*file.npy`` may give several) or ``None`` when the text is not its
  syntax. ``state`` is a dict kept for one command line (``+file`` continues reading a
  file that an earlier ``@file`` opened; the tools put the HAL device under
  ``"hal.device"``; callables in ``state["on_finish"]`` run once parsing is over).
* :func:`register_printer` ``(type_name, fn)``: ``fn(obj, max_elements)`` returns the
  value's text (no trailing newline), printed on the line after the type name.

Inputs are matched one by one against the argument elements of the function's cconv:

* ``(null)`` / ``(ignored)``: 0 / 0.0 for a value argument, a null ref for ``r``;
* ``i``/``I``: C ``strtol``/``strtoll`` with automatic base (``0x2A``, ``017`` octal),
  leading blanks skipped, trailing text ignored; as in IREE the text is at most 15 (i32)
  or 31 (i64) characters, an i32 is parsed as a 64-bit ``long`` and truncated to 32 bits
  (``0xFFFFFFFF`` is -1) and a value outside the 64-bit range is an error;
* ``f``/``F``: C ``strtof``/``strtod`` (decimal, hex floats, ``inf``, ``nan``), trailing
  text ignored, at most 31 characters, overflow/underflow (C's ERANGE) is an error;
* ``r``: a registered input parser, else an error explaining that tensors need the HAL.

A bad scalar is INVALID_ARGUMENT "parsing value `X` as i32"; ref errors are annotated
"parsing input `X`". Printing: ``i32=42``, ``i64=-1``, ``f32=2.5``, ``f64=1e+20`` (C
``%g``), ``(null)`` for an empty value; a ref prints its type name, then on the next line
its text: a ``vm.list`` prints ``child_list[j]: ...`` per element followed by an empty
line, a type without a printer ``(no printer)``.
"""

from __future__ import annotations

import math
import re
import struct

from pyree import status
from pyree.bytecode import cconv as cc
from pyree.bytecode.asm import numbers
from pyree.vm import TypedValue, ValueType, VmList, ref_type_of

NULL_INPUTS = ("(null)", "(ignored)")
#: Default of ``--output-max-element-count`` (IREE's ``--output_max_element_count``).
DEFAULT_MAX_ELEMENTS = 1024

_VALUE_TYPES = {"i": ValueType.I32, "I": ValueType.I64, "f": ValueType.F32,
                "F": ValueType.F64}
_INT_LIMITS = {"i": 15, "I": 31}
_FLOAT_LIMIT = 31
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1

# The longest prefix strtod accepts (after leading blanks), ordered so that "0xg" reads "0".
_FLOAT_PREFIX = re.compile(
    r"[+-]?(?:0x(?:[0-9a-f]+(?:\.[0-9a-f]*)?|\.[0-9a-f]+)(?:p[+-]?[0-9]+)?"
    r"|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:e[+-]?[0-9]+)?"
    r"|inf(?:inity)?|nan(?:\([0-9a-z_]*\))?)", re.IGNORECASE)
_BLANKS = " \t\n\v\f\r"

_INPUT_PARSERS: list = []
_PRINTERS: dict = {}


def register_input_parser(fn) -> None:
    """Adds a parser for ref (``r``) inputs; see the module docstring."""
    if fn not in _INPUT_PARSERS:
        _INPUT_PARSERS.append(fn)


def register_printer(type_name: str, fn) -> None:
    """Sets the printer of the ref type ``type_name`` (e.g. ``"hal.buffer_view"``)."""
    _PRINTERS[type_name] = fn


# -- scalars ------------------------------------------------------------------------------

def _bad_value(text: str, char: str) -> status.PyreeError:
    return status.InvalidArgumentError(
        f"parsing value `{text}` as {cc.CHAR_BANK[char]}")


def parse_int(text: str, char: str = "i") -> int:
    """An ``i`` (i32) or ``I`` (i64) argument, by C ``strtol``/``strtoll`` rules."""
    scanned = numbers.scan_int(text) if len(text) <= _INT_LIMITS[char] else None
    if scanned is None or not _INT64_MIN <= scanned[0] <= _INT64_MAX:
        raise _bad_value(text, char)
    value = scanned[0]
    if char == "i":
        value = ((value + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)
    return value


def parse_float(text: str, char: str = "f") -> float:
    """An ``f`` (f32) or ``F`` (f64) argument, by C ``strtof``/``strtod`` rules."""
    fmt = numbers.F32 if char == "f" else numbers.F64
    match = _FLOAT_PREFIX.match(text.lstrip(_BLANKS)) if len(text) <= _FLOAT_LIMIT else None
    if match is None:
        raise _bad_value(text, char)
    try:
        bits = numbers.parse_float(match.group(), fmt)
    except ValueError:  # a range error (overflow or inexact underflow)
        raise _bad_value(text, char) from None
    if fmt is numbers.F32:
        return struct.unpack("<f", struct.pack("<I", bits))[0]
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


def parse_scalar(text: str, char: str) -> int | float:
    """A value argument (``i``, ``I``, ``f``, ``F``); ``(null)`` gives 0."""
    if text in NULL_INPUTS:
        return 0.0 if char in "fF" else 0
    if char in "iI":
        return parse_int(text, char)
    return parse_float(text, char)


# -- inputs -------------------------------------------------------------------------------

def parse_ref(text: str, state: dict | None = None) -> list:
    """The value(s) of one ``r`` input: a null ref, or what a registered parser makes."""
    if text in NULL_INPUTS:
        return [None]
    state = {} if state is None else state
    try:
        for parser in _INPUT_PARSERS:
            values = parser(text, state)
            if values is not None:
                return list(values)
        raise _no_ref_syntax(text)
    except status.PyreeError as e:
        raise e.annotate(f"parsing input `{text}`")


def _no_ref_syntax(text: str) -> status.PyreeError:
    if text[:1] in ("@", "+", "*"):
        return status.UnimplementedError(
            "file inputs are read as !hal.buffer_view values, which need the HAL "
            "(not available in this build)")
    head = text.partition("=")[0]
    if "=" not in text and "x" not in head:
        return status.InvalidArgumentError(
            "invalid tensor specification, requires at least a shape/type (`4x2xf32=...`)")
    return status.UnimplementedError(
        "tensor inputs are !hal.buffer_view values, which need the HAL "
        "(not available in this build)")


def parse_inputs(texts, cconv: str, state: dict | None = None) -> list:
    """Host arguments for a function with calling convention ``cconv`` from ``--input``
    texts (one per argument; a ref parser may expand one text into several arguments).

    ``state`` is the parsers' dict for this command line (the tools put the HAL device in
    it); callables a parser appends to ``state["on_finish"]`` run when parsing ends."""
    state = {} if state is None else state
    try:
        return _parse_inputs(texts, cconv, state)
    finally:
        for fn in state.pop("on_finish", ()):
            fn()


def _parse_inputs(texts, cconv: str, state: dict) -> list:
    elements = cc.parse(cconv).args
    if any(isinstance(e, cc.Span) for e in elements):
        raise status.UnimplementedError(
            f"functions with variadic span arguments (cconv {cconv}) cannot be called "
            "from the command line")
    values: list = []
    texts = list(texts)
    for k, text in enumerate(texts):
        if len(values) == len(elements):  # too many inputs: count the rest as one each
            values.extend(texts[k:])
            break
        char = elements[len(values)]
        if char == "r":
            values.extend(parse_ref(text, state))
        else:
            values.append(parse_scalar(text, char))
    if len(values) != len(elements):
        raise status.InvalidArgumentError(
            f"input list and function mismatch; expected {len(elements)} arguments but "
            f"passed {len(values)}")
    return values


# -- printing -----------------------------------------------------------------------------

def format_g(value: float) -> str:
    """C ``printf("%g")`` of a double (glibc spelling: ``inf``, ``-nan``)."""
    if math.isnan(value):
        return "-nan" if math.copysign(1.0, value) < 0 else "nan"
    return "%g" % value  # noqa: UP031 - C printf semantics are the point


def result_variant(char: str, value):
    """The variant a function result of cconv element ``char`` is printed as."""
    if char == "r":
        return value
    return TypedValue(_VALUE_TYPES[char], value)


def format_variant(variant, max_elements: int = DEFAULT_MAX_ELEMENTS) -> str:
    """The text of one variant, ending with a newline (several lines for refs)."""
    if variant is None:
        return "(null)\n"
    if type(variant) is TypedValue:
        name = variant.type.type_name
        if variant.type.is_float:
            return f"{name}={format_g(variant.value)}\n"
        return f"{name}={variant.value}\n"
    ref_type = ref_type_of(variant)
    if ref_type is None:
        raise status.InvalidArgumentError(
            f"cannot print a {type(variant).__name__}: not a registered ref type")
    if type(variant) is VmList:
        body = "".join(f"child_list[{j}]: " + format_variant(variant.get_variant(j),
                                                              max_elements)
                       for j in range(len(variant)))
        return f"{ref_type.name}\n{body}\n"
    printer = _PRINTERS.get(ref_type.name)
    text = "(no printer)" if printer is None else printer(variant, max_elements)
    return f"{ref_type.name}\n{text}\n"


def format_result(index: int, char: str, value,
                  max_elements: int = DEFAULT_MAX_ELEMENTS) -> str:
    """``result[i]: <variant>`` for one function result."""
    return f"result[{index}]: " + format_variant(result_variant(char, value), max_elements)


def format_results(results, cconv: str, max_elements: int = DEFAULT_MAX_ELEMENTS) -> str:
    """All results of a call to a function with calling convention ``cconv``."""
    chars = cc.parse(cconv).result_chars
    return "".join(format_result(i, c, v, max_elements)
                   for i, (c, v) in enumerate(zip(chars, results)))
