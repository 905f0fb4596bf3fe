"""HalChannel (``hal.channel``): a single-participant collective channel (``hal-abi.md`` 3.4, 4.9).

pyree has no collective provider across processes or devices: a channel is a group of one
participant, rank 0 of count 1. ``channel.create`` accepts rank 0 (or -1, "from the
environment") and count 1 (or 0/-1); anything else is UNIMPLEMENTED. ``split`` returns a
new single-participant channel (or None for a negative color: the caller joins no group).

Collectives recorded on a command buffer (``command_buffer.collective``) run as local
copies of the send range into the receive range: over one participant a gather, reduction,
all-to-all, broadcast, reduce-scatter or send-to-self is the identity. SEND and RECV alone
need a peer and are UNIMPLEMENTED. Ops are validated as 4.9 says (unknown kind, reduction or
element type; a reduction on a non-reducing kind; a send buffer on RECV or a receive buffer
on SEND: INVALID_ARGUMENT).
"""

from __future__ import annotations

import attrs
from pyree.vm.ref import register_ref_type

from pyree.status import InvalidArgumentError, UnimplementedError

from .buffer_validation import device_size, flags32, message_text
from .enums import CollectiveElementType, CollectiveKind, CollectiveReduction

_REDUCING = (CollectiveKind.ALL_REDUCE, CollectiveKind.REDUCE, CollectiveKind.REDUCE_SCATTER)
_ELEMENT_SIZES = {
    CollectiveElementType.SINT_8: 1, CollectiveElementType.UINT_8: 1,
    CollectiveElementType.SINT_16: 2, CollectiveElementType.UINT_16: 2,
    CollectiveElementType.SINT_32: 4, CollectiveElementType.UINT_32: 4,
    CollectiveElementType.SINT_64: 8, CollectiveElementType.UINT_64: 8,
    CollectiveElementType.FLOAT_16: 2, CollectiveElementType.FLOAT_32: 4,
    CollectiveElementType.FLOAT_64: 8, CollectiveElementType.BFLOAT_16: 2,
}


def _signed32(value) -> int:
    value = flags32(value)
    return value - (1 << 32) if value >> 31 else value


@attrs.define(eq=False, repr=False)
class HalChannel:
    device: object
    queue_affinity: int = -1
    flags: int = 0
    id: str = ""
    group: str = ""
    rank: int = 0
    count: int = 1

    @classmethod
    def create(cls, device, queue_affinity=-1, flags=0, id=None, group=None, rank=-1,
               count=-1) -> HalChannel:
        """``channel.create`` (``id`` and ``group`` are !vm.buffer/bytes/str or None)."""
        rank = _signed32(rank)
        count = _signed32(count)
        rank = max(rank, 0)
        if count <= 0:
            count = 1
        if rank != 0 or count != 1:
            raise UnimplementedError(
                "pyree channels have a single participant (rank 0 of 1); requested rank "
                f"{rank} of {count}")
        return cls(device, int(queue_affinity), device_size(flags), message_text(id),
                   message_text(group), rank, count)

    def split(self, color, key, flags=0) -> HalChannel | None:
        """``channel.split``: a new single-participant channel (None for a negative color)."""
        if _signed32(color) < 0:
            return None
        return HalChannel(self.device, self.queue_affinity, device_size(flags), self.id,
                          self.group, 0, 1)

    def rank_and_count(self) -> tuple[int, int]:
        return self.rank, self.count

    def __repr__(self) -> str:
        return f"<HalChannel rank={self.rank} count={self.count} group={self.group!r}>"


def validate_collective_op(op: int, send_buffer, recv_buffer) -> None:
    kind = op & 0xFF
    reduction = (op >> 8) & 0xFF
    element_type = (op >> 16) & 0xFF
    if kind > max(CollectiveKind):
        raise InvalidArgumentError(f"unknown collective operation {kind}")
    if reduction > max(CollectiveReduction):
        raise InvalidArgumentError(f"unknown collective reduction {reduction}")
    if element_type > max(CollectiveElementType):
        raise InvalidArgumentError(f"unknown collective element type {element_type}")
    if reduction and kind not in _REDUCING:
        raise InvalidArgumentError(
            f"collective {CollectiveKind(kind).name} does not take a reduction "
            f"(got {CollectiveReduction(reduction).name})")
    if kind == CollectiveKind.RECV and send_buffer is not None:
        raise InvalidArgumentError("collective RECV cannot have a send buffer")
    if kind == CollectiveKind.SEND and recv_buffer is not None:
        raise InvalidArgumentError("collective SEND cannot have a receive buffer")


def collective_element_size(op: int) -> int:
    return _ELEMENT_SIZES[CollectiveElementType((op >> 16) & 0xFF)]


HAL_CHANNEL = register_ref_type("hal.channel", HalChannel)
