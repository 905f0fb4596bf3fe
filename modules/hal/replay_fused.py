"""One-pass submission of a memoized command buffer (``queue.execute`` of a replay plan).

A reusable command buffer recorded on a ``local-sync`` device whose plan (``replay.py``) is
nothing but fast dispatches over binding-table slots ``0..n-1`` and copies between such
slots (known, equal lengths inside the slots' extents, as compiled models end with) gets a
*fused submit*: a Python function generated at finalize, with the slots, bindings and
kernel operands of the plan unrolled into it and every per-plan fact (extents, alignments,
element types and sizes, the slot-relative ranges of the bindings and copies, the
kernels, their parameters and locks) bound as constants. A call ``submit(device,
wait_fence, signal_fence, flags, table)`` checks the binding table against the plan,
slices each binding's typed view from its slot's storage, launches the kernels and makes
the copies (``commands._copy``'s slice assignment) in order and signals the fence, in one
frame.

What can vary per call is only which buffers are bound and their offsets and lengths, so
the per-call checks are exactly those of ``command_buffer_validation.resolve_binding_table``
for a plain entry (``(buffer, offset, length)`` with ints, ``0 <= offset``, ``offset +
length <= byte_length``, the slot's extent within the length, the offset alignment, the
buffer's memory type / access / usage combination among those the command buffer's
checked path already proved for the slot, storage not released) plus the replay's
(``ReplayPlan.run``: the typed view, the binding start aligned to its element). The
storage is a pool arena (its cached typed views: 64-byte aligned, writable) or imported
host memory (an external :class:`~.allocation.Allocation`, e.g. ``CompiledModule.main``'s
zero-copy inputs): then, as the checked path requires, writable where the plan writes the
slot, and its typed view of the whole memory (cached on the allocation: made by
``HalAllocator.import_array`` for the array's own dtype, else by :func:`_external_view`;
a released allocation drops them) exists only for a 1-D C-contiguous ``uint8`` memory
whose start is aligned to the element size, so that a start aligned to the element is an
aligned element. A READ-only import bound to a slot a kernel or copy writes is never
among the proven combinations (its check failed), so it is declined as before.
Anything else - another device, a tracer, flags, a wait fence not reached yet, a table of
another shape, WHOLE_BUFFER lengths, unproven buffers, misaligned or read-only memory, a
failing check - returns False before any kernel runs and before anything is changed but
an imported allocation's cache of typed views, and the caller takes the checked path,
which raises the errors (same status, message and annotations). A
kernel failure is annotated as the queue's path annotates it (``while executing dispatch
'NAME'``, ``while executing command N (DispatchCommand)``, ``while executing queue
operation execute``), fails the signal fence and is raised. The function keeps no state:
one plan may be submitted from several threads at once.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from pyree import tracing as _tracing
from pyree.status import PyreeError, UseAfterReleaseError

from .allocation import ExternalAllocation
from .buffer import HalBuffer
from .dispatch_failure import dispatch_failure
from .fence import HalFence
from .queue import settle


_NDARRAY = np.ndarray
_U8 = np.dtype(np.uint8)


class _NoViews:
    """What an imported allocation without cached typed views reads as (``typed`` empty)."""

    __slots__ = ()
    typed = MappingProxyType({})


_NO_VIEWS = _NoViews()


def _external_view(allocation, dtype):
    """``dtype``'s view of the whole memory of an imported (external) allocation, cached in
    its ``typed``; None for a pool block's (the arena's cache is filled by the checked path),
    released storage, memory that is not a 1-D C-contiguous ``uint8`` array (what the checked
    path's ``ReplayPlan.run`` requires), a dtype aligned to less than its size, or memory
    whose start is not aligned to it: then element ``i`` of the view is the aligned bytes
    ``[i * n, (i + 1) * n)`` of the memory (``n = dtype.itemsize``), as for an arena."""
    memory = allocation.memory
    if allocation.arena is not None or memory is None or memory.__class__ is not _NDARRAY \
            or memory.dtype is not _U8 or memory.ndim != 1 or not memory.flags.c_contiguous:
        return None
    size = dtype.itemsize
    if dtype.alignment != size:
        return None
    extra = memory.shape[0] % size
    typed = (memory[:-extra] if extra else memory).view(dtype)
    if not typed.flags.aligned:
        return None
    views = allocation.typed
    if views is None:
        if allocation.__class__ is not ExternalAllocation:     # made by hand: no cache
            return typed
        views = allocation.typed = {}
    views[dtype] = typed
    return typed


def never(device, wait_fence, signal_fence, flags, table) -> bool:
    """The submit of a plan that cannot be fused: always the checked path."""
    return False


def _failed(launch, exc: BaseException, signal_fence):
    """Raises the failure of ``launch``'s kernel as the queue's path raises it, after
    failing the signal fence with it."""
    index, command = launch
    error = dispatch_failure(command, exc, 0, command.workgroup_count).annotate(
        f"while executing command {index} (DispatchCommand)").annotate(
        "while executing queue operation execute")
    settle("execute", signal_fence, error)
    raise error


def build(device, checks, launches, proven):
    """The fused submit of a plan: ``checks`` is ``(slot, extent, alignment, written)`` for
    slots ``0..n-1`` in order; ``launches`` per dispatch ``(index, command, executable, kernel
    or None, params, fparams, lock or None, specs)``, a spec being ``(slot, begin, end,
    dtype, itemsize)`` or a typed array bound directly, and per copy between slots
    ``("copy", source slot, source offset, target slot, target offset, length)`` (its
    ranges inside the slots' extents: ``replay._fused_copy``); ``proven`` the command
    buffer's set of ``(slot, memory type, allowed access, allowed usage)`` that passed its
    checks."""
    consts = {"_device": device, "_proven": proven, "_HalBuffer": HalBuffer,
              "_NO_VIEWS": _NO_VIEWS, "_external_view": _external_view,
              "_HalFence": HalFence, "_tracing": _tracing, "_PyreeError": PyreeError,
              "_UseAfterRelease": UseAfterReleaseError, "_failed": _failed,
              "_settle": settle}
    n = len(checks)
    lines = ["def submit(device, wait_fence, signal_fence, flags, table):",
             "    if device is not _device or _tracing.TRACER is not None or flags or "
             "flags.__class__ is not int:",
             "        return False",
             # A create()d fence's state read inline (what HalFence.reached answers).
             "    if wait_fence is not None and (wait_fence.__class__ is not _HalFence or "
             "not (wait_fence._points is None and wait_fence._state is True or "
             "wait_fence.reached())):",
             "        return False",
             "    if signal_fence is not None and signal_fence.__class__ is not _HalFence:",
             "        return False",
             "    if table.__class__ is not list or len(table) != %d:" % n,
             "        return False",
             "    try:",
             "        %s, = table" % ", ".join(f"e{s}" for s in range(n)),
             "        " + " ".join(f"b{s}, o{s}, l{s} = e{s};" for s in range(n)),
             "    except (TypeError, ValueError):",
             "        return False"]
    written = {slot for slot, _, _, writes in checks if writes}
    for slot, extent, alignment, _ in checks:
        b, o, ln = f"b{slot}", f"o{slot}", f"l{slot}"
        tests = [f"{b}.__class__ is not _HalBuffer", f"{o}.__class__ is not int",
                 f"{ln}.__class__ is not int", f"{o} < 0", f"{ln} < {extent}"
                 if extent else f"{ln} < 0", f"{o} + {ln} > {b}.byte_length"]
        if alignment > 1:
            tests.append(f"{o} % {alignment}")
        tests.append(f"({slot}, {b}.memory_type, {b}.allowed_access, {b}.allowed_usage) "
                     "not in _proven")
        # m: the slot's memory; t: what holds its typed views in ``typed`` (its pool arena,
        # or an imported allocation once import_array or _external_view cached one)
        lines += [f"    if {' or '.join(tests)}:", "        return False",
                  f"    a{slot} = {b}.allocation",
                  f"    m{slot} = a{slot}.memory",
                  f"    if m{slot} is None:",
                  "        return False",
                  f"    t{slot} = a{slot}.arena",
                  f"    if t{slot} is None:"]
        if slot in written:
            lines += [f"        if not m{slot}.flags.writeable:", "            return False"]
        lines += [f"        t{slot} = _NO_VIEWS if a{slot}.typed is None else a{slot}",
                  f"    s{slot} = a{slot}.offset + {b}.byte_offset + {o}"]
    views = {}      # (slot, dtype) -> name of the arena's cached typed view
    aligned = set()     # (slot, begin % size, size) whose alignment test is emitted
    slices = {}     # slice expression -> how many bindings use it
    calls = []      # per launch: its kernel's array arguments (checked above, sliced there)
    for k, launch in enumerate(launches):
        args = []
        if launch[0] == "copy":
            calls.append(args)
            continue
        for j, spec in enumerate(launch[7]):
            if spec.__class__ is not tuple:     # a direct binding: its typed array
                name = f"_d{k}_{j}"
                consts[name] = spec
                args.append(name)
                continue
            slot, begin, end, dtype, size = spec
            view = views.get((slot, dtype))
            if view is None:
                view = views[(slot, dtype)] = f"v{len(views)}"
                consts[f"_dt{view}"] = dtype
                lines += [f"    {view} = t{slot}.typed.get(_dt{view})",
                          f"    if {view} is None:",
                          f"        {view} = _external_view(a{slot}, _dt{view})",
                          f"        if {view} is None:", "            return False"]
            start = f"s{slot} + {begin}" if begin else f"s{slot}"
            if size > 1:
                key = (slot, begin % size, size)
                if key not in aligned:      # (s + begin) % size depends on begin % size only
                    aligned.add(key)
                    test = f"s{slot} + {key[1]}" if key[1] else f"s{slot}"
                    lines += [f"    if ({test}) % {size}:", "        return False"]
                expr = f"{view}[({start}) // {size}:(s{slot} + {end}) // {size}]"
            else:
                expr = f"{view}[{start}:s{slot} + {end}]"
            slices[expr] = slices.get(expr, 0) + 1
            args.append(expr)
        calls.append(args)
    shared = {}     # a slice several bindings use: made once, before the first kernel
    for expr, uses in slices.items():
        if uses > 1:
            shared[expr] = f"y{len(shared)}"
            lines.append(f"    {shared[expr]} = {expr}")
    calls = [", ".join(shared.get(a, a) for a in args) for args in calls]
    for k, launch in enumerate(launches):
        if launch[0] == "copy":     # commands._copy: its ranges are inside the checked slots
            _, src, sb, dst, db, n = launch
            lines.append(f"    m{dst}[s{dst} + {db}:s{dst} + {db + n}] = "
                         f"m{src}[s{src} + {sb}:s{src} + {sb + n}]")
            continue
        index, command, executable, kernel, params, fparams, lock, _ = launch
        consts.update({f"_e{k}": executable, f"_k{k}": kernel, f"_p{k}": params,
                       f"_f{k}": fparams, f"_l{k}": lock, f"_c{k}": (index, command)})
        lines += ["    try:", f"        if _e{k}.released:",
                  "            raise _UseAfterRelease('executable used after release')"]
        if kernel is not None:
            call = f"_k{k}({calls[k]}, _p{k}, _f{k})" if calls[k] else f"_k{k}(_p{k}, _f{k})"
            if lock is None:
                lines.append(f"        {call}")
            else:
                lines += [f"        with _l{k}:", f"            {call}"]
        lines += ["    except Exception as e:  # noqa: BLE001",
                  f"        _failed(_c{k}, e, signal_fence)"]
    lines += ["    if signal_fence is not None:",
              "        try:",
              "            signal_fence.signal()",
              "        except _PyreeError as e:   # already signalled past / failed",
              "            signal_fence.fail(e)",
              "    return True"]
    source = "\n".join(lines) + "\n"
    exec(compile(source, "<pyree fused submit>", "exec"), consts)  # noqa: S102
    submit = consts["submit"]
    submit.source = source
    return submit
