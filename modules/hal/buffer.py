"""HalBuffer (``hal.buffer``): a typed, access-checked window of an :class:`Allocation`.

Attributes (read-only): ``memory_type``, ``allowed_access``, ``allowed_usage`` (ints, as
coerced by the allocator, ``hal-abi.md`` 4.1), ``allocation`` (the storage, shared by
subspans), ``byte_offset`` (within the allocation) and ``byte_length``. A buffer holds its
allocation, so a buffer or any subspan of it keeps the memory alive; the block returns to
the pool when the last of them is gone.

Host access (5.2):

* :meth:`map_range` returns a zero-copy ``uint8`` numpy view after checking the requested
  access against the allowed access and the range (*scoped* mapping); ``persistent=True``
  additionally requires HOST_VISIBLE memory and MAPPING_PERSISTENT usage. A view mapped
  without WRITE is read-only. The view keeps the arena alive, not the buffer: like a C
  mapping it must not outlive the buffer (commands retain buffers by other means).
  ``np.asarray(buffer)`` instead returns an array that keeps the buffer alive
  (:func:`pinned_array`), as host code expects of numpy arrays.
* :meth:`borrow` returns a :class:`RawRange` for commands that do not retain resources.
* :meth:`load` / :meth:`store` are ``buffer.load`` / ``buffer.store`` (3.2).

Offsets and lengths are ``I`` values (see ``buffer_validation.device_size``): any int, with
``-1`` meaning the whole buffer. Errors use IREE's messages (``buffer_validation.py``).
"""

from __future__ import annotations

import attrs
import numpy as np

from pyree.status import InvalidArgumentError, OutOfRangeError, PermissionDeniedError
from pyree.vm.ref import register_ref_type

from .allocation import Allocation
from .buffer_validation import (calculate_range, device_size, flags32, message_text,
                                validate_access, validate_memory_type, validate_usage)
from .enums import (WHOLE_BUFFER, BufferUsage, MemoryAccess, MemoryType, format_buffer_usage,
                    format_memory_access, format_memory_type)
from .raw_range import RawRange

_READ = int(MemoryAccess.READ)
_WRITE = int(MemoryAccess.WRITE)
_DISCARD_WRITE = int(MemoryAccess.DISCARD_WRITE)
_ANY = int(MemoryAccess.ANY)
_READ_WRITE = _READ | _WRITE
_HOST_VISIBLE = int(MemoryType.HOST_VISIBLE)
_MAPPING_PERSISTENT = int(BufferUsage.MAPPING_PERSISTENT)


class _Pin:
    """Owner of host-facing numpy arrays: exposes an array's memory through
    ``__array_interface__`` and holds ``owner`` (a buffer), so the array keeps it alive."""

    __slots__ = ("__array_interface__", "owner")


def pinned_array(array: np.ndarray, owner) -> np.ndarray:
    """A zero-copy copy of the ndarray ``array`` whose base keeps ``owner`` alive.

    Mappings (:meth:`HalBuffer.map_range`) do not retain their buffer, like C mappings;
    arrays handed to host code do (``np.asarray(buffer)``, ``HalBufferView.to_numpy``, DLPack),
    so that dropping the HAL object after converting it is safe.
    """
    pin = _Pin()
    pin.__array_interface__ = array.__array_interface__
    pin.owner = owner
    return np.asarray(pin)


class _HalBufferSlots:
    """The storage of :class:`HalBuffer` (its only base): an instance of this mutable class
    is filled with plain attribute stores and then becomes a HalBuffer (``__class__``
    assignment: same layout, no slot of its own), so a new buffer costs one object and no
    setter call (:func:`new_buffer`). Never handed out."""

    __slots__ = ("allocation", "memory_type", "allowed_access", "allowed_usage",
                 "byte_offset", "byte_length", "__weakref__")


@attrs.define(eq=False, frozen=True, repr=False)
class HalBuffer(_HalBufferSlots):
    allocation: Allocation
    memory_type: int
    allowed_access: int
    allowed_usage: int
    byte_offset: int
    byte_length: int

    @property
    def allocation_size(self) -> int:
        return self.allocation.size

    def __len__(self) -> int:
        return self.byte_length

    def __bool__(self) -> bool:
        return True  # a non-null ref even when empty

    # Ranges and subspans.

    def resolve_range(self, offset=0, length=WHOLE_BUFFER) -> tuple[int, int]:
        """``(offset, length)`` relative to this buffer, validated (OUT_OF_RANGE)."""
        return calculate_range(self.byte_length, device_size(offset), device_size(length))

    def subspan(self, offset=0, length=WHOLE_BUFFER) -> HalBuffer:
        """``buffer.subspan``: a buffer over ``[offset, offset + length)`` of this one.

        The whole range returns ``self``. Range errors are OUT_OF_RANGE annotated
        "invalid subspan of an existing buffer (source_offset=O, length=L)".
        """
        offset = device_size(offset)
        length = device_size(length)
        try:
            offset, length = calculate_range(self.byte_length, offset, length)
        except OutOfRangeError as e:
            raise e.annotate("invalid subspan of an existing buffer "
                             f"(source_offset={offset}, length={length})")
        if offset == 0 and length == self.byte_length:
            return self
        return HalBuffer(self.allocation, self.memory_type, self.allowed_access,
                         self.allowed_usage, self.byte_offset + offset, length)

    # Host access.

    def map_range(self, access=_READ, offset=0, length=WHOLE_BUFFER, *,
                  persistent: bool = False) -> np.ndarray:
        """A zero-copy ``uint8`` view of ``[offset, offset + length)`` (see module doc)."""
        if persistent:
            validate_memory_type(self.memory_type, _HOST_VISIBLE)
            validate_usage(self.allowed_usage, _MAPPING_PERSISTENT)
        access = int(access)
        memory, start, length = self.mapped(access, offset, length)
        view = memory[start:start + length]
        if not access & _WRITE and view.flags.writeable:
            view = view.view()
            view.flags.writeable = False
        return view

    def mapped(self, access: int, offset=0, length=WHOLE_BUFFER) -> tuple:
        """``(memory, start, length)`` of a checked range: the backing uint8 array, the
        absolute start in it and the byte length (``access``, an int, is validated as in
        :meth:`map_range`; the caller must honour it: no writes without WRITE)."""
        allowed = self.allowed_access
        if not (access & _ANY or access & _READ_WRITE and allowed & access == access):
            validate_access(allowed, access)
        byte_length = self.byte_length
        if not (offset.__class__ is int and length.__class__ is int and
                0 <= offset <= byte_length and 0 <= length <= byte_length - offset):
            offset, length = calculate_range(byte_length, device_size(offset),
                                             device_size(length))
        allocation = self.allocation
        memory = allocation.memory
        if memory is None:
            memory = allocation.checked_memory()
        return memory, allocation.offset + self.byte_offset + offset, length

    def borrow(self, offset=0, length=WHOLE_BUFFER) -> RawRange:
        """A borrowed :class:`RawRange` over the validated range; it does NOT keep this
        buffer or its allocation alive (for commands that do not retain resources)."""
        offset, length = calculate_range(
            self.byte_length, device_size(offset), device_size(length))
        allocation = self.allocation
        return RawRange(allocation.checked_memory(),
                        allocation.offset + self.byte_offset + offset, length)

    def load(self, offset, length) -> int:
        """``buffer.load``: ``length`` (0..4) bytes at ``offset`` as a zero-extended
        little-endian unsigned int. Length 0 reads nothing and returns 0."""
        length = _byte_count(length, "load")
        if length == 0:
            return 0
        view = self.map_range(_READ, offset, length)
        return int.from_bytes(view.tobytes(), "little")

    def store(self, value, offset, length) -> None:
        """``buffer.store``: writes the low ``length`` (0..4) bytes of ``value``
        little-endian at ``offset`` (mapped DISCARD_WRITE)."""
        length = _byte_count(length, "store")
        offset = device_size(offset)
        if offset + length > self.byte_length:
            raise OutOfRangeError(
                f"store out of bounds (target_offset={offset}, length={length} "
                f"into max {self.byte_length})")
        if length == 0:
            return
        view = self.map_range(_DISCARD_WRITE, offset, length)
        value = int(value) & ((1 << (8 * length)) - 1)
        view[:] = np.frombuffer(value.to_bytes(length, "little"), dtype=np.uint8)

    def read(self, offset=0, length=WHOLE_BUFFER) -> bytes:
        """A copy of the bytes of a range (READ access)."""
        return self.map_range(_READ, offset, length).tobytes()

    def write(self, data, offset=0) -> None:
        """Copies ``data`` (any bytes-like object) into the buffer at ``offset``."""
        source = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
        self.map_range(_WRITE, offset, len(source))[:] = source

    def fill(self, byte: int, offset=0, length=WHOLE_BUFFER) -> None:
        """Sets every byte of a range to ``byte`` (WRITE access)."""
        self.map_range(_WRITE, offset, length)[:] = byte & 0xFF

    # buffer.assert and the allocation claims.

    def assert_compatible(self, message="", minimum_length=0, memory_types=0,
                          buffer_usage=0) -> None:
        """``buffer.assert`` (3.2): length, memory type and usage, in that order.

        ``message`` (str, bytes or ``!vm.buffer``) prefixes each error message.
        """
        msg = message_text(message)
        minimum_length = device_size(minimum_length)
        if self.byte_length < minimum_length:
            raise InvalidArgumentError(
                f"{msg} buffer byte length {self.byte_length} less than expected minimum "
                f"{minimum_length}")
        memory_types = flags32(memory_types)
        if self.memory_type & memory_types != memory_types:
            raise PermissionDeniedError(
                f"{msg} buffer memory type is not compatible; buffer has "
                f"{format_memory_type(self.memory_type)}, operation requires "
                f"{format_memory_type(memory_types)}")
        buffer_usage = flags32(buffer_usage)
        if self.allowed_usage & buffer_usage != buffer_usage:
            raise PermissionDeniedError(
                f"{msg} requested usage was not specified when the buffer was allocated; "
                f"buffer allows {format_buffer_usage(self.allowed_usage)}, operation "
                f"requires {format_buffer_usage(buffer_usage)}")

    def allocation_preserve(self) -> None:
        self.allocation.preserve()

    def allocation_discard(self) -> bool:
        return self.allocation.discard()

    def allocation_is_terminal(self) -> bool:
        return self.allocation.is_terminal()

    # numpy interop.

    def __array__(self, dtype=None, copy=None):
        access = _READ | (self.allowed_access & _WRITE)
        array = self.map_range(access)
        if copy:
            array = array.copy()
        else:
            array = pinned_array(array, self)
        if dtype is not None and np.dtype(dtype) != array.dtype:
            if copy is False:
                raise ValueError("a hal.buffer is bytes; converting dtype requires a copy")
            array = array.astype(dtype)
        return array

    def __buffer__(self, flags: int) -> memoryview:  # Python 3.12+ buffer protocol
        return memoryview(self.__array__()).__buffer__(flags)

    def __repr__(self) -> str:
        return (f"<HalBuffer length={self.byte_length} offset={self.byte_offset} "
                f"type={format_memory_type(self.memory_type)} "
                f"access={format_memory_access(self.allowed_access)} "
                f"usage={format_buffer_usage(self.allowed_usage)}>")


def _byte_count(length, op: str) -> int:
    """An ``i`` byte count of load/store: 0..4 else INVALID_ARGUMENT (printed signed)."""
    length = flags32(length)
    if length > 4:
        signed = length - (1 << 32) if length >> 31 else length
        raise InvalidArgumentError(f"{op} length byte count {signed} exceeds max")
    return length


def new_buffer(allocation: Allocation, memory_type: int, allowed_access: int,
               allowed_usage: int, byte_offset: int, byte_length: int) -> HalBuffer:
    """``HalBuffer(...)`` for fields the caller has already made canonical (the allocator's
    coerced params, a pooled allocation): the fields are stored in a
    :class:`_HalBufferSlots` which then becomes the (read-only) HalBuffer, instead of the
    frozen ``__init__``'s per-field ``object.__setattr__`` calls."""
    buffer = _HalBufferSlots()   # (a plain call of the base: cheaper than object.__new__)
    buffer.allocation = allocation
    buffer.memory_type = memory_type
    buffer.allowed_access = allowed_access
    buffer.allowed_usage = allowed_usage
    buffer.byte_offset = byte_offset
    buffer.byte_length = byte_length
    buffer.__class__ = HalBuffer
    return buffer


# HalBuffer adds no slot to its base (attrs reuses the base's descriptors): that is what
# makes the __class__ assignment of new_buffer valid.
assert HalBuffer.__slots__ == () and [a.name for a in HalBuffer.__attrs_attrs__] \
    == list(_HalBufferSlots.__slots__[:-1])  # noqa: S101 - import-time check


HAL_BUFFER = register_ref_type("hal.buffer", HalBuffer)
