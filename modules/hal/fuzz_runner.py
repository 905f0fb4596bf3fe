"""Runs a :class:`~pyree.testing.hal_ops.HalProgram` on a real device next to its numpy model.

:func:`run` creates a device of the program's driver with a poisoning pool (freed blocks are
filled with 0xCD and reused LIFO, so a use-after-free reads or writes someone else's bytes)
and small arenas (buffers are neighbours, so an out-of-range write lands in a buffer the
model checks). For every operation the model (``pyree.testing.hal_model``) says what must
happen; the runner performs it and raises :class:`Mismatch` when the device disagrees:

* an operation the model accepts fails, or one it rejects succeeds, or fails with another
  status code, or at another place (record, submission, execution), or with an exception
  that is not a pyree error;
* after any operation (once nothing is held behind a gate) a live buffer's bytes differ from
  the model's known bytes; at the end, matmul rows are off by more than their error bound;
* at the end the device cannot run a fill, a copy and a dispatch correctly, or the pool
  still holds blocks once every host reference is gone (a leak).

Host drops of buffers referenced by UNRETAINED command buffers are not performed (the
program keeps its lifetime promise); everything else is dropped for real.
"""

from __future__ import annotations

import functools
import gc

import attrs
import numpy as np
from pyree.vm.buffer import VmBuffer

from pyree.status import DeadlineExceededError, PyreeError
from pyree.testing import hal_model, hal_ops

from .device import create_device
from .executable import Executable
from .fence import HalFence

DEVICE_LOCAL, HOST_LOCAL = 0x30, 0x46
DEFAULT_USAGE, TRANSFER_USAGE = 0xC03, 0x3
READ, ANY = 0x1, 0x20
UNRETAINED = 0x40
ARENA_BYTES = 4096
TIMEOUT = 10.0


class Mismatch(AssertionError):
    """The device disagreed with the model; ``signature`` groups the same bug."""

    def __init__(self, message: str, signature: str):
        super().__init__(message)
        self.signature = signature


@attrs.define
class Report:
    ok: int = 0
    failed: int = 0
    skipped: int = 0


@functools.cache
def executable() -> Executable:
    return Executable.create("pyree-kernels-v1", hal_ops.executable_data())


def _bytes(buffer) -> np.ndarray:
    memory, start, n = buffer.mapped(ANY | READ)
    return memory[start:start + n]


class Runner:
    def __init__(self, program: hal_ops.HalProgram, timeout: float = TIMEOUT):
        self.program = program
        self.timeout = timeout
        self.model = hal_model.Model(program)
        self.sync = program.driver == "local-sync"
        self.device = create_device(program.driver, poison=True, arena_bytes=ARENA_BYTES)
        self.exe = executable()
        self.kept: list = []          # churn blocks, and buffers UNRETAINED work may use
        self.promise = bool(program.mode & UNRETAINED)
        self.pending = None           # (gate, signal, expect, index, op) held on local-task
        self.buffers = [self._allocate(spec) for spec in program.buffers]
        self.cb = self.device.create_command_buffer(program.mode, program.categories, -1,
                                                    program.capacity)
        self.report = Report()

    def _allocate(self, spec):
        dev = self.device
        if spec.kind == "readonly":
            buffer = dev.allocator.allocate(DEVICE_LOCAL, DEFAULT_USAGE, spec.size, access=READ)
        else:
            memory = HOST_LOCAL if spec.kind == "host" else DEVICE_LOCAL
            usage = TRANSFER_USAGE if spec.kind == "transfer" else DEFAULT_USAGE
            buffer = dev.queue_alloca(-1, None, None, 0, memory, usage, spec.size, 0)
        _bytes(buffer)[:] = hal_model.initial_contents(spec)
        return buffer

    # -- operations --------------------------------------------------------------------------

    def _ref(self, b: int) -> tuple:
        """(buffer or None, slot) of a program's buffer index (negative: a table slot)."""
        slot = hal_ops.slot(b)
        return (None, slot) if slot is not None else (self.buffers[b], 0)

    def _fill(self, op):
        buffer, slot = self._ref(op.buffer)
        self.cb.fill_buffer(buffer, op.offset, op.length, slot, op.pattern,
                            op.pattern_length, 0)

    def _update(self, op):
        buffer, slot = self._ref(op.buffer)
        self.cb.update_buffer(VmBuffer.wrap(bytearray(op.data)), op.source_offset, buffer,
                              op.offset, op.length, slot, 0)

    def _copy(self, op):
        (source, sslot), (target, tslot) = self._ref(op.source), self._ref(op.target)
        self.cb.copy_buffer(sslot, tslot, source, op.source_offset, target, op.target_offset,
                            op.length, 0)

    def _dispatch(self, op):
        bindings = [(ref[1], ref[0], o, n) for ref, o, n in
                    ((self._ref(b), o, n) for b, o, n in op.bindings)]
        self.cb.dispatch(self.exe, op.function, tuple(op.workgroups), 0, list(op.push),
                         bindings)

    def _barrier(self, op):
        self.cb.execution_barrier(0, 0, 0)

    def _begingroup(self, op):
        self.cb.begin_debug_group(op.label)

    def _endgroup(self, op):
        self.cb.end_debug_group()

    def _begin(self, op):
        self.cb.begin()

    def _finalize(self, op):
        self.cb.finalize()

    def _create(self, op):
        self.cb = self.device.create_command_buffer(op.mode, op.categories, -1, op.capacity)
        self.promise |= bool(op.mode & UNRETAINED)

    def _drop(self, op):
        buffer, self.buffers[op.buffer] = self.buffers[op.buffer], None
        if self.promise:
            self.kept.append(buffer)

    def _churn(self, op):
        for spec in self.program.buffers:
            for _ in range(2):
                b = self.device.allocator.allocate(DEVICE_LOCAL, DEFAULT_USAGE, spec.size)
                _bytes(b)[:] = 0xEE
                self.kept.append(b)

    def _dealloca(self, op):
        signal = HalFence.create()
        self.device.queue_dealloca(-1, None, signal, self.buffers[op.buffer], 0)
        signal.wait(self.timeout)

    def _flush(self, op=None):
        if self.pending is None:
            return
        gate, signal, expect, index, sub = self.pending
        self.pending = None
        gate.signal()
        self._judge(index, sub, expect, self._wait(signal))

    def _submit(self, op):
        self._flush()
        signal = HalFence.create()
        gate = HalFence.create() if op.gated and not self.sync else None
        table = None if op.table is None else [
            (None if b is None else self.buffers[b], o, n) for b, o, n in op.table]
        try:
            self.device.queue_execute(-1, gate, signal, self.cb, table, 0)
        except PyreeError as e:
            return ("call", e)
        if gate is not None:
            return gate, signal
        return self._wait(signal)

    def _wait(self, signal):
        try:
            signal.wait(self.timeout)
        except DeadlineExceededError:
            raise Mismatch(f"a submission did not complete within {self.timeout}s", "hang")
        except PyreeError as e:
            return ("fence", e)
        return None

    # -- judging -----------------------------------------------------------------------------

    def run(self) -> Report:
        for index, op in enumerate(self.program.ops):
            expect = self.model.step(op)
            if expect.skip:
                self.report.skipped += 1
                continue
            name = type(op).__name__.lower()
            try:
                outcome = getattr(self, "_" + name)(op)
                if isinstance(outcome, tuple) and len(outcome) == 2 and \
                        isinstance(outcome[0], HalFence):
                    self.pending = (*outcome, expect, index, op)
                    continue
            except PyreeError as e:
                outcome = ("call", e)
            except Mismatch:
                raise
            except Exception as e:
                raise Mismatch(f"op {index} {op!r}: {type(e).__name__}: {e}",
                               f"crash-{type(op).__name__}-{type(e).__name__}") from e
            self._judge(index, op, expect, outcome)
        self._flush()
        self._finish()
        return self.report

    def _judge(self, index, op, expect, outcome) -> None:
        kind = type(op).__name__
        where = f"op {index} {op!r}"
        if outcome is None:
            if not expect.ok:
                raise Mismatch(f"{where}: succeeded, expected {sorted(expect.codes)} at "
                               f"{expect.phase}",
                               f"{kind}-accepted-{'-'.join(sorted(expect.codes))}")
            self.report.ok += 1
        else:
            source, error = outcome
            code = error.code_name
            if expect.ok:
                raise Mismatch(f"{where}: expected success, got {error}",
                               f"{kind}-rejected-{code}")
            if code not in expect.codes:
                raise Mismatch(f"{where}: expected one of {sorted(expect.codes)}, got {error}",
                               f"{kind}-{code}-not-{'-'.join(sorted(expect.codes))}")
            if source == "fence" and expect.phase != "execute":
                raise Mismatch(f"{where}: {expect.phase} error reported only through the "
                               f"fence: {error}", f"{kind}-late-{code}")
            self.report.failed += 1
        if self.pending is None:
            self._compare(where, kind)

    def _compare(self, where: str, kind: str) -> None:
        model = self.model
        for b, buffer in enumerate(self.buffers):
            if buffer is None or model.released[b]:
                continue
            got = _bytes(buffer)
            bad = np.flatnonzero((got != model.data[b]) & model.known[b])
            if bad.size:
                raise Mismatch(
                    f"after {where}: buffer {b} byte(s) {bad[:8].tolist()} are "
                    f"{got[bad[:8]].tolist()}, expected {model.data[b][bad[:8]].tolist()}",
                    f"wrong-bytes-after-{kind}")

    def _finish(self) -> None:
        self.device.wait_idle(self.timeout)
        self._compare("the last operation", "end")
        for b, offset, want, bound in self.model.approx:
            if self.buffers[b] is None or self.model.released[b]:
                continue
            raw = _bytes(self.buffers[b])[offset:offset + 4 * len(want)]
            got = np.frombuffer(raw.tobytes(), dtype="<f4").astype(np.float64)
            if not np.all(np.abs(got - want) <= bound):
                raise Mismatch(f"matmul rows of buffer {b} at {offset}: got {got.tolist()}, "
                               f"expected {want.tolist()} within {bound.tolist()}",
                               "matmul-values")
        self._still_usable()

    def _still_usable(self) -> None:
        dev = self.device
        a = dev.allocator.allocate(DEVICE_LOCAL, DEFAULT_USAGE, 16)
        c = dev.allocator.allocate(DEVICE_LOCAL, DEFAULT_USAGE, 16)
        cb = dev.create_command_buffer(0x1, 3)
        cb.fill_buffer(a, 0, -1, 0, 0x01020304, 4, 0)
        cb.dispatch(self.exe, hal_ops.KERNEL_NAMES.index("copy_i32"), (1, 1, 1), 0, [4],
                    [(0, a, 0, -1), (0, c, 0, -1)])
        cb.finalize()
        signal = HalFence.create()
        dev.queue_execute(-1, None, signal, cb, None, 0)
        signal.wait(self.timeout)
        want = np.tile(np.array([4, 3, 2, 1], dtype=np.uint8), 4)
        if not (np.array_equal(_bytes(a), want) and np.array_equal(_bytes(c), want)):
            raise Mismatch("the device no longer runs a fill and a dispatch correctly",
                           "unusable-after")

    def close(self) -> None:
        """Drops everything and checks that the pool has no live block left."""
        stats = self.device.allocator.statistics
        self.buffers = self.kept = self.cb = self.pending = None
        self.device.wait_idle(self.timeout)
        gc.collect()
        live = stats().live_allocations
        self.device.close()
        if live:
            raise Mismatch(f"{live} pool block(s) still allocated after every reference "
                           "was dropped", "leak")


def run(program: hal_ops.HalProgram, timeout: float = TIMEOUT) -> Report:
    runner = Runner(program, timeout)
    try:
        report = runner.run()
    except BaseException:
        runner.device.close()
        raise
    runner.close()
    return report
