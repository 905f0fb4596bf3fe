"""``vm.buffer``: a byte array plus access flags (``vm-runtime.md`` section 7).

A :class:`VmBuffer` owns (or views) one contiguous range of bytes exposed as ``buf.data``,
a 1-D ``memoryview`` of format ``B``. Buffers without ``MUTABLE`` expose a read-only view,
so host code cannot write through them by accident either; bytecode writes are refused
earlier with PERMISSION_DENIED by :mod:`pyree.vm.buffer_ops`.

Memory allocated here (``allocate``, ``from_bytes``, ``buffer.alloc``/``buffer.clone``) is
zero-filled and its start address is aligned to the requested power of two (default 16).
``wrap`` is zero-copy over any C-contiguous buffer-protocol object (a rodata slice, a numpy
array, a bytearray); the buffer keeps that object alive through its memoryview.

Untrusted modules choose allocation sizes, so every allocation is capped: ``MAX_BUFFER_BYTES``
(default 1 GiB, env ``PYREE_MAX_BUFFER_BYTES``) and ``MAX_BUFFER_ALIGNMENT`` (default 64 KiB,
env ``PYREE_MAX_BUFFER_ALIGNMENT``); larger (or negative) requests fail with
RESOURCE_EXHAUSTED. Change them with :func:`set_limits`.

Identity: a buffer hashes and compares by identity; ``cmp.eq.ref`` is ``is``.
"""

from __future__ import annotations

import os

import attrs
import numpy as np

from pyree.status import (InvalidArgumentError, PermissionDeniedError,
                          ResourceExhaustedError)
from pyree.vm.ref import register_ref_type

MUTABLE = 1
ORIGIN_MODULE = 2
ORIGIN_GUEST = 4
ORIGIN_HOST = 8

DEFAULT_ALIGNMENT = 16

_FLAG_NAMES = ((MUTABLE, "MUTABLE"), (ORIGIN_MODULE, "ORIGIN_MODULE"),
               (ORIGIN_GUEST, "ORIGIN_GUEST"), (ORIGIN_HOST, "ORIGIN_HOST"))


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if not text:
        return default
    try:
        return int(text, 0)
    except ValueError:
        raise InvalidArgumentError(f"{name} must be an integer, got {text!r}") from None


MAX_BUFFER_BYTES: int = _env_int("PYREE_MAX_BUFFER_BYTES", 1 << 30)
MAX_BUFFER_ALIGNMENT: int = _env_int("PYREE_MAX_BUFFER_ALIGNMENT", 1 << 16)


def set_limits(*, max_bytes: int | None = None, max_alignment: int | None = None) -> dict:
    """Sets the allocation caps; returns the previous values (usable as kwargs to restore)."""
    global MAX_BUFFER_BYTES, MAX_BUFFER_ALIGNMENT
    previous = {"max_bytes": MAX_BUFFER_BYTES, "max_alignment": MAX_BUFFER_ALIGNMENT}
    if max_bytes is not None:
        if max_bytes < 0:
            raise InvalidArgumentError(f"max_bytes must be >= 0, got {max_bytes}")
        MAX_BUFFER_BYTES = int(max_bytes)
    if max_alignment is not None:
        if max_alignment < 1 or max_alignment & (max_alignment - 1):
            raise InvalidArgumentError(
                f"max_alignment must be a power of two, got {max_alignment}")
        MAX_BUFFER_ALIGNMENT = int(max_alignment)
    return previous


def flag_names(flags: int) -> str:
    names = [name for bit, name in _FLAG_NAMES if flags & bit]
    return "|".join(names) if names else "0"


def _aligned_zeros(length: int, alignment: int) -> memoryview:
    """Zero-filled writable memory of ``length`` bytes starting on ``alignment``."""
    if alignment == 0:
        alignment = DEFAULT_ALIGNMENT
    elif alignment < 0 or alignment & (alignment - 1):
        raise InvalidArgumentError(
            f"alignments must be powers of two (got {alignment & 0xFFFFFFFFFFFFFFFF})")
    if length < 0 or length > MAX_BUFFER_BYTES:
        raise ResourceExhaustedError(
            f"buffer allocation of {length & 0xFFFFFFFFFFFFFFFF} bytes exceeds the limit of "
            f"{MAX_BUFFER_BYTES} bytes")
    if alignment > MAX_BUFFER_ALIGNMENT:
        raise ResourceExhaustedError(
            f"buffer alignment {alignment} exceeds the limit of {MAX_BUFFER_ALIGNMENT} bytes")
    try:
        raw = np.zeros(length + alignment, dtype=np.uint8)
    except MemoryError:
        raise ResourceExhaustedError(
            f"buffer allocation of {length} bytes failed") from None
    start = -raw.ctypes.data % alignment
    return memoryview(raw)[start:start + length]


@attrs.define(eq=False, frozen=True, repr=False)
class VmBuffer:
    """A ref-counted byte array with access flags. Build with the classmethods."""

    MUTABLE = MUTABLE
    ORIGIN_MODULE = ORIGIN_MODULE
    ORIGIN_GUEST = ORIGIN_GUEST
    ORIGIN_HOST = ORIGIN_HOST

    data: memoryview
    flags: int

    def __attrs_post_init__(self):
        data = self.data
        if type(data) is not memoryview or data.format != "B" or data.ndim != 1:
            raise InvalidArgumentError("VmBuffer.data must be a 1-D memoryview of bytes")
        if self.flags & MUTABLE and data.readonly:
            raise PermissionDeniedError("a MUTABLE vm.buffer needs writable memory")

    @classmethod
    def allocate(cls, length: int, alignment: int = 0,
                 flags: int = MUTABLE | ORIGIN_HOST) -> VmBuffer:
        """A new zero-filled buffer of ``length`` bytes aligned to ``alignment`` (0 = 16)."""
        data = _aligned_zeros(length, alignment)
        return cls(data if flags & MUTABLE else data.toreadonly(), flags)

    @classmethod
    def wrap(cls, obj, flags: int = MUTABLE | ORIGIN_HOST) -> VmBuffer:
        """A zero-copy buffer over ``obj`` (any C-contiguous buffer-protocol object)."""
        try:
            view = memoryview(obj)
        except TypeError:
            raise InvalidArgumentError(
                f"cannot wrap {type(obj).__qualname__}: not a buffer-protocol object") from None
        if not view.c_contiguous:
            raise InvalidArgumentError("cannot wrap non-contiguous memory as a vm.buffer")
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        if flags & MUTABLE:
            if view.readonly:
                raise PermissionDeniedError(
                    "cannot wrap read-only memory as a MUTABLE vm.buffer")
        elif not view.readonly:
            view = view.toreadonly()
        return cls(view, flags)

    @classmethod
    def from_bytes(cls, data, mutable: bool = True, alignment: int = 0) -> VmBuffer:
        """A new host buffer holding a copy of ``data`` (any buffer-protocol object)."""
        source = memoryview(data)
        if source.format != "B" or source.ndim != 1:
            source = source.cast("B") if source.c_contiguous else memoryview(source.tobytes())
        memory = _aligned_zeros(len(source), alignment)
        memory[:] = source
        if mutable:
            return cls(memory, MUTABLE | ORIGIN_HOST)
        return cls(memory.toreadonly(), ORIGIN_HOST)

    @property
    def length(self) -> int:
        return len(self.data)

    @property
    def mutable(self) -> bool:
        return bool(self.flags & MUTABLE)

    @property
    def address(self) -> int:
        """Host address of the first byte (for alignment checks and debugging)."""
        return np.frombuffer(self.data, dtype=np.uint8).ctypes.data

    def __len__(self) -> int:
        return len(self.data)

    def __bool__(self) -> bool:
        # A buffer is a non-null ref even when empty.
        return True

    def tobytes(self) -> bytes:
        return self.data.tobytes()

    def to_numpy(self, dtype=np.uint8) -> np.ndarray:
        """A zero-copy 1-D view of the contents as ``dtype`` (read-only if not MUTABLE)."""
        dtype = np.dtype(dtype)
        if len(self.data) % dtype.itemsize:
            raise InvalidArgumentError(
                f"buffer length {len(self.data)} is not a multiple of the {dtype} element "
                f"size {dtype.itemsize}")
        return np.frombuffer(self.data, dtype=dtype)

    def __array__(self, dtype=None, copy=None):
        if copy:
            array = np.array(self.data, dtype=np.uint8)
        else:
            array = np.frombuffer(self.data, dtype=np.uint8)
        if dtype is not None and np.dtype(dtype) != array.dtype:
            if copy is False:
                raise ValueError("a vm.buffer is bytes; converting dtype requires a copy")
            array = array.astype(dtype)
        return array

    def __buffer__(self, flags: int) -> memoryview:  # Python 3.12+ buffer protocol
        return self.data.__buffer__(flags)

    def __repr__(self) -> str:
        return f"<VmBuffer length={len(self.data)} flags={flag_names(self.flags)}>"


VM_BUFFER = register_ref_type("vm.buffer", VmBuffer)
