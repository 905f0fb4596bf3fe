"""The HAL fuzz runner and the ``hal`` fuzz target.

The runner (``modules/hal/fuzz_runner.py``) applies programs to real devices next to the
numpy model: valid work matches the model's bytes, invalid work raises the expected codes
before anything runs, and it has teeth (a wrong executor or a command buffer that forgets to
retain a buffer is caught, the latter through the poisoning pool). The target runs examples
in a worker process: a segfault, an abort or a hang in an example is a reported failure with
a reproducer that replays, never the end of the test run."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyree.modules.hal import commands, fuzz, fuzz_runner, resource_set
from pyree.modules.hal.kernels import panels

from pyree import cli
from pyree.testing import campaign, hal_model, hal_ops, hal_programs, regressions
from pyree.testing import hal_ops as ops
from pyree.testing.targets import Failure

DRIVERS = ("local-sync", "local-task")
B = (ops.BufferSpec(64, "device", 1), ops.BufferSpec(64, "device", 2),
     ops.BufferSpec(48, "device", 3), ops.BufferSpec(32, "readonly", 4))


def program(driver, *operations, mode=0, buffers=B):
    return ops.HalProgram(driver, buffers, tuple(operations), mode)


VALID = (
    ops.Fill(0, 4, 8, 0xAB, 1), ops.Fill(1, 0, -1, 0x3F800000, 4),
    ops.Update(b"\x01\x02\x03\x04\x05", 1, 2, 7, 3), ops.Copy(3, 0, 2, 16, 16),
    ops.BeginGroup("kernels"),
    ops.Dispatch(0, (2, 1, 1), (6,), ((0, 0, -1), (1, 0, 24), (2, 0, -1))),    # add_f32
    ops.Barrier(),
    ops.Dispatch(1, (1, 1, 1), (4,), ((3, 16, 16), (0, 32, -1))),              # copy_i32
    ops.Dispatch(2, (2, 1, 1), (3, 2), ((1, 0, -1), (2, 24, 12))),             # sum_f32
    ops.Dispatch(3, (2, 1, 1), (2, 2, 2), ((1, 0, 16), (1, 16, 16), (0, 48, 16))),  # matmul
    ops.Dispatch(4, (1, 1, 1), (1, 1, 5, 1), ((1, 0, 4), (0, 0, -1), (2, 0, 20))),  # packed
    ops.EndGroup(), ops.Finalize(), ops.Submit(),
)


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("mode", [0, 0x1, 0x11, 0x41, 0x21])
def test_valid_work_matches_the_model(driver, mode):
    report = fuzz_runner.run(program(driver, *VALID, mode=mode))
    assert (report.ok, report.failed, report.skipped) == (len(VALID), 0, 0)


# -- matmul_packed_f32: rhs as [p, k, 16] panels (spec/executables.md 6.4, rhs_packed) ------

RNG = np.random.default_rng(7)
A = RNG.standard_normal((2, 2)).astype(np.float32)           # lhs [m=2, k=2]
W = RNG.standard_normal((2, 20)).astype(np.float32)          # B [k=2, n=20]: p = 2 panels
PACKED_BUFFERS = (ops.BufferSpec(256, "device", 1), ops.BufferSpec(256, "device", 2),
                  ops.BufferSpec(64, "device", 3))
PK = (2, 2, 20, 2)


def _packed_program(driver):
    rhs, out = ((2, 0, 16), (0, 0, -1), (1, 0, -1)), ((2, 0, 16), (0, 0, 252), (1, 0, -1))
    seq = (ops.Update(panels.pack(W).tobytes(), 0, 0, 0, 256),     # 256 bytes: 2x2x16 f32
           ops.Update(A.tobytes(), 0, 2, 0, 16),
           ops.Dispatch(4, (2, 1, 1), PK, rhs),                       # out rows 0, 1
           ops.Dispatch(4, (2, 1, 1), (2, 2, 20, 1), rhs),            # p != ceil(20/16)
           ops.Dispatch(4, (0, 1, 1), (2, 2, 20, 3), rhs),            # ... even with no work
           ops.Dispatch(4, (2, 1, 1), PK, out),                       # rhs 4 bytes short
           ops.Dispatch(4, (1, 1, 1), (1, 2, 20, 2),                  # row 0 again, at 160,
                        ((2, 0, 16), (-1, 0, -1), (1, 160, -1))),     # rhs from slot 0
           ops.Finalize(),
           ops.Submit(table=((0, 4, -1),)),                           # slot 4 bytes short
           ops.Submit(table=((0, 0, -1),)))
    return ops.HalProgram(driver, PACKED_BUFFERS, seq, 0, 3, None, 1)


@pytest.mark.parametrize("driver", DRIVERS)
def test_packed_matmul_runs_as_the_model_predicts(driver):
    prog = _packed_program(driver)
    model = hal_model.Model(prog)
    expects = [model.step(op) for op in prog.ops]
    assert [(sorted(e.codes), e.phase) for e in expects if not e.ok] == [
        (["INVALID_ARGUMENT"], "record"), (["INVALID_ARGUMENT"], "record"),
        (["OUT_OF_RANGE"], "record"), (["OUT_OF_RANGE"], "submit")]
    want = A.astype(np.float64) @ W.astype(np.float64)
    (b0, o0, rows, _), (b1, o1, row, _) = model.approx          # the model unpacked the panels
    assert (b0, o0, b1, o1) == (1, 0, 1, 160)
    np.testing.assert_allclose(rows, want.ravel(), rtol=1e-6)
    np.testing.assert_allclose(row, want[0], rtol=1e-6)

    runner = fuzz_runner.Runner(prog)
    report = runner.run()                      # raises Mismatch where the device disagrees
    assert (report.ok, report.failed) == (6, 4)
    got = np.frombuffer(fuzz_runner._bytes(runner.buffers[1])[:240].tobytes(), "<f4")
    np.testing.assert_allclose(got, np.concatenate([want.ravel(), want[0]]), rtol=1e-5,
                               atol=1e-6)
    runner.close()


def test_a_wrong_packed_prediction_is_caught(monkeypatch):
    prog = _packed_program("local-sync")
    fuzz_runner.run(prog)
    matmul = hal_model.Model._matmul
    # a model that reads the panels as a plain [k, n] rhs mispredicts the values
    monkeypatch.setattr(hal_model.Model, "_matmul",
                        lambda self, push, rows, ins, aliased, packed=False:
                        matmul(self, push[:3], rows, ins, aliased))
    with pytest.raises(fuzz_runner.Mismatch) as info:
        fuzz_runner.run(prog)
    assert info.value.signature == "matmul-values"
    monkeypatch.undo()
    # a model that counts panels as floor(n / 16) expects the valid dispatch to be refused
    monkeypatch.setattr(hal_model, "panels", lambda n: n // 16)
    with pytest.raises(fuzz_runner.Mismatch) as info:
        fuzz_runner.run(prog)
    assert info.value.signature == "Dispatch-accepted-INVALID_ARGUMENT"


def test_resubmission_and_gated_submissions():
    ops_ = (ops.Fill(0, 0, 16, 1), ops.Copy(0, 0, 1, 0, 32), ops.Finalize(),
            ops.Submit(gated=True), ops.Drop(0), ops.Churn(), ops.Create(0, 3),
            ops.Submit(), ops.Flush())
    report = fuzz_runner.run(program("local-task", *ops_))
    # the second Submit is of the new command buffer, which is still recording
    assert (report.ok, report.failed) == (len(ops_) - 1, 1)


INVALID = (
    ops.Fill(3, 0, 4, 1, 1),                         # read-only target: PERMISSION_DENIED
    ops.Fill(0, 2, 4, 1, 4),                         # misaligned pattern: INVALID_ARGUMENT
    ops.Fill(0, 60, 8, 1, 1),                        # past the end: OUT_OF_RANGE
    ops.Update(b"abc", 2, 0, 0, 4),                  # source range: OUT_OF_RANGE
    ops.Copy(0, 0, 0, 8, 16),                        # overlap: INVALID_ARGUMENT
    ops.Copy(0, 8, 1, -1, -2),                       # the end wraps: OUT_OF_RANGE
    ops.Dispatch(9, (1, 1, 1), (4,), ()),            # NOT_FOUND
    ops.Dispatch(0, (1, 1, 1), (4,), ((0, 0, -1),) * 2),            # binding count
    ops.Dispatch(0, (16, 1, 1), (64,), ((0, 0, -1),) * 3),          # short: OUT_OF_RANGE
    ops.Dispatch(0, (1, 1, 1), (4,), ((0, 0, -1), (0, 0, -1), (3, 0, -1))),  # read-only
    ops.Dispatch(0, (1 << 32, 1, 1), (4,), ((0, 0, -1),) * 3),      # grid not u32
    ops.EndGroup(),                                  # unbalanced: FAILED_PRECONDITION
    ops.Submit(),                                    # still recording
    ops.Dispatch(1, (1, 1, 1), (2,), ((0, 1, 8), (1, 0, 8))),       # unaligned: at execution
    ops.Fill(1, 0, 16, 7, 1),                        # not run: after the failing dispatch
    ops.Finalize(), ops.Submit(), ops.Finalize(), ops.Begin(),
)


@pytest.mark.parametrize("driver", DRIVERS)
def test_invalid_work_raises_the_right_codes_before_anything_runs(driver):
    # The runner compares every buffer with the model after each error: nothing ran.
    report = fuzz_runner.run(program(driver, *INVALID))
    assert (report.ok, report.failed) == (3, len(INVALID) - 3)


@pytest.mark.parametrize("driver", DRIVERS)
def test_unvalidated_skips_program_checks_but_not_memory_checks(driver):
    # UNVALIDATED: unbalanced groups, a read-only fill target, overlapping copies and
    # non-dispatch buffers are accepted (and done); mismatched copy lengths are refused
    # when the copy runs, and ranges are checked as always.
    buffers = (ops.BufferSpec(64, "device", 1), ops.BufferSpec(32, "readonly", 2),
               ops.BufferSpec(16, "transfer", 3), ops.BufferSpec(16, "host", 4))
    seq = (ops.EndGroup(), ops.Fill(1, 0, 8, 5), ops.Copy(0, 0, 0, 4, 8),
           ops.Fill(0, 60, 8, 1),                                           # OUT_OF_RANGE
           ops.Dispatch(1, (1, 1, 1), (4,), ((2, 0, -1), (1, 0, 16))),
           ops.Dispatch(1, (1, 1, 1), (4,), ((3, 0, -1), (1, 16, 16))),
           ops.BeginGroup(), ops.Finalize(), ops.Submit(),
           ops.Create(0x21, 3), ops.Copy(0, 0, 2, 0, -1), ops.Finalize(), ops.Submit())
    report = fuzz_runner.run(ops.HalProgram(driver, buffers, seq, 0x21))
    assert (report.ok, report.failed) == (len(seq) - 2, 2)


@pytest.mark.parametrize("driver", DRIVERS)
def test_binding_tables(driver):
    seq = (ops.Fill(-1, 0, 8, 5), ops.Copy(-1, 0, -2, 4, 8),
           ops.Dispatch(1, (1, 1, 1), (4,), ((-1, 0, -1), (-2, 16, 16))), ops.Finalize(),
           ops.Submit(table=((0, 0, -1), (2, 0, -1))),
           ops.Submit(table=((2, 0, -1), (0, 8, 40))),
           ops.Submit(), ops.Submit(table=((0, 0, -1),)),                 # none, too short
           ops.Submit(table=((None, 0, -1), (0, 0, -1))),                  # a null buffer
           ops.Submit(table=((3, 0, -1), (0, 0, -1))),                     # read-only buffer, written slot
           ops.Submit(table=((0, 2, -1), (0, 0, -1))),                     # misaligned binding
           ops.Submit(table=((0, 0, 8), (0, 0, -1))))                      # shorter than 16
    report = fuzz_runner.run(ops.HalProgram(driver, B, seq, 0, 3, None, 2))
    assert (report.ok, report.failed) == (6, 6)


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_refused_command_leaves_no_slot_requirement(driver):
    # Regression: the copy below is refused (read-only target), but its source slot used
    # to stay in the command buffer's requirements, so the submission demanded a table.
    seq = (ops.Copy(-2, 0, 3, 0, 8), ops.Fill(0, 0, 4, 1), ops.Finalize(), ops.Submit())
    report = fuzz_runner.run(ops.HalProgram(driver, B, seq, 0, 3, None, 2))
    assert (report.ok, report.failed) == (3, 1)


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("mode", [0x1, 0x11])
def test_an_empty_misaligned_binding_is_refused(driver, mode):
    # Regression (found by the hal campaign): a zero-length binding at offset 1 ran, since
    # numpy calls an empty view aligned and an empty slice forgets its offset.
    seq = (ops.Dispatch(1, (1, 1, 1), (0,), ((0, 1, -1), (0, 0, -1))),
           ops.Dispatch(0, (0, 1, 1), (0,), ((0, 0, -1), (1, 0, -1), (0, 1, 0))),  # after a
           ops.Finalize(), ops.Submit())                                   # short binding
    buffers = (ops.BufferSpec(1), ops.BufferSpec(0))
    report = fuzz_runner.run(ops.HalProgram(driver, buffers, seq[:1] + seq[2:], mode))
    assert report.failed == 1
    report = fuzz_runner.run(ops.HalProgram(driver, buffers, seq[1:], mode))
    assert report.failed == 1


def test_use_after_free_through_an_inline_command_buffer():
    ops_ = (ops.Dealloca(2), ops.Fill(2, 0, 4, 1), ops.Copy(0, 0, 2, 0, 4), ops.Finalize(),
            ops.Submit())
    report = fuzz_runner.run(program("local-sync", *ops_, mode=0x11))
    assert (report.ok, report.failed) == (3, 2)      # FAILED_PRECONDITION: released


@settings(max_examples=12, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
@given(hal_programs(max_ops=10))
def test_drawn_programs_agree_with_the_model(prog):
    fuzz_runner.run(prog)


# -- teeth ---------------------------------------------------------------------------------

def test_a_wrong_executor_is_caught(monkeypatch):
    fill = commands.EXECUTORS[commands.FillCommand]

    def off_by_one(command, slots):
        fill(commands.FillCommand(command.target, command.pattern + 1,
                                  command.pattern_length), slots)

    monkeypatch.setitem(commands.EXECUTORS, commands.FillCommand, off_by_one)
    with pytest.raises(fuzz_runner.Mismatch) as info:
        fuzz_runner.run(program("local-task", ops.Fill(0, 0, 4, 9), ops.Finalize(),
                                ops.Submit()))
    assert info.value.signature == "wrong-bytes-after-Submit"


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_command_buffer_that_forgets_a_buffer_is_caught_by_the_poisoned_pool(
        driver, monkeypatch):
    prog = program(driver, ops.Copy(0, 0, 1, 0, 16), ops.Finalize(), ops.Drop(0),
                   ops.Churn(), ops.Submit())
    fuzz_runner.run(prog)                             # retained: the copy reads b0's bytes
    monkeypatch.setattr(resource_set.ResourceSet, "insert", lambda self, obj: None)
    with pytest.raises(fuzz_runner.Mismatch) as info:
        fuzz_runner.run(prog)
    assert info.value.signature == "wrong-bytes-after-Submit"
    assert "238" in str(info.value) or "205" in str(info.value)   # 0xEE churn or 0xCD poison


# -- the target: a worker process ---------------------------------------------------------

@pytest.fixture(scope="module")
def hooked():
    w = fuzz.Worker(hooks=True, timeout=3.0)
    yield w
    w.stop()


CRASHES = [("segfault", "crash-signal-11"), ("abort", "crash-signal-6"), ("hang", "hang")]


@pytest.mark.parametrize("hook,signature", CRASHES)
def test_crashes_and_hangs_are_failures_not_the_end(hooked, hook, signature):
    with pytest.raises(Failure) as info:
        fuzz.TARGET.check(ops.HalProgram("local-sync", B, (), hook=hook), runner=hooked)
    assert info.value.signature == signature
    assert hooked.proc is None                        # killed or dead; the next run restarts


def test_the_worker_runs_programs_and_reports_mismatches(hooked, monkeypatch):
    fuzz.TARGET.check(program("local-task", *VALID), runner=hooked)
    bad = ops.HalProgram("local-sync", B, (), hook="hang")
    with pytest.raises(Failure):
        fuzz.TARGET.check(bad, runner=hooked)
    fuzz.TARGET.check(program("local-sync", *INVALID), runner=hooked)   # restarted


class _Crashing(fuzz.HalTarget):
    def __init__(self, worker):
        super().__init__("hal", "crashes on purpose")
        self.worker = worker

    def strategy(self):
        return st.just(ops.HalProgram("local-sync", B[:1], (ops.Fill(0, 0, 4, 1),),
                                      hook="abort"))

    def check(self, prog, runner=None):
        super().check(prog, runner=self.worker)


def test_a_campaign_saves_a_crash_as_a_reproducer_that_replays(hooked, tmp_path, capsys):
    summary = campaign.run(_Crashing(hooked), 1.0, tmp_path, chunk=2, seed=0)
    # Under load the one-second budget may run the crashing example more than once; a
    # distinct failure is saved once.
    assert summary.failures >= 1 and set(summary.signatures) == {"crash-signal-6"}
    (path,) = summary.saved
    rep = regressions.load(path)
    assert rep.target == "hal" and hal_ops.loads(rep.data).hook == "abort"
    # Replays run in a worker without hooks: the program itself is fine.
    regressions.replay(path)
    assert cli.main(["fuzz", "--replay", str(tmp_path)]) == 0
    assert "1 passed, 0 failed" in capsys.readouterr().out

