"""``hal`` module exports: executables (``hal-abi.md`` 3.7).

``executable.create`` prepares the executable through the executable cache the module state
keeps for that device in this context (a device outside the module's group is NOT_FOUND,
as in IREE). The format is the text of a ``!vm.buffer``; the data is passed without a copy
when it is module rodata (flags exactly ORIGIN_MODULE: immutable for the module's life, as
IREE's ALIAS_PROVIDED_DATA caching mode assumes) and copied otherwise, since a mutable
buffer may change after the call. Constants must be whole 32-bit words.

``executable.lookup.function`` maps a function name to its 64-bit handle (the index in the
export table); unknown names are NOT_FOUND, the invalid handle UINT64_MAX INTERNAL.
"""

from __future__ import annotations

from pyree.status import InternalError, InvalidArgumentError, NotFoundError
from pyree.vm.buffer import ORIGIN_MODULE, VmBuffer
from pyree.vm.native import export

from .device import HalDevice
from .executable import INVALID_FUNCTION, Executable
from .module_args import deref, text

def executable_data(buffer: VmBuffer):
    """The bytes to prepare: an alias of module rodata, else a copy."""
    if buffer.flags == ORIGIN_MODULE:
        return buffer.data
    return bytes(buffer.data)


def constants_data(buffer: VmBuffer | None) -> bytes | None:
    if buffer is None:
        return None
    length = buffer.length
    if length % 4:
        raise InvalidArgumentError(
            f"constant buffer data must contain 4-byte elements but data length is {length}")
    return bytes(buffer.data)


class ExecutableExports:
    """``executable.*`` exports (mixed into :class:`~.module.HalModule`)."""

    @export("0rIrrr_r", name="executable.create")
    def executable_create(self, state, device, queue_affinity, executable_format,
                          data, constants):
        device = deref(device, HalDevice)
        cache = state.executable_cache(device)
        if cache is None:
            raise NotFoundError(
                "no executable cache for the given device found; possibly a device not "
                "registered with the HAL module")
        format_text = text(executable_format)
        data = executable_data(deref(data, VmBuffer))
        if constants is not None:
            constants = deref(constants, VmBuffer)
        return cache.prepare(format_text, data, constants_data(constants))

    @export("0rr_I", name="executable.lookup.function")
    def executable_lookup_function(self, state, executable, function_name):
        executable = deref(executable, Executable)
        function_id = executable.lookup_function(text(function_name))
        if function_id == INVALID_FUNCTION:
            raise InternalError("executable returned an invalid function handle")
        return function_id
