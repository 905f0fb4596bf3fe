"""HalBufferView (``hal.buffer_view``): an immutable (buffer, shape, element type, encoding).

Views are what compiled programs receive and return for tensors (``hal-abi.md`` 3.3, 5.3).
The view retains its buffer. Dims are u64 (any int is stored modulo 2**64, as the ABI
passes them), stored as given and not checked against the buffer length; rank is at most
128 (OUT_OF_RANGE "count N > 128"). :meth:`dim` returns 0 for any index >= rank.

numpy exchange is zero-copy both ways where the memory allows it:

* ``np.asarray(view)`` / :meth:`to_numpy` map the dense bytes of the view (READ, plus WRITE
  when the buffer allows it, otherwise the array is read-only) and reinterpret them with the
  element type's dtype and the view's shape. Types without a numpy dtype use their storage
  dtype (bf16 and f8 as ``uint16``/``uint8`` bits); sub-byte types are UNIMPLEMENTED.
  The array keeps the buffer alive (its base holds it), so the view may be dropped.
* DLPack: ``np.from_dlpack(view)`` works (``__dlpack__``/``__dlpack_device__`` delegate to
  the zero-copy array); :meth:`to_dlpack` returns the capsule; :meth:`from_dlpack` accepts
  any DLPack producer.
* :meth:`from_numpy` copies an array into a pooled buffer, or with ``zero_copy=True``
  imports the array's memory (C-contiguous arrays only; a read-only array gives a READ-only
  buffer; the buffer keeps the array alive). :meth:`import_array` is that import for a
  native-dtype ``np.ndarray``, answering None where ``from_numpy`` would refuse (the
  caller copies instead); :meth:`copy_to_numpy` is ``np.array(view)`` without numpy's
  protocol (optionally only below a size).
* On Python 3.12+ the view also implements the buffer protocol (``memoryview(view)``).
"""

from __future__ import annotations

import operator

import attrs
import numpy as np

from pyree.status import (InvalidArgumentError, OutOfRangeError, PyreeError,
                          UnimplementedError)
from pyree.vm.ref import register_ref_type

from .buffer import HalBuffer, pinned_array
from .buffer_validation import device_size, flags32, message_text
from .element_type import (EncodingType, dense_byte_size, element_type_name,
                           element_types_compatible, from_numpy_dtype, storage_dtype)
from .enums import WHOLE_BUFFER, BufferUsage, MemoryAccess, MemoryType

MAX_RANK = 128
_READ = int(MemoryAccess.READ)
_WRITE = int(MemoryAccess.WRITE)
_DENSE = int(EncodingType.DENSE_ROW_MAJOR)
_MASK32 = 0xFFFFFFFF
_MASK64 = 0xFFFFFFFFFFFFFFFF
_ELEMENT_TYPES: dict = {}      # native numpy dtype -> element type (from_numpy_dtype)
_STORAGE_DTYPES: dict = {}     # element type -> storage dtype (storage_dtype)
_DEVICE_LOCAL = int(MemoryType.DEVICE_LOCAL)
_DEFAULT_USAGE = int(BufferUsage.DEFAULT)


def _shape(dims) -> tuple[int, ...]:
    try:
        shape = tuple(operator.index(d) & 0xFFFFFFFFFFFFFFFF for d in dims)
    except TypeError:
        raise InvalidArgumentError(f"shape dims must be integers, got {dims!r}") from None
    if len(shape) > MAX_RANK:
        raise OutOfRangeError(f"count {len(shape)} > {MAX_RANK}")
    return shape


def _native_element_type(dtype: np.dtype) -> int | None:
    """The element type ``from_numpy`` gives a native-byte-order ``dtype`` (cached in
    ``_ELEMENT_TYPES``); None for other byte orders and dtypes without one."""
    if not dtype.isnative:
        return None
    try:
        element_type = from_numpy_dtype(dtype)
    except PyreeError:
        return None
    if len(_ELEMENT_TYPES) < 256:
        _ELEMENT_TYPES[dtype] = element_type
    return element_type


def _rank_text(rank: int) -> str:
    return f"{rank} (scalar)" if rank == 0 else str(rank)


def _plain_dims(dims) -> bool:
    """True if ``dims`` are ints already in ``[0, 2**64)`` (what ``_shape`` would keep)."""
    for d in dims:
        if d.__class__ is not int or not 0 <= d <= _MASK64:
            return False
    return True


class _HalBufferViewSlots:
    """The storage of :class:`HalBufferView` (its only base): filled with plain attribute
    stores, then made a HalBufferView by ``__class__`` assignment (:meth:`HalBufferView._of`;
    same layout). Never handed out."""

    __slots__ = ("buffer", "shape", "element_type", "encoding_type", "__weakref__")


@attrs.define(eq=False, frozen=True, repr=False)
class HalBufferView(_HalBufferViewSlots):
    buffer: HalBuffer
    shape: tuple[int, ...] = attrs.field(converter=_shape)
    element_type: int = attrs.field(converter=flags32)
    encoding_type: int = attrs.field(default=_DENSE, converter=flags32)

    def __attrs_post_init__(self):
        if type(self.buffer) is not HalBuffer:
            raise InvalidArgumentError(
                f"a buffer view needs a !hal.buffer, got {type(self.buffer).__name__}")

    @classmethod
    def _of(cls, buffer: HalBuffer, shape: tuple, element_type: int,
            encoding_type: int) -> HalBufferView:
        """A view from values the caller has already proven canonical (a HalBuffer, a
        tuple of at most MAX_RANK dims in [0, 2**64), u32 type and encoding): no converters."""
        view = _HalBufferViewSlots()    # mutable until it becomes a cls: no setter calls
        view.buffer = buffer
        view.shape = shape
        view.element_type = element_type
        view.encoding_type = encoding_type
        view.__class__ = cls
        return view

    @classmethod
    def create(cls, buffer: HalBuffer, shape, element_type, encoding_type=_DENSE,
               source_offset=0, source_length=WHOLE_BUFFER) -> HalBufferView:
        """``buffer_view.create``: subspans the buffer first when the range is not the
        whole buffer (OUT_OF_RANGE as for ``buffer.subspan``)."""
        if buffer.__class__ is HalBuffer and source_offset.__class__ is int and \
                source_offset == 0 and source_length.__class__ is int and \
                source_length == buffer.byte_length and \
                element_type.__class__ is int and 0 <= element_type <= _MASK32 and \
                encoding_type.__class__ is int and 0 <= encoding_type <= _MASK32 and \
                shape.__class__ in (list, tuple) and len(shape) <= MAX_RANK and \
                (_plain_dims(shape) if len(shape) != 1 else        # rank 1 inline
                 (d := shape[0]).__class__ is int and 0 <= d <= _MASK64):
            return cls._of(buffer, tuple(shape), element_type, encoding_type)
        source_offset = device_size(source_offset)
        source_length = device_size(source_length)
        if source_offset != 0 or source_length != buffer.byte_length:
            buffer = buffer.subspan(source_offset, source_length)
        return cls(buffer, shape, element_type, encoding_type)

    # Shape queries.

    @property
    def rank(self) -> int:
        return len(self.shape)

    def dim(self, index) -> int:
        """Dimension ``index`` (an ``i`` value); 0 for any index >= rank."""
        index = flags32(index)
        shape = self.shape
        return shape[index] if index < len(shape) else 0

    @property
    def element_count(self) -> int:
        shape = self.shape
        if len(shape) == 1:
            return shape[0]
        count = 1
        for d in shape:
            count *= d
        return count

    @property
    def byte_length(self) -> int:
        """Dense storage size of the view, ``ceil(count * bits / 8)``."""
        return dense_byte_size(self.element_type, self.element_count)

    # buffer_view.assert.

    def matches(self, element_type: int, encoding_type: int, shape) -> bool:
        """True if ``assert_matches`` would pass (u32 ``element_type``/``encoding_type``
        and plain int dims are checked here; anything else answers False)."""
        actual = self.encoding_type
        if actual != 0 and actual != encoding_type:
            return False
        actual = self.element_type
        if actual != element_type and not element_types_compatible(actual, element_type):
            return False
        mine = self.shape
        if len(shape) != len(mine):
            return False
        for expected, have in zip(shape, mine):
            if expected != have or expected.__class__ is not int:
                return False
        return True

    def assert_matches(self, message="", element_type=0, encoding_type=0, shape=()) -> None:
        """``buffer_view.assert`` (3.3): encoding, element type, rank, then each dim."""
        msg = message_text(message)
        expected_encoding = flags32(encoding_type)
        actual_encoding = self.encoding_type
        if actual_encoding != 0 and actual_encoding != expected_encoding:
            raise InvalidArgumentError(
                f"{msg} encoding mismatch; expected {expected_encoding:08X} but have "
                f"{actual_encoding:08X}")
        expected_type = flags32(element_type)
        actual_type = self.element_type
        if not element_types_compatible(actual_type, expected_type):
            raise InvalidArgumentError(
                f"{msg} element type mismatch; expected {element_type_name(expected_type)} "
                f"({expected_type:08X}) but have {element_type_name(actual_type)} "
                f"({actual_type:08X})")
        expected_shape = [device_size(d) for d in shape]
        if len(expected_shape) != self.rank:
            raise InvalidArgumentError(
                f"{msg} shape rank mismatch; expected {_rank_text(len(expected_shape))} but "
                f"have {_rank_text(self.rank)}")
        for i, (expected, actual) in enumerate(zip(expected_shape, self.shape)):
            if expected != actual:
                raise InvalidArgumentError(
                    f"{msg} shape dimension {i} mismatch; expected {expected} but have "
                    f"{actual}")

    # numpy, DLPack and the buffer protocol.

    def numpy_dtype(self) -> np.dtype:
        """The dtype of :meth:`to_numpy` (UNIMPLEMENTED for sub-byte and opaque-0 types)."""
        dtype = _STORAGE_DTYPES.get(self.element_type)
        if dtype is not None:
            return dtype
        dtype = storage_dtype(self.element_type)
        if dtype is not None and len(_STORAGE_DTYPES) < 256:
            _STORAGE_DTYPES[self.element_type] = dtype
        if dtype is None:
            raise UnimplementedError(
                f"element type {element_type_name(self.element_type)} has no numpy "
                "representation")
        return dtype

    def to_numpy(self, *, writable: bool | None = None) -> np.ndarray:
        """A zero-copy array of the view that keeps the buffer alive (writable iff the
        buffer allows WRITE, unless ``writable`` says otherwise; asking for a writable array
        of a read-only buffer is PERMISSION_DENIED)."""
        dtype = self.numpy_dtype()
        if writable is None:
            writable = bool(self.buffer.allowed_access & _WRITE)
        access = _READ | (_WRITE if writable else 0)
        nbytes = self.element_count * dtype.itemsize
        data = self.buffer.map_range(access, 0, nbytes)
        return pinned_array(data.view(dtype).reshape(self.shape), self.buffer)

    def copy_to_numpy(self, limit: int | None = None) -> np.ndarray | None:
        """A new C-contiguous array holding a copy of the view's elements (the dtype of
        :meth:`to_numpy`; the buffer is mapped READ, with the checks of ``map_range``), or
        None when ``limit`` is given and the view's dense size is ``limit`` bytes or more.

        Nothing is pinned: in a pool arena, an aligned view is one slice of the arena's
        cached typed view (``Arena.typed_view``), copied."""
        item = _STORAGE_DTYPES.get(self.element_type)
        if item is None:
            item = self.numpy_dtype()
        shape = self.shape
        if len(shape) == 1:
            count = shape[0]
        else:
            count = 1
            for d in shape:
                count *= d
        size = item.itemsize
        nbytes = count * size
        if limit is not None and nbytes >= limit:
            return None
        buffer = self.buffer
        allocation = buffer.allocation
        arena = allocation.arena
        if arena is not None and allocation.memory is not None and \
                buffer.allowed_access & _READ and nbytes <= buffer.byte_length:
            start = allocation.offset + buffer.byte_offset     # mapped()'s checks passed
            if not start % size:
                typed = arena.typed.get(item)       # Arena.typed_view's cache
                if typed is None:
                    typed = arena.typed_view(item)
                if typed is not None:
                    start //= size
                    flat = typed[start:start + count]
                    return (flat if len(shape) == 1 else flat.reshape(shape)).copy()
        memory, start, _ = buffer.mapped(_READ, 0, nbytes)
        return np.ndarray(shape, item, memory, start).copy()

    def __array__(self, dtype=None, copy=None):
        if copy:        # a copy needs no pinning
            if dtype is None:   # copy_to_numpy's arena path, inlined (np.array(view))
                item = _STORAGE_DTYPES.get(self.element_type)
                buffer = self.buffer
                allocation = buffer.allocation
                arena = allocation.arena
                if item is not None and arena is not None and allocation.memory is not None \
                        and buffer.allowed_access & _READ:
                    shape = self.shape
                    size = item.itemsize
                    start = allocation.offset + buffer.byte_offset
                    if len(shape) == 1 and not start % size:
                        count = shape[0]
                        if count * size <= buffer.byte_length:  # mapped()'s checks passed
                            typed = arena.typed.get(item)       # Arena.typed_view's cache
                            if typed is not None:
                                start //= size
                                return typed[start:start + count].copy()
                return self.copy_to_numpy()
            array = self.copy_to_numpy()
        else:
            array = self.to_numpy()
        if dtype is not None and np.dtype(dtype) != array.dtype:
            if copy is False:
                raise ValueError(
                    f"converting a {element_type_name(self.element_type)} buffer view to "
                    f"{np.dtype(dtype)} requires a copy")
            array = array.astype(dtype)
        return array

    def __buffer__(self, flags: int) -> memoryview:  # Python 3.12+ buffer protocol
        return memoryview(self.to_numpy()).__buffer__(flags)

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        kwargs = {k: v for k, v in (("stream", stream), ("max_version", max_version),
                                    ("dl_device", dl_device), ("copy", copy)) if v is not None}
        return self.to_numpy().__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return (1, 0)  # kDLCPU, device 0

    def to_dlpack(self):
        """A DLPack capsule of the zero-copy array."""
        return self.to_numpy().__dlpack__()

    @classmethod
    def import_array(cls, array: np.ndarray, allocator, memory_types=_DEVICE_LOCAL,
                     buffer_usage=_DEFAULT_USAGE) -> HalBufferView | None:
        """What ``from_numpy(array, allocator, zero_copy=True)`` makes of an ``np.ndarray``
        whose native dtype has a dense element type, through
        :meth:`HalAllocator.import_array`; None when ``from_numpy`` would raise or could
        not import it that way (another dtype, non-native byte order, not C-contiguous,
        misaligned for the allocator's ``import_alignment``): then copy it, or call
        ``from_numpy`` for the error."""
        element_type = _ELEMENT_TYPES.get(array.dtype)  # native dtypes only (from_numpy)
        if element_type is None:
            element_type = _native_element_type(array.dtype)
            if element_type is None:
                return None
        buffer = allocator.import_array(array, memory_types, buffer_usage, True)
        if buffer is None:
            return None
        return cls._of(buffer, array.shape, element_type, _DENSE)

    @classmethod
    def from_numpy(cls, array, allocator, *, zero_copy: bool = False, element_type=None,
                   memory_types=_DEVICE_LOCAL, buffer_usage=_DEFAULT_USAGE,
                   encoding_type=_DENSE) -> HalBufferView:
        """A view of ``array`` in a buffer from ``allocator`` (a copy unless ``zero_copy``).

        ``element_type`` defaults to the dtype's (:func:`from_numpy_dtype`); one given
        explicitly must have the same dense byte size as the array (e.g. bf16 bits held
        in a ``uint16`` array).
        """
        if zero_copy:
            if array.__class__ is np.ndarray and element_type is None and \
                    encoding_type == _DENSE:
                view = cls.import_array(array, allocator, memory_types, buffer_usage)
                if view is not None:
                    return view     # else the general path says why not (or it can)
        elif array.__class__ is np.ndarray and element_type is None and \
                encoding_type == _DENSE:
            element_type = _ELEMENT_TYPES.get(array.dtype)
            if element_type is not None:    # a native dtype with a dense element type
                # one allocation, one copy (tobytes: C order whatever the layout), one view
                nbytes = array.nbytes
                buffer = allocator.allocate(memory_types, buffer_usage, nbytes)
                allocation = buffer.allocation
                arena = allocation.arena
                if arena is not None and allocation.memory is not None and \
                        buffer.allowed_access & _WRITE:     # a pooled block, writable
                    start = allocation.offset + buffer.byte_offset
                    arena.bytes_view[start:start + nbytes] = array.tobytes()
                else:
                    memory, start, _ = buffer.mapped(_WRITE, 0, nbytes)
                    memory[start:start + nbytes] = np.frombuffer(array.tobytes(), np.uint8)
                view = _HalBufferViewSlots()    # _of, inlined (this is a per-call path)
                view.buffer = buffer
                view.shape = array.shape
                view.element_type = element_type
                view.encoding_type = _DENSE
                view.__class__ = cls
                return view
        array = np.asarray(array)
        if element_type is None:
            element_type = from_numpy_dtype(array.dtype)
            if array.dtype.isnative and len(_ELEMENT_TYPES) < 256:
                _ELEMENT_TYPES[array.dtype] = element_type
        element_type = flags32(element_type)
        expected = dense_byte_size(element_type, array.size)
        if expected != array.nbytes:
            raise InvalidArgumentError(
                f"array of {array.nbytes} bytes ({array.dtype}) does not hold "
                f"{array.size} {element_type_name(element_type)} elements ({expected} bytes)")
        if not array.dtype.isnative and array.dtype.itemsize > 1 and array.dtype.kind != "V":
            if zero_copy:
                raise InvalidArgumentError("cannot import a non-native byte order array")
            array = array.astype(array.dtype.newbyteorder("="))
        if zero_copy:
            if not array.flags.c_contiguous:
                raise InvalidArgumentError("zero-copy import needs a C-contiguous array")
            buffer = allocator.import_host(array, memory_types, buffer_usage)
        else:
            buffer = allocator.allocate(memory_types, buffer_usage, array.nbytes)
            if array.nbytes:
                flat = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
                buffer.map_range(_WRITE, 0, array.nbytes)[:] = flat
        return cls(buffer, array.shape, element_type, encoding_type)

    @classmethod
    def from_dlpack(cls, obj, allocator, *, copy: bool = False, **kwargs) -> HalBufferView:
        """A view of any DLPack producer's memory (zero-copy unless ``copy``)."""
        return cls.from_numpy(np.from_dlpack(obj), allocator, zero_copy=not copy, **kwargs)

    def __repr__(self) -> str:
        dims = "x".join(str(d) for d in self.shape)
        text = f"{dims}x" if dims else ""
        return (f"<HalBufferView {text}{element_type_name(self.element_type)} "
                f"encoding={self.encoding_type} buffer={self.buffer!r}>")


# HalBufferView adds no slot to its base (attrs reuses the base's descriptors): that is
# what makes the __class__ assignment of _of valid.
assert HalBufferView.__slots__ == () and [a.name for a in HalBufferView.__attrs_attrs__] \
    == list(_HalBufferViewSlots.__slots__[:-1])  # noqa: S101 - import-time check

HAL_BUFFER_VIEW = register_ref_type("hal.buffer_view", HalBufferView)
