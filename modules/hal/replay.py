"""The replay plan of a reusable command buffer: what ``finalize`` precomputes so that each
execution resolves only its binding table (``command_buffer.py``; ``hal-abi.md`` 5.5).

A compiled module records its command buffer once (reusable, indirect bindings) and
executes it on every call with a binding table (``spec/compiled-modules.md``), as IREE's
memoized command buffers do. :func:`build` turns the recorded commands into steps:

* barriers, debug groups and advice are dropped (execution is sequential; they only
  matter to validation, which recording did);
* a dispatch whose plan was validated at record time (``DispatchCommand.plan``), whose
  element types are aligned to their size and whose bindings all have a known length
  becomes a *fast* step: every direct binding's typed view is made now (the command buffer
  retains the buffer, or the caller promised its lifetime: UNRETAINED), every indirect one
  is ``(slot, start, end, dtype, item size)`` relative to its slot's bound range;
* everything else runs its ordinary executor (``commands.py``) against the resolved slots.

At execution (:meth:`ReplayPlan.run`) the binding table has been checked slot by slot
(``command_buffer_validation.resolve_binding_table``: usage, access, the byte extent every
command needs from the slot, offset alignment), so each slot's range covers every binding
that refers to it. Resolution gives ``(memory, offset, length, arena)`` per slot (RawRanges
are made only for steps that take an executor); ``run`` checks once per slot that its
memory is a contiguous 1-D uint8 array (writable where a command writes the slot; a pool
arena's data always is); per binding it slices the typed view and checks its alignment (a
misaligned one takes the checked path, ``dispatch_ranges``, which raises the executable's
error). In a pool arena a start that is a multiple of the element size is aligned (the
arena is 64-byte aligned), so the view is one slice of the arena's cached typed view
(``Arena.typed_view``). Nothing a kernel sees escapes
those checks. Failures are annotated as ``execute_commands`` annotates them (``while
executing dispatch 'NAME'``, then ``while executing command N (TYPE)``), and a tracer gets
one ``dispatch`` event per dispatch. ``run`` keeps no state: one plan may run on several
threads at once.

On ``local-sync``, a plan of fast dispatches (and copies between slots) over slots only
also gets ``submit``
(``replay_fused.py``): ``queue.execute.indirect`` of the plan - table checks, views,
kernels, signal - in one generated pass over pooled or imported host memory, which
declines (doing nothing) whatever it was not built for, so the checked path above raises
the errors.
"""

from __future__ import annotations

import numpy as np

from pyree import tracing as _tracing
from pyree.status import PyreeError, UseAfterReleaseError

from . import replay_fused
from .command_buffer_validation import WRITE
from .commands import (
    EXECUTORS,
    AdviseCommand,
    BarrierCommand,
    CopyCommand,
    DebugGroupCommand,
    DispatchCommand,
    SlotRef,
    execute_commands,
    resolve,
    trace_dispatch,
)
from .dispatch_failure import dispatch_failure
from .enums import WHOLE_BUFFER
from .executable import _KERNEL_LOCK
from .raw_range import RawRange

_NDARRAY = np.ndarray
_U8 = np.dtype(np.uint8)
_SKIPPED = (DebugGroupCommand, BarrierCommand, AdviseCommand)


def _plain_memory(memory) -> bool:
    """A contiguous 1-D uint8 array (what the typed views are sliced from)."""
    return memory.__class__ is _NDARRAY and memory.dtype is _U8 and memory.ndim == 1 and \
        memory.flags.c_contiguous


def _fast_dispatch(command: DispatchCommand):
    """``(reqs, executable, specs)`` of a dispatch that can take the fast step, or None."""
    reqs = command.plan
    if reqs is None or not reqs.fast_align or len(command.bindings) != len(reqs.dtypes):
        return None
    specs = []
    for ref, required, writes, dtype in zip(command.bindings, reqs.required_bytes,
                                            reqs.writes, reqs.dtypes):
        size = dtype.itemsize
        length = ref.length
        if length == WHOLE_BUFFER or length < size or length - length % size < required:
            return None
        end = length - length % size
        if type(ref) is SlotRef:
            specs.append((ref.slot, ref.offset, ref.offset + end, dtype, size))
            continue
        if type(ref) is not RawRange or not _plain_memory(ref.memory):
            return None
        typed = ref.memory[ref.offset:ref.offset + end].view(dtype)
        flags = typed.flags
        if not flags.aligned or (writes and not flags.writeable):
            return None
        specs.append(typed)
    return reqs, command.executable, tuple(specs)


class ReplayPlan:
    """Steps ``(index, command, fast)`` of a finalized command buffer (see module doc)."""

    __slots__ = ("commands", "steps", "slots", "single", "submit")

    def __init__(self, commands, requirements: dict, device=None, proven: set | None = None):
        self.commands = tuple(commands)
        steps = []
        for index, command in enumerate(self.commands):
            kind = type(command)
            if kind in _SKIPPED:
                continue
            fast = _fast_dispatch(command) if kind is DispatchCommand else None
            steps.append((index, command, fast))
        self.steps = tuple(steps)
        # (slot, written) of every slot the commands use: checked once per execution.
        self.slots = tuple((slot, bool(req.access & WRITE))
                           for slot, req in sorted(requirements.items()))
        # One fast dispatch whose every binding is a slot and which uses every slot: run()
        # tries it first (arena slots, cached typed views, no tracer), else the steps.
        self.single = None
        if len(steps) == 1 and steps[0][2] is not None:
            index, command, (reqs, executable, specs) = steps[0]
            if specs and all(spec.__class__ is tuple for spec in specs) and \
                    {spec[0] for spec in specs} == {slot for slot, _ in self.slots}:
                # Executable._launch's operands, read once (a plan's launch is immutable):
                # the kernel, None when there is nothing to launch (no items), and the
                # lock a parallel kernel runs under.
                launch = reqs.launch
                kernel = reqs.kernel if launch.items else None
                lock = _KERNEL_LOCK if reqs.parallel else None
                self.single = (index, command, executable, specs, kernel, launch.params,
                               launch.fparams, lock)
        # queue.execute of the plan in one pass where it needs nothing more (replay_fused.py).
        self.submit = _fused_submit(steps, requirements, device, proven)

    def run(self, slots=None) -> None:
        """Executes the plan on ``slots``: the ``(memory, offset, length, arena)`` of each
        slot, checked by ``resolve_binding_table`` (None for unused slots, or no slots)."""
        single = self.single
        if single is not None and _tracing.TRACER is None:
            # The steps' path for a single fast dispatch when every slot is a pool arena's
            # (nothing to check: 1-D uint8, contiguous, writable) and every binding starts
            # aligned in it with its typed view cached; anything else takes the steps.
            index, command, executable, specs, kernel, params, fparams, lock = single
            arrays = []
            for slot, begin, end, dtype, size in specs:
                _, base, _, arena = slots[slot]
                begin += base
                if arena is None or begin % size:
                    break
                typed = arena.typed.get(dtype)
                if typed is None:
                    break
                arrays.append(typed[begin // size:(base + end) // size])
            else:
                try:        # Executable._launch inlined
                    if executable.released:
                        raise UseAfterReleaseError("executable used after release")
                    if kernel is not None:
                        if lock is None:
                            kernel(*arrays, params, fparams)
                        else:
                            with lock:
                                kernel(*arrays, params, fparams)
                except Exception as e:  # noqa: BLE001 - named after the dispatch
                    raise dispatch_failure(command, e, 0, command.workgroup_count).annotate(
                        f"while executing command {index} (DispatchCommand)")
                return
        ranges = None           # RawRanges of the slots, made only for the executors
        for slot, written in self.slots:
            memory, _, _, arena = slots[slot]
            if arena is not None:   # a pool arena's data: 1-D uint8, contiguous, writable
                continue
            if memory.__class__ is not _NDARRAY or memory.dtype is not _U8 or \
                    memory.ndim != 1:
                break
            flags = memory.flags
            if not flags.c_contiguous or (written and not flags.writeable):
                break
        else:
            memory = None
        if memory is not None:     # not plain host memory: every command takes its executor
            execute_commands(self.commands, _ranges(slots))
            return
        tracer = _tracing.TRACER
        for index, command, fast in self.steps:
            if fast is None:
                if ranges is None:
                    ranges = _ranges(slots)
                try:
                    EXECUTORS[type(command)](command, ranges)
                except PyreeError as e:
                    raise e.annotate(f"while executing command {index} "
                                     f"({type(command).__name__})")
                continue
            reqs, executable, specs = fast
            start = tracer.now() if tracer is not None else 0
            arrays = []
            for spec in specs:
                if spec.__class__ is tuple:
                    slot, begin, end, dtype, size = spec
                    memory, base, _, arena = slots[slot]
                    begin += base
                    if arena is not None and not begin % size:     # aligned: one slice
                        typed = arena.typed.get(dtype)      # Arena.typed_view's cache
                        if typed is None:
                            typed = arena.typed_view(dtype)
                        if typed is not None:
                            arrays.append(typed[begin // size:(base + end) // size])
                            continue
                    typed = memory[begin:base + end].view(dtype)
                    if not typed.flags.aligned:
                        arrays = None
                        break
                    arrays.append(typed)
                else:
                    arrays.append(spec)
            try:
                if arrays is None:      # a misaligned range: the checked path raises
                    if ranges is None:
                        ranges = _ranges(slots)
                    executable.dispatch_ranges(
                        reqs, [resolve(ref, ranges) for ref in command.bindings])
                else:
                    if executable.released:
                        raise UseAfterReleaseError("executable used after release")
                    executable._launch(reqs, arrays)
            except Exception as e:  # noqa: BLE001 - named after the dispatch
                raise dispatch_failure(command, e, start, command.workgroup_count).annotate(
                    f"while executing command {index} (DispatchCommand)")
            if tracer is not None:
                trace_dispatch(tracer, command, command.workgroup_count, start)


def _fused_submit(steps, requirements: dict, device, proven):
    """The plan's fused submit (``replay_fused.py``): for a ``local-sync`` ``device`` (None:
    any other) and steps that are all fast dispatches or slot-to-slot copies
    (:func:`_fused_copy`) over slots ``0..n-1`` (n > 0), every one of them used; else
    ``replay_fused.never``. The kernels' operands are
    ``Executable._launch``'s, read once (a plan's launch is immutable)."""
    if device is None or proven is None or not steps or not requirements or \
            sorted(requirements) != list(range(len(requirements))):
        return replay_fused.never
    launches = []
    for index, command, fast in steps:
        if fast is None:
            copy = _fused_copy(command, requirements)
            if copy is None:
                return replay_fused.never
            launches.append(copy)
            continue
        reqs, executable, specs = fast
        launch = reqs.launch
        launches.append((index, command, executable, reqs.kernel if launch.items else None,
                         launch.params, launch.fparams,
                         _KERNEL_LOCK if reqs.parallel else None, specs))
    checks = tuple((slot, r.extent, r.alignment, bool(r.access & WRITE))
                   for slot, r in sorted(requirements.items()))
    return replay_fused.build(device, checks, tuple(launches), proven)


def _fused_copy(command, requirements: dict):
    """``("copy", source slot, source offset, target slot, target offset, length)`` of a copy
    between two slots with the same known length inside both slots' extents (what the
    binding-table checks prove in range, so ``commands._copy`` cannot fail); else None."""
    if type(command) is not CopyCommand:
        return None
    source, target = command.source, command.target
    if type(source) is not SlotRef or type(target) is not SlotRef:
        return None
    length = source.length
    if length == WHOLE_BUFFER or length != target.length or \
            source.offset + length > requirements[source.slot].extent or \
            target.offset + length > requirements[target.slot].extent:
        return None
    return ("copy", source.slot, source.offset, target.slot, target.offset, length)


def _ranges(slots):
    """The RawRange of each resolved slot (what the command executors take)."""
    if slots is None:
        return None
    return [None if s is None else RawRange(s[0], s[1], s[2]) for s in slots]
