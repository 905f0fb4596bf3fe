"""HalCommandBuffer (``hal.command_buffer``): recorded device work (``hal-abi.md`` 3.5, 5.5-5.7).

State machine: ``create`` returns a command buffer already RECORDING; :meth:`finalize`
makes it EXECUTABLE; a queue submission (``HalDevice.queue_execute``) runs it, at most once
with ONE_SHOT. Re-recording is not allowed. Errors and messages are IREE's
(``command_buffer_validation.py``).

Execution modes
    * *Inline* (ONE_SHOT | ALLOW_INLINE_EXECUTION on ``local-sync``): each command executes
      while it is recorded, on the recording thread. Nothing is stored and nothing is
      retained: ``resources`` is None and no ResourceSet is ever created; ``queue_execute``
      then only orders fences. Inline command buffers have no binding table.
    * *Deferred* (every other mode, and every mode on ``local-task``): commands are stored
      as records (``commands.py``) and run in order at each submission, indirect references
      resolved against that submission's binding table.
    * *Reusable* (deferred without ONE_SHOT): :meth:`finalize` also precomputes a replay
      plan (``replay.py``: per-dispatch typed views of direct bindings, slot-relative
      ranges of indirect ones) and the per-slot checks of the binding table, so an
      execution checks each slot once and slices each binding's view, nothing more. On
      ``local-sync`` a plan of slot-only fast dispatches is also submitted in one generated
      pass by ``device.queue.execute.indirect`` (``replay_fused.py``).

Lifetimes (the contract is ``resource_set.py``)
    Commands hold borrowed RawRanges in every mode, so execution never depends on who keeps
    memory alive. A deferred command buffer keeps it alive: every buffer, executable and
    channel its commands reference goes into its ResourceSet (MRU dedupe: one buffer bound
    1,000 times is one entry; the ``update_buffer`` bytes are owned by their command), frozen
    at :meth:`finalize` and released when the command buffer dies (the queue retains the
    command buffer until its submission completes). UNRETAINED command buffers and
    dispatches flagged BORROW_RESOURCE_LIFETIMES retain nothing: the caller promises the
    lifetimes, and a broken promise reads or writes whatever owns the bytes by then.

Replay
    :meth:`replay_onto` re-records a finalized (deferred) command buffer onto another one
    that is recording, e.g. an inline or UNRETAINED target. Indirect references are bound
    to ``binding_table`` when one is given, else carried over as slots of the target. A
    retaining target retains the source command buffer (one entry, which keeps everything
    the source retained), so the target itself can be UNRETAINED as long as the source
    outlives it.
"""

from __future__ import annotations

import attrs
from pyree.vm.ref import register_ref_type

from pyree.status import InvalidArgumentError, UnimplementedError

from . import command_buffer_validation as v
from .buffer import HalBuffer
from .buffer_validation import device_size, flags32, message_text
from .channel import HalChannel, collective_element_size, validate_collective_op
from .commands import (
    DISPATCH,
    EXECUTORS,
    TRANSFER,
    AdviseCommand,
    BarrierCommand,
    CollectiveCommand,
    CopyCommand,
    DebugGroupCommand,
    DispatchCommand,
    DispatchIndirectCommand,
    FillCommand,
    SlotRef,
    UpdateCommand,
    bind_slots,
    capture_update_source,
    execute_commands,
)
from .enums import WHOLE_BUFFER, CollectiveKind, CommandBufferMode, DispatchFlags
from .executable import Executable
from .file import HalFile
from .raw_range import RawRange
from .replay import ReplayPlan
from .resource_set import ResourceSet

_MASK64 = 0xFFFFFFFFFFFFFFFF
ONE_SHOT = int(CommandBufferMode.ONE_SHOT)
ALLOW_INLINE_EXECUTION = int(CommandBufferMode.ALLOW_INLINE_EXECUTION)
UNVALIDATED = int(CommandBufferMode.UNVALIDATED)
UNRETAINED = int(CommandBufferMode.UNRETAINED)
_BORROW = int(DispatchFlags.BORROW_RESOURCE_LIFETIMES)
_DYNAMIC = int(DispatchFlags.DYNAMIC_INDIRECT_PARAMETERS)
_STATIC = int(DispatchFlags.STATIC_INDIRECT_PARAMETERS)


@attrs.define(eq=False, repr=False)
class HalCommandBuffer:
    device: object = attrs.field()         # HalDevice: allocator for compatibility queries
    mode: int = 0
    categories: int = 3
    queue_affinity: int = -1
    binding_capacity: int = 0
    inline: bool = False                   # executes each command while recording
    state: str = v.INITIAL
    resources: ResourceSet | None = None
    _commands: list = attrs.field(factory=list)
    _validated: bool = True
    _requirements: dict = attrs.field(factory=dict)   # slot -> SlotRequirements
    _staged: list = attrs.field(factory=list)   # slot requirements of the command being recorded
    _proven: set | None = None             # (id(buffer), requirement) already validated
    _depth: int = 0
    _used_categories: int = 0
    _submitted: bool = False
    _replay: ReplayPlan | None = None      # reusable command buffers, from finalize
    _slot_checks: tuple | None = None      # what resolve_binding_table checks per slot
    _binding_count: int = 0                # binding_count, frozen with _slot_checks
    _proven_slots: set | None = None       # binding-table buffer checks passed (reusable)
    _sync_device: object = None            # the device, when it runs queue work inline

    @classmethod
    def create(cls, device, mode=0, categories=3, queue_affinity=-1, binding_capacity=0, *,
               inline_capable: bool = False) -> HalCommandBuffer:
        """``command_buffer.create``: validated mode rules, then begins recording. Inline
        execution happens only where the device is ``inline_capable`` (local-sync)."""
        if mode.__class__ is not int or not 0 <= mode <= 0xFFFFFFFF:
            mode = flags32(mode)
        capacity = binding_capacity
        if capacity.__class__ is not int or not 0 <= capacity <= 0xFFFFFFFF:
            capacity = flags32(capacity)
        if categories.__class__ is not int or not 0 <= categories <= 0xFFFFFFFF:
            categories = flags32(categories)
        if queue_affinity.__class__ is not int:
            queue_affinity = int(queue_affinity)
        if mode & ALLOW_INLINE_EXECUTION:
            if not mode & ONE_SHOT:
                raise InvalidArgumentError("inline command buffers must be one-shot")
            if capacity:
                raise InvalidArgumentError(
                    "inline command buffers cannot have indirect bindings")
        inline = inline_capable and bool(mode & ALLOW_INLINE_EXECUTION)
        cb = cls(device, mode, categories, queue_affinity, capacity, inline)
        cb._validated = not mode & UNVALIDATED
        if inline_capable:
            cb._sync_device = device
        cb._start_recording()     # begin(), knowing the state is INITIAL
        return cb

    def begin(self) -> None:
        v.validate_begin(self.state)
        self._start_recording()

    def _start_recording(self) -> None:
        if not (self.inline or self.mode & UNRETAINED):
            self.resources = ResourceSet()
            self._proven = set()
        self.state = v.RECORDING

    @property
    def binding_count(self) -> int:
        """Binding-table slots a submission must provide (highest slot used + 1)."""
        return max(self._requirements) + 1 if self._requirements else 0

    @property
    def commands(self) -> tuple:
        return tuple(self._commands)

    # Recording helpers (the fast path).

    def _begin_command(self, category: int) -> None:
        if self._staged:            # left by a command that was refused: it leaves no trace
            self._staged.clear()
        if self.state is not v.RECORDING:
            raise v.not_recording()
        if self.categories & category != category and self._validated:
            v.validate_categories(self.categories, category)

    def _emit(self, command) -> None:
        if self._staged:
            self._commit_slots()
        self._used_categories |= command.category
        if self.inline:
            EXECUTORS[type(command)](command, None)
        else:
            self._commands.append(command)

    def _commit_slots(self) -> None:
        """Folds the slot requirements of a command that passed validation into the command
        buffer's (a refused command must not make submissions demand its slots)."""
        for slot, requirement, extent, alignment in self._staged:
            required = self._requirements.get(slot)
            if required is None:
                required = self._requirements[slot] = v.SlotRequirements()
            required.add(requirement, extent, alignment)
        self._staged.clear()

    def _ref(self, buffer, slot, offset, length, requirement: tuple, *, extent=None,
             alignment: int = 1, retain: bool = True):
        """A RawRange (direct) or SlotRef (null buffer) for a command operand."""
        if buffer is None:
            slot = flags32(slot)
            v.validate_capacity(slot, self.binding_capacity)
            offset = device_size(offset)
            length = device_size(length)
            if extent is None:
                extent = offset + (0 if length == WHOLE_BUFFER else length)
            self._staged.append((slot, requirement, extent, alignment))
            return SlotRef(slot, offset, length)
        if type(buffer) is not HalBuffer:
            raise InvalidArgumentError(
                f"expected a hal.buffer or None, got {type(buffer).__name__}")
        if self._validated:
            proven = self._proven
            if proven is None:
                v.validate_buffer(self.device.allocator, buffer, requirement)
            elif (buffer, requirement) not in proven:
                v.validate_buffer(self.device.allocator, buffer, requirement)
                if retain:          # the set keeps the buffer, so its attributes hold
                    proven.add((buffer, requirement))
        # Fast path of HalBuffer.borrow for in-range plain ints (the common case).
        allocation = buffer.allocation
        memory = allocation.memory
        if type(offset) is int and type(length) is int and memory is not None and \
                0 <= offset and 0 <= length and offset + length <= buffer.byte_length:
            raw = RawRange(memory, allocation.offset + buffer.byte_offset + offset, length)
        else:
            raw = buffer.borrow(offset, length)
        if retain and self.resources is not None:
            self.resources.insert(buffer)
        return raw

    def _retain(self, obj) -> None:
        if self.resources is not None:
            self.resources.insert(obj)

    # Commands.

    def begin_debug_group(self, label) -> None:
        self._begin_command(0)
        self._depth += 1
        if not self.inline:
            self._commands.append(DebugGroupCommand(message_text(label)))

    def end_debug_group(self) -> None:
        self._begin_command(0)
        if self._validated:
            v.validate_end_debug_group(self._depth)
        self._depth = max(self._depth - 1, 0)
        if not self.inline:
            self._commands.append(DebugGroupCommand(None))

    def execution_barrier(self, source_stage_mask, target_stage_mask, flags) -> None:
        self._begin_command(0)
        if not self.inline:
            self._commands.append(BarrierCommand(flags32(source_stage_mask),
                                                 flags32(target_stage_mask),
                                                 device_size(flags)))

    def advise_buffer(self, buffer, flags, arg0, arg1, buffer_slot) -> None:
        self._begin_command(TRANSFER)
        ref = self._ref(buffer, buffer_slot, 0, WHOLE_BUFFER, v.ADVISE)
        self._emit(AdviseCommand(ref, device_size(flags), device_size(arg0),
                                 device_size(arg1)))

    def fill_buffer(self, target_buffer, target_offset, length, target_buffer_slot,
                    pattern, pattern_length, flags) -> None:
        self._begin_command(TRANSFER)
        if pattern_length != 1:
            pattern_length = flags32(pattern_length)
            v.validate_fill_pattern(device_size(target_offset), device_size(length),
                                    pattern_length)
        ref = self._ref(target_buffer, target_buffer_slot, target_offset, length,
                        v.TRANSFER_WRITE, alignment=pattern_length)
        self._emit(FillCommand(ref, device_size(pattern), pattern_length))

    def update_buffer(self, source, source_offset, target_buffer, target_offset, length,
                      target_buffer_slot, flags) -> None:
        self._begin_command(TRANSFER)
        data = capture_update_source(source, source_offset, length)
        ref = self._ref(target_buffer, target_buffer_slot, target_offset, len(data),
                        v.TRANSFER_WRITE)
        self._emit(UpdateCommand(ref, data))

    def copy_buffer(self, source_buffer_slot, target_buffer_slot, source_buffer,
                    source_offset, target_buffer, target_offset, length, flags) -> None:
        self._begin_command(TRANSFER)
        source = self._ref(source_buffer, source_buffer_slot, source_offset, length,
                           v.COPY_SOURCE)
        target = self._ref(target_buffer, target_buffer_slot, target_offset, length,
                           v.TRANSFER_WRITE)
        if self._validated and source_buffer is not None and target_buffer is not None:
            v.validate_copy_ranges(source, target)
        self._emit(CopyCommand(source, target))

    def read_file(self, source_file, source_offset, target_buffer, target_offset,
                  length) -> None:
        """Copies bytes of a read-only ``hal.file`` into a buffer (``queue.read``)."""
        self._begin_command(TRANSFER)
        if type(source_file) is not HalFile:
            raise InvalidArgumentError(
                f"read source must be a hal.file, got {type(source_file).__name__}")
        source = source_file.borrow(source_offset, length)
        target = self._ref(target_buffer, 0, target_offset, source.length, v.TRANSFER_WRITE)
        self._retain(source_file)
        self._emit(CopyCommand(source, target))

    def collective(self, channel, op, param, send_buffer_slot, recv_buffer_slot, send_buffer,
                   recv_buffer, send_offset, send_length, recv_offset, recv_length,
                   element_count) -> None:
        self._begin_command(DISPATCH)
        if type(channel) is not HalChannel:
            raise InvalidArgumentError(
                f"expected a hal.channel, got {type(channel).__name__}")
        op = flags32(op)
        validate_collective_op(op, send_buffer, recv_buffer)
        kind = op & 0xFF
        if kind in (CollectiveKind.SEND, CollectiveKind.RECV):
            raise UnimplementedError(
                f"collective {CollectiveKind(kind).name} needs a peer; a single-participant "
                "channel supports only operations that send to and receive from itself")
        send = self._ref(send_buffer, send_buffer_slot, send_offset, send_length,
                         v.COLLECTIVE_SEND)
        recv = self._ref(recv_buffer, recv_buffer_slot, recv_offset, recv_length,
                         v.COLLECTIVE_RECV)
        self._retain(channel)
        self._emit(CollectiveCommand(channel, op, flags32(param), send, recv,
                                     device_size(element_count),
                                     collective_element_size(op)))

    def _bindings(self, bindings, reqs, flags) -> tuple:
        """The RawRange / SlotRef of each binding. A direct binding of plain in-range ints
        takes the inline path (what ``_ref`` does for it: buffer validation unless proven,
        the range check, the retain); also returns whether every binding covers the bytes
        the plan requires (False: the caller checks them one by one)."""
        retain = not flags & _BORROW
        refs = []
        validated = self._validated
        proven = self._proven
        resources = self.resources if retain else None
        writes = reqs.writes
        required_bytes = reqs.required_bytes
        covered = True
        for i, binding in enumerate(bindings):
            try:
                slot, buffer, offset, length = binding
            except (TypeError, ValueError):
                raise InvalidArgumentError(
                    f"dispatch binding {i} must be (slot, buffer, offset, length)") from None
            if buffer.__class__ is HalBuffer and offset.__class__ is int and \
                    length.__class__ is int and 0 <= offset and 0 <= length and \
                    offset + length <= buffer.byte_length:
                allocation = buffer.allocation
                memory = allocation.memory
                if memory is not None:
                    if validated:
                        requirement = v.DISPATCH_WRITE if writes[i] else v.DISPATCH_READ
                        if proven is None:
                            v.validate_buffer(self.device.allocator, buffer, requirement)
                        elif (buffer, requirement) not in proven:
                            v.validate_buffer(self.device.allocator, buffer, requirement)
                            if retain:
                                proven.add((buffer, requirement))
                    refs.append(RawRange(memory, allocation.offset + buffer.byte_offset +
                                         offset, length))
                    if resources is not None:
                        resources.insert(buffer)
                    if length < required_bytes[i]:
                        covered = False
                    continue
            covered = False
            extent = None
            if buffer is None and device_size(length) == WHOLE_BUFFER:
                extent = device_size(offset) + reqs.required_bytes[i]
            refs.append(self._ref(buffer, slot, offset, length,
                                  v.DISPATCH_WRITE if writes[i] else v.DISPATCH_READ,
                                  extent=extent, alignment=reqs.alignment[i], retain=retain))
        return tuple(refs), covered

    def _dispatch_common(self, executable, function_id, workgroup_count, constants, bindings):
        self._begin_command(DISPATCH)
        if type(executable) is not Executable:
            raise InvalidArgumentError(
                f"expected a hal.executable, got {type(executable).__name__}")
        bindings = list(bindings)
        if len(bindings) > v.MAX_DISPATCH_BINDINGS:
            v.validate_dispatch_bindings(len(bindings))
        constants = tuple(constants)
        reqs = executable.validate_dispatch(function_id, workgroup_count, constants)
        if len(bindings) != len(reqs.required_bytes):
            executable.validate_binding_lengths(reqs, [None] * len(bindings))
        return bindings, constants, reqs

    def dispatch(self, executable, function_id, workgroup_count, flags, constants,
                 bindings) -> None:
        if flags.__class__ is not int or not 0 <= flags <= _MASK64:
            flags = device_size(flags)
        bindings, constants, reqs = self._dispatch_common(
            executable, function_id, workgroup_count, constants, bindings)
        refs, covered = self._bindings(bindings, reqs, flags)
        if not covered:
            for ref, required in zip(refs, reqs.required_bytes):
                if ref.length < required and not (type(ref) is SlotRef and
                                                   ref.length == WHOLE_BUFFER):
                    executable.validate_binding_lengths(    # raises for the first short one
                        reqs, [None if type(r) is SlotRef and r.length == WHOLE_BUFFER
                               else r.length for r in refs])
        if not flags & _BORROW:
            self._retain(executable)
        self._emit(DispatchCommand(executable, int(function_id),
                                   tuple(map(int, workgroup_count)), constants, refs, flags,
                                   reqs))

    def dispatch_indirect(self, executable, function_id, workgroups_buffer_slot,
                          workgroups_buffer, workgroups_offset, flags, constants,
                          bindings) -> None:
        flags = device_size(flags)
        if not flags & _STATIC:
            flags |= _DYNAMIC
        bindings, constants, reqs = self._dispatch_common(
            executable, function_id, (0, 0, 0), constants, bindings)
        offset = device_size(workgroups_offset)
        if self._validated:
            v.validate_workgroups_offset(offset)
        counts = self._ref(workgroups_buffer, workgroups_buffer_slot, offset, 12,
                           v.INDIRECT_PARAMS, alignment=4, retain=not flags & _BORROW)
        refs, _ = self._bindings(bindings, reqs, flags)
        if not flags & _BORROW:
            self._retain(executable)
        self._emit(DispatchIndirectCommand(executable, int(function_id), counts, constants,
                                           refs, flags))

    def finalize(self) -> None:
        v.validate_finalize(self.state, self._depth, self._validated)
        if self.resources is not None:
            self.resources.freeze()
        self._proven = None
        if not self.inline and not self.mode & ONE_SHOT:
            # Reusable: precompute what every execution would otherwise redo (replay.py).
            self._proven_slots = set()
            self._replay = ReplayPlan(self._commands, self._requirements, self._sync_device,
                                      self._proven_slots)
            self._slot_checks = v.slot_checks(self._requirements)
            self._binding_count = self.binding_count
        self.state = v.EXECUTABLE

    # Submission (called by the device's queue operations).

    def prepare_submission(self, binding_table=None):
        """Checks a submission and resolves its binding table: ``(slots, buffers)``."""
        if self.state is v.EXECUTABLE and not self._submitted and not self._requirements:
            if self.mode & ONE_SHOT:        # the common case: no binding table to resolve
                self._submitted = True
            return None, ()
        checks = self._slot_checks
        if checks is not None and self.state is v.EXECUTABLE:     # reusable, finalized
            return v.resolve_binding_table(self.device.allocator, self._requirements,
                                           self._binding_count, binding_table, checks,
                                           self._proven_slots, False)  # ranges, positional: cheaper
        v.validate_submission(self.state, self._submitted)
        slots, buffers = v.resolve_binding_table(
            self.device.allocator, self._requirements, self.binding_count, binding_table)
        if self.mode & ONE_SHOT:
            self._submitted = True
        return slots, buffers

    def execute(self, slots=None) -> None:
        """Runs the recorded commands (nothing for inline command buffers: they ran);
        a reusable command buffer runs its replay plan (``slots`` are then the
        ``(memory, offset, length, arena)`` tuples ``prepare_submission`` resolved)."""
        replay = self._replay
        if replay is not None:
            replay.run(slots)
        elif self._commands:
            execute_commands(self._commands, slots)

    def replay_onto(self, target: HalCommandBuffer, binding_table=None) -> None:
        """Re-records this finalized command buffer onto ``target`` (see module doc)."""
        v.validate_submission(self.state, False)
        if self.inline:
            raise InvalidArgumentError("inline command buffers have nothing to replay")
        target._begin_command(self._used_categories)
        commands = self._commands
        if binding_table is not None and self.binding_count:
            slots, buffers = v.resolve_binding_table(
                self.device.allocator, self._requirements, self.binding_count, binding_table)
            if target.resources is not None:
                target.resources.insert_many(buffers)
            commands = [bind_slots(c, slots) for c in commands]
        elif self.binding_count:
            v.validate_capacity(self.binding_count - 1, target.binding_capacity)
            v.merge_requirements(target._requirements, self._requirements)
        target._retain(self)
        for command in commands:
            if type(command) is DebugGroupCommand:
                if command.label is None:
                    target.end_debug_group()
                else:
                    target.begin_debug_group(command.label)
            else:
                target._emit(command)

    def __repr__(self) -> str:
        kind = "inline" if self.inline else "deferred"
        retained = "untracked" if self.resources is None else len(self.resources)
        return (f"<HalCommandBuffer {self.state} {kind} mode={self.mode:#x} "
                f"commands={len(self._commands)} retained={retained}>")


HAL_COMMAND_BUFFER = register_ref_type("hal.command_buffer", HalCommandBuffer)
