"""The .pyrm container: round trips, layout guarantees, and total parsing of bad input."""

from __future__ import annotations

import pickle
import struct
import time
import zlib

import numpy as np
import pytest
from helpers import RETURN, fix_header, function, module, modules
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyree.bytecode import container
from pyree.bytecode.container import ChecksumError, ContainerError
from pyree.bytecode.module_def import (
    DebugLocation,
    DependencyDef,
    ExportDef,
    FunctionDef,
    ImportDef,
    ModuleDef,
)

from pyree.status import (
    DataLossError,
    InvalidArgumentError,
    NotFoundError,
    PyreeError,
    StatusCode,
)


def _rich() -> ModuleDef:
    f0 = function(RETURN, name="main")
    f1 = FunctionDef("0iI_r", b"\x79" + bytes(range(13)), 5, 2, 1, requirements=3,
                     name="héllo ✓", local_names=((0, "x"), (0x8001, "buf")),
                     locations=(DebugLocation(0, "model.onnx:Add_3"), DebugLocation(7, "a:1:2")))
    return ModuleDef(
        name="módulo", version=7, types=("i32", "!vm.buffer", "!vm.list<i32>"),
        imports=(ImportDef("hal.fence.join", "0ICrD_r"), ImportDef("x.y", "", optional=True)),
        exports=(ExportDef("main", 0), ExportDef("main", 0), ExportDef("other", 1)),
        functions=(f0, f1), rodata=(b"\x01\x02\x03", b"", bytes(range(256)) * 3),
        rwdata_size=24, ref_global_count=3,
        dependencies=(DependencyDef("hal", 4, DependencyDef.REQUIRED),), source="m.vmasm")


def _offset_in(data: bytes, view: memoryview) -> int:
    base = np.frombuffer(data, np.uint8).ctypes.data
    return np.frombuffer(view, np.uint8).ctypes.data - base


def test_round_trip_rich_module():
    m = _rich()
    data = container.write(m)
    back = container.read(data)
    assert back == m and hash(back) == hash(m)
    assert container.write(back) == data
    assert data[:8] == container.MAGIC


def test_round_trip_empty_module():
    m = ModuleDef(name="")
    assert container.read(container.write(m)) == m


@given(modules())
def test_round_trip_random(m):
    data = container.write(m)
    back = container.read(data)
    assert back == m
    assert [bytes(s) for s in back.rodata] == [bytes(s) for s in m.rodata]
    assert container.write(back) == data


def test_rodata_is_zero_copy_and_64_aligned():
    data = container.write(_rich())
    back = container.read(data)
    for seg in back.rodata:
        assert isinstance(seg, memoryview) and seg.readonly
        assert seg.obj is data
        if len(seg):
            assert _offset_in(data, seg) % 64 == 0
    arr = np.frombuffer(back.rodata[2], np.uint8)
    assert arr[257] == 1 and not arr.flags.owndata


def test_function_bodies_are_8_aligned_and_zero_padded():
    m = _rich()
    data = container.write(m)
    code_off, code_len = _directory(data)["CODE"]
    code = data[code_off:code_off + code_len]
    first = m.functions[0].code
    assert code.startswith(first)
    pad = (-len(first)) % 8
    assert code[len(first):len(first) + pad] == bytes(pad)
    assert code[len(first) + pad:] == m.functions[1].code


def _directory(data: bytes) -> dict[str, tuple[int, int]]:
    count = struct.unpack_from("<I", data, 24)[0]
    out = {}
    for i in range(count):
        tag, _, off, length = struct.unpack_from("<4sIQQ", data, 32 + 24 * i)
        out[tag.decode()] = (off, length)
    return out


def test_layout_header_fields():
    data = container.write(_rich())
    _magic, major, minor, crc, length, count, reserved = struct.unpack_from("<8sHHIQII", data)
    assert (major, minor) == container.CONTAINER_VERSION
    assert length == len(data) and reserved == 0
    assert crc == zlib.crc32(data[16:])
    assert list(_directory(data)) == list(container.SECTION_TAGS) and count == 9
    assert _directory(data)["RODA"][0] % 64 == 0


def test_bytecode_version_checked_on_read():
    m = ModuleDef(name="m", bytecode_version=(17, 1))
    with pytest.raises(ContainerError) as e:
        container.read(container.write(m))
    assert "bytecode version mismatch; runtime supports 17.0, module has 17.1" in str(e.value)
    assert e.value.section == "MODL" and e.value.code == StatusCode.INVALID_ARGUMENT
    m = ModuleDef(name="m", bytecode_version=(16, 0))
    with pytest.raises(ContainerError, match="module has 16.0"):
        container.read(container.write(m))


def test_checksum_mismatch_is_data_loss():
    data = bytearray(container.write(_rich()))
    data[-1] ^= 0x40
    with pytest.raises(ChecksumError) as e:
        container.read(bytes(data))
    assert isinstance(e.value, DataLossError) and isinstance(e.value, ContainerError)
    assert e.value.code == StatusCode.DATA_LOSS and str(e.value).startswith("DATA_LOSS")
    assert container.read(bytes(data), verify_checksum=False).rodata[2][-1] == 0xFF ^ 0x40


def test_errors_name_section_and_offset():
    data = bytearray(container.write(_rich()))
    off, _ = _directory(bytes(data))["TYPE"]
    data[off:off + 4] = (0xFFFFFF).to_bytes(4, "little")  # absurd type count
    with pytest.raises(ContainerError) as e:
        container.read(fix_header(bytes(data)))
    assert e.value.section == "TYPE" and e.value.offset == off
    assert f"section TYPE, byte offset {off}" in str(e.value)
    assert isinstance(e.value, InvalidArgumentError)
    clone = pickle.loads(pickle.dumps(e.value))
    assert (clone.section, clone.offset, str(clone)) == ("TYPE", off, str(e.value))


def test_huge_counts_fail_fast_without_allocating():
    base = container.write(_rich())
    for tag in ("TYPE", "IMPT", "EXPT", "DEPS", "FUNC", "DBUG", "RODA"):
        data = bytearray(base)
        off, _ = _directory(base)[tag]
        data[off:off + 4] = b"\xff\xff\xff\xff"
        start = time.perf_counter()
        with pytest.raises(ContainerError) as e:
            container.read(fix_header(bytes(data)))
        assert e.value.section == tag
        assert time.perf_counter() - start < 0.5


def test_bad_utf8_is_container_error():
    m = ModuleDef(name="abc")
    data = bytearray(container.write(m))
    at = bytes(data).index(b"abc")
    data[at] = 0xFF
    with pytest.raises(ContainerError, match="not valid UTF-8") as e:
        container.read(fix_header(bytes(data)))
    assert e.value.offset == at


def test_unknown_sections():
    m = _rich()
    data = container.write(m)
    sections = [(tag, container.SECTION_REQUIRED,
                 data[off:off + n]) for tag, (off, n) in _directory(data).items()]
    optional = container.pack_sections([*sections, ("XTRA", 0, b"future stuff")])
    assert container.read(optional) == m
    required = container.pack_sections([*sections, ("XTRA", container.SECTION_REQUIRED, b"")])
    with pytest.raises(ContainerError, match="unknown required section 'XTRA'"):
        container.read(required)
    with pytest.raises(ContainerError, match="missing required section"):
        container.read(container.pack_sections(sections[:-1]))
    with pytest.raises(ContainerError, match="duplicate section"):
        container.read(container.pack_sections([*sections, sections[0]]))


def test_write_rejects_unrepresentable_modules():
    with pytest.raises(ContainerError, match=r"^INVALID_ARGUMENT; .pyrm section MODL: cannot "
                       r"write module: version = -1 does not fit in u32$"):
        container.write(ModuleDef(name="m", version=-1))
    with pytest.raises(ContainerError, match="i32_register_count"):
        container.write(module(FunctionDef("0v_v", b"", 0x10000, 0, 1)))
    with pytest.raises(ContainerError, match="UTF-8"):
        container.write(ModuleDef(name="\ud800"))
    with pytest.raises(ContainerError, match="rodata"):
        container.write(ModuleDef(name="m", rodata=(object(),)))
    with pytest.raises(ContainerError):
        container.write("not a module")


def test_accepts_bytes_like_inputs():
    data = container.write(_rich())
    assert container.read(bytearray(data)) == _rich()
    assert container.read(memoryview(data)) == _rich()
    assert container.read(np.frombuffer(data, np.uint8)) == _rich()
    with pytest.raises(ContainerError):
        container.read(12345)


def test_save_and_load_file(tmp_path):
    path = tmp_path / ("model" + container.FILE_EXTENSION)
    container.save_file(path, _rich())
    loaded = container.load_file(path)
    assert loaded == _rich()
    seg = loaded.rodata[2]
    arr = np.frombuffer(seg, np.uint8)
    assert not arr.flags.writeable and arr.ctypes.data % 64 == 0
    assert container.load_file(path, use_mmap=False) == _rich()
    empty = tmp_path / "empty.pyrm"
    empty.write_bytes(b"")
    with pytest.raises(ContainerError, match="shorter than"):
        container.load_file(empty)
    with pytest.raises(NotFoundError):
        container.load_file(tmp_path / "missing.pyrm")


# --------------------------------------------------------------------------- fuzzing


def _only_pyree_errors(data: bytes) -> None:
    start = time.perf_counter()
    try:
        container.read(data)
    except ContainerError as e:  # every read error is located
        assert e.section is not None and 0 <= e.offset <= len(data), str(e)
    except PyreeError:
        pass
    assert time.perf_counter() - start < 1.0


@given(st.binary(max_size=400))
def test_random_bytes_only_raise_pyree_errors(data):
    _only_pyree_errors(data)
    _only_pyree_errors(container.MAGIC + data)
    _only_pyree_errors(fix_header(container.MAGIC + b"\x01\x00" + data))


_VALID = container.write(_rich())
_SMALL = container.write(module(function(RETURN, name="f"), types=("i32",),
                                rodata=(b"xy",), imports=(ImportDef("a.b", "0v_v"),)))


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([_VALID, _SMALL]), st.data())
def test_mutated_files_only_raise_pyree_errors(base, data):
    buf = bytearray(base)
    for _ in range(data.draw(st.integers(1, 6))):
        action = data.draw(st.sampled_from(["flip", "byte", "truncate", "insert", "word"]))
        if not buf:
            break
        i = data.draw(st.integers(0, len(buf) - 1))
        if action == "flip":
            buf[i] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "byte":
            buf[i] = data.draw(st.integers(0, 255))
        elif action == "truncate":
            del buf[i:]
        elif action == "insert":
            buf[i:i] = data.draw(st.binary(min_size=1, max_size=8))
        else:
            buf[i:i + 4] = data.draw(st.sampled_from(
                [b"\xff\xff\xff\xff", b"\x00\x00\x00\x80", b"\xff\xff\xff\x7f", b"\0\0\0\0"]))
    _only_pyree_errors(bytes(buf))
    _only_pyree_errors(fix_header(bytes(buf)))


def test_every_single_byte_corruption_is_handled():
    for i in range(len(_SMALL)):
        for value in (0x00, 0xFF, _SMALL[i] ^ 0x80):
            buf = bytearray(_SMALL)
            buf[i] = value
            _only_pyree_errors(fix_header(bytes(buf)))
            _only_pyree_errors(bytes(buf))
    for n in range(len(_SMALL)):
        _only_pyree_errors(_SMALL[:n])
        _only_pyree_errors(fix_header(_SMALL[:n]))
