"""``hal`` module exports: channels and files (``hal-abi.md`` 3.4, 3.9).

Channels are single-participant (``channel.py``: rank 0 of count 1, collectives are local
copies); ``channel.create`` passes the id and group buffers (either may be null) to the
device. ``ex.file.from_memory`` wraps a byte range of a ``!vm.buffer`` as a read-only
``hal.file`` (``file.py``) for ``device.queue.read``.
"""

from __future__ import annotations

from pyree.vm.buffer import VmBuffer
from pyree.vm.native import export

from .channel import HalChannel
from .device import HalDevice
from .module_args import deref, deref_or_null


class ChannelExports:
    """``channel.*`` and ``ex.file.*`` exports (mixed into :class:`~.module.HalModule`)."""

    @export("0rIIrrii_r", name="channel.create")
    def channel_create(self, state, device, queue_affinity, flags, id, group, rank, count):
        device = deref(device, HalDevice)
        id = deref_or_null(id, VmBuffer)
        group = deref_or_null(group, VmBuffer)
        return device.create_channel(queue_affinity, flags, id, group, rank, count)

    @export("0riiI_r", name="channel.split")
    def channel_split(self, state, channel, color, key, flags):
        return deref(channel, HalChannel).split(color, key, flags)

    @export("0r_ii", name="channel.rank_and_count")
    def channel_rank_and_count(self, state, channel):
        return deref(channel, HalChannel).rank_and_count()

    @export("0rIirIIi_r", name="ex.file.from_memory")
    def ex_file_from_memory(self, state, device, queue_affinity, access, buffer, offset,
                            length, flags):
        device = deref(device, HalDevice)
        buffer = deref(buffer, VmBuffer)
        return device.file_from_memory(queue_affinity, access, buffer, offset, length, flags)
