"""``hal`` module exports: devices and queues (``hal-abi.md`` 3.6).

Queue operations dereference the device, the fences (either may be null), buffers, files
and the command buffer, then forward to the device (``spec/hal-runtime-api.md``): a
``local-sync`` device blocks on the wait fence, does the work and signals on the calling
thread; ``local-task`` returns at once and retains what the operation uses until it signals.
``devices.count`` / ``devices.get`` expose the device group the module was created with.
"""

from __future__ import annotations

from pyree.status import UnimplementedError
from pyree.vm.buffer import VmBuffer
from pyree.vm.native import export

from .buffer import HalBuffer
from .command_buffer import HalCommandBuffer
from .device import HalDevice
from .fence import HalFence
from .file import HalFile
from .module_args import buffer_or_null, deref, ref_error, text

_U32 = 0xFFFFFFFF


def _device(device) -> HalDevice:
    if type(device) is HalDevice:
        return device
    raise ref_error(device, HalDevice)


def _fences(wait_fence, signal_fence):
    if wait_fence is not None and type(wait_fence) is not HalFence:
        raise ref_error(wait_fence, HalFence)
    if signal_fence is not None and type(signal_fence) is not HalFence:
        raise ref_error(signal_fence, HalFence)


class DeviceExports:
    """``device.*`` and ``devices.*`` exports (mixed into :class:`~.module.HalModule`)."""

    @export("0r_r", name="device.allocator")
    def device_allocator(self, state, device):
        return _device(device).allocator

    @export("0rrr_iI", name="device.query.i64")
    def device_query_i64(self, state, device, category, key):
        device = _device(device)
        ok, value = device.query_i64(text(category), text(key))
        return (1 if ok else 0), value

    @export("0rIrrIiiII_r", name="device.queue.alloca")
    def device_queue_alloca(self, state, device, queue_affinity, wait_fence, signal_fence,
                            pool, memory_types, buffer_usage, allocation_size, flags):
        if type(device) is not HalDevice:
            raise ref_error(device, HalDevice)
        if wait_fence is not None and type(wait_fence) is not HalFence or \
                signal_fence is not None and type(signal_fence) is not HalFence:
            _fences(wait_fence, signal_fence)
        if pool:
            raise UnimplementedError("VM queue allocation pools are not supported")
        return device.queue_alloca(queue_affinity, wait_fence, signal_fence, pool,
                                   memory_types & _U32, buffer_usage & _U32, allocation_size,
                                   flags)

    @export("0rIrrrI_v", name="device.queue.dealloca")
    def device_queue_dealloca(self, state, device, queue_affinity, wait_fence, signal_fence,
                              buffer, flags):
        device = _device(device)
        _fences(wait_fence, signal_fence)
        device.queue_dealloca(queue_affinity, wait_fence, signal_fence,
                              deref(buffer, HalBuffer), flags)

    @export("0rIrrrIIIiI_v", name="device.queue.fill")
    def device_queue_fill(self, state, device, queue_affinity, wait_fence, signal_fence,
                          target_buffer, target_offset, length, pattern, pattern_length,
                          flags):
        device = _device(device)
        _fences(wait_fence, signal_fence)
        device.queue_fill(queue_affinity, wait_fence, signal_fence,
                          deref(target_buffer, HalBuffer), target_offset, length, pattern,
                          pattern_length, flags)

    @export("0rIrrrIrIII_v", name="device.queue.update")
    def device_queue_update(self, state, device, queue_affinity, wait_fence, signal_fence,
                            source_buffer, source_offset, target_buffer, target_offset, length,
                            flags):
        device = _device(device)
        _fences(wait_fence, signal_fence)
        source_buffer = deref(source_buffer, VmBuffer)
        device.queue_update(queue_affinity, wait_fence, signal_fence, source_buffer,
                            source_offset, deref(target_buffer, HalBuffer), target_offset,
                            length, flags)

    @export("0rIrrrIrIII_v", name="device.queue.copy")
    def device_queue_copy(self, state, device, queue_affinity, wait_fence, signal_fence,
                          source_buffer, source_offset, target_buffer, target_offset, length,
                          flags):
        device = _device(device)
        _fences(wait_fence, signal_fence)
        source_buffer = deref(source_buffer, HalBuffer)
        device.queue_copy(queue_affinity, wait_fence, signal_fence, source_buffer,
                          source_offset, deref(target_buffer, HalBuffer), target_offset,
                          length, flags)

    @export("0rIrrrIrIII_v", name="device.queue.read")
    def device_queue_read(self, state, device, queue_affinity, wait_fence, signal_fence,
                          source_file, source_offset, target_buffer, target_offset, length,
                          flags):
        device = _device(device)
        _fences(wait_fence, signal_fence)
        source_file = deref(source_file, HalFile)
        device.queue_read(queue_affinity, wait_fence, signal_fence, source_file,
                          source_offset, deref(target_buffer, HalBuffer), target_offset,
                          length, flags)

    @export("0rIrrrIrIII_v", name="device.queue.write")
    def device_queue_write(self, state, device, queue_affinity, wait_fence, signal_fence,
                           source_buffer, source_offset, target_file, target_offset, length,
                           flags):
        device = _device(device)
        _fences(wait_fence, signal_fence)
        source_buffer = deref(source_buffer, HalBuffer)
        device.queue_write(queue_affinity, wait_fence, signal_fence, source_buffer,
                           source_offset, deref(target_file, HalFile), target_offset, length,
                           flags)

    @export("0rIrrI_v", name="device.queue.barrier")
    def device_queue_barrier(self, state, device, queue_affinity, wait_fence, signal_fence,
                             flags):
        device = _device(device)
        _fences(wait_fence, signal_fence)
        device.queue_barrier(queue_affinity, wait_fence, signal_fence, flags)

    @export("0rIrrrI_v", name="device.queue.execute")
    def device_queue_execute(self, state, device, queue_affinity, wait_fence, signal_fence,
                             command_buffer, flags):
        if type(device) is not HalDevice:
            raise ref_error(device, HalDevice)
        if wait_fence is not None and type(wait_fence) is not HalFence or \
                signal_fence is not None and type(signal_fence) is not HalFence:
            _fences(wait_fence, signal_fence)
        if type(command_buffer) is not HalCommandBuffer:
            raise ref_error(command_buffer, HalCommandBuffer)
        device.queue_execute(queue_affinity, wait_fence, signal_fence, command_buffer, None,
                             flags)

    @export("0rIrrrICrIID_v", name="device.queue.execute.indirect")
    def device_queue_execute_indirect(self, state, device, queue_affinity, wait_fence,
                                      signal_fence, command_buffer, flags, binding_table):
        if command_buffer.__class__ is HalCommandBuffer:    # a memoized plan, in one pass
            replay = command_buffer._replay
            if replay is not None and replay.submit(device, wait_fence, signal_fence, flags,
                                                    binding_table):
                return
        if type(device) is not HalDevice:
            raise ref_error(device, HalDevice)
        if wait_fence is not None and type(wait_fence) is not HalFence or \
                signal_fence is not None and type(signal_fence) is not HalFence:
            _fences(wait_fence, signal_fence)
        if type(command_buffer) is not HalCommandBuffer:
            raise ref_error(command_buffer, HalCommandBuffer)
        for entry in binding_table:     # read only: resolved before queue_execute returns
            buffer = entry[0]
            if buffer is not None and type(buffer) is not HalBuffer:
                raise ref_error(buffer, HalBuffer)
        device.queue_execute(queue_affinity, wait_fence, signal_fence, command_buffer,
                             binding_table, flags)

    @export("0rI_v", name="device.queue.flush")
    def device_queue_flush(self, state, device, queue_affinity):
        _device(device).queue_flush(queue_affinity)

    @export("0v_i", name="devices.count")
    def devices_count(self, state):
        return len(state.devices)

    @export("0i_r", name="devices.get")
    def devices_get(self, state, index):
        devices = state.devices
        return devices[index] if 0 <= index < len(devices) else None

