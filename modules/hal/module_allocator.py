"""``hal`` module exports: allocators and buffers (``hal-abi.md`` 3.1, 3.2).

Each export dereferences its refs (``module_args``) and calls the HAL object, which raises
IREE's errors (allocation annotated "failed to allocate buffer of length N", import range
and mutability checks, subspan ranges, load/store widths and ranges, ``buffer.assert``).
"""

from __future__ import annotations

from pyree.status import InvalidArgumentError, ResourceExhaustedError
from pyree.vm.buffer import VmBuffer
from pyree.vm.native import export

from .allocator import HalAllocator
from .buffer import HalBuffer
from .device import HalDevice
from .module_args import deref, ref_error, text, vm_buffer

MAX_SELECT_PAIRS = 64
_U32 = 0xFFFFFFFF


class AllocatorExports:
    """``allocator.*`` exports (mixed into :class:`~.module.HalModule`)."""

    @export("0rIiiI_r", name="allocator.allocate")
    def allocator_allocate(self, state, allocator, queue_affinity, memory_types,
                           buffer_usage, allocation_size):
        if type(allocator) is not HalAllocator:
            raise ref_error(allocator, HalAllocator)
        return allocator.allocate(memory_types, buffer_usage, allocation_size,
                                  queue_affinity=queue_affinity)

    @export("0riIiirII_r", name="allocator.import")
    def allocator_import(self, state, allocator, try_, queue_affinity, memory_types,
                         buffer_usage, source, offset, length):
        allocator = deref(allocator, HalAllocator)
        source = vm_buffer(source)
        return allocator.import_buffer(source, offset, length, buffer_usage, memory_types,
                                       try_=bool(try_), queue_affinity=queue_affinity)

    @export("0iiICrID_rI", name="allocator.select")
    def allocator_select(self, state, memory_types, buffer_usage, flags, pairs):
        if not pairs:
            raise InvalidArgumentError(
                "at least one device/queue affinity pair must be provided")
        policy = state.selection_policy
        if policy is None or len(pairs) == 1:
            device, affinity = pairs[0]
            return deref(device, HalDevice), affinity
        if len(pairs) > MAX_SELECT_PAIRS:
            raise ResourceExhaustedError(
                f"too many device/queue affinity pairs ({len(pairs)} > {MAX_SELECT_PAIRS})")
        candidates = [(deref(device, HalDevice), affinity) for device, affinity in pairs]
        index = policy(memory_types, buffer_usage, flags, candidates)
        if not isinstance(index, int) or not 0 <= index < len(candidates):
            raise InvalidArgumentError(
                f"device selection policy returned {index!r}; expected an index below "
                f"{len(candidates)}")
        return candidates[index]


class BufferExports:
    """``buffer.*`` exports."""

    @export("0rrrIii_v", name="buffer.assert")
    def buffer_assert(self, state, buffer, message, allocator, minimum_length, memory_types,
                      buffer_usage):
        if type(buffer) is not HalBuffer:
            raise ref_error(buffer, HalBuffer)
        if type(message) is not VmBuffer:
            raise ref_error(message, VmBuffer)
        if type(allocator) is not HalAllocator:
            raise ref_error(allocator, HalAllocator)
        # what assert_compatible passes, for plain in-range ints, in this frame (the
        # message is only text for the error, which assert_compatible raises)
        if minimum_length.__class__ is int and 0 <= minimum_length <= buffer.byte_length \
                and memory_types.__class__ is int and 0 <= memory_types <= _U32 \
                and buffer.memory_type & memory_types == memory_types \
                and buffer_usage.__class__ is int and 0 <= buffer_usage <= _U32 \
                and buffer.allowed_usage & buffer_usage == buffer_usage:
            return
        buffer.assert_compatible(text(message), minimum_length, memory_types, buffer_usage)

    @export("0r_v", name="buffer.allocation.preserve")
    def buffer_allocation_preserve(self, state, buffer):
        deref(buffer, HalBuffer).allocation_preserve()

    @export("0r_i", name="buffer.allocation.discard")
    def buffer_allocation_discard(self, state, buffer):
        return 1 if deref(buffer, HalBuffer).allocation_discard() else 0

    @export("0r_i", name="buffer.allocation.is_terminal")
    def buffer_allocation_is_terminal(self, state, buffer):
        return 1 if deref(buffer, HalBuffer).allocation_is_terminal() else 0

    @export("0rII_r", name="buffer.subspan")
    def buffer_subspan(self, state, source_buffer, source_offset, length):
        return deref(source_buffer, HalBuffer).subspan(source_offset, length)

    @export("0r_I", name="buffer.length")
    def buffer_length(self, state, buffer):
        if type(buffer) is not HalBuffer:
            raise ref_error(buffer, HalBuffer)
        return buffer.byte_length

    @export("0rIi_i", name="buffer.load")
    def buffer_load(self, state, source_buffer, source_offset, length):
        if type(source_buffer) is not HalBuffer:
            raise ref_error(source_buffer, HalBuffer)
        return source_buffer.load(source_offset, length)

    @export("0irIi_v", name="buffer.store")
    def buffer_store(self, state, value, target_buffer, target_offset, length):
        if type(target_buffer) is not HalBuffer:
            raise ref_error(target_buffer, HalBuffer)
        target_buffer.store(value, target_offset, length)
