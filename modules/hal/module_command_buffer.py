"""``hal`` module exports: command buffers (``hal-abi.md`` 3.5).

``command_buffer.create`` asks the device for a command buffer that is already recording
(``spec/hal-runtime-api.md``); with the module flag RETAIN_COMMAND_BUFFER_PROFILE_METADATA
every command buffer gets mode RETAIN_PROFILE_METADATA. The other exports dereference their
refs (buffers that "may be null" become ``None``: the slot argument then names a binding
table slot) and forward to the command buffer, which validates, records or (inline)
executes, and retains what it needs. The module itself retains nothing.
"""

from __future__ import annotations

from pyree.status import OutOfRangeError
from pyree.vm.buffer import VmBuffer
from pyree.vm.native import export

from .buffer import HalBuffer
from .channel import HalChannel
from .command_buffer import HalCommandBuffer
from .device import HalDevice
from .enums import CommandBufferMode
from .executable import Executable
from .module_args import buffer_or_null, deref, ref_error, text

MAX_DISPATCH_BINDINGS = 32
_RETAIN_PROFILE_METADATA = int(CommandBufferMode.RETAIN_PROFILE_METADATA)
_U32 = 0xFFFFFFFF


def _bindings(bindings) -> list:
    """Dispatch binding tuples ``(reserved, slot, buffer, offset, length)`` as the command
    buffer's ``(slot, buffer or None, offset, length)``."""
    if len(bindings) > MAX_DISPATCH_BINDINGS:
        raise OutOfRangeError(f"binding count {len(bindings)} > {MAX_DISPATCH_BINDINGS}")
    out = []
    for _, slot, buffer, offset, length in bindings:
        if buffer is not None and type(buffer) is not HalBuffer:
            raise ref_error(buffer, HalBuffer)
        out.append((slot, buffer, offset, length))
    return out


def _constants(constants) -> list:
    return [c & _U32 for c in constants]


class CommandBufferExports:
    """``command_buffer.*`` exports (mixed into :class:`~.module.HalModule`)."""

    @export("0riiIi_r", name="command_buffer.create")
    def command_buffer_create(self, state, device, modes, command_categories, queue_affinity,
                              binding_capacity):
        if type(device) is not HalDevice:
            raise ref_error(device, HalDevice)
        modes &= _U32
        if state.retain_profile_metadata:
            modes |= _RETAIN_PROFILE_METADATA
        return device.create_command_buffer(modes, command_categories & _U32, queue_affinity,
                                            binding_capacity)

    @export("0r_v", name="command_buffer.finalize")
    def command_buffer_finalize(self, state, command_buffer):
        if type(command_buffer) is not HalCommandBuffer:
            raise ref_error(command_buffer, HalCommandBuffer)
        command_buffer.finalize()

    @export("0rr_v", name="command_buffer.begin_debug_group")
    def command_buffer_begin_debug_group(self, state, command_buffer, label):
        command_buffer = deref(command_buffer, HalCommandBuffer)
        command_buffer.begin_debug_group(text(label))

    @export("0r_v", name="command_buffer.end_debug_group")
    def command_buffer_end_debug_group(self, state, command_buffer):
        deref(command_buffer, HalCommandBuffer).end_debug_group()

    @export("0riiI_v", name="command_buffer.execution_barrier")
    def command_buffer_execution_barrier(self, state, command_buffer, source_stage_mask,
                                         target_stage_mask, flags):
        if type(command_buffer) is not HalCommandBuffer:
            raise ref_error(command_buffer, HalCommandBuffer)
        command_buffer.execution_barrier(source_stage_mask & _U32, target_stage_mask & _U32,
                                         flags)

    @export("0rrIIIi_v", name="command_buffer.advise_buffer")
    def command_buffer_advise_buffer(self, state, command_buffer, buffer, flags, arg0, arg1,
                                     buffer_slot):
        command_buffer = deref(command_buffer, HalCommandBuffer)
        command_buffer.advise_buffer(buffer_or_null(buffer), flags, arg0, arg1, buffer_slot)

    @export("0rrIIiIiI_v", name="command_buffer.fill_buffer")
    def command_buffer_fill_buffer(self, state, command_buffer, target_buffer, target_offset,
                                   length, target_buffer_slot, pattern, pattern_length, flags):
        if type(command_buffer) is not HalCommandBuffer:
            raise ref_error(command_buffer, HalCommandBuffer)
        if target_buffer is not None and type(target_buffer) is not HalBuffer:
            raise ref_error(target_buffer, HalBuffer)
        command_buffer.fill_buffer(target_buffer, target_offset, length, target_buffer_slot,
                                   pattern, pattern_length, flags)

    @export("0rrIrIIiI_v", name="command_buffer.update_buffer")
    def command_buffer_update_buffer(self, state, command_buffer, source_buffer,
                                     source_offset, target_buffer, target_offset, length,
                                     target_buffer_slot, flags):
        if type(command_buffer) is not HalCommandBuffer:
            raise ref_error(command_buffer, HalCommandBuffer)
        if type(source_buffer) is not VmBuffer:
            raise ref_error(source_buffer, VmBuffer)
        if target_buffer is not None and type(target_buffer) is not HalBuffer:
            raise ref_error(target_buffer, HalBuffer)
        command_buffer.update_buffer(source_buffer, source_offset, target_buffer,
                                     target_offset, length, target_buffer_slot, flags)

    @export("0riirIrIII_v", name="command_buffer.copy_buffer")
    def command_buffer_copy_buffer(self, state, command_buffer, source_buffer_slot,
                                   target_buffer_slot, source_buffer, source_offset,
                                   target_buffer, target_offset, length, flags):
        if type(command_buffer) is not HalCommandBuffer:
            raise ref_error(command_buffer, HalCommandBuffer)
        if source_buffer is not None and type(source_buffer) is not HalBuffer:
            raise ref_error(source_buffer, HalBuffer)
        if target_buffer is not None and type(target_buffer) is not HalBuffer:
            raise ref_error(target_buffer, HalBuffer)
        command_buffer.copy_buffer(source_buffer_slot, target_buffer_slot, source_buffer,
                                   source_offset, target_buffer, target_offset, length, flags)

    @export("0rriiiirrIIIII_v", name="command_buffer.collective")
    def command_buffer_collective(self, state, command_buffer, channel, op, param,
                                  send_buffer_slot, recv_buffer_slot, send_buffer, recv_buffer,
                                  send_offset, send_length, recv_offset, recv_length,
                                  element_count):
        command_buffer = deref(command_buffer, HalCommandBuffer)
        channel = deref(channel, HalChannel)
        command_buffer.collective(channel, op & _U32, param, send_buffer_slot,
                                  recv_buffer_slot, buffer_or_null(send_buffer),
                                  buffer_or_null(recv_buffer), send_offset, send_length,
                                  recv_offset, recv_length, element_count)

    @export("0rrIiiiICiDCiirIID_v", name="command_buffer.dispatch")
    def command_buffer_dispatch(self, state, command_buffer, executable, function_id,
                                workgroup_x, workgroup_y, workgroup_z, flags, constants,
                                bindings):
        if type(command_buffer) is not HalCommandBuffer:
            raise ref_error(command_buffer, HalCommandBuffer)
        if type(executable) is not Executable:
            raise ref_error(executable, Executable)
        command_buffer.dispatch(
            executable, function_id & 0xFFFFFFFFFFFFFFFF,
            (workgroup_x & _U32, workgroup_y & _U32, workgroup_z & _U32), flags,
            _constants(constants), _bindings(bindings))

    @export("0rrIirIICiDCiirIID_v", name="command_buffer.dispatch.indirect")
    def command_buffer_dispatch_indirect(self, state, command_buffer, executable,
                                         function_id, workgroups_buffer_slot,
                                         workgroups_buffer, workgroups_offset, flags,
                                         constants, bindings):
        command_buffer = deref(command_buffer, HalCommandBuffer)
        executable = deref(executable, Executable)
        command_buffer.dispatch_indirect(
            executable, function_id & 0xFFFFFFFFFFFFFFFF, workgroups_buffer_slot,
            buffer_or_null(workgroups_buffer), workgroups_offset, flags,
            _constants(constants), _bindings(bindings))
