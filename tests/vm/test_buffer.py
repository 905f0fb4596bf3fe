"""vm.buffer objects and the buffer.* instruction runtime (vm-isa.md 5.11, vm-runtime.md 7)."""

import struct
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from vmhelpers import raises_exactly

from pyree.status import (InvalidArgumentError, OutOfRangeError, PermissionDeniedError,
                          ResourceExhaustedError, StatusCode)
from pyree.vm import buffer as buffer_mod
from pyree.vm import buffer_ops as ops
from pyree.vm.buffer import MUTABLE, ORIGIN_GUEST, ORIGIN_HOST, ORIGIN_MODULE, VmBuffer
from pyree.vm.siphash import siphash24

M64 = (1 << 64) - 1
READ_ONLY = "buffer is read-only and cannot be mapped for mutation"


def oob(offset, length, alignment, buffer_length):
    return (f"out-of-bounds access detected (offset={offset}, length={length}, "
            f"alignment={alignment}, buffer length={buffer_length})")


def rodata(data=bytes(range(16))):
    return VmBuffer.wrap(memoryview(bytes(data)), ORIGIN_MODULE)


# -- VmBuffer --------------------------------------------------------------------------------

def test_allocate_defaults():
    buf = VmBuffer.allocate(10)
    assert len(buf) == buf.length == 10
    assert buf.flags == MUTABLE | ORIGIN_HOST and buf.mutable
    assert buf.tobytes() == bytes(10)
    assert not buf.data.readonly and buf.data.format == "B"
    assert buf.address % 16 == 0
    assert bool(VmBuffer.allocate(0))


@pytest.mark.parametrize("alignment", [1, 2, 8, 16, 32, 64, 256, 4096, 65536])
def test_allocate_alignment(alignment):
    for length in (0, 1, 3, 100):
        buf = VmBuffer.allocate(length, alignment)
        assert buf.address % alignment == 0
        assert len(buf) == length


@pytest.mark.parametrize("alignment", [3, 6, 24, -1, -16, -(1 << 31)])
def test_allocate_alignment_not_power_of_two(alignment):
    with raises_exactly(InvalidArgumentError,
                        f"alignments must be powers of two (got {alignment & M64})") as info:
        VmBuffer.allocate(4, alignment)
    assert info.value.code == StatusCode.INVALID_ARGUMENT


def test_allocate_caps(limits):
    with pytest.raises(ResourceExhaustedError) as info:
        VmBuffer.allocate(-1)
    assert info.value.code == StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(ResourceExhaustedError):
        VmBuffer.allocate(buffer_mod.MAX_BUFFER_BYTES + 1)
    buffer_mod.set_limits(max_bytes=100)
    VmBuffer.allocate(100)
    with raises_exactly(ResourceExhaustedError,
                        "buffer allocation of 101 bytes exceeds the limit of 100 bytes"):
        VmBuffer.allocate(101)
    with pytest.raises(ResourceExhaustedError):
        ops.buffer_alloc(101, 0)
    with pytest.raises(ResourceExhaustedError):
        ops.buffer_clone(VmBuffer.allocate(100), 0, 100, 1 << 20)
    buffer_mod.set_limits(max_alignment=256)
    VmBuffer.allocate(1, 256)
    with pytest.raises(ResourceExhaustedError):
        VmBuffer.allocate(1, 512)
    with pytest.raises(InvalidArgumentError):
        buffer_mod.set_limits(max_alignment=3)
    with pytest.raises(InvalidArgumentError):
        buffer_mod.set_limits(max_bytes=-1)


def test_cap_from_environment():
    code = ("from pyree.vm import buffer_ops as o;import pyree.status as s\n"
            "o.buffer_alloc(64, 0)\n"
            "try:\n o.buffer_alloc(65, 0)\nexcept s.ResourceExhaustedError: pass\n"
            "else: raise SystemExit('no cap')\n")
    env = {"PYREE_MAX_BUFFER_BYTES": "64", "PATH": ""}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_wrap_is_zero_copy():
    backing = bytearray(8)
    buf = VmBuffer.wrap(backing)
    ops.STORES["i32"](buf, 1, 0x01020304)
    assert backing == bytes([0, 0, 0, 0, 4, 3, 2, 1])
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    buf = VmBuffer.wrap(array)
    assert len(buf) == 24
    assert ops.LOADS["f32"](buf, 5) == struct.unpack("<i", struct.pack("<f", 5.0))[0]
    buf.to_numpy(np.float32)[0] = 7.0
    assert array[0, 0] == 7.0


def test_wrap_read_only():
    ro = rodata()
    assert ro.flags == ORIGIN_MODULE and not ro.mutable and ro.data.readonly
    # An immutable wrap of writable memory is still read-only through the buffer.
    buf = VmBuffer.wrap(bytearray(4), ORIGIN_HOST)
    assert buf.data.readonly
    with pytest.raises(TypeError):
        buf.data[0] = 1
    with pytest.raises(PermissionDeniedError):
        VmBuffer.wrap(b"abcd", MUTABLE | ORIGIN_HOST)
    with pytest.raises(PermissionDeniedError):
        VmBuffer(memoryview(b"abcd"), MUTABLE)


def test_wrap_rejects_non_buffers_and_non_contiguous():
    with pytest.raises(InvalidArgumentError):
        VmBuffer.wrap(12)
    with pytest.raises(InvalidArgumentError):
        VmBuffer.wrap(np.arange(10, dtype=np.uint8)[::2])
    with pytest.raises(InvalidArgumentError):
        VmBuffer(b"abc", 0)


def test_from_bytes_copies():
    source = bytearray(b"hello")
    buf = VmBuffer.from_bytes(source)
    source[0] = 0
    assert buf.tobytes() == b"hello" and buf.flags == MUTABLE | ORIGIN_HOST
    ro = VmBuffer.from_bytes(b"xyz", mutable=False)
    assert ro.flags == ORIGIN_HOST and ro.data.readonly
    strided = VmBuffer.from_bytes(np.arange(8, dtype=np.uint16)[::2])
    assert strided.to_numpy(np.uint16).tolist() == [0, 2, 4, 6]
    assert VmBuffer.from_bytes(b"abc", alignment=64).address % 64 == 0


def test_numpy_views_are_zero_copy():
    buf = VmBuffer.allocate(16)
    view = buf.to_numpy(np.int32)
    view[:] = [1, 2, 3, -1]
    assert ops.LOADS["i32"](buf, 3) == -1
    as_array = np.asarray(buf)
    assert as_array.dtype == np.uint8 and as_array.shape == (16,)
    assert np.shares_memory(as_array, view)
    assert np.asarray(buf, dtype=np.int16).dtype == np.int16
    assert memoryview(buf.data).nbytes == 16
    ro = rodata()
    assert not ro.to_numpy().flags.writeable
    assert np.array(ro).flags.writeable
    with pytest.raises(InvalidArgumentError):
        VmBuffer.allocate(6).to_numpy(np.int32)


def test_identity_and_repr():
    a, b = VmBuffer.allocate(4), VmBuffer.allocate(4)
    assert a != b and len({a, b, a}) == 2
    assert repr(rodata()) == "<VmBuffer length=16 flags=ORIGIN_MODULE>"
    with pytest.raises(AttributeError):
        a.flags = 0


# -- loads and stores ------------------------------------------------------------------------

LOAD_CASES = [("i8.u", "<B"), ("i8.s", "<b"), ("i16.u", "<H"), ("i16.s", "<h"),
              ("i32", "<i"), ("i64", "<q"), ("f32", "<i"), ("f64", "<q")]


@pytest.mark.parametrize("kind, fmt", LOAD_CASES)
def test_loads_match_struct(kind, fmt):
    data = bytes([0x80 | i for i in range(32)])
    buf = rodata(data)
    size = struct.calcsize(fmt)
    for index in range(32 // size):
        assert ops.LOADS[kind](buf, index) == struct.unpack_from(fmt, data, index * size)[0]
        assert ops.buffer_load(kind, buf, index) == ops.LOADS[kind](buf, index)


def test_load_extension():
    buf = VmBuffer.from_bytes(b"\xff\xfe\x7f\x00")
    assert ops.LOADS["i8.u"](buf, 0) == 255
    assert ops.LOADS["i8.s"](buf, 0) == -1
    assert ops.LOADS["i16.u"](buf, 0) == 0xFEFF
    assert ops.LOADS["i16.s"](buf, 0) == -257
    assert ops.LOADS["i32"](buf, 0) == 0x007FFEFF


STORE_CASES = [("i8", 1), ("i16", 2), ("i32", 4), ("i64", 8), ("f32", 4), ("f64", 8)]


@pytest.mark.parametrize("kind, size", STORE_CASES)
def test_store_keeps_low_bits(kind, size):
    buf = VmBuffer.allocate(16)
    value = -0x123456789ABCDEF1
    ops.STORES[kind](buf, 1, value)
    expected = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
    assert buf.tobytes() == bytes(size) + expected + bytes(16 - 2 * size)
    ops.buffer_store(kind, buf, 0, 1)
    assert buf.tobytes()[:size] == (1).to_bytes(size, "little")


def test_float_bits_round_trip():
    buf = VmBuffer.allocate(16)
    snan32 = 0x7F800001
    ops.STORES["f32"](buf, 0, snan32)
    assert ops.LOADS["f32"](buf, 0) == snan32
    snan64 = 0x7FF0000000000001
    ops.STORES["f64"](buf, 1, snan64)
    assert ops.LOADS["f64"](buf, 1) == snan64
    neg = struct.unpack("<q", struct.pack("<d", -2.5))[0]
    ops.STORES["f64"](buf, 1, neg)
    assert ops.LOADS["f64"](buf, 1) == neg < 0
    assert struct.unpack_from("<d", buf.data, 8)[0] == -2.5


@pytest.mark.parametrize("kind, fmt", LOAD_CASES)
def test_load_errors(kind, fmt):
    size = struct.calcsize(fmt)
    with raises_exactly(InvalidArgumentError, "buffer is null"):
        ops.LOADS[kind](None, 0)
    with raises_exactly(InvalidArgumentError, "buffer is null"):
        ops.LOADS[kind](VmBuffer, 0)
    buf = VmBuffer.allocate(16)
    ops.LOADS[kind](buf, 16 // size - 1)
    with raises_exactly(OutOfRangeError, oob(16, size, size, 16)) as info:
        ops.LOADS[kind](buf, 16 // size)
    assert info.value.code == StatusCode.OUT_OF_RANGE
    with raises_exactly(OutOfRangeError, oob(M64 * size, size, size, 16)):
        ops.LOADS[kind](buf, -1)
    with raises_exactly(OutOfRangeError, oob((1 << 63) * size, size, size, 16)):
        ops.LOADS[kind](buf, -(1 << 63))
    with raises_exactly(OutOfRangeError, oob(0, size, size, 0)):
        ops.LOADS[kind](VmBuffer.allocate(0), 0)


@pytest.mark.parametrize("kind, size", STORE_CASES)
def test_store_errors_in_order(kind, size):
    store = ops.STORES[kind]
    with raises_exactly(InvalidArgumentError, "buffer is null"):
        store(None, 0, 0)
    # Read-only is reported before bounds.
    with raises_exactly(PermissionDeniedError, READ_ONLY) as info:
        store(rodata(), 1000, 0)
    assert info.value.code == StatusCode.PERMISSION_DENIED
    with raises_exactly(OutOfRangeError, oob(16, size, size, 16)):
        store(VmBuffer.allocate(16), 16 // size, 0)
    with raises_exactly(OutOfRangeError, oob(M64 * size, size, size, 16)):
        store(VmBuffer.allocate(16), -1, 0)


def test_unknown_kind():
    with pytest.raises(InvalidArgumentError):
        ops.buffer_load("u8", VmBuffer.allocate(1), 0)
    with pytest.raises(InvalidArgumentError):
        ops.buffer_store("i8.s", VmBuffer.allocate(1), 0, 0)
    with pytest.raises(InvalidArgumentError):
        ops.buffer_fill("i128", VmBuffer.allocate(1), 0, 0, 0)


@given(st.data())
def test_store_load_against_numpy(data):
    kind, fmt = data.draw(st.sampled_from([("i8", "<i1"), ("i16", "<i2"), ("i32", "<i4"),
                                           ("i64", "<i8")]))
    size = np.dtype(fmt).itemsize
    count = data.draw(st.integers(1, 16))
    oracle = np.zeros(count, dtype=fmt)
    buf = VmBuffer.allocate(count * size)
    for _ in range(data.draw(st.integers(1, 20))):
        index = data.draw(st.integers(0, count - 1))
        value = data.draw(st.integers(-(1 << 63), (1 << 63) - 1))
        ops.STORES[kind](buf, index, value)
        oracle[index] = np.array(value & ((1 << (8 * size)) - 1), dtype=np.uint64) \
            .astype(fmt.replace("i", "u")).view(fmt)
    assert buf.tobytes() == oracle.tobytes()
    load = ops.LOADS[kind if kind in ("i32", "i64") else kind + ".s"]
    assert [load(buf, i) for i in range(count)] == oracle.tolist()


# -- fill --------------------------------------------------------------------------------------

FILL_CASES = [("i8", "<u1"), ("i16", "<u2"), ("i32", "<u4"), ("i64", "<u8"), ("f32", "<u4"),
              ("f64", "<u8")]


@pytest.mark.parametrize("kind, fmt", FILL_CASES)
@pytest.mark.parametrize("count", [0, 1, 7, 3000, 100_000])
def test_fill_matches_numpy(kind, fmt, count):
    size = np.dtype(fmt).itemsize
    total = count + 5
    buf = VmBuffer.allocate(total * size)
    value = -0x0123456789ABCDEF
    ops.FILLS[kind](buf, 2, count, value)
    oracle = np.zeros(total, dtype=fmt)
    oracle[2:2 + count] = value & ((1 << (8 * size)) - 1)
    assert buf.tobytes() == oracle.tobytes()
    ops.buffer_fill(kind, buf, 0, total, 1)
    assert buf.to_numpy(fmt).tolist() == [1] * total


@pytest.mark.parametrize("kind, fmt", FILL_CASES)
def test_fill_unaligned_wrapped_memory(kind, fmt):
    size = np.dtype(fmt).itemsize
    backing = bytearray(size * 2000 + 1)
    buf = VmBuffer.wrap(memoryview(backing)[1:])
    ops.FILLS[kind](buf, 1, 1998, 0x5A)
    expected = bytes(size) + (0x5A).to_bytes(size, "little") * 1998 + bytes(size)
    assert bytes(backing[1:]) == expected and backing[0] == 0


@pytest.mark.parametrize("kind, fmt", FILL_CASES)
def test_fill_errors_in_order(kind, fmt):
    size = np.dtype(fmt).itemsize
    fill = ops.FILLS[kind]
    with raises_exactly(InvalidArgumentError, "buffer is null"):
        fill(None, 0, 1, 0)
    with raises_exactly(PermissionDeniedError, READ_ONLY):
        fill(rodata(), -1, -1, 0)
    with raises_exactly(PermissionDeniedError, READ_ONLY):
        fill(rodata(), 0, 0, 0)
    buf = VmBuffer.allocate(4 * size)
    fill(buf, 4, 0, 9)  # zero-length at the end is fine
    fill(buf, 0, 4, 9)
    with raises_exactly(OutOfRangeError, oob(5 * size, 0, size, 4 * size)):
        fill(buf, 5, 0, 0)
    with raises_exactly(OutOfRangeError, oob(size, 4 * size, size, 4 * size)):
        fill(buf, 1, 4, 0)
    with raises_exactly(OutOfRangeError, oob(0, M64 * size, size, 4 * size)):
        fill(buf, 0, -1, 0)
    with raises_exactly(OutOfRangeError, oob(M64 * size, size, size, 4 * size)):
        fill(buf, -1, 1, 0)


# -- alloc / clone / length --------------------------------------------------------------------

def test_alloc():
    buf = ops.buffer_alloc(33, 0)
    assert len(buf) == 33 and buf.tobytes() == bytes(33)
    assert buf.flags == MUTABLE | ORIGIN_GUEST
    assert buf.address % 16 == 0
    assert ops.buffer_alloc(5, 128).address % 128 == 0
    assert len(ops.buffer_alloc(0, 0)) == 0
    assert ops.buffer_length(buf) == 33


def test_alloc_errors():
    with raises_exactly(InvalidArgumentError, "alignments must be powers of two (got 3)"):
        ops.buffer_alloc(4, 3)
    with raises_exactly(InvalidArgumentError,
                        f"alignments must be powers of two (got {(-8) & M64})"):
        ops.buffer_alloc(4, -8)
    with pytest.raises(ResourceExhaustedError) as info:
        ops.buffer_alloc(-1, 0)
    assert str(M64) in info.value.message
    with raises_exactly(InvalidArgumentError, "buffer is null"):
        ops.buffer_length(None)


def test_clone():
    source = rodata()
    clone = ops.buffer_clone(source, 4, 8, 0)
    assert clone.flags == MUTABLE | ORIGIN_GUEST and clone.mutable
    assert clone.tobytes() == bytes(range(4, 12))
    assert clone.address % 16 == 0
    ops.STORES["i8"](clone, 0, 99)
    assert source.tobytes() == bytes(range(16))
    assert ops.buffer_clone(source, 16, 0, 0).tobytes() == b""
    assert ops.buffer_clone(source, 0, 16, 256).address % 256 == 0


def test_clone_errors_in_order():
    with raises_exactly(InvalidArgumentError, "source is null"):
        ops.buffer_clone(None, 0, 0, 3)
    # Range errors come before the alignment check and are reported against the source.
    with raises_exactly(OutOfRangeError, oob(10, 7, 1, 16)):
        ops.buffer_clone(rodata(), 10, 7, 3)
    with raises_exactly(OutOfRangeError, oob(0, M64, 1, 16)):
        ops.buffer_clone(rodata(), 0, -1, 0)
    with raises_exactly(OutOfRangeError, oob(17, 0, 1, 16)):
        ops.buffer_clone(rodata(), 17, 0, 0)
    with raises_exactly(InvalidArgumentError, "alignments must be powers of two (got 3)"):
        ops.buffer_clone(rodata(), 0, 4, 3)


# -- copy ----------------------------------------------------------------------------------------

def test_copy():
    source = rodata()
    target = VmBuffer.allocate(16)
    ops.buffer_copy(source, 2, target, 10, 6)
    assert target.tobytes() == bytes(10) + bytes(range(2, 8))
    ops.buffer_copy(source, 16, target, 16, 0)


@pytest.mark.parametrize("src, dst", [(0, 3), (3, 0), (2, 2)])
def test_copy_overlapping_is_memmove(src, dst):
    buf = VmBuffer.from_bytes(bytes(range(16)))
    oracle = bytearray(range(16))
    ops.buffer_copy(buf, src, buf, dst, 10)
    oracle[dst:dst + 10] = bytes(oracle[src:src + 10])
    assert buf.tobytes() == bytes(oracle)


def test_copy_errors_in_order():
    ro, rw = rodata(), VmBuffer.allocate(8)
    with raises_exactly(InvalidArgumentError, "source_buffer is null"):
        ops.buffer_copy(None, 0, None, 0, 0)
    with raises_exactly(InvalidArgumentError, "target_buffer is null"):
        ops.buffer_copy(rw, 100, None, 0, 0)
    # Source range first, then target mutability, then target range.
    with raises_exactly(OutOfRangeError, oob(10, 7, 1, 16)):
        ops.buffer_copy(ro, 10, ro, 0, 7)
    with raises_exactly(PermissionDeniedError, READ_ONLY):
        ops.buffer_copy(rw, 0, ro, 100, 4)
    with raises_exactly(OutOfRangeError, oob(6, 4, 1, 8)):
        ops.buffer_copy(ro, 0, rw, 6, 4)
    with raises_exactly(OutOfRangeError, oob(0, M64, 1, 16)):
        ops.buffer_copy(ro, 0, rw, 0, -1)
    with raises_exactly(OutOfRangeError, oob(M64, 1, 1, 8)):
        ops.buffer_copy(ro, 0, rw, -1, 1)
    assert rw.tobytes() == bytes(8)


# -- compare -------------------------------------------------------------------------------------

def test_compare():
    a = VmBuffer.from_bytes(b"abcdefgh")
    b = rodata(b"xxcdefyy")
    assert ops.buffer_compare(a, 2, b, 2, 4) == 1
    assert ops.buffer_compare(a, 2, b, 2, 5) == 0
    assert ops.buffer_compare(a, 0, b, 0, 0) == 1
    assert ops.buffer_compare(a, 8, b, 8, 0) == 1
    big = np.arange(100_000, dtype=np.uint32).view(np.uint8)
    x, y = VmBuffer.from_bytes(big), VmBuffer.from_bytes(big)
    assert ops.buffer_compare(x, 0, y, 0, len(x)) == 1
    ops.STORES["i8"](y, len(y) - 1, 1)
    assert ops.buffer_compare(x, 0, y, 0, len(x)) == 0
    assert ops.buffer_compare(x, 4, y, 4, len(x) - 8) == 1


def test_compare_errors_in_order():
    a = VmBuffer.allocate(4)
    with raises_exactly(InvalidArgumentError, "lhs_buffer is null"):
        ops.buffer_compare(None, 0, None, 0, 0)
    with raises_exactly(InvalidArgumentError, "rhs_buffer is null"):
        ops.buffer_compare(a, 9, None, 0, 0)
    with raises_exactly(OutOfRangeError, oob(9, 0, 1, 4)):
        ops.buffer_compare(a, 9, rodata(), 99, 0)
    with raises_exactly(OutOfRangeError, oob(99, 1, 1, 16)):
        ops.buffer_compare(a, 0, rodata(), 99, 1)
    with raises_exactly(OutOfRangeError, oob(0, M64, 1, 4)):
        ops.buffer_compare(a, 0, a, 0, -1)


# -- hash ----------------------------------------------------------------------------------------

def s64(value):
    return value - (1 << 64) if value >> 63 else value


def test_siphash_reference_values():
    assert siphash24(b"") == 0x726FDB47DD0E0E31
    assert siphash24(bytes(range(8))) == 0x93F5F5799A932462
    assert siphash24(bytes(range(16))) == 0x3F2ACC7F57C29BDB


def test_hash_op():
    buf = VmBuffer.from_bytes(bytes(range(32)))
    assert ops.buffer_hash(buf, 0, 0) == 0x726FDB47DD0E0E31
    assert ops.buffer_hash(buf, 0, 8) == s64(0x93F5F5799A932462) < 0
    assert ops.buffer_hash(buf, 0, 16) == 0x3F2ACC7F57C29BDB
    assert ops.buffer_hash(buf, 32, 0) == 0x726FDB47DD0E0E31
    assert ops.buffer_hash(rodata(), 0, 16) == 0x3F2ACC7F57C29BDB


def test_hash_errors():
    with raises_exactly(InvalidArgumentError, "source_buffer is null"):
        ops.buffer_hash(None, 0, 0)
    with raises_exactly(OutOfRangeError, oob(10, 7, 1, 16)):
        ops.buffer_hash(rodata(), 10, 7)
    with raises_exactly(OutOfRangeError, oob(M64, 0, 1, 16)):
        ops.buffer_hash(rodata(), -1, 0)


def _siphash_reference(message: bytes) -> int:
    """Straightforward SipHash-2-4 transcription, byte by byte, for cross-checking."""
    mask = (1 << 64) - 1

    def rotl(x, b):
        return ((x << b) | (x >> (64 - b))) & mask

    def sipround(v):
        v[0] = (v[0] + v[1]) & mask
        v[1] = rotl(v[1], 13) ^ v[0]
        v[0] = rotl(v[0], 32)
        v[2] = (v[2] + v[3]) & mask
        v[3] = rotl(v[3], 16) ^ v[2]
        v[0] = (v[0] + v[3]) & mask
        v[3] = rotl(v[3], 21) ^ v[0]
        v[2] = (v[2] + v[1]) & mask
        v[1] = rotl(v[1], 17) ^ v[2]
        v[2] = rotl(v[2], 32)

    k0 = int.from_bytes(bytes(range(8)), "little")
    k1 = int.from_bytes(bytes(range(8, 16)), "little")
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D,
         k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]
    padded = message + bytes((-len(message) - 1) % 8) + bytes([len(message) % 256])
    for i in range(0, len(padded), 8):
        m = int.from_bytes(padded[i:i + 8], "little")
        v[3] ^= m
        sipround(v)
        sipround(v)
        v[0] ^= m
    v[2] ^= 0xFF
    for _ in range(4):
        sipround(v)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


@given(st.binary(max_size=300))
def test_siphash_against_reference(message):
    assert siphash24(message) == _siphash_reference(message)


def test_siphash_long_and_views():
    message = bytes(range(256)) * 5
    assert siphash24(message) == _siphash_reference(message)
    assert siphash24(np.frombuffer(message, np.uint32)) == _siphash_reference(message)
