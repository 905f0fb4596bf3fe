"""``--input`` parsing and result printing (``hal-abi.md`` section 6)."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from pyree.vm import TypedValue, ValueType, VmBuffer, VmList

from pyree import status
from pyree.tools import outputs, values


def f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


# -- integers -----------------------------------------------------------------------------

@pytest.mark.parametrize("text, char, expected", [
    ("42", "i", 42), ("-7", "i", -7), ("+5", "i", 5), ("0x2A", "i", 42), ("0X2a", "i", 42),
    ("017", "i", 15), ("0", "i", 0), ("  12", "i", 12), ("12abc", "i", 12), ("0x", "i", 0),
    ("08", "i", 0),  # octal stops at 8
    ("0xFFFFFFFF", "i", -1), ("4294967297", "i", 1), ("-2147483649", "i", 2147483647),
    ("9223372036854775807", "I", 2**63 - 1), ("-9223372036854775808", "I", -2**63),
    ("0x7fffffffffffffff", "I", 2**63 - 1), ("-1", "I", -1),
])
def test_parse_int(text, char, expected):
    assert values.parse_int(text, char) == expected


@pytest.mark.parametrize("text, char", [
    ("", "i"), ("abc", "i"), ("-", "i"), ("x1", "i"),
    ("1234567890123456", "i"),          # more than 15 characters (IREE's i32 limit)
    ("9223372036854775808", "I"),       # beyond the 64-bit range (ERANGE)
    ("0xFFFFFFFFFFFFFFFF", "I"),
    ("1" * 32, "I"),                    # more than 31 characters
])
def test_parse_int_errors(text, char):
    with pytest.raises(status.InvalidArgumentError) as info:
        values.parse_int(text, char)
    bank = "i32" if char == "i" else "i64"
    assert info.value.message == f"parsing value `{text}` as {bank}"


@pytest.mark.parametrize("text, char, expected", [
    ("2.5", "f", 2.5), ("-2.5", "F", -2.5), ("1e-3", "F", 1e-3), ("0x1.8p1", "f", 3.0),
    (".5", "f", 0.5), ("1.", "f", 1.0), ("1e", "F", 1.0), ("1.5xyz", "f", 1.5),
    ("0x", "f", 0.0), ("0xg", "F", 0.0), (" 7", "f", 7.0), ("1e39", "F", 1e39),
    ("inf", "f", math.inf), ("-Infinity", "F", -math.inf), ("0.1", "f", f32(0.1)),
    ("0.1", "F", 0.1), ("3", "f", 3.0),
])
def test_parse_float(text, char, expected):
    value = values.parse_float(text, char)
    assert value == expected and type(value) is float


def test_parse_float_nan():
    assert math.isnan(values.parse_float("nan", "f"))
    assert math.copysign(1.0, values.parse_float("-nan", "F")) < 0


@pytest.mark.parametrize("text, char", [
    ("", "f"), ("abc", "F"), ("e5", "f"), (".", "f"), ("-", "F"),
    ("1e39", "f"),     # overflows f32: a range error
    ("1e-50", "f"),    # underflows f32
    ("1e999", "F"),
    ("1" * 32, "F"),   # more than 31 characters
])
def test_parse_float_errors(text, char):
    with pytest.raises(status.InvalidArgumentError, match="parsing value .* as f"):
        values.parse_float(text, char)


@pytest.mark.parametrize("char, expected", [("i", 0), ("I", 0), ("f", 0.0), ("F", 0.0)])
@pytest.mark.parametrize("text", ["(null)", "(ignored)"])
def test_null_scalars(text, char, expected):
    value = values.parse_scalar(text, char)
    assert value == expected and type(value) is type(expected)


# -- inputs against a cconv -----------------------------------------------------------------

def test_parse_inputs():
    args = values.parse_inputs(["1", "0x10", "2.5", "-1e20", "(null)"], "0iIfFr_v")
    assert args == [1, 16, 2.5, -1e20, None]


def test_parse_inputs_empty_signature():
    assert values.parse_inputs([], "0v_v") == []
    assert values.parse_inputs([], "") == []


@pytest.mark.parametrize("texts, expected", [(["1"], 2), (["1", "2", "3"], 2), ([], 2)])
def test_parse_inputs_count_mismatch(texts, expected):
    with pytest.raises(status.InvalidArgumentError) as info:
        values.parse_inputs(texts, "0ii_i")
    assert info.value.message == ("input list and function mismatch; expected "
                                  f"{expected} arguments but passed {len(texts)}")


def test_parse_inputs_reports_the_bad_value():
    with pytest.raises(status.InvalidArgumentError, match="parsing value `x` as i64"):
        values.parse_inputs(["1", "x"], "0iI_v")


def test_parse_inputs_spans_unimplemented():
    with pytest.raises(status.UnimplementedError, match="span"):
        values.parse_inputs(["1"], "0CiD_v")


@pytest.mark.parametrize("text, error, message", [
    ("4x2xf32=1 2 3 4 5 6 7 8", status.UnimplementedError, "need the HAL"),
    ("f32=5", status.UnimplementedError, "need the HAL"),
    ("&2xi32", status.UnimplementedError, "need the HAL"),
    ("@input.npy", status.UnimplementedError, "file inputs"),
    ("+input.npy", status.UnimplementedError, "file inputs"),
    ("*input.npy", status.UnimplementedError, "file inputs"),
    ("42", status.InvalidArgumentError, "invalid tensor specification, requires at least"),
])
def test_ref_inputs_without_hal(text, error, message, monkeypatch):
    monkeypatch.setattr(values, "_INPUT_PARSERS", [])   # as if the HAL were not plugged in
    with pytest.raises(error, match=message) as info:
        values.parse_inputs([text], "0r_v")
    assert info.value.annotations[-1] == f"parsing input `{text}`"


def test_registered_input_parser(monkeypatch):
    monkeypatch.setattr(values, "_INPUT_PARSERS", [])
    seen = []

    def parse_bytes(text, state):
        if not text.startswith("bytes:"):
            return None
        seen.append(state)
        return [VmBuffer.from_bytes(text[6:].encode())] * (2 if text.endswith("!") else 1)

    values.register_input_parser(parse_bytes)
    values.register_input_parser(parse_bytes)  # idempotent
    a, b, c = values.parse_inputs(["bytes:ab", "bytes:cd!"], "0rrr_v")
    assert a.tobytes() == b"ab" and b is c and b.tobytes() == b"cd!"
    assert seen[0] is seen[1]  # one state per command line
    with pytest.raises(status.InvalidArgumentError, match="invalid tensor"):
        values.parse_inputs(["other"], "0r_v")


# -- printing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("char, value, text", [
    ("i", 42, "i32=42"), ("i", -1, "i32=-1"), ("I", -5000000000, "i64=-5000000000"),
    ("f", 2.5, "f32=2.5"), ("f", f32(0.1), "f32=0.1"), ("F", 1e20, "f64=1e+20"),
    ("F", 123456789.0, "f64=1.23457e+08"), ("F", 1e-5, "f64=1e-05"), ("f", -0.0, "f32=-0"),
    ("F", math.inf, "f64=inf"), ("f", -math.inf, "f32=-inf"), ("F", math.nan, "f64=nan"),
    ("F", -math.nan, "f64=-nan"), ("r", None, "(null)"),
])
def test_format_result(char, value, text):
    assert values.format_result(3, char, value) == f"result[3]: {text}\n"


def test_format_results_follows_cconv():
    text = values.format_results((7, 8, 9.5), "0v_iIF")
    assert text == "result[0]: i32=7\nresult[1]: i64=8\nresult[2]: f64=9.5\n"


def test_format_typed_list():
    lst = VmList.of("i8", [1, -3])
    assert values.format_variant(lst) == "vm.list\nchild_list[0]: i8=1\nchild_list[1]: i8=-3\n\n"
    assert values.format_variant(VmList.of("i16", [-2])) == "vm.list\nchild_list[0]: i16=-2\n\n"
    assert values.format_variant(VmList.of("f32", [2.5])) == \
        "vm.list\nchild_list[0]: f32=2.5\n\n"


def test_format_variant_list_with_buffer_null_and_nested_list():
    inner = VmList.of("i64", [5])
    lst = VmList.of("!vm.opaque", [TypedValue(ValueType.I32, 42), VmBuffer.allocate(8), None,
                                   inner, TypedValue(ValueType.F64, 1e20)])
    assert values.format_variant(lst) == (
        "vm.list\n"
        "child_list[0]: i32=42\n"
        "child_list[1]: vm.buffer\n(no printer)\n"
        "child_list[2]: (null)\n"
        "child_list[3]: vm.list\nchild_list[0]: i64=5\n\n"
        "child_list[4]: f64=1e+20\n"
        "\n")


def test_format_empty_list_and_null_ref_list():
    assert values.format_result(0, "r", VmList("i32")) == "result[0]: vm.list\n\n"
    refs = VmList("!vm.buffer")
    refs.resize(1)
    assert values.format_variant(refs) == "vm.list\nchild_list[0]: (null)\n\n"


def test_registered_printer(monkeypatch):
    monkeypatch.setattr(values, "_PRINTERS", {})
    values.register_printer("vm.buffer", lambda buf, limit: f"{len(buf)} bytes (max {limit})")
    text = values.format_result(0, "r", VmBuffer.allocate(3), max_elements=7)
    assert text == "result[0]: vm.buffer\n3 bytes (max 7)\n"


def test_format_unregistered_object():
    with pytest.raises(status.InvalidArgumentError, match="not a registered ref type"):
        values.format_variant(object())


# -- output specifications ----------------------------------------------------------------------

@pytest.mark.parametrize("text, spec", [
    ("", outputs.OutputSpec("discard")), ("-", outputs.OutputSpec("print")),
    ("@a.npy", outputs.OutputSpec("npy", "a.npy")),
    ("+a.npy", outputs.OutputSpec("npy", "a.npy", append=True)),
    ("@a.bin", outputs.OutputSpec("raw", "a.bin")),
    ("+a", outputs.OutputSpec("raw", "a", append=True)),
])
def test_output_spec(text, spec):
    assert outputs.OutputSpec.parse(text) == spec


@pytest.mark.parametrize("text", ["a.npy", "@", "x"])
def test_output_spec_errors(text):
    with pytest.raises(status.InvalidArgumentError, match="unsupported output"):
        outputs.OutputSpec.parse(text)


@pytest.mark.parametrize("char, value, dtype", [
    ("i", -2, "<i4"), ("I", 2**40, "<i8"), ("f", 2.5, "<f4"), ("F", 1e20, "<f8")])
def test_to_array_primitives(char, value, dtype):
    array = outputs.to_array(char, value)
    assert array.shape == () and array.dtype == np.dtype(dtype) and array == value


def test_to_array_refs():
    array = outputs.to_array("r", VmBuffer.from_bytes(b"\x01\xff"))
    assert array.dtype == np.int8 and array.tolist() == [1, -1]
    with pytest.raises(status.UnimplementedError, match="vm.list results"):
        outputs.to_array("r", VmList("i32"))
    with pytest.raises(status.InvalidArgumentError, match="null"):
        outputs.to_array("r", None)
