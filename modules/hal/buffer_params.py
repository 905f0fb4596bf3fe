"""BufferParams: the (memory type, usage, access, queue affinity) of a buffer request.

``canonicalize`` fills zero fields as IREE's ``iree_hal_buffer_params_canonicalize`` does
(``hal-abi.md`` 4.1): usage 0 -> DEFAULT (0xC03), access 0 -> ALL (0x7), type 0 -> OPTIMAL
(0x1), affinity 0 -> ANY. ``coerce_for_heap`` is what the CPU heap allocator makes of a
canonical request: HOST_VISIBLE added and OPTIMAL removed from the type; MAPPING_SCOPED |
MAPPING_PERSISTENT | MAPPING_ACCESS_RANDOM | TRANSFER added to the usage; access unchanged.
"""

from __future__ import annotations

import attrs

from .buffer_validation import device_size, flags32
from .enums import (QUEUE_AFFINITY_ANY, BufferUsage, MemoryAccess, MemoryType,
                    format_buffer_usage, format_memory_access, format_memory_type)

_DEFAULT_USAGE = int(BufferUsage.DEFAULT)
_ALL_ACCESS = int(MemoryAccess.ALL)
_OPTIMAL = int(MemoryType.OPTIMAL)
_HOST_VISIBLE = int(MemoryType.HOST_VISIBLE)
_HEAP_USAGE = int(BufferUsage.MAPPING_SCOPED | BufferUsage.MAPPING_PERSISTENT
                  | BufferUsage.MAPPING_ACCESS_RANDOM | BufferUsage.TRANSFER)


@attrs.frozen
class BufferParams:
    type: int = 0
    usage: int = 0
    access: int = 0
    queue_affinity: int = 0

    @classmethod
    def of(cls, memory_types=0, buffer_usage=0, access=0, queue_affinity=0) -> BufferParams:
        """Params from ABI values (``i`` flags masked to u32, affinity to u64)."""
        return cls(flags32(memory_types), flags32(buffer_usage), flags32(access),
                   device_size(queue_affinity))

    def canonicalize(self) -> BufferParams:
        return BufferParams(self.type or _OPTIMAL, self.usage or _DEFAULT_USAGE,
                            self.access or _ALL_ACCESS,
                            self.queue_affinity or QUEUE_AFFINITY_ANY)

    def coerce_for_heap(self) -> BufferParams:
        return BufferParams((self.type | _HOST_VISIBLE) & ~_OPTIMAL, self.usage | _HEAP_USAGE,
                            self.access, self.queue_affinity)

    def __str__(self) -> str:
        return (f"memory_type={format_memory_type(self.type)}, "
                f"usage={format_buffer_usage(self.usage)}, "
                f"access={format_memory_access(self.access)}, "
                f"queue_affinity={self.queue_affinity:#x}")
