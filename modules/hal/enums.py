"""HAL enumerations and flag sets (``hal-abi.md`` section 4), and their text forms.

Every flag set is an :class:`enum.IntFlag` with the exact ABI values, composites included
(``MemoryType.DEVICE_LOCAL`` is 0x30). Values cross the VM ABI as plain ints; the HAL's hot
paths keep them as ints and only build flag objects for display. Unknown bits are kept
(``IntFlag`` boundary KEEP), as the ABI carries whatever the program passes.

Text forms follow IREE's bitfield formatter (``iree_bitfield_format``): names are matched in
table order, combined names first, each match clearing its bits, joined with ``|``; bits no
name covers are appended as upper-case hex with an ``h`` suffix (``40h``); 0 formats as the
empty string. So a CPU-heap DEVICE_LOCAL buffer (0x32) formats as ``DEVICE_LOCAL|HOST_VISIBLE``
and DEFAULT usage (0xC03) as ``TRANSFER|DISPATCH_STORAGE``. :func:`parse_flags` reads the
same syntax back (names and hex/decimal numbers).

Element and encoding types live in :mod:`.element_type` and are re-exported here.
"""

from __future__ import annotations

import enum

from pyree.status import InvalidArgumentError

from .element_type import (ElementType, EncodingType, NumericalType,  # noqa: F401
                           element_type_name, parse_element_type)

MASK32 = 0xFFFFFFFF
MASK64 = 0xFFFFFFFFFFFFFFFF
#: ``IREE_HAL_WHOLE_BUFFER``: a length meaning "to the end of the buffer".
WHOLE_BUFFER = MASK64
#: ``IREE_HAL_QUEUE_AFFINITY_ANY``.
QUEUE_AFFINITY_ANY = MASK64


class MemoryType(enum.IntFlag):
    """4.1 memory types."""

    NONE = 0x00
    OPTIMAL = 0x01
    HOST_VISIBLE = 0x02
    HOST_COHERENT = 0x04
    HOST_CACHED = 0x08
    HOST_LOCAL = 0x46
    OPTIMAL_FOR_HOST = 0x47
    DEVICE_VISIBLE = 0x10
    DEVICE_LOCAL = 0x30
    OPTIMAL_FOR_DEVICE = 0x31


class MemoryAccess(enum.IntFlag):
    """4.2 memory access."""

    NONE = 0x00
    READ = 0x01
    WRITE = 0x02
    DISCARD = 0x04
    DISCARD_WRITE = 0x06
    MAY_ALIAS = 0x08
    UNALIGNED = 0x10
    ANY = 0x20
    ALL = 0x07


class BufferUsage(enum.IntFlag):
    """4.3 buffer usage."""

    NONE = 0
    TRANSFER_SOURCE = 0x1
    TRANSFER_TARGET = 0x2
    TRANSFER = 0x3
    DISPATCH_INDIRECT_PARAMETERS = 0x100
    DISPATCH_UNIFORM_READ = 0x200
    DISPATCH_STORAGE_READ = 0x400
    DISPATCH_STORAGE_WRITE = 0x800
    DISPATCH_STORAGE = 0xC00
    DISPATCH_IMAGE_READ = 0x1000
    DISPATCH_IMAGE_WRITE = 0x2000
    DISPATCH_IMAGE = 0x3000
    DISPATCH = 0x3F00
    SHARING_EXPORT = 0x10000
    SHARING_REPLICATE = 0x20000
    SHARING_CONCURRENT = 0x40000
    SHARING_IMMUTABLE = 0x80000
    MAPPING_SCOPED = 0x1000000
    MAPPING_PERSISTENT = 0x2000000
    MAPPING_OPTIONAL = 0x4000000
    MAPPING_ACCESS_RANDOM = 0x8000000
    MAPPING_ACCESS_SEQUENTIAL_WRITE = 0x10000000
    MAPPING = 0x9000000
    DEFAULT = 0xC03


class MappingMode(enum.IntEnum):
    """How a buffer range is mapped: SCOPED (checks access and range) or PERSISTENT
    (additionally requires HOST_VISIBLE memory and MAPPING_PERSISTENT usage; 5.2)."""

    SCOPED = 1
    PERSISTENT = 2


class BufferCompatibility(enum.IntFlag):
    """Answer of an allocator compatibility query (5.1)."""

    NONE = 0
    ALLOCATABLE = 1 << 0
    IMPORTABLE = 1 << 1
    EXPORTABLE = 1 << 2
    QUEUE_TRANSFER = 1 << 10
    QUEUE_DISPATCH = 1 << 11


class CommandBufferMode(enum.IntFlag):
    """4.6 command buffer modes."""

    DEFAULT = 0x000
    ONE_SHOT = 0x001
    ALLOW_INLINE_EXECUTION = 0x010
    UNVALIDATED = 0x020
    UNRETAINED = 0x040
    RETAIN_PROFILE_METADATA = 0x080
    RETAIN_DISPATCH_METADATA = 0x100


class CommandCategory(enum.IntFlag):
    """4.6 command categories."""

    NONE = 0x0
    TRANSFER = 0x1
    DISPATCH = 0x2
    ANY = 0x3


class ExecutionStage(enum.IntFlag):
    """4.6 execution stages (barrier masks)."""

    NONE = 0x00
    COMMAND_ISSUE = 0x01
    COMMAND_PROCESS = 0x02
    DISPATCH = 0x04
    TRANSFER = 0x08
    COMMAND_RETIRE = 0x10
    HOST = 0x20


class AccessScope(enum.IntFlag):
    """4.6 access scopes of memory barriers (internal)."""

    NONE = 0x000
    INDIRECT_COMMAND_READ = 0x001
    CONSTANT_READ = 0x002
    DISPATCH_READ = 0x004
    DISPATCH_WRITE = 0x008
    TRANSFER_READ = 0x010
    TRANSFER_WRITE = 0x020
    HOST_READ = 0x040
    HOST_WRITE = 0x080
    MEMORY_READ = 0x100
    MEMORY_WRITE = 0x200


class DispatchFlags(enum.IntFlag):
    """4.7 dispatch flags."""

    NONE = 0
    DYNAMIC_INDIRECT_PARAMETERS = 0x01
    STATIC_INDIRECT_PARAMETERS = 0x02
    CUSTOM_DIRECT_ARGUMENTS = 0x04
    DYNAMIC_INDIRECT_ARGUMENTS = 0x08
    STATIC_INDIRECT_ARGUMENTS = 0x10
    ALLOW_INLINE_EXECUTION = 0x20
    BORROW_RESOURCE_LIFETIMES = 0x40


class AllocaFlags(enum.IntFlag):
    """4.8 ``queue.alloca`` flags."""

    NONE = 0
    INDETERMINATE_LIFETIME = 0x1
    ALLOW_POOL_WAIT_FRONTIER = 0x2


class DeallocaFlags(enum.IntFlag):
    """4.8 ``queue.dealloca`` flags."""

    NONE = 0
    PREFER_ORIGIN = 0x1


class ExecuteFlags(enum.IntFlag):
    """4.8 ``queue.execute*`` / ``queue.barrier`` flags."""

    NONE = 0
    BORROW_BINDING_TABLE_LIFETIME = 0x1


class SemaphoreFlags(enum.IntFlag):
    """4.10 semaphore flags."""

    NONE = 0
    DEVICE_LOCAL = 0x1
    HOST_INTERRUPT = 0x2
    EXPORTABLE = 0x4
    EXPORTABLE_TIMEPOINTS = 0x8
    SINGLE_PRODUCER = 0x10
    DEFAULT = 0xA


class CollectiveKind(enum.IntEnum):
    """4.9 collective operation kinds (byte 0 of the packed op)."""

    ALL_GATHER = 0
    ALL_REDUCE = 1
    ALL_TO_ALL = 2
    BROADCAST = 3
    REDUCE = 4
    REDUCE_SCATTER = 5
    SEND = 6
    RECV = 7
    SEND_RECV = 8


class CollectiveReduction(enum.IntEnum):
    """4.9 collective reductions (byte 1 of the packed op)."""

    NONE = 0
    SUM = 1
    PRODUCT = 2
    MINIMUM = 3
    MAXIMUM = 4
    AVERAGE = 5


class CollectiveElementType(enum.IntEnum):
    """4.9 collective element types (byte 2 of the packed op)."""

    SINT_8 = 0
    UINT_8 = 1
    SINT_16 = 2
    UINT_16 = 3
    SINT_32 = 4
    UINT_32 = 5
    SINT_64 = 6
    UINT_64 = 7
    FLOAT_16 = 8
    FLOAT_32 = 9
    FLOAT_64 = 10
    BFLOAT_16 = 11


# Formatting tables: (bits, name) in IREE's order, combined names first.
def _table(cls, combined=()):
    names = list(combined)
    for member in cls:   # iterating a Flag yields its single-bit members
        if int(member) and member.name not in names:
            names.append(member.name)
    return tuple((int(cls[name]), name) for name in names)


MEMORY_TYPE_NAMES = _table(MemoryType, combined=("HOST_LOCAL", "DEVICE_LOCAL"))
MEMORY_ACCESS_NAMES = _table(MemoryAccess, combined=("ALL", "DISCARD_WRITE"))
BUFFER_USAGE_NAMES = _table(
    BufferUsage, combined=("TRANSFER", "DISPATCH_STORAGE", "DISPATCH_IMAGE"))
COMMAND_BUFFER_MODE_NAMES = _table(CommandBufferMode)
COMMAND_CATEGORY_NAMES = _table(CommandCategory, combined=("ANY",))
EXECUTION_STAGE_NAMES = _table(ExecutionStage)
ACCESS_SCOPE_NAMES = _table(AccessScope)
DISPATCH_FLAG_NAMES = _table(DispatchFlags)
SEMAPHORE_FLAG_NAMES = _table(SemaphoreFlags)


def format_flags(value: int, names: tuple[tuple[int, str], ...]) -> str:
    """IREE's bitfield text of ``value`` under the ``(bits, name)`` table ``names``."""
    remaining = int(value) & MASK64
    parts = []
    for bits, name in names:
        if remaining & bits == bits:
            parts.append(name)
            remaining &= ~bits
    if remaining:
        parts.append(f"{remaining:X}h")
    return "|".join(parts)


def parse_flags(text: str, names: tuple[tuple[int, str], ...]) -> int:
    """Parses ``A|B|0x40|40h`` under the table ``names`` (inverse of :func:`format_flags`).

    Unknown names fail with INVALID_ARGUMENT "unknown flag 'X'"; the empty string is 0.
    """
    by_name = {name: bits for bits, name in names}
    value = 0
    for part in (p.strip() for p in text.split("|")):
        if not part:
            continue
        bits = by_name.get(part)
        if bits is None:
            try:
                if part[-1:] in "hH" and len(part) > 1:
                    bits = int(part[:-1], 16)
                else:
                    bits = int(part, 0)
            except ValueError:
                raise InvalidArgumentError(f"unknown flag '{part}'") from None
        value |= bits
    return value


def format_memory_type(value: int) -> str:
    return format_flags(value, MEMORY_TYPE_NAMES)


def format_memory_access(value: int) -> str:
    return format_flags(value, MEMORY_ACCESS_NAMES)


def format_buffer_usage(value: int) -> str:
    return format_flags(value, BUFFER_USAGE_NAMES)


def format_command_buffer_mode(value: int) -> str:
    return format_flags(value, COMMAND_BUFFER_MODE_NAMES)


def format_command_category(value: int) -> str:
    return format_flags(value, COMMAND_CATEGORY_NAMES)


def format_execution_stage(value: int) -> str:
    return format_flags(value, EXECUTION_STAGE_NAMES)


def format_dispatch_flags(value: int) -> str:
    return format_flags(value, DISPATCH_FLAG_NAMES)


def format_semaphore_flags(value: int) -> str:
    return format_flags(value, SEMAPHORE_FLAG_NAMES)


def parse_memory_type(text: str) -> int:
    return parse_flags(text, MEMORY_TYPE_NAMES + (
        (0x01, "OPTIMAL"), (0x47, "OPTIMAL_FOR_HOST"), (0x31, "OPTIMAL_FOR_DEVICE")))


def parse_memory_access(text: str) -> int:
    return parse_flags(text, MEMORY_ACCESS_NAMES)


def parse_buffer_usage(text: str) -> int:
    return parse_flags(text, BUFFER_USAGE_NAMES + (
        (0x3F00, "DISPATCH"), (0x9000000, "MAPPING"), (0xC03, "DEFAULT")))
