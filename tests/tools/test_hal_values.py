"""Tensor values of the tools (``hal-abi.md`` 6.1 - 6.3): ``--input`` tensors and files,
buffer view printing, output files, and ``run-module`` / ``vmtest`` with ``--device``."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import pytest

from pyree import status
from pyree.modules.hal import hal_values as hv
from pyree.modules.hal import hal_values_floats as floats
from pyree.modules.hal.buffer import HalBuffer
from pyree.modules.hal.buffer_view import HalBufferView
from pyree.modules.hal.element_type import ElementType as E
from pyree.tools import outputs, values

REPO = Path(__file__).resolve().parents[2]
DISPATCH_OPS = REPO / "tests" / "vmasm_hal" / "dispatch_ops.vmasm"


def parse(text: str, state=None) -> HalBufferView:
    (view,) = values.parse_inputs([text], "0r_v", state)
    return view


def show(text: str, max_elements: int = 1024) -> str:
    return hv.format_buffer_view(parse(text), max_elements)


# -- tensor syntax ---------------------------------------------------------------------

@pytest.mark.parametrize("text, printed", [
    ("2x2xf32=1 2 3 4", "2x2xf32=[1 2][3 4]"),
    ("2x2xi32=[[1 2][3 4]]", "2x2xi32=[1 2][3 4]"),
    ("2x2xi32=1,2,3,4", "2x2xi32=[1 2][3 4]"),
    ("3xi32=1 2 3", "3xi32=1 2 3"),
    ("f32=5", "f32=5"),
    ("i32=-7", "i32=-7"),
    ("2x3xf32=7", "2x3xf32=[7 7 7][7 7 7]"),          # one token is splatted
    ("2x2xf32", "2x2xf32=[0 0][0 0]"),                # no contents: zeros
    ("2x2xf32=", "2x2xf32=[0 0][0 0]"),
    ("0x3xf32=", "0x3xf32="),
    ("2x0xf32=", "2x0xf32=[][]"),
    ('  "2xf32=1 2"\n', "2xf32=1 2"),                 # blanks and quotes stripped
    ("1x1x1xf64=2.5", "1x1x1xf64=[[2.5]]"),
])
def test_tensor_round_trip(text, printed):
    assert show(text) == printed


def test_tensor_storage():
    view = parse("2x3xf32=1 2 3 4 5 6")
    assert type(view) is HalBufferView and view.shape == (2, 3)
    assert view.element_type == E.FLOAT_32 and view.encoding_type == 1
    assert view.buffer.memory_type & 0x30 == 0x30            # DEVICE_LOCAL
    assert view.buffer.allowed_usage & 0xC03 == 0xC03        # DEFAULT usage
    np.testing.assert_array_equal(np.asarray(view), [[1, 2, 3], [4, 5, 6]])


def test_tensor_uses_the_device_allocator():
    from pyree.modules.hal.device import create_device

    device = create_device("local-sync")
    before = device.allocator.statistics().allocation_count
    parse("4xf32=1", {"hal.device": device})
    assert device.allocator.statistics().allocation_count == before + 1


@pytest.mark.parametrize("text, stored", [
    # signless i8/i16 take -128..255 / -32768..65535
    ("3xi8=-128 255 0x7f", [0x80, 0xFF, 0x7F]),
    ("2xi16=-32768 65535", [0x8000, 0xFFFF]),
    ("2xsi8=127 -128", [0x7F, 0x80]),
    ("2xui8=0 255", [0, 255]),
    ("2xui16=0 65535", [0, 65535]),
    ("2xi32=0xFFFFFFFF 017", [0xFFFFFFFF, 15]),       # strtol: auto base, truncated
    ("2xui32=4294967295 0", [0xFFFFFFFF, 0]),
    ("2xi64=-1 9223372036854775807", [2**64 - 1, 2**63 - 1]),
    ("2xui64=18446744073709551615 -1", [2**64 - 1, 2**64 - 1]),   # strtoull wraps
    ("2xi32=12abc 7", [12, 7]),                       # trailing text ignored
])
def test_integer_elements(text, stored):
    view = parse(text)
    dtype = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[
        (view.element_type & 0xFF) // 8]
    assert np.frombuffer(view.buffer.read(), dtype).tolist() == stored


@pytest.mark.parametrize("text", [
    "2xi8=256", "2xi8=-129", "2xsi8=128", "2xsi16=32768", "2xui8=-1", "2xui8=256",
    "2xui16=65536", "2xui32=-1", "2xui32=4294967296", "2xi32=abc", "2xi32=1234567890123456",
    "2xi64=9223372036854775808", "2xf32=x", "2xf32=1e39", "2xf64=1e999", "2xf16=q",
])
def test_bad_elements(text):
    with pytest.raises(status.InvalidArgumentError) as info:
        parse(text)
    assert info.value.annotations[-1] == f"parsing input `{text}`"


@pytest.mark.parametrize("text, bits", [
    ("f16=0.1", 0x2E66), ("f16=65504", 0x7BFF), ("f16=1e6", 0x7C00),
    ("bf16=1", 0x3F80), ("bf16=1.00390625", 0x3F80),   # a tie rounds to even
    ("bf16=1.01171875", 0x3F82),
    ("f8E5M2=1.5", 0x3E), ("f8E4M3FN=448", 0x7E), ("f8E4M3FN=500", 0x7F),
    ("f8E5M2FNUZ=-0", 0x00), ("f8E4M3FNUZ=1", 0x40), ("f8E8M0FNU=2", 0x80),
    ("f8E8M0FNU=0", 0xFF),
])
def test_small_float_elements(text, bits):
    data = parse(text).buffer.read()
    assert int.from_bytes(data, "little") == bits


def test_small_floats_match_ml_dtypes():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    names = {E.FLOAT_8_E5M2: "float8_e5m2", E.FLOAT_8_E4M3_FN: "float8_e4m3fn",
             E.FLOAT_8_E5M2_FNUZ: "float8_e5m2fnuz", E.FLOAT_8_E4M3_FNUZ: "float8_e4m3fnuz",
             E.FLOAT_8_E8M0_FNU: "float8_e8m0fnu"}
    rng = np.random.default_rng(0)
    samples = np.concatenate([
        rng.integers(0, 2**32, 4000, dtype=np.uint64).astype(np.uint32).view(np.float32),
        (rng.standard_normal(4000) * 2.0 ** rng.integers(-20, 20, 4000)).astype(np.float32),
        np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 448, 464, 57344, 61440], np.float32)])
    for et, name in names.items():
        dtype = getattr(ml_dtypes, name)
        codes = np.arange(256, dtype=np.uint8)
        np.testing.assert_array_equal(floats.f8_to_f32(et, codes),
                                      codes.view(dtype).astype(np.float32))
        with np.errstate(all="ignore"):
            expected = samples.astype(dtype).view(np.uint8)
        got = np.array([floats.f32_to_f8(et, float(v)) for v in samples], np.uint8)
        decoded = (floats.f8_to_f32(et, got), floats.f8_to_f32(et, expected))
        same = (got == expected) | (np.isnan(decoded[0]) & np.isnan(decoded[1]))
        assert same.all(), (name, samples[~same][:5])
    with np.errstate(all="ignore"):
        bf16 = samples.astype(ml_dtypes.bfloat16).view(np.uint16)
    got = np.array([floats.f32_to_bf16(float(v)) for v in samples], np.uint16)
    finite = ~np.isnan(samples)
    np.testing.assert_array_equal(got[finite], bf16[finite])


@pytest.mark.parametrize("text, data", [
    ("2xi1=01 00", b"\x01\x00"),
    ("2x*8=AB cd", b"\xAB\xCD"),
    ("1x*16=0102", b"\x01\x02"),      # (a leading * would name a file)
    ("cf64=0000803F00000040", b"\x00\x00\x80\x3F\x00\x00\x00\x40"),
    ("3xi1=01", b"\x01\x01\x01"),
])
def test_hex_elements(text, data):
    assert parse(text).buffer.read() == data


@pytest.mark.parametrize("text", ["2xi1=1 0", "2xi1=001 00", "2xi1=0g 00"])
def test_bad_hex_elements(text):
    with pytest.raises(status.InvalidArgumentError):
        parse(text)


@pytest.mark.parametrize("text, error, message", [
    ("2xf32=1 2 3", status.OutOfRangeError, "output data buffer overflow"),
    ("3xf32=1 2", status.OutOfRangeError, "input data string underflow"),
    ("3xf32=[]", status.OutOfRangeError, "input data string underflow"),
    ("0xf32=1", status.OutOfRangeError, "output data buffer overflow"),
    ("2x2xq32=1", status.InvalidArgumentError, "unhandled element type prefix in 'q32'"),
    ("2xf999=1", status.InvalidArgumentError, "out of range bit count in 'f999'"),
    ("axf32=1", status.InvalidArgumentError, "shape[0] invalid value 'a' of 'a'"),
    ("2x-1xf32=1", status.InvalidArgumentError, "shape[1] invalid value '-1' of '-1'"),
    ("x16=0102", status.InvalidArgumentError, "unhandled element type prefix in '16'"),
    ("1x" * 129 + "f32", status.OutOfRangeError, "just a little bit excessive"),
    ("42", status.InvalidArgumentError, "invalid tensor specification, requires at least"),
    ("2xi32=1 x 3", status.InvalidArgumentError, "invalid i32 element `x`"),
])
def test_tensor_errors(text, error, message):
    with pytest.raises(error) as info:
        parse(text)
    if message is not None:
        assert message in info.value.message
    assert info.value.annotations[-1] == f"parsing input `{text}`"


def test_ampersand_passes_the_buffer():
    (buffer,) = values.parse_inputs(["&4xf32=1 2 3 4"], "0r_v")
    assert type(buffer) is HalBuffer and buffer.byte_length == 16
    assert np.frombuffer(buffer.read(), np.float32).tolist() == [1, 2, 3, 4]


def test_null_ref_input():
    assert values.parse_inputs(["(null)"], "0r_v") == [None]


# -- files -----------------------------------------------------------------------------

def test_npy_inputs(tmp_path):
    path = tmp_path / "in.npy"
    arrays = [np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, -2], np.int32),
              np.array([True, False]), np.array(7, np.uint16), np.array([1 + 2j], np.complex64)]
    with open(path, "wb") as f:
        for array in arrays:
            np.save(f, array)
    views = values.parse_inputs([f"@{path}", f"+{path}", f"*{path}"], "0rrrrr_v")
    assert [v.element_type for v in views] == [E.FLOAT_32, E.SINT_32, E.BOOL_8, E.UINT_16,
                                               E.COMPLEX_FLOAT_64]
    for view, array in zip(views, arrays):
        assert view.shape == array.shape
        np.testing.assert_array_equal(np.asarray(view).view(array.dtype), array)
    # @ opens the file fresh: the first array again
    views = values.parse_inputs([f"@{path}", f"@{path}"], "0rr_v")
    assert views[0].shape == views[1].shape == (2, 3)


def test_npy_input_errors(tmp_path):
    path = tmp_path / "one.npy"
    np.save(path, np.zeros(2, np.float32))
    with pytest.raises(status.OutOfRangeError, match="no more arrays"):
        values.parse_inputs([f"@{path}", f"+{path}"], "0rr_v")
    with pytest.raises(status.NotFoundError):
        values.parse_inputs([f"@{tmp_path / 'missing.npy'}"], "0r_v")
    with pytest.raises(status.UnimplementedError, match="only numpy"):
        values.parse_inputs([f"@{tmp_path / 'data.bin'}"], "0r_v")
    big_endian = tmp_path / "be.npy"
    np.save(big_endian, np.array([1.5, 2.5], ">f4"))
    assert np.asarray(parse(f"@{big_endian}")).tolist() == [1.5, 2.5]


def test_raw_file_contents(tmp_path):
    path = tmp_path / "raw.bin"
    path.write_bytes(np.arange(8, dtype=np.float32).tobytes())
    first, second = values.parse_inputs([f"2x2xf32=@{path}", f"2x2xf32=+{path}"], "0rr_v")
    assert np.asarray(first).tolist() == [[0, 1], [2, 3]]
    assert np.asarray(second).tolist() == [[4, 5], [6, 7]]
    with pytest.raises(status.OutOfRangeError, match="bytes left"):
        values.parse_inputs([f"4xf32=@{path}", f"8xf32=+{path}"], "0rr_v")


# -- printing --------------------------------------------------------------------------

@pytest.mark.parametrize("text, printed", [
    ("3xf32=1e10 -inf nan", "3xf32=1E+10 -INF NAN"),
    ("2xf32=-nan -0", "2xf32=-NAN -0"),
    ("2xf64=0.1 1234567", "2xf64=0.1 1.23457E+06"),
    ("2xf16=0.1 1", "2xf16=0.0999756 1"),
    ("bf16=3.140625", "bf16=3.14062"),
    ("f8E4M3FN=0.3", "f8E4M3FN=0.3125"),
    ("3xi8=-1 255 127", "3xi8=-1 -1 127"),              # signless prints signed
    ("2xui8=255 0", "2xui8=255 0"),
    ("2xui64=18446744073709551615 1", "2xui64=18446744073709551615 1"),
    ("2xsi64=-5 5", "2xsi64=-5 5"),
    ("2xi1=01 00", "2xi1=01 00"),                        # hex bytes in memory order
    ("cf64=0000803F00000040", "cf64=0000803F00000040"),
])
def test_element_printing(text, printed):
    assert show(text) == printed


def test_max_element_count():
    assert show("10xf32=1", 4) == "10xf32=1 1 1 1..."
    assert show("3x3xi32=5", 4) == "3x3xi32=[5 5 5][5...][...]"
    assert show("2x2xi32=1 2 3 4", 0) == "2x2xi32=[...][...]"
    assert show("f32=2", 0) == "f32=..."
    printed = show("2000xi8=1")
    assert printed.count("1") == 1024 and printed.endswith("...")


def test_print_underflow():
    view = parse("4xf32=1 2 3 4")
    short = HalBufferView(view.buffer.subspan(0, 8), (4,), E.FLOAT_32)
    with pytest.raises(status.OutOfRangeError, match="input data underflow"):
        hv.format_buffer_view(short)


def test_result_printing_through_values():
    view = parse("2x3xf32=1 2 3 4 5 6")
    assert values.format_result(0, "r", view) == \
        "result[0]: hal.buffer_view\n2x3xf32=[1 2 3][4 5 6]\n"


def test_format_upper_g():
    assert floats.format_upper_g(1e10) == "1E+10"
    assert floats.format_upper_g(-math.inf) == "-INF"
    assert floats.format_upper_g(struct.unpack("<d", struct.pack("<Q", 0xFFF8 << 48))[0]) \
        == "-NAN"


# -- output files ----------------------------------------------------------------------

@pytest.mark.parametrize("text, descr", [
    ("2xf32=1 2", "<f4"), ("2xi8=1 2", "|i1"), ("2xsi16=1 2", "<i2"), ("2xui16=1 2", "<u2"),
    ("2xi1=01 00", "|b1"), ("cf128=" + "00" * 16, "<c16"), ("2x*32=00000000", "|V4"),
    ("2xf64=1 2", "<f8"), ("2xi64=1 2", "<i8"),
])
def test_npy_outputs(tmp_path, text, descr):
    view = parse(text)
    path = tmp_path / "out.npy"
    outputs.write_results([outputs.OutputSpec.parse(f"@{path}")], [view], "0v_r", None)
    array = np.load(path)
    assert array.dtype.str == descr and array.shape == view.shape
    assert array.tobytes() == view.buffer.read()


def test_npy_output_append_and_raw(tmp_path):
    view = parse("2x2xi32=1 2 3 4")
    npy = tmp_path / "out.npy"
    specs = [outputs.OutputSpec.parse(f"@{npy}")]
    outputs.write_results(specs, [view], "0v_r", None)
    outputs.write_results([outputs.OutputSpec.parse(f"+{npy}")], [view], "0v_r", None)
    with open(npy, "rb") as f:
        assert np.load(f).tolist() == np.load(f).tolist() == [[1, 2], [3, 4]]
    raw = tmp_path / "out.bin"
    bf16 = parse("2xbf16=1 2")
    outputs.write_results([outputs.OutputSpec.parse(f"@{raw}")], [bf16], "0v_r", None)
    assert raw.read_bytes() == bytes.fromhex("803F0040")
    with pytest.raises(status.UnimplementedError):
        outputs.write_results([outputs.OutputSpec.parse(f"@{npy}")], [bf16], "0v_r", None)


def test_hal_buffer_output(tmp_path):
    (buffer,) = values.parse_inputs(["&2xi16=1 2"], "0r_v")
    path = tmp_path / "buf.npy"
    outputs.write_results([outputs.OutputSpec.parse(f"@{path}")], [buffer], "0v_r", None)
    array = np.load(path)
    assert array.dtype == np.int8 and array.tolist() == [1, 0, 2, 0]


# -- the tools with a device -----------------------------------------------------------

@pytest.fixture
def abs_module(tmp_path):
    text = DISPATCH_OPS.read_text().replace("vm.module @dispatch_ops version 1",
                                            "vm.module @absmod version 1\nvm.export @abs")
    path = tmp_path / "abs.vmasm"
    path.write_text(text)
    return path


@pytest.mark.parametrize("device", [None, "local-sync", "local-task"])
def test_run_module_with_the_hal(cli_run, abs_module, device, tmp_path):
    extra = [] if device is None else ["--device", device]
    code, out, err = cli_run("run-module", "--module", str(abs_module), "--function", "abs",
                             "--input", "4xf32=-1 2.5 -3e10 -0", *extra)
    assert code == 0, err
    assert out == "EXEC @abs\nresult[0]: hal.buffer_view\n4xf32=1 2.5 3E+10 0\n"
    assert err == ""
    np.save(tmp_path / "in.npy", np.array([-5, 6, -7], np.float32))
    code, out, err = cli_run("run-module", "--module", str(abs_module), "--function", "abs",
                             "--input", f"@{tmp_path / 'in.npy'}",
                             f"--output=@{tmp_path / 'out.npy'}", *extra)
    assert code == 0, err
    assert np.load(tmp_path / "out.npy").tolist() == [5, 6, 7]


def test_run_module_hal_error(cli_run, abs_module):
    code, _, err = cli_run("run-module", "--module", str(abs_module), "--function", "abs",
                           "--input", "4xi32=1")
    assert code == 1
    assert "input 0 element type mismatch" in err
    assert "while invoking native function hal.buffer_view.assert" in err


@pytest.mark.parametrize("device", ["local-sync", "local-task"])
def test_vmtest_with_the_hal(cli_run, device):
    code, out, err = cli_run("vmtest", "--device", device, str(DISPATCH_OPS))
    assert code == 0, out
    assert out.rstrip().endswith(" 0 failed") and err == ""
