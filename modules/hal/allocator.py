"""HalAllocator (``hal.allocator``): the CPU heap allocator of a pyree device.

Requests are canonicalised and coerced exactly like IREE's CPU heap allocator
(``hal-abi.md`` 4.1, see ``buffer_params.py``), so ``buffer.assert`` and command-buffer
validation see the same memory types and usages IREE would: a DEVICE_LOCAL request yields
a ``DEVICE_LOCAL|HOST_VISIBLE`` (0x32) buffer, memory type 0 yields a HOST_VISIBLE (0x02)
buffer that is not DEVICE_VISIBLE, usage gains the MAPPING bits and TRANSFER.

* :meth:`allocate` returns a buffer of exactly ``allocation_size`` bytes backed by a block of
  the allocator's :class:`~.pool.MemoryPool` (allocation size rounded up to 4 bytes; the
  contents are undefined: fresh memory is zero, reused memory holds old data, or 0xCD with
  ``poison=True``). Size 0 is allowed. Failures are RESOURCE_EXHAUSTED annotated "failed
  to allocate buffer of length N" (requests above ``max_allocation_size``, which defaults
  to the VM's buffer cap ``pyree.vm.buffer.MAX_BUFFER_BYTES``).
* :meth:`import_buffer` is ``allocator.import`` (3.1): a zero-copy HAL buffer aliasing bytes
  of a ``!vm.buffer``, keeping it alive; immutable sources need SHARING_IMMUTABLE usage and
  import READ-only. The heap can import any host memory; ``import_alignment`` (default 1:
  none) can require aligned memory, as IREE's heap buffers require 64 bytes. An import the
  allocator refuses returns None with ``try_`` and raises without.
* :meth:`import_host` wraps any C-contiguous buffer-protocol object (numpy arrays, ...) the
  same way; :meth:`import_array` is the same import for an ``np.ndarray`` without the
  buffer protocol (the zero-copy path of ``HalBufferView.from_numpy`` / ``from_dlpack``).
* :meth:`query_buffer_compatibility` is the 5.1 query: everything is allocatable,
  importable and exportable; queue use needs DEVICE_VISIBLE memory and a TRANSFER usage bit
  (QUEUE_TRANSFER) or a DISPATCH usage bit (QUEUE_DISPATCH). :meth:`buffer_compatibility`
  answers it for an existing buffer and an intended usage (command-buffer validation).
* :meth:`trim` releases unused pool arenas; :meth:`statistics` snapshots the pool.
"""

from __future__ import annotations

import attrs
import numpy as np

from pyree.status import (InvalidArgumentError, OutOfRangeError, PermissionDeniedError,
                          PyreeError, ResourceExhaustedError)
from pyree.vm import buffer as vm_buffer_module
from pyree.vm.buffer import VmBuffer
from pyree.vm.ref import register_ref_type

from .allocation import Allocation, ExternalAllocation, PooledAllocation
from .buffer import HalBuffer, _HalBufferSlots, new_buffer
from .buffer_params import BufferParams
from .buffer_validation import device_size
from .enums import WHOLE_BUFFER, BufferCompatibility, BufferUsage, MemoryAccess, MemoryType
from .pool import ALIGNMENT, DEFAULT_ARENA_BYTES, MemoryPool, PoolStatistics, size_class

_MASK64 = 0xFFFFFFFFFFFFFFFF
_U8 = np.dtype(np.uint8)
_EMPTY = np.empty(0, _U8)
_DEVICE_VISIBLE = int(MemoryType.DEVICE_VISIBLE)
_TRANSFER = int(BufferUsage.TRANSFER)
_DISPATCH = int(BufferUsage.DISPATCH)
_SHARING_IMMUTABLE = int(BufferUsage.SHARING_IMMUTABLE)
_READ = int(MemoryAccess.READ)
_WRITE = int(MemoryAccess.WRITE)
_BASE_COMPATIBILITY = int(BufferCompatibility.ALLOCATABLE | BufferCompatibility.IMPORTABLE
                          | BufferCompatibility.EXPORTABLE)
_QUEUE_TRANSFER = int(BufferCompatibility.QUEUE_TRANSFER)
_QUEUE_DISPATCH = int(BufferCompatibility.QUEUE_DISPATCH)
_ROUND_UP = ALIGNMENT - 1
_BLOCK_MASK = ~(ALIGNMENT - 1)
_new = object.__new__
_SELF_ALIGNED: dict = {}    # dtype -> its alignment is its size (import_array's typed view)


def _self_aligned(dtype: np.dtype) -> bool:
    aligned = dtype.alignment == dtype.itemsize
    if len(_SELF_ALIGNED) < 256:
        _SELF_ALIGNED[dtype] = aligned
    return aligned


@attrs.frozen
class CompatibilityResult:
    """Answer of :meth:`HalAllocator.query_buffer_compatibility`."""

    compatibility: int          # BufferCompatibility bits
    params: BufferParams        # the params a buffer would actually get (coerced)
    allocation_size: int        # the size that would be allocated (rounded up to 4)


@attrs.define(eq=False, repr=False)
class HalAllocator:
    pool: MemoryPool = attrs.field(factory=MemoryPool)
    identifier: str = "pyree-heap"
    import_alignment: int = 1
    max_allocation_size: int | None = None
    # (memory_types, buffer_usage, access, queue_affinity) -> coerced params
    _params_cache: dict = attrs.field(init=False, factory=dict)

    @classmethod
    def create(cls, *, poison: bool = False, arena_bytes: int = DEFAULT_ARENA_BYTES,
               **kwargs) -> HalAllocator:
        """An allocator with its own pool (``poison`` fills freed blocks with 0xCD)."""
        return cls(MemoryPool(arena_bytes, poison=poison), **kwargs)

    # Compatibility (5.1).

    def query_buffer_compatibility(self, memory_types=0, buffer_usage=0, *, access=0,
                                   queue_affinity=0, allocation_size=0) -> CompatibilityResult:
        params = BufferParams.of(memory_types, buffer_usage, access, queue_affinity)
        params = params.canonicalize()
        compatibility = _BASE_COMPATIBILITY
        if params.type & _DEVICE_VISIBLE:
            if params.usage & _TRANSFER:
                compatibility |= _QUEUE_TRANSFER
            if params.usage & _DISPATCH:
                compatibility |= _QUEUE_DISPATCH
        size = (device_size(allocation_size) + 3) & ~3
        return CompatibilityResult(compatibility, params.coerce_for_heap(), size)

    def buffer_compatibility(self, buffer: HalBuffer, intended_usage) -> int:
        """Compatibility of an existing buffer used for ``intended_usage`` (IREE queries
        its memory type with usage ``allowed_usage & intended_usage``)."""
        usage = buffer.allowed_usage & int(intended_usage)
        compatibility = _BASE_COMPATIBILITY
        if buffer.memory_type & _DEVICE_VISIBLE:
            if usage & _TRANSFER:
                compatibility |= _QUEUE_TRANSFER
            if usage & _DISPATCH:
                compatibility |= _QUEUE_DISPATCH
        return compatibility

    # Allocation.

    def allocate(self, memory_types=0, buffer_usage=0, allocation_size=0, *, access=0,
                 queue_affinity=0) -> HalBuffer:
        """``allocator.allocate``: a new pooled buffer of ``allocation_size`` bytes.

        The pool's hot path, in this one frame: the block's entry comes off its size
        class's free list under the pool lock (``MemoryPool._take`` carves one when the
        list is empty) and the :class:`Allocation` owning the block and the HalBuffer over
        it are built with plain stores (every field, as their ``__init__`` would set them;
        the buffer's fields are the coerced params, as for ``buffer.new_buffer``)."""
        if allocation_size.__class__ is int and 0 <= allocation_size <= _MASK64:
            size = allocation_size
        else:
            size = device_size(allocation_size)
        params = self._params_cache.get((memory_types, buffer_usage, access, queue_affinity))
        if params is None:
            params = self._coerced(memory_types, buffer_usage, access, queue_affinity)
        limit = self.max_allocation_size
        if limit is None:
            limit = vm_buffer_module.MAX_BUFFER_BYTES
        if size > limit:
            raise ResourceExhaustedError(
                f"allocation of {size} bytes exceeds the allocator limit of {limit} bytes"
            ).annotate(f"failed to allocate buffer of length {size}")
        rounded = (size + 3) & ~3
        if rounded <= 256:
            block = ((rounded + _ROUND_UP) & _BLOCK_MASK) or ALIGNMENT
        else:
            block = size_class(rounded)
        pool = self.pool
        lock = pool._lock
        lock.acquire()
        try:
            free = pool._free.get(block)
            if free:    # only locked paths pop: the entry seen is still there
                listed = len(free)
                entry = free.pop()
                pool._counted(block, listed)
            else:
                entry = pool._take(block)
        except PyreeError as e:     # out of host memory for a new arena
            raise e.annotate(f"failed to allocate buffer of length {size}")
        finally:
            lock.release()
        arena = entry[0]
        allocation = PooledAllocation()     # every field, as Allocation(...) would set them
        allocation.memory = arena.data
        allocation.offset = entry[1]
        allocation.size = rounded
        allocation.pool = pool
        allocation.arena = arena
        allocation.block_size = block
        allocation.entry = entry
        allocation.source = allocation.queue_owner = None
        allocation.claims = 1
        buffer = _HalBufferSlots()      # new_buffer's fields, then its class
        buffer.allocation = allocation
        buffer.memory_type = params.type
        buffer.allowed_access = params.access
        buffer.allowed_usage = params.usage
        buffer.byte_offset = 0
        buffer.byte_length = size
        buffer.__class__ = HalBuffer
        return buffer

    def _coerced(self, memory_types, buffer_usage, access, queue_affinity) -> BufferParams:
        """The heap's coerced params of a request (cached for :meth:`allocate` and
        :meth:`import_array`; errors of ``BufferParams.of`` propagate)."""
        params = BufferParams.of(memory_types, buffer_usage, access, queue_affinity)
        params = params.canonicalize().coerce_for_heap()
        if len(self._params_cache) < 256:
            self._params_cache[(memory_types, buffer_usage, access, queue_affinity)] = params
        return params

    def import_buffer(self, vm_buffer: VmBuffer, offset=0, length=WHOLE_BUFFER, usage=0,
                      memory_types=0, try_=False, *, queue_affinity=0) -> HalBuffer | None:
        """``allocator.import`` (3.1): zero-copy over ``[offset, offset + length)`` of
        ``vm_buffer``; the HAL buffer keeps the VM buffer alive."""
        if type(vm_buffer) is not VmBuffer:
            raise InvalidArgumentError(
                f"allocator.import source must be a !vm.buffer, got {type(vm_buffer).__name__}")
        offset = device_size(offset)
        length = device_size(length)
        available = vm_buffer.length
        if length == WHOLE_BUFFER:
            length = max(available - offset, 0)   # "to the end" (hal-abi 3.1)
        if offset > available or offset + length > available:
            raise InvalidArgumentError(
                f"byte range out of bounds (requested {offset}-{offset + length - 1} of "
                f"available {available})")
        usage = int(usage) & 0xFFFFFFFF
        access = _READ
        if not vm_buffer.flags & VmBuffer.MUTABLE:
            if not usage & _SHARING_IMMUTABLE:
                raise PermissionDeniedError(
                    "source buffer is immutable and can only be imported for constant usage")
        elif not usage & _SHARING_IMMUTABLE:
            access |= _WRITE
        memory = np.frombuffer(vm_buffer.data, dtype=np.uint8)
        try:
            return self._wrap(memory, offset, length, vm_buffer,
                              BufferParams.of(memory_types, usage, access, queue_affinity))
        except PyreeError:
            if try_:
                return None
            raise

    def import_host(self, obj, memory_types=0, buffer_usage=0, *, access=0,
                    queue_affinity=0, try_=False) -> HalBuffer | None:
        """A zero-copy buffer over a C-contiguous buffer-protocol object (kept alive).

        ``access`` 0 means ALL for writable memory and READ for read-only memory; asking
        for WRITE on read-only memory is PERMISSION_DENIED.
        """
        try:
            view = memoryview(obj)
        except TypeError:
            raise InvalidArgumentError(
                f"cannot import {type(obj).__name__}: not a buffer-protocol object") from None
        except ValueError as e:     # numpy: a dtype without a buffer format (bf16, ...)
            raise InvalidArgumentError(f"cannot import {type(obj).__name__}: {e}") from None
        if not view.c_contiguous:
            raise InvalidArgumentError("cannot import non-contiguous host memory")
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B") if view.nbytes else memoryview(b"")
        access = int(access) & 0xFFFFFFFF
        if view.readonly:
            if access & ~_READ & 0x7:
                raise PermissionDeniedError(
                    "read-only host memory can only be imported with READ access")
            access = _READ
        memory = np.frombuffer(view, dtype=np.uint8)
        try:
            return self._wrap(memory, 0, len(memory), obj,
                              BufferParams.of(memory_types, buffer_usage, access,
                                              queue_affinity))
        except PyreeError:
            if try_:
                return None
            raise

    def import_array(self, array: np.ndarray, memory_types=0, buffer_usage=0,
                     try_=False) -> HalBuffer | None:
        """:meth:`import_host` of an ``np.ndarray`` (exactly; access 0): same checks and
        errors (C-contiguous, ``import_alignment``), same buffer (READ-only access for a
        read-only or empty array, ALL otherwise), but the bytes are the array's own, as a
        ``uint8`` array (no memoryview cast), and the coerced params come from the cache
        :meth:`allocate` fills. ``try_`` answers None instead of raising. The allocation
        (built here, every field as :meth:`Allocation.external` sets them) starts its cache
        of typed views with the array's own dtype (``array.ravel()``, when the array is
        aligned to its element size): what the fused submit of a memoized command buffer
        slices (``replay_fused.py``)."""
        if array.__class__ is not np.ndarray:
            return self.import_host(array, memory_types, buffer_usage, try_=try_)
        flags = array.flags
        if not flags.c_contiguous:
            if try_:
                return None
            raise InvalidArgumentError("cannot import non-contiguous host memory")
        alignment = self.import_alignment
        if alignment > 1:
            address = array.ctypes.data
            if address % alignment:
                if try_:
                    return None
                raise OutOfRangeError(
                    f"imported heap buffer data must be aligned to {alignment}; "
                    f"got 0x{address:x}")
        length = array.nbytes
        access = 0 if flags.writeable and length else _READ   # empty: READ, as import_host
        key = (memory_types, buffer_usage, access, 0)
        params = self._params_cache.get(key)
        if params is None:
            try:
                params = self._coerced(memory_types, buffer_usage, access, 0)
            except PyreeError:
                if try_:
                    return None
                raise
        allocation = _new(ExternalAllocation)     # Allocation.external's fields, inlined
        if length:
            try:        # the array's own bytes (read-only stays read-only): cheaper than
                memory = np.frombuffer(array, _U8)     # reshape(-1).view(uint8)
            except (TypeError, ValueError, BufferError):    # a dtype without a buffer format
                memory = array.reshape(-1).view(_U8)
            # The array's dtype view of the whole memory, for the fused submit: 1-D, element
            # i the bytes [i * n, (i + 1) * n) (C-contiguous, same start), aligned to n.
            dtype = array.dtype
            aligned = _SELF_ALIGNED.get(dtype)
            if aligned is None:
                aligned = _self_aligned(dtype)
            allocation.typed = {dtype: array.ravel()} if aligned and flags.aligned else None
        else:
            memory = _EMPTY
            allocation.typed = None
        allocation.memory = memory
        allocation.offset = 0
        allocation.size = length
        allocation.source = array
        allocation.block_size = 0
        allocation.pool = allocation.arena = allocation.queue_owner = allocation.entry = None
        allocation.claims = 1
        return new_buffer(allocation, params.type, params.access, params.usage, 0, length)

    def _wrap(self, memory: np.ndarray, offset: int, length: int, source,
              params: BufferParams) -> HalBuffer:
        params = params.canonicalize().coerce_for_heap()
        alignment = self.import_alignment
        if alignment > 1:
            address = memory.ctypes.data + offset
            if address % alignment:
                raise OutOfRangeError(
                    f"imported heap buffer data must be aligned to {alignment}; "
                    f"got 0x{address:x}")
        return HalBuffer(Allocation.external(memory, offset, length, source), params.type,
                         params.access, params.usage, 0, length)

    # Pool maintenance.

    def statistics(self) -> PoolStatistics:
        return self.pool.statistics()

    def trim(self) -> int:
        """Releases unused pool arenas (``SUSPEND``/``LOW_MEMORY``); returns bytes freed."""
        return self.pool.trim()

    def __repr__(self) -> str:
        return f"<HalAllocator {self.identifier!r} {self.pool!r}>"


HAL_ALLOCATOR = register_ref_type("hal.allocator", HalAllocator)
