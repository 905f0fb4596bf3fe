"""Command records and their executors (``hal-abi.md`` 3.5, 5.5, 5.7).

A recorded command is an ``attrs.frozen`` record. Memory is referenced in one of two ways:

* **direct**: a borrowed :class:`~.raw_range.RawRange` (arena + offset + length), taken
  when the command was recorded. It never keeps the buffer alive: whoever records the
  command decides whether the buffer is retained (the command buffer's resource set) or not
  (inline, UNRETAINED, BORROW_RESOURCE_LIFETIMES). Execution is therefore uniform in every
  mode, and a broken lifetime promise reads or writes whatever now owns the bytes.
* **indirect**: a :class:`SlotRef` ``(slot, offset, length)`` into the binding table given
  at submission, resolved against the table's ranges (``resolve``) when the command runs.

Executors are registered per record type (:func:`executor`), never matched; the import-time
check at the bottom proves every command type has exactly one. ``slots`` is the resolved
binding table (a list of RawRange or None), or None when the command buffer has none.
Executors check only what can be known at execution (ranges of indirect references resolved
against the table, indirect workgroup counts); record-time validation proved the rest.
"""

from __future__ import annotations

import attrs
import numpy as np
from pyree.vm.buffer import VmBuffer

from pyree import tracing as _tracing
from pyree.status import InvalidArgumentError, PyreeError

from .buffer_validation import calculate_range, device_size
from .dispatch_failure import dispatch_failure
from .enums import CollectiveKind
from .raw_range import RawRange

TRANSFER = 0x1
DISPATCH = 0x2


@attrs.frozen
class SlotRef:
    """An indirect reference: bytes ``[offset, offset + length)`` of binding-table slot
    ``slot`` (``length`` may be WHOLE_BUFFER: to the end of the bound range)."""

    slot: int
    offset: int
    length: int

    def resolve(self, slots) -> RawRange:
        base = slots[self.slot]
        offset, length = self.offset, self.length
        if offset + length > base.length:       # also WHOLE_BUFFER: calculate_range
            offset, length = calculate_range(base.length, offset, length)
        return RawRange(base.memory, base.offset + offset, length)


def resolve(ref, slots) -> RawRange:
    """The RawRange of a direct or indirect reference."""
    if type(ref) is RawRange:
        return ref
    return ref.resolve(slots)


# Records. ``category`` is what the command needs from its command buffer.


@attrs.frozen
class DebugGroupCommand:
    label: str | None      # None: end of the innermost group
    category = 0


@attrs.frozen
class BarrierCommand:
    source_stage_mask: int
    target_stage_mask: int
    flags: int
    category = 0


@attrs.frozen
class AdviseCommand:
    buffer: object          # RawRange | SlotRef
    flags: int
    arg0: int
    arg1: int
    category = TRANSFER


@attrs.frozen
class FillCommand:
    target: object          # RawRange | SlotRef
    pattern: int
    pattern_length: int
    category = TRANSFER


@attrs.frozen
class UpdateCommand:
    target: object          # RawRange | SlotRef
    data: np.ndarray = attrs.field(eq=False)   # the bytes captured at record time (owned)
    category = TRANSFER


@attrs.frozen
class CopyCommand:
    source: object          # RawRange | SlotRef
    target: object          # RawRange | SlotRef
    category = TRANSFER


@attrs.frozen
class DispatchCommand:
    executable: object = attrs.field(eq=False)
    function_id: int
    workgroup_count: tuple
    constants: tuple
    bindings: tuple         # RawRange | SlotRef per binding
    flags: int
    # The plan validated at record time (Executable.validate_dispatch); None: plan again.
    plan: object = attrs.field(default=None, eq=False, repr=False)
    category = DISPATCH


@attrs.frozen
class DispatchIndirectCommand:
    executable: object = attrs.field(eq=False)
    function_id: int
    workgroups: object      # RawRange | SlotRef of 12 bytes: three little-endian u32
    constants: tuple
    bindings: tuple
    flags: int
    category = DISPATCH


@attrs.frozen
class CollectiveCommand:
    channel: object = attrs.field(eq=False)
    op: int
    param: int
    send: object            # RawRange | SlotRef | None
    recv: object            # RawRange | SlotRef | None
    element_count: int
    element_size: int
    category = DISPATCH


COMMAND_TYPES = (DebugGroupCommand, BarrierCommand, AdviseCommand, FillCommand, UpdateCommand,
                 CopyCommand, DispatchCommand, DispatchIndirectCommand, CollectiveCommand)

EXECUTORS: dict[type, object] = {}


def executor(command_type):
    def register(fn):
        if command_type in EXECUTORS:
            raise RuntimeError(f"two executors for {command_type.__name__}")
        EXECUTORS[command_type] = fn
        return fn
    return register


def _noop(command, slots) -> None:
    return None


executor(DebugGroupCommand)(_noop)
executor(BarrierCommand)(_noop)
executor(AdviseCommand)(_noop)


@executor(FillCommand)
def _fill(command: FillCommand, slots) -> None:
    target = resolve(command.target, slots)
    n = command.pattern_length
    if target.length % n:
        raise InvalidArgumentError(
            "binding offset and/or length do not match the required alignment of one "
            f"element (offset={target.offset}, length={target.length}, pattern_length={n})")
    if not target.length:
        return
    view = target.memory[target.offset:target.offset + target.length]
    if n == 1:
        view[:] = command.pattern & 0xFF
    else:
        pattern = np.frombuffer((command.pattern & ((1 << (8 * n)) - 1)).to_bytes(n, "little"),
                                dtype=np.uint8)
        view.reshape(-1, n)[:] = pattern


@executor(UpdateCommand)
def _update(command: UpdateCommand, slots) -> None:
    target = resolve(command.target, slots)
    data = command.data
    if target.length != len(data):
        raise InvalidArgumentError(
            f"update target range of {target.length} bytes does not match the "
            f"{len(data)} captured source bytes")
    target.memory[target.offset:target.offset + target.length] = data


@executor(CopyCommand)
def _copy(command: CopyCommand, slots) -> None:
    source = resolve(command.source, slots)
    target = resolve(command.target, slots)
    if source.length != target.length:
        raise InvalidArgumentError(
            f"copy span sizes do not match (source_length={source.length}, "
            f"target_length={target.length})")
    # numpy copies through a temporary when the two views overlap.
    target.memory[target.offset:target.offset + target.length] = \
        source.memory[source.offset:source.offset + source.length]


def _arrays(bindings, slots) -> list:
    arrays = []
    for ref in bindings:
        raw = ref if type(ref) is RawRange else ref.resolve(slots)
        arrays.append(raw.memory[raw.offset:raw.offset + raw.length])
    return arrays


def trace_dispatch(tracer, command, workgroup_count, start: int) -> None:
    """One "dispatch" event (pyree/tracing.py), named after the executable function."""
    names = command.executable.function_names
    fid = command.function_id
    name = names[fid] if 0 <= fid < len(names) else f"function {fid}"
    tracer.complete(name, "dispatch", start, tracer.now(),
                    {"function": name, "workgroup_count": list(workgroup_count)})


@executor(DispatchCommand)
def _dispatch(command: DispatchCommand, slots) -> None:
    tracer = _tracing.TRACER
    start = tracer.now() if tracer is not None else 0
    plan = command.plan
    try:
        if plan is None:
            command.executable.dispatch(command.function_id, command.workgroup_count,
                                        command.constants, _arrays(command.bindings, slots))
        else:
            bindings = command.bindings
            if slots is not None:
                bindings = [resolve(ref, slots) for ref in bindings]
            command.executable.dispatch_ranges(plan, bindings)
    except Exception as e:  # noqa: BLE001 - named after the dispatch (dispatch_failure.py)
        raise dispatch_failure(command, e, start, command.workgroup_count)
    if tracer is not None:
        trace_dispatch(tracer, command, command.workgroup_count, start)


def read_workgroup_count(raw: RawRange) -> tuple:
    """Three little-endian u32 workgroup counts (``dispatch.indirect``)."""
    if raw.length < 12:
        raise InvalidArgumentError(
            f"indirect workgroup count needs 12 bytes, the referenced range has {raw.length}")
    data = raw.memory[raw.offset:raw.offset + 12]
    return tuple(int(v) for v in data.view("<u4")) if raw.address % 4 == 0 else \
        tuple(int.from_bytes(data[i:i + 4].tobytes(), "little") for i in (0, 4, 8))


@executor(DispatchIndirectCommand)
def _dispatch_indirect(command: DispatchIndirectCommand, slots) -> None:
    tracer = _tracing.TRACER
    start = tracer.now() if tracer is not None else 0
    counts = read_workgroup_count(resolve(command.workgroups, slots))
    try:
        command.executable.dispatch(command.function_id, counts, command.constants,
                                    _arrays(command.bindings, slots))
    except Exception as e:  # noqa: BLE001 - named after the dispatch (dispatch_failure.py)
        raise dispatch_failure(command, e, start, counts)
    if tracer is not None:
        trace_dispatch(tracer, command, counts, start)


@executor(CollectiveCommand)
def _collective(command: CollectiveCommand, slots) -> None:
    # A single-participant channel (channel.py): every collective is a local copy of the
    # send range into the receive range (a reduction over one participant is the identity).
    kind = command.op & 0xFF
    nbytes = command.element_count * command.element_size
    if kind == CollectiveKind.SEND:
        return
    send = resolve(command.send, slots)
    recv = resolve(command.recv, slots)
    for name, raw in (("send", send), ("recv", recv)):
        if raw.length < nbytes:
            raise InvalidArgumentError(
                f"collective {name} range of {raw.length} bytes is smaller than "
                f"{command.element_count} elements ({nbytes} bytes)")
    recv.memory[recv.offset:recv.offset + nbytes] = send.memory[send.offset:send.offset + nbytes]


def capture_update_source(source, source_offset, length) -> np.ndarray:
    """The bytes of an ``update_buffer`` source, copied now (range checked: OUT_OF_RANGE)."""
    if type(source) is VmBuffer:
        data = source.data
    elif isinstance(source, (bytes, bytearray, memoryview, np.ndarray)):
        data = memoryview(source).cast("B")
    else:
        raise InvalidArgumentError(
            f"update source must be a !vm.buffer, got {type(source).__name__}")
    offset, length = calculate_range(len(data), device_size(source_offset), device_size(length))
    return np.frombuffer(data, dtype=np.uint8, count=length, offset=offset).copy()


def execute_commands(commands, slots=None) -> None:
    """Runs ``commands`` in order; a failure is annotated with the failing command."""
    executors = EXECUTORS
    for index, command in enumerate(commands):
        try:
            executors[type(command)](command, slots)
        except PyreeError as e:
            raise e.annotate(f"while executing command {index} "
                             f"({type(command).__name__})")


def bind_slots(command, slots):
    """``command`` with every indirect reference replaced by its RawRange (replay with a
    binding table onto a command buffer that has none)."""
    changes = {}
    for field in attrs.fields(type(command)):
        value = getattr(command, field.name)
        if type(value) is SlotRef:
            changes[field.name] = value.resolve(slots)
        elif field.name == "bindings":
            changes[field.name] = tuple(resolve(b, slots) for b in value)
    return attrs.evolve(command, **changes) if changes else command


def slot_refs(command):
    """Every SlotRef of ``command``."""
    for field in attrs.fields(type(command)):
        value = getattr(command, field.name)
        if type(value) is SlotRef:
            yield value
        elif field.name == "bindings":
            yield from (b for b in value if type(b) is SlotRef)


def _check_registry() -> None:
    missing = [t.__name__ for t in COMMAND_TYPES if t not in EXECUTORS]
    extra = [t.__name__ for t in EXECUTORS if t not in COMMAND_TYPES]
    if missing or extra:
        raise RuntimeError(f"command executors: missing {missing}, unknown {extra}")


_check_registry()
