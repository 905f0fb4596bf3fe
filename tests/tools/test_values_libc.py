"""Scalar parsing and ``%g`` printing against the C library itself (glibc via ctypes).

``--input`` promises C ``strtol``/``strtoll``/``strtof``/``strtod`` rules with IREE's
checks (a parse must read something, ERANGE is an error, i32 text is at most 15
characters, i64/float text at most 31, an i32 is a ``long`` truncated to 32 bits), and
results print with ``printf("%g")``. Hypothesis draws texts from the characters these
functions care about and compares pyree with the real thing.
"""

from __future__ import annotations

import ctypes
import math
import sys

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pyree import status
from pyree.tools import values

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="needs glibc's number parsing as the oracle")

if sys.platform.startswith("linux"):
    LIBC = ctypes.CDLL(None, use_errno=True)
    for _name, _res in (("strtol", ctypes.c_long), ("strtoll", ctypes.c_longlong),
                        ("strtof", ctypes.c_float), ("strtod", ctypes.c_double)):
        _fn = getattr(LIBC, _name)
        _fn.restype = _res
        _fn.argtypes = ([ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
                        + ([ctypes.c_int] if _name.startswith("strtol") else []))


def c_parse(name: str, text: str, limit: int):
    """What IREE's atoi/atof wrappers make of ``text``: a number or None (failure)."""
    if len(text) > limit:
        return None
    buf = ctypes.create_string_buffer(text.encode("ascii"))
    end = ctypes.c_void_p()
    ctypes.set_errno(0)
    fn = getattr(LIBC, name)
    value = fn(buf, ctypes.byref(end), 0) if name.startswith("strtol") \
        else fn(buf, ctypes.byref(end))
    if end.value == ctypes.addressof(buf) or ctypes.get_errno() != 0:
        return None
    return value


def py_parse(fn, text: str, char: str):
    try:
        return fn(text, char)
    except status.InvalidArgumentError:
        return None


INT_TEXT = st.text(alphabet=" +-0123456789xXabcdefABCDEFg.", max_size=24)
FLOAT_TEXT = st.text(alphabet=" +-0123456789.eEpPxXabcdfinINFtyAN()_", max_size=24)


@given(INT_TEXT)
@example("0x")
@example("-0x1g")
@example("4294967297")
@example("9" * 15)
def test_i32_matches_strtol(text):
    expected = c_parse("strtol", text, 15)
    if expected is not None:
        expected = ((expected + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)
    assert py_parse(values.parse_int, text, "i") == expected


@given(INT_TEXT | st.integers(-2**64, 2**64).map(str))
@example("9223372036854775808")
@example("-9223372036854775809")
def test_i64_matches_strtoll(text):
    assert py_parse(values.parse_int, text, "I") == c_parse("strtoll", text, 31)


def same_float(a, b) -> bool:
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1, a) == math.copysign(1, b)


@given(FLOAT_TEXT | st.floats().map(repr) | st.floats(width=32).map(lambda x: f"{x:.9g}"))
@example("1e39")
@example("1e-46")
@example("0x1p-149")
@example("0x1.8p1")
@example("nan(1)")
@example("infinityx")
@example("1e")
@example(".e1")
@example("0x.p1")
def test_f32_matches_strtof(text):
    assert same_float(py_parse(values.parse_float, text, "f"), c_parse("strtof", text, 31))


@given(FLOAT_TEXT | st.floats().map(repr))
@example("1e309")
@example("4.9e-324")
@example("2.4e-324")
@example("-0x1.fffffffffffffp1023")
def test_f64_matches_strtod(text):
    assert same_float(py_parse(values.parse_float, text, "F"), c_parse("strtod", text, 31))


@given(st.floats() | st.floats(width=32))
@example(1e20)
@example(2.5)
@example(-0.0)
@example(100000.0)
@example(1e-5)
@example(math.inf)
@example(-math.inf)
@example(math.nan)
@example(-math.nan)
def test_format_g_matches_printf(value):
    buf = ctypes.create_string_buffer(64)
    LIBC.snprintf(buf, 64, b"%g", ctypes.c_double(value))
    assert values.format_g(value) == buf.value.decode()
