"""A state machine over queue-ordered work on ``local-task`` with a poisoning pool.

Rules allocate buffers (initialised by queue fills), write them (queue updates), record
command buffers that read and write buffers (fill, copy, update, a ``add_u8`` dispatch),
submit them, hold the queue behind host gates, drop host references to buffers and command
buffers at any step, and check. Every submission is chained on one timeline semaphore, so
the numpy model applies operations in submission order. Invariants: after waiting, every
live buffer matches the model; at the end, with everything dropped, the pool is back to
its baseline (no leak).

The same machine with command buffers recorded UNRETAINED (the caller promising lifetimes
it does not keep) must fail: a dropped buffer's block is poisoned (0xCD) or reused, so the
use-after-free shows up as wrong data. ``test_unretained_misuse_is_caught`` asserts that
hypothesis finds it.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from pyree.modules.hal.device import create_device
from pyree.modules.hal.enums import CommandBufferMode
from pyree.modules.hal.fence import HalFence
from pyree.modules.hal.semaphore import HalSemaphore
from pyree.vm.buffer import VmBuffer

from .cts import kernels

TIMEOUT = 10.0
ANY = 3


class QueueLifetimes(RuleBasedStateMachine):
    MODE = 0    # command buffer mode bits of recorded command buffers

    def __init__(self):
        super().__init__()
        self.exe = kernels()
        self.add_u8 = self.exe.lookup_function("add_u8")
        self.device = create_device("local-task", poison=True, workers=2, arena_bytes=4096)
        self.stats = self.device.allocator.statistics
        self.baseline = self.stats().live_allocations
        self.timeline = HalSemaphore()
        self.issued = 0
        self.gates: list[HalFence] = []
        self.live: dict[int, object] = {}        # key -> buffer held by the host
        self.model: dict[int, np.ndarray] = {}   # key -> expected contents
        self.cbs: dict[int, tuple] = {}          # key -> (command buffer, model ops, one shot)
        self.next_key = 0
        self.sources: set[int] = set()           # keys read by the command being recorded

    # Helpers.

    def _key(self) -> int:
        self.next_key += 1
        return self.next_key

    def _chain(self):
        """(wait, signal) fences of the next submission on the timeline."""
        wait = HalFence.at(self.timeline, self.issued) if self.issued else None
        self.issued += 1
        return wait, HalFence.at(self.timeline, self.issued)

    def _pick(self, data, keys, label):
        return data.draw(st.sampled_from(sorted(keys)), label=label)

    def _range(self, data, key, length=None):
        size = len(self.model[key])
        if length is None:
            length = data.draw(st.integers(0, size), label="length")
        offset = data.draw(st.integers(0, size - length), label="offset")
        return offset, length

    # Rules.

    @initialize(sizes=st.lists(st.integers(1, 48), min_size=2, max_size=4),
                byte=st.integers(0, 255))
    def start(self, sizes, byte):
        for size in sizes:
            self.allocate(size, byte)

    @precondition(lambda self: len(self.live) < 8)
    @rule(size=st.integers(1, 48), byte=st.integers(0, 255))
    def allocate(self, size, byte):
        buffer = self.device.allocator.allocate(0x30, 0xC03, size)
        key = self._key()
        self.live[key] = buffer
        self.model[key] = np.full(size, byte, np.uint8)
        wait, signal = self._chain()
        self.device.queue_fill(-1, wait, signal, buffer, 0, size, byte, 1, 0)

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def write(self, data):
        key = self._pick(data, self.live, "buffer")
        offset, length = self._range(data, key)
        payload = data.draw(st.binary(min_size=length, max_size=length), label="bytes")
        wait, signal = self._chain()
        self.device.queue_update(-1, wait, signal, VmBuffer.from_bytes(payload), 0,
                                 self.live[key], offset, length, 0)
        self.model[key][offset:offset + length] = np.frombuffer(payload, np.uint8)

    @precondition(lambda self: self.live and len(self.cbs) < 6)
    @rule(data=st.data(), one_shot=st.booleans(), drop=st.booleans(), submit=st.booleans(),
          kinds=st.lists(st.sampled_from(["fill", "copy", "update", "dispatch"]),
                         min_size=1, max_size=3))
    def record(self, data, one_shot, drop, submit, kinds):
        """Records a command buffer; ``drop`` then drops the host's references to every
        buffer it reads (the command buffer must keep them), ``submit`` submits it."""
        cb = self.device.create_command_buffer(self.MODE | int(one_shot), ANY)
        ops = []
        self.sources = set()
        for kind in kinds:
            ops.append(getattr(self, f"_record_{kind}")(cb, data))
        cb.finalize()
        key = self._key()
        self.cbs[key] = (cb, ops, one_shot)
        del cb
        if drop:
            for source in self.sources:
                self.live.pop(source, None)
        if submit:
            self._submit(key, drop)

    def _record_fill(self, cb, data):
        key = self._pick(data, self.live, "target")
        offset, length = self._range(data, key)
        byte = data.draw(st.integers(0, 255), label="byte")
        cb.fill_buffer(self.live[key], offset, length, 0, byte, 1, 0)

        def op(model):
            model[key][offset:offset + length] = byte
        return op

    def _record_update(self, cb, data):
        key = self._pick(data, self.live, "target")
        offset, length = self._range(data, key)
        payload = np.frombuffer(data.draw(st.binary(min_size=length, max_size=length)),
                                np.uint8).copy()
        cb.update_buffer(VmBuffer.from_bytes(payload.tobytes()), 0, self.live[key], offset,
                         length, 0, 0)

        def op(model):
            model[key][offset:offset + length] = payload
        return op

    def _record_copy(self, cb, data):
        src = self._pick(data, self.live, "source")
        dst = self._pick(data, [k for k in self.live if k != src] or [src], "target")
        if src == dst:
            return self._record_fill(cb, data)
        length = data.draw(st.integers(0, min(len(self.model[src]), len(self.model[dst]))))
        s_off, _ = self._range(data, src, length)
        d_off, _ = self._range(data, dst, length)
        cb.copy_buffer(0, 0, self.live[src], s_off, self.live[dst], d_off, length, 0)
        self.sources.add(src)

        def op(model):
            model[dst][d_off:d_off + length] = model[src][s_off:s_off + length]
        return op

    def _record_dispatch(self, cb, data):
        a = self._pick(data, self.live, "lhs")
        b = self._pick(data, self.live, "rhs")
        outs = [k for k in self.live if k not in (a, b)]
        if not outs:
            return self._record_fill(cb, data)
        out = self._pick(data, outs, "out")
        n = data.draw(st.integers(1, min(len(self.model[k]) for k in (a, b, out))), label="n")
        offsets = [self._range(data, k, n)[0] for k in (a, b, out)]
        cb.dispatch(self.exe, self.add_u8, (-(-n // 4), 1, 1), 0, [n],
                    [(0, self.live[k], o, n) for k, o in zip((a, b, out), offsets)])
        self.sources.update((a, b))

        def op(model):
            (ao, bo, oo) = offsets
            model[out][oo:oo + n] = model[a][ao:ao + n] + model[b][bo:bo + n]
        return op

    @precondition(lambda self: self.cbs)
    @rule(data=st.data(), drop=st.booleans())
    def submit(self, data, drop):
        """Submits a command buffer; ``drop`` drops the host's reference to it (the pending
        submission must keep it)."""
        self._submit(self._pick(data, self.cbs, "command buffer"), drop)

    def _submit(self, key, drop):
        cb, ops, one_shot = self.cbs[key]
        wait, signal = self._chain()
        self.device.queue_execute(-1, wait, signal, cb, None, 0)
        for op in ops:
            op(self.model)
        if one_shot or drop:
            del self.cbs[key]

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def drop_buffer(self, data):
        del self.live[self._pick(data, self.live, "buffer")]

    @precondition(lambda self: self.cbs)
    @rule(data=st.data())
    def drop_command_buffer(self, data):
        del self.cbs[self._pick(data, self.cbs, "command buffer")]

    @precondition(lambda self: len(self.gates) < 3)
    @rule()
    def hold(self):
        gate = HalFence.create()
        self.gates.append(gate)
        wait, signal = self._chain()
        self.device.queue_barrier(-1, HalFence.join([wait, gate]), signal, 0)

    @rule()
    def release(self):
        for gate in self.gates:
            gate.signal()
        self.gates.clear()

    @rule()
    def check(self):
        self.release()
        self.timeline.wait(self.issued, TIMEOUT)
        for key, buffer in self.live.items():
            actual = np.frombuffer(buffer.read(), np.uint8)
            np.testing.assert_array_equal(actual, self.model[key], err_msg=f"buffer {key}")

    @rule()
    def trim(self):
        self.device.trim()

    @invariant()
    def queue_is_consistent(self):
        assert self.timeline.failure is None

    def teardown(self):
        try:
            self.check()
            self.live.clear()
            self.cbs.clear()
            self.device.wait_idle(TIMEOUT)
            assert self.stats().live_allocations == self.baseline, "pool leaked blocks"
        finally:
            self.release()
            self.device.close()


class UnretainedMisuse(QueueLifetimes):
    MODE = int(CommandBufferMode.UNRETAINED)


TestQueueLifetimes = QueueLifetimes.TestCase
TestQueueLifetimes.settings = settings(
    stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _contains_assertion(error: BaseException) -> bool:
    if isinstance(error, AssertionError):
        return True
    return any(_contains_assertion(e) for e in getattr(error, "exceptions", ()))


def test_unretained_misuse_is_caught():
    """The machine has teeth: without retention hypothesis finds the use-after-free."""
    with pytest.raises(Exception) as info:
        run_state_machine_as_test(UnretainedMisuse, settings=settings(
            max_examples=300, stateful_step_count=30, deadline=None, database=None,
            derandomize=True,
            phases=[Phase.generate], report_multiple_bugs=False,
            suppress_health_check=list(HealthCheck)))
    assert _contains_assertion(info.value), info.value
