"""``hal`` exports of executables (``hal-abi.md`` 3.7) and of channels and files (3.4, 3.9)."""

from __future__ import annotations

import numpy as np
import pytest

from pyree import status
from pyree.modules.hal import module_executable
from pyree.modules.hal.channel import HalChannel
from pyree.modules.hal.device import create_device
from pyree.modules.hal.executable import Executable
from pyree.modules.hal.executable_format import FORMAT
from pyree.modules.hal.file import HalFile
from pyree.vm import VmBuffer

from .modhelpers import (ABS_NEG, HalHarness, create_executable, executable_json,  # noqa: F401
                         fails, hal,
                         ref_is_null, ref_mismatch, rodata, sync_hal, text, unary_function)


def test_create_and_lookup(hal):
    executable = create_executable(hal)
    assert type(executable) is Executable
    assert hal("executable.lookup.function", executable, text("abs")) == 0
    assert hal("executable.lookup.function", executable, text("neg")) == 1
    with fails(status.NotFoundError):
        hal("executable.lookup.function", executable, text("nope"))


def test_rodata_is_aliased_and_mutable_data_copied():
    module_rodata = rodata(ABS_NEG)
    assert module_executable.executable_data(module_rodata) is module_rodata.data
    mutable = VmBuffer.from_bytes(ABS_NEG)
    copied = module_executable.executable_data(mutable)
    assert isinstance(copied, bytes) and copied == ABS_NEG
    host_immutable = text(ABS_NEG)          # immutable but ORIGIN_HOST: copied
    assert isinstance(module_executable.executable_data(host_immutable), bytes)


def test_create_from_a_mutable_buffer(sync_hal):
    data = VmBuffer.from_bytes(ABS_NEG)
    executable = sync_hal("executable.create", sync_hal.device, -1, text(FORMAT), data, None)
    data.data[:] = b" " * len(ABS_NEG)      # later changes do not matter
    assert sync_hal("executable.lookup.function", executable, text("neg")) == 1


def test_constants():
    const_fn = unary_function("abs", "abs")
    data = executable_json(const_fn)
    with_constants = data.replace(b'{"functions"', b'{"constants":2,"functions"')
    h = HalHarness("local-sync")
    consts = VmBuffer.from_bytes(np.array([1, 2], np.uint32).tobytes())
    assert h("executable.create", h.device, -1, text(FORMAT), rodata(with_constants),
             consts) is not None
    with fails(status.InvalidArgumentError, "constant buffer data must contain 4-byte "
               "elements but data length is 7"):
        h("executable.create", h.device, -1, text(FORMAT), rodata(with_constants),
          VmBuffer.from_bytes(bytes(7)))
    with fails(status.InvalidArgumentError, contains="declares 2 constants"):
        h("executable.create", h.device, -1, text(FORMAT), rodata(with_constants), None)
    h.close()


def test_unknown_format_and_bad_data(sync_hal):
    with fails(status.NotFoundError):
        sync_hal("executable.create", sync_hal.device, -1, text("embedded-elf-x86_64"),
                 rodata(ABS_NEG), None)
    with fails(status.InvalidArgumentError):
        sync_hal("executable.create", sync_hal.device, -1, text(FORMAT), rodata(b"{}"), None)


def test_device_outside_the_group(sync_hal):
    with fails(status.NotFoundError, contains="no executable cache for the given device"):
        sync_hal("executable.create", create_device("local-sync"), -1, text(FORMAT),
                 rodata(ABS_NEG), None)


def test_executable_refs(sync_hal):
    with ref_is_null():
        sync_hal("executable.create", None, -1, text(FORMAT), rodata(ABS_NEG), None)
    with ref_is_null():
        sync_hal("executable.create", sync_hal.device, -1, None, rodata(ABS_NEG), None)
    with ref_is_null():
        sync_hal("executable.create", sync_hal.device, -1, text(FORMAT), None, None)
    with ref_mismatch("vm.buffer"):
        sync_hal("executable.create", sync_hal.device, -1, text(FORMAT), rodata(ABS_NEG),
                 sync_hal.buffer(4))
    with ref_mismatch("hal.executable"):
        sync_hal("executable.lookup.function", sync_hal.buffer(4), text("abs"))


# -- channels -------------------------------------------------------------------------

@pytest.mark.parametrize("rank, count", [(0, 1), (-1, -1), (-1, 1), (0, -1)])
def test_channel_is_single_participant(hal, rank, count):
    channel = hal("channel.create", hal.device, -1, 0, None, None, rank, count)
    assert type(channel) is HalChannel
    assert hal("channel.rank_and_count", channel) == (0, 1)


def test_channel_with_id_and_group(sync_hal):
    channel = sync_hal("channel.create", sync_hal.device, -1, 0, text("id"), text("group"),
                       0, 1)
    assert sync_hal("channel.rank_and_count", channel) == (0, 1)


def test_channel_groups_of_more_are_unimplemented(sync_hal):
    with fails(status.UnimplementedError):
        sync_hal("channel.create", sync_hal.device, -1, 0, None, None, 1, 2)


def test_channel_split(sync_hal):
    channel = sync_hal("channel.create", sync_hal.device, -1, 0, None, None, 0, 1)
    split = sync_hal("channel.split", channel, 3, 0, 0)
    assert type(split) is HalChannel and split is not channel
    assert sync_hal("channel.rank_and_count", split) == (0, 1)
    assert sync_hal("channel.split", channel, -1, 0, 0) is None      # no color


def test_channel_refs(sync_hal):
    with ref_is_null():
        sync_hal("channel.rank_and_count", None)
    with ref_mismatch("hal.channel"):
        sync_hal("channel.split", sync_hal.buffer(4), 0, 0, 0)
    with ref_mismatch("vm.buffer"):
        sync_hal("channel.create", sync_hal.device, -1, 0, sync_hal.buffer(4), None, 0, 1)


def test_collective_is_a_local_copy(hal):
    channel = hal("channel.create", hal.device, -1, 0, None, None, 0, 1)
    send = hal("buffer_view.buffer", hal.f32_view([1.0, 2.0, 3.0]))
    recv = hal.buffer(12)
    cb = hal("command_buffer.create", hal.device, 1, 3, -1, 0)
    op = 1 | (1 << 8) | (9 << 16)       # ALL_REDUCE, SUM, FLOAT_32
    hal("command_buffer.collective", cb, channel, op, 0, 0, 0, send, recv, 0, 12, 0, 12, 3)
    hal("command_buffer.finalize", cb)
    fence = hal("fence.create", hal.device, 0)
    hal("device.queue.execute", hal.device, -1, None, fence, cb, 0)
    assert hal("fence.await", -1, 0, [fence]) == 0
    assert np.frombuffer(recv.read(), np.float32).tolist() == [1.0, 2.0, 3.0]


def test_collective_validation(sync_hal):
    channel = sync_hal("channel.create", sync_hal.device, -1, 0, None, None, 0, 1)
    cb = sync_hal("command_buffer.create", sync_hal.device, 0, 3, -1, 0)
    buffer = sync_hal.buffer(16)
    with fails(status.InvalidArgumentError, contains="unknown collective operation"):
        sync_hal("command_buffer.collective", cb, channel, 99, 0, 0, 0, buffer, buffer, 0, 4,
                 8, 4, 1)
    with ref_is_null():
        sync_hal("command_buffer.collective", cb, None, 0, 0, 0, 0, buffer, buffer, 0, 4, 8,
                 4, 1)


# -- files ----------------------------------------------------------------------------

def test_file_from_memory(hal):
    memory = VmBuffer.from_bytes(b"0123456789")
    file = hal("ex.file.from_memory", hal.device, -1, 1, memory, 2, 5, 0)
    assert type(file) is HalFile and file.length == 5


def test_file_access_and_range(sync_hal):
    memory = VmBuffer.from_bytes(bytes(10))
    with fails(status.PermissionDeniedError,
               "only read-only memory can be accessed via a file handle (today)"):
        sync_hal("ex.file.from_memory", sync_hal.device, -1, 3, memory, 0, 10, 0)
    with fails(status.OutOfRangeError):
        sync_hal("ex.file.from_memory", sync_hal.device, -1, 1, memory, 5, 10, 0)
    with ref_is_null():
        sync_hal("ex.file.from_memory", sync_hal.device, -1, 1, None, 0, 0, 0)
    with ref_mismatch("hal.device"):
        sync_hal("ex.file.from_memory", memory, -1, 1, memory, 0, 0, 0)
