"""The fused submit of a memoized command buffer (``modules/hal/replay_fused.py``): on
``local-sync`` a reusable command buffer of slot-only fast dispatches is executed by
``device.queue.execute.indirect`` in one generated pass, which must agree with the checked
path (``queue_execute`` -> ``resolve_binding_table`` -> the replay steps) on every binding
table: the same results, or the same error (status, message, annotations) raised before
any kernel runs, and the same signal fence state."""

import attrs
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pyree.modules.hal import replay_fused
from pyree.modules.hal.device import create_device
from pyree.modules.hal.fence import HalFence
from pyree.modules.hal.module import HalModule

from pyree import tracing
from pyree.status import PyreeError

from . import cts
from .cts import DEFAULT_USAGE, DEVICE_LOCAL, TIMEOUT, buffer, kernels
from .test_replay import N, f32, floats, two_adds
from .test_replay_arena import one_add

sync_device = cts.sync_device
task_device = cts.task_device
NB = 4 * N
EXPORT = HalModule.device_queue_execute_indirect


def submit(device, cb, table, wait=None):
    """``device.queue.execute.indirect`` as compiled code calls it; (signal fence, error)."""
    signal = HalFence.create()
    try:
        EXPORT(None, None, device, -1, wait, signal, cb, 0, table)
    except PyreeError as e:
        return signal, e
    return signal, None


class Counting:
    """The plan's fused submit, counting the calls it took (True) and declined."""

    def __init__(self, fn):
        self.fn, self.taken, self.declined = fn, 0, 0

    def __call__(self, *args):
        done = self.fn(*args)
        if done:
            self.taken += 1
        else:
            self.declined += 1
        return done


def test_a_memoized_plan_runs_in_one_pass(sync_device, monkeypatch):
    """The IREE-shaped call: explicit lengths, pooled buffers, a reached wait fence: the
    fused submit runs it (the checked path is never entered) and signals the fence."""
    from pyree.modules.hal.replay import ReplayPlan

    cb = one_add(sync_device, kernels())
    assert cb._replay.submit is not replay_fused.never
    x = np.arange(N, dtype=np.float32) - 5
    a, c, y = f32(sync_device, x), f32(sync_device, np.full(N, 2.0)), f32(sync_device,
                                                                          np.zeros(N))
    table = [(a, 0, NB), (c, 0, NB), (y, 0, NB)]
    assert submit(sync_device, cb, table)[1] is None        # proves the slots' buffers

    def checked(*args):
        raise AssertionError("the fused submit took the checked path")

    monkeypatch.setattr(ReplayPlan, "run", checked)
    a.write((x * 3).view(np.uint8))
    wait = HalFence.create()
    wait.signal()
    signal, error = submit(sync_device, cb, table, wait)
    assert error is None and signal.query() == 0
    np.testing.assert_array_equal(floats(y), x * 3 + 2)


def test_only_local_sync_plans_of_slots_are_fused(task_device, sync_device):
    exe = kernels()
    assert one_add(task_device, exe)._replay.submit is replay_fused.never
    one_shot = sync_device.create_command_buffer(cts.ONE_SHOT, cts.ANY, -1, 3)
    assert one_shot._replay is None
    # A plan of two dispatches, one binding direct: fused, with the direct view bound in.
    assert two_adds(sync_device, exe, f32(sync_device, np.ones(N)))._replay.submit \
        is not replay_fused.never


def test_declines_before_changing_anything(sync_device):
    """Whatever it declines (a tracer, flags, a pending wait fence, WHOLE_BUFFER lengths,
    a tuple table) it declines before any kernel runs and the checked path runs it once."""
    cb = one_add(sync_device, kernels())
    fused = cb._replay.submit = Counting(cb._replay.submit)
    x = np.arange(N, dtype=np.float32)
    a, c, y = f32(sync_device, x), f32(sync_device, np.ones(N)), f32(sync_device, np.zeros(N))
    table = [(a, 0, NB), (c, 0, NB), (y, 0, NB)]
    submit(sync_device, cb, table)
    assert (fused.taken, fused.declined) == (0, 1)      # the buffers were not proven yet
    pending = HalFence.create()
    pending.fail(7)
    cases = [([(a, 0, -1), (c, 0, NB), (y, 0, NB)], None), (tuple(table), None),
             (table, pending)]
    for k, (case, wait) in enumerate(cases):
        y.write(np.zeros(NB, np.uint8))
        signal, error = submit(sync_device, cb, case, wait)
        if wait is None:
            assert error is None and signal.query() == 0
            np.testing.assert_array_equal(floats(y), x + 1)
        else:
            assert error.code_name == "PERMISSION_DENIED" and signal.query() == 7
            np.testing.assert_array_equal(floats(y), 0)
        assert (fused.taken, fused.declined) == (0, 2 + k)
    with tracing.session():
        submit(sync_device, cb, table)
    signal = HalFence.create()
    EXPORT(None, None, sync_device, -1, None, signal, cb, 1, table)     # BORROW_BINDING_TABLE
    assert (fused.taken, fused.declined) == (0, 6)
    assert submit(sync_device, cb, table)[1] is None
    assert fused.taken == 1


def add_copy(device, exe, length=NB - 4):
    """y = x + c (slots 0 = x, 1 = c, 2 = y), then bytes ``[4, 4 + length)`` of slot 2 copied
    over bytes ``[0, length)`` of slot 0 (a copy between slots, as compiled models end)."""
    cb = device.create_command_buffer(0, cts.ANY, -1, 3)
    cb.dispatch(exe, exe.lookup_function("add_f32"), cts.groups(N), 0, [N],
                [(0, None, 0, NB), (1, None, 0, NB), (2, None, 0, NB)])
    cb.execution_barrier(0x1C, 0x0D, 0)
    cb.copy_buffer(2, 0, None, 4, None, 0, length, 0)
    cb.finalize()
    return cb


def test_copies_between_slots_run_in_the_same_pass(sync_device, monkeypatch):
    """A plan of dispatches and slot-to-slot copies of known length is fused: the copy runs
    in order after the kernel, on pooled and imported slots; a copy of WHOLE_BUFFER length
    keeps the plan on the checked path."""
    from pyree.modules.hal.replay import ReplayPlan

    exe = kernels()
    assert add_copy(sync_device, exe, -1)._replay.submit is replay_fused.never
    cb = add_copy(sync_device, exe)
    assert cb._replay.submit is not replay_fused.never
    x = np.arange(N, dtype=np.float32) - 5
    c = f32(sync_device, np.full(N, 2.0))
    host = x.copy()
    pooled, y = f32(sync_device, x), f32(sync_device, np.zeros(N))
    assert submit(sync_device, cb, [(pooled, 0, NB), (c, 0, NB), (y, 0, NB)])[1] is None

    def checked(*args):
        raise AssertionError("the fused submit took the checked path")

    monkeypatch.setattr(ReplayPlan, "run", checked)
    moved = np.r_[(x + 2)[1:], x[-1:]]      # slot 0 after the copy
    for a, read in ((pooled, lambda: floats(pooled)), (imported(sync_device, host),
                                                       lambda: host)):
        if a is pooled:
            a.write(x.view(np.uint8))
        signal, error = submit(sync_device, cb, [(a, 0, NB), (c, 0, NB), (y, 0, NB)])
        assert error is None and signal.query() == 0
        np.testing.assert_array_equal(floats(y), x + 2)
        np.testing.assert_array_equal(read(), moved)


def imported(device, array):
    """A zero-copy buffer over a numpy array, as ``CompiledModule.main`` binds its inputs
    (``HalAllocator.import_array``: external memory, READ-only for a read-only array)."""
    return device.allocator.import_array(array, DEVICE_LOCAL, DEFAULT_USAGE)


def test_imported_host_memory_runs_in_one_pass(sync_device, monkeypatch):
    """Imported numpy arrays - a fresh import of a new input every call, a read-only input,
    an output, a subspan of an import bound at an offset - are run by the fused submit
    (the checked path is never entered once their slots are proven), with the checked
    path's results; the typed views come from the allocation's cache."""
    from pyree.modules.hal.replay import ReplayPlan

    cb = one_add(sync_device, kernels())
    x = np.arange(N, dtype=np.float32) - 5
    c = f32(sync_device, np.full(N, 2.0))
    out = np.zeros(N, np.float32)
    y = imported(sync_device, out)
    read_only = x * 7
    read_only.flags.writeable = False
    host = np.zeros(2 * N + 8, np.float32)
    wide = imported(sync_device, host).subspan(8, 2 * NB + 16)
    for a in (imported(sync_device, x), imported(sync_device, read_only)):
        assert submit(sync_device, cb, [(a, 0, NB), (c, 0, NB), (y, 0, NB)])[1] is None

    def checked(*args):
        raise AssertionError("the fused submit took the checked path")

    monkeypatch.setattr(ReplayPlan, "run", checked)
    for k in range(3):
        xk = x * (k + 1)
        signal, error = submit(sync_device, cb,
                               [(imported(sync_device, xk), 0, NB), (c, 0, NB), (y, 0, NB)])
        assert error is None and signal.query() == 0
        np.testing.assert_array_equal(out, xk + 2)
    ro = imported(sync_device, read_only)
    assert ro.allowed_access == 0x1
    assert submit(sync_device, cb, [(ro, 0, NB), (c, 0, NB), (y, 0, NB)])[1] is None
    np.testing.assert_array_equal(out, read_only + 2)
    assert set(y.allocation.typed) == {np.dtype(np.float32)}     # cached on the allocation
    cached = y.allocation.typed[np.dtype(np.float32)]
    host[2:2 + N] = x * 3      # byte 8 of the import, binding offset 0
    table = [(wide, 0, NB), (c, 0, NB), (wide, NB + 8, NB)]     # out: element 4 + N
    assert submit(sync_device, cb, table)[1] is None
    np.testing.assert_array_equal(host[4 + N:4 + 2 * N], x * 3 + 2)
    assert not host[:2].any() and not host[2 + N:4 + N].any() and not host[4 + 2 * N:].any()
    assert submit(sync_device, cb, [(ro, 0, NB), (c, 0, NB), (y, 0, NB)])[1] is None
    assert y.allocation.typed[np.dtype(np.float32)] is cached


def test_imported_memory_declines_where_the_checked_path_raises(sync_device):
    """An imported buffer the checked path refuses - a read-only array's import or a READ
    access import of writable memory bound to the slot the kernel writes, writable access
    over memory made read-only, too short for the slot, bound at a
    misaligned offset, memory at a misaligned address, released storage (after its typed
    view was cached) - is declined before any kernel runs: the checked path raises the
    same error (type, message, annotations), fails the fence the same way, and leaves the
    output as it leaves it."""
    cb = one_add(sync_device, kernels())
    fused = Counting(cb._replay.submit)
    x = np.arange(N, dtype=np.float32)
    a, c = imported(sync_device, x.copy()), f32(sync_device, np.ones(N))
    out = np.zeros(N, np.float32)
    y = imported(sync_device, out)
    frozen = np.zeros(N, np.float32)
    frozen.flags.writeable = False
    read_only = imported(sync_device, frozen)
    read_access = sync_device.allocator.import_host(np.zeros(N, np.float32), DEVICE_LOCAL,
                                                    DEFAULT_USAGE, access=0x1)
    later = imported(sync_device, np.zeros(N, np.float32))
    short = imported(sync_device, x[:-1].copy())
    padded = imported(sync_device, np.zeros(N + 1, np.float32))
    raw = np.zeros(NB + 8, np.uint8)
    odd = sync_device.allocator.import_host(raw[1:NB + 1], DEVICE_LOCAL, DEFAULT_USAGE)
    released = imported(sync_device, x.copy())
    assert submit(sync_device, cb, [(a, 0, NB), (c, 0, NB), (y, 0, NB)])[1] is None  # proves
    cb._replay.submit = fused
    for b in (a, later, released):      # proven, and their typed views cached
        assert submit(sync_device, cb, [(b, 0, NB), (c, 0, NB), (later, 0, NB)])[1] is None
    assert fused.taken == 3 and np.dtype(np.float32) in released.allocation.typed
    later.allocation.memory.flags.writeable = False
    released.allocation.release()
    cases = {"read-only import written": [(a, 0, NB), (c, 0, NB), (read_only, 0, NB)],
             "READ access written": [(a, 0, NB), (c, 0, NB), (read_access, 0, NB)],
             "read-only memory written": [(a, 0, NB), (c, 0, NB), (later, 0, NB)],
             "too short": [(short, 0, NB - 4), (c, 0, NB), (y, 0, NB)],
             "misaligned offset": [(padded, 2, NB), (c, 0, NB), (y, 0, NB)],
             "misaligned memory": [(odd, 0, NB), (c, 0, NB), (y, 0, NB)],
             "released": [(released, 0, NB), (c, 0, NB), (y, 0, NB)]}
    for name, table in cases.items():
        results = []
        for path in (replay_fused.never, fused):
            out[:] = -1
            cb._replay.submit = path
            signal, error = submit(sync_device, cb, table)
            assert error is not None, name
            results.append((type(error), error.message, tuple(error.annotations),
                            signal.query(), out.tobytes()))
        assert results[0] == results[1], name
        assert fused.taken == 3, name
    assert fused.declined == len(cases)


def test_kernel_failures_fail_the_fence_as_the_queue_does(sync_device):
    exe = attrs.evolve(kernels())       # a copy: released below
    cb = one_add(sync_device, exe)
    a, c, y = (f32(sync_device, np.ones(N)) for _ in range(3))
    table = [(a, 0, NB), (c, 0, NB), (y, 0, NB)]
    submit(sync_device, cb, table)

    def broken(*operands):
        raise ZeroDivisionError("boom")

    for failure in ("kernel", "release"):
        if failure == "kernel":
            with pytest.MonkeyPatch.context() as m:
                fused = cb._replay.submit
                m.setitem(fused.__globals__, "_k0", broken)
                signal, error = submit(sync_device, cb, table)
        else:
            exe.release()
            signal, error = submit(sync_device, cb, table)
        assert error.code_name == ("INTERNAL" if failure == "kernel" else "FAILED_PRECONDITION")
        assert error.annotations[:3] == ["while executing dispatch 'add_f32'",
                                         "while executing command 0 (DispatchCommand)",
                                         "while executing queue operation execute"]
        assert signal.query() == int(error.code) & 0x1F
        with pytest.raises(PyreeError):
            signal.wait(TIMEOUT)


def outcome(device, cb, table, buffers):
    """(error or None, signal fence status, bytes of every buffer) of one submission on
    fresh data."""
    for k, b in enumerate(buffers):
        raw(b)[:] = k + 1
    signal, error = submit(device, cb, table)
    described = None if error is None else (type(error), error.message,
                                            tuple(error.annotations))
    return described, signal.query(), [raw(b).tobytes() for b in buffers]


def raw(b) -> np.ndarray:
    """The bytes of ``b`` in its storage (read-only buffers and imports included)."""
    start = b.allocation.offset + b.byte_offset
    memory = b.allocation.memory
    if not memory.flags.writeable:      # an import of a read-only view of writable memory
        memory = np.frombuffer(b.allocation.source.base, np.uint8)
    return memory[start:start + b.byte_length]


OFFSETS = st.sampled_from([0, 2, 4, 8, 64, NB - 4, NB, NB + 4])
LENGTHS = st.sampled_from([-1, 0, 4, 8, NB - 4, NB, NB + 4, NB + 64])


@settings(max_examples=80, deadline=None)
@given(plan=st.sampled_from(["one_add", "two_adds", "add_copy"]),
       table=st.lists(st.tuples(st.integers(0, 7), OFFSETS, LENGTHS), min_size=2,
                      max_size=4))
@example(plan="one_add", table=[(0, 0, NB), (4, 0, NB), (2, 0, NB)])   # read-only written
@example(plan="two_adds", table=[(2, 0, NB), (3, 0, NB), (1, 64, NB)])  # imported memory
@example(plan="one_add", table=[(5, 0, NB), (3, 4, NB), (0, 0, NB)])    # read-only array
@example(plan="one_add", table=[(6, 0, NB), (0, 0, NB), (3, 0, NB)])    # misaligned memory
@example(plan="add_copy", table=[(3, 4, NB), (0, 0, NB), (4, 0, NB)])   # copy into an import
@example(plan="add_copy", table=[(5, 0, NB), (0, 0, NB), (4, 0, NB)])   # ... a read-only one
def test_agrees_with_the_checked_path(plan, table):
    """Every table, fused or declined, ends as the checked path ends it: the same error
    (type, message, annotations) or the same bytes in every buffer, the same fence state.
    Buffers: pooled of N floats, pooled and larger, read-only, imported host memory, a
    second pooled one, an imported read-only array, imported memory at an odd address,
    and null."""
    device = create_device("local-sync", poison=True)
    try:
        exe = kernels()
        cb = one_add(device, exe) if plan == "one_add" else add_copy(device, exe) \
            if plan == "add_copy" else two_adds(device, exe, f32(device, np.ones(N)))
        host = np.zeros(NB + 64, np.uint8)
        frozen = np.zeros(NB + 64, np.uint8)[:]
        frozen.flags.writeable = False      # a read-only view: ``raw`` writes its base
        odd = np.zeros(NB + 65, np.uint8)[1:]
        buffers = [buffer(device, NB), buffer(device, NB + 64),
                   buffer(device, NB, access=0x1),
                   device.allocator.import_host(host, DEVICE_LOCAL, DEFAULT_USAGE),
                   buffer(device, NB), device.allocator.import_array(frozen, DEVICE_LOCAL,
                                                                     DEFAULT_USAGE),
                   device.allocator.import_host(odd, DEVICE_LOCAL, DEFAULT_USAGE)]
        choices = buffers + [None]
        rows = [(choices[k], offset, length) for k, offset, length in table]
        fused = Counting(cb._replay.submit)
        cb._replay.submit = replay_fused.never
        a, read_only, b = buffers[0], buffers[2], buffers[4]
        first = [(a, 0, NB), (read_only, 0, NB), (b, 0, NB)] if plan == "add_copy" else \
            [(read_only, 0, NB), (a, 0, NB), (b, 0, NB)]       # read_only on a read slot
        for proving in (first, [(a, 0, NB), (b, 0, NB), (buffers[1], 64, NB)]):
            assert submit(device, cb, proving)[1] is None   # these slots' checks passed
        checked = outcome(device, cb, rows, buffers)
        cb._replay.submit = fused
        assert outcome(device, cb, rows, buffers) == checked
        plain = len(rows) == 3 and all(b is not None and length >= 0 for b, _, length in rows)
        if checked[0] is None and plain:
            assert fused.taken == 1     # a valid plain table is run by the fused pass
    finally:
        device.close()
