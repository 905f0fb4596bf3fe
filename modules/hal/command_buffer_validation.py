"""Command buffer validation (``hal-abi.md`` 3.5 table, 3.6 ``queue.execute*``, 5.5).

Beside its object (``command_buffer.py``) so that the recording fast path can skip what was
proven: a command buffer created UNVALIDATED skips the checks of this file that only protect
the *program* (state of debug groups, command categories, buffer memory type / queue
compatibility / access / usage, fill patterns, copy overlap, dispatch shapes at record
time); what protects *memory* is never skipped (the recording state, byte ranges, which are
checked when a buffer is borrowed, binding capacity, and every check
``Executable.dispatch`` makes before a kernel runs). A retaining command buffer also
remembers which (buffer, requirement) pairs it has proven and does not re-check them: the
buffer is retained, so its attributes cannot change under it.

Direct buffers are checked in this order (every row of the 3.5 table is reachable with the
CPU heap allocator): memory type DEVICE_VISIBLE, queue compatibility for the intended usage,
access, usage, then the range. Indirect references (null buffer, binding-table slot) check
the slot against the binding capacity and fold their requirements into the slot's
:class:`SlotRequirements`; :func:`resolve_binding_table` checks them when the table arrives.
"""

from __future__ import annotations

import attrs

from pyree.status import (
    FailedPreconditionError,
    InvalidArgumentError,
    OutOfRangeError,
    PermissionDeniedError,
)

from .buffer_validation import validate_access, validate_memory_type, validate_usage
from .enums import (
    WHOLE_BUFFER,
    BufferCompatibility,
    BufferUsage,
    MemoryAccess,
    MemoryType,
    format_buffer_usage,
    format_command_category,
)
from .raw_range import RawRange

INITIAL, RECORDING, EXECUTABLE = "initial", "recording", "executable"

DEVICE_VISIBLE = int(MemoryType.DEVICE_VISIBLE)
QUEUE_TRANSFER = int(BufferCompatibility.QUEUE_TRANSFER)
QUEUE_DISPATCH = int(BufferCompatibility.QUEUE_DISPATCH)
READ = int(MemoryAccess.READ)
WRITE = int(MemoryAccess.WRITE)
TRANSFER_SOURCE = int(BufferUsage.TRANSFER_SOURCE)
TRANSFER_TARGET = int(BufferUsage.TRANSFER_TARGET)
DISPATCH_STORAGE = int(BufferUsage.DISPATCH_STORAGE)
DISPATCH_INDIRECT_PARAMETERS = int(BufferUsage.DISPATCH_INDIRECT_PARAMETERS)
MAX_DISPATCH_BINDINGS = 32

# (usage, access, compatibility) requirements of each kind of reference.
COPY_SOURCE = (TRANSFER_SOURCE, READ, QUEUE_TRANSFER)
TRANSFER_WRITE = (TRANSFER_TARGET, WRITE, QUEUE_TRANSFER)
ADVISE = (0, READ, QUEUE_TRANSFER)
DISPATCH_READ = (DISPATCH_STORAGE, READ, QUEUE_DISPATCH)
DISPATCH_WRITE = (DISPATCH_STORAGE, WRITE, QUEUE_DISPATCH)
INDIRECT_PARAMS = (DISPATCH_INDIRECT_PARAMETERS, READ, QUEUE_DISPATCH)
COLLECTIVE_SEND = (DISPATCH_STORAGE, READ, QUEUE_DISPATCH)
COLLECTIVE_RECV = (DISPATCH_STORAGE, WRITE, QUEUE_DISPATCH)


@attrs.define
class SlotRequirements:
    """The union of what the commands of a command buffer need from one binding slot."""

    usage: int = 0
    access: int = 0
    compatibility: int = 0
    extent: int = 0          # bytes from the start of the bound range
    alignment: int = 1       # required alignment of the binding offset

    def add(self, requirement: tuple, extent: int, alignment: int) -> None:
        usage, access, compatibility = requirement
        self.usage |= usage
        self.access |= access
        self.compatibility |= compatibility
        self.extent = max(self.extent, extent)
        self.alignment = max(self.alignment, alignment)


def merge_requirements(target: dict, source: dict) -> None:
    """Folds the slot requirements of a replayed command buffer into its target's."""
    for slot, required in source.items():
        mine = target.get(slot)
        if mine is None:
            mine = target[slot] = SlotRequirements()
        mine.add((required.usage, required.access, required.compatibility), required.extent,
                 required.alignment)


# Recording state.


def not_recording() -> FailedPreconditionError:
    return FailedPreconditionError(
        "command buffer is not in a recording state; all recording must happen between a "
        "begin/end pair")


def validate_begin(state: str) -> None:
    if state == RECORDING:
        raise FailedPreconditionError("command buffer is already in a recording state")
    if state != INITIAL:
        raise FailedPreconditionError(
            "command buffer has already been recorded; re-recording command buffers is not "
            "allowed")


def validate_categories(supported: int, required: int) -> None:
    if supported & required != required:
        raise FailedPreconditionError(
            f"operation requires categories {format_command_category(required)} but command "
            f"buffer only supports {format_command_category(supported)}")


def validate_end_debug_group(depth: int) -> None:
    if depth <= 0:
        raise FailedPreconditionError("unbalanced debug group depth (expected > 0)")


def validate_finalize(state: str, depth: int, validated: bool) -> None:
    if state != RECORDING:
        raise FailedPreconditionError("command buffer is not in a recording state")
    if validated and depth:
        raise FailedPreconditionError(
            f"unbalanced debug group depth (expected 0, is {depth})")


def validate_capacity(slot: int, capacity: int) -> None:
    if not 0 <= slot < capacity:
        raise OutOfRangeError(
            f"indirect buffer reference slot {slot} is out range of the declared binding "
            f"capacity of the command buffer {capacity}")


# Buffers.


_PROVEN: set = set()     # (allocator class, memory type, access, usage, requirement) passed
_PROVEN_LIMIT = 1024


def validate_buffer(allocator, buffer, requirement: tuple) -> None:
    """A buffer (direct, or bound in a binding table) against (usage, access, compat).

    The outcome depends only on the buffer's (immutable) memory type, allowed access and
    allowed usage and on the allocator's compatibility rule, so combinations that passed are
    remembered (per allocator class) and not checked again."""
    key = (allocator.__class__, buffer.memory_type, buffer.allowed_access,
           buffer.allowed_usage, requirement)
    if key in _PROVEN:
        return
    _validate_buffer(allocator, buffer, requirement)
    if len(_PROVEN) >= _PROVEN_LIMIT:
        _PROVEN.clear()
    _PROVEN.add(key)


def _validate_buffer(allocator, buffer, requirement: tuple) -> None:
    usage, access, compatibility = requirement
    validate_memory_type(buffer.memory_type, DEVICE_VISIBLE)
    if compatibility:
        allowed = allocator.buffer_compatibility(buffer, usage or int(BufferUsage.TRANSFER))
        if allowed & compatibility != compatibility:
            raise PermissionDeniedError(
                "requested buffer usage is not supported for the buffer on this queue; "
                f"buffer allows {format_buffer_usage(buffer.allowed_usage)}, operation "
                f"requires {format_buffer_usage(usage)}")
    if access:
        validate_access(buffer.allowed_access, access)
    if usage:
        validate_usage(buffer.allowed_usage, usage)


def validate_fill_pattern(offset: int, length: int, pattern_length: int) -> None:
    if pattern_length not in (1, 2, 4):
        raise InvalidArgumentError("fill value length is not one of the supported values")
    if offset % pattern_length or (length != WHOLE_BUFFER and length % pattern_length):
        raise InvalidArgumentError(
            "binding offset and/or length do not match the required alignment of one "
            f"element (offset={offset}, length={length}, pattern_length={pattern_length})")


def validate_copy_ranges(source, target) -> None:
    """Two resolved RawRanges of direct buffers: equal lengths, no overlap in one block."""
    if source.length != target.length:
        raise InvalidArgumentError(
            f"copy span sizes do not match (source_length={source.length}, "
            f"target_length={target.length})")
    if source.memory is target.memory and source.length and \
            source.offset < target.offset + target.length and \
            target.offset < source.offset + source.length:
        raise InvalidArgumentError("source and target ranges overlap within the same buffer")


def validate_dispatch_bindings(count: int) -> None:
    if count > MAX_DISPATCH_BINDINGS:
        raise OutOfRangeError(f"binding count {count} > {MAX_DISPATCH_BINDINGS}")


def validate_workgroups_offset(offset: int) -> None:
    if offset % 4:
        raise InvalidArgumentError(
            f"workgroup count offset {offset} must be 4-byte aligned")


# Submission.


def validate_submission(state: str, one_shot_submitted: bool) -> None:
    if state == RECORDING:
        raise FailedPreconditionError(
            "command buffer recording has not been ended and it is still in a recording state")
    if state != EXECUTABLE:
        raise FailedPreconditionError("command buffer has not been recorded")
    if one_shot_submitted:
        raise FailedPreconditionError(
            "one-shot command buffer has already been submitted; ONE_SHOT command buffers "
            "execute at most once")


def slot_checks(requirements: dict) -> tuple:
    """``(slot, (usage, access, compatibility), extent, alignment)`` per required slot: what
    :func:`resolve_binding_table` checks (a reusable command buffer computes it once)."""
    return tuple((slot, (r.usage, r.access, r.compatibility), r.extent, r.alignment)
                 for slot, r in requirements.items())


_PROVEN_SLOTS_LIMIT = 256


def resolve_binding_table(allocator, requirements: dict, binding_count: int, table,
                          checks: tuple | None = None, proven: set | None = None,
                          ranges: bool = True):
    """Checks a binding table against the slot requirements of a command buffer.

    Returns ``(slots, buffers)``: the RawRange of every used slot (None elsewhere) and the
    bound buffers (to retain for the submission). ``table`` is a sequence of
    ``(buffer | None, offset, length)``. A reusable command buffer passes what it keeps:
    ``checks`` (``slot_checks(requirements)``), ``proven`` (a set of ``(slot, memory type,
    allowed access, allowed usage)`` whose buffer check passed: the outcome depends on
    nothing else) and ``ranges=False`` for ``(memory, offset, length, arena)`` tuples instead
    of RawRanges (``replay.py``; ``arena`` is the pool :class:`~.pool.Arena` whose ``data``
    is ``memory``, or None for memory that is not pooled).
    """
    if not binding_count:
        return None, ()
    if table is None:
        raise InvalidArgumentError(
            f"indirect command buffer requires at least {binding_count} bindings but no "
            "binding table was provided")
    if len(table) < binding_count:
        raise OutOfRangeError(
            f"indirect command buffer requires at least {binding_count} bindings but only "
            f"{len(table)} were provided")
    if checks is None:
        checks = slot_checks(requirements)
    slots = [None] * binding_count
    buffers = []
    for slot, requirement, extent, alignment in checks:
        try:
            buffer, offset, length = table[slot]
        except (TypeError, ValueError):
            raise InvalidArgumentError(
                f"binding table entry {slot} must be (buffer, offset, length)") from None
        if buffer is None:
            raise InvalidArgumentError(
                "binding table slot requires a buffer but none was provided")
        if not (offset.__class__ is int and length.__class__ is int and 0 <= offset and
                0 <= length and offset + length <= buffer.byte_length):
            offset, length = buffer.resolve_range(offset, length)
        if proven is None:
            validate_buffer(allocator, buffer, requirement)
        else:
            key = (slot, buffer.memory_type, buffer.allowed_access, buffer.allowed_usage)
            if key not in proven:
                validate_buffer(allocator, buffer, requirement)
                if len(proven) >= _PROVEN_SLOTS_LIMIT:
                    proven.clear()
                proven.add(key)
        if extent > length:
            raise OutOfRangeError(
                "at least one command attempted to access an address outside of the valid "
                f"bound buffer range (length={extent}, "
                f"end(inc)={offset + extent - 1}, binding offset={offset}, "
                f"binding length={length})")
        if offset % alignment:
            raise InvalidArgumentError(
                f"required binding offset alignment of {alignment} provided a "
                f"binding offset of {offset}")
        allocation = buffer.allocation          # HalBuffer.borrow of the range just checked
        memory = allocation.memory
        if memory is None:
            memory = allocation.checked_memory()        # raises: the storage was released
        start = allocation.offset + buffer.byte_offset + offset
        slots[slot] = RawRange(memory, start, length) if ranges else \
            (memory, start, length, allocation.arena)
        buffers.append(buffer)
    return slots, buffers
