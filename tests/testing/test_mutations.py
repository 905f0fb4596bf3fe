"""Never crash, never hang: damaged modules and arbitrary bytes only raise pyree errors
(damage that must be rejected is rejected by the right verifier rule), and runaway
programs stop on the instruction budget or the deadline with DEADLINE_EXCEEDED."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from pyree.bytecode.disasm import disassemble

from pyree import status, vm
from pyree.testing import mutated_modules, programs
from pyree.testing.generator import FAIL_MESSAGES
from pyree.testing.mutations import KINDS
from pyree.testing.targets import Failure, run_guarded

#: Big generated programs: some draws overrun, and generation takes time.
HEAVY = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@HEAVY
@given(mutated_modules())
def test_damage_is_rejected_by_its_rule_or_runs_with_pyree_errors_only(mutation):
    note(f"{mutation.kind}: {mutation.detail}")
    try:
        if mutation.data is not None:
            module = vm.BytecodeModule.from_bytes(mutation.data)
        else:
            module = vm.BytecodeModule(mutation.module)
    except status.PyreeError as e:
        if mutation.rules:
            assert getattr(e, "rule", None) in mutation.rules, str(e)
        return
    assert not mutation.must_reject, f"accepted: {mutation.kind} {mutation.detail}"
    del module
    run_guarded(mutation.module or mutation.data, "main", None)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_damage_can_be_drawn(kind):
    @settings(max_examples=3, database=None)
    @given(mutated_modules(kinds=(kind,)))
    def draw(mutation):
        assert mutation.kind == kind

    draw()


@given(st.binary(max_size=300))
def test_arbitrary_bytes_only_raise_pyree_errors(data):
    with pytest.raises(status.PyreeError):
        vm.BytecodeModule.from_bytes(data)


@settings(max_examples=20, suppress_health_check=HEAVY.suppress_health_check)
@given(programs(loops="unbounded", max_functions=2))
def test_runaway_programs_stop_on_the_budget(program):
    note(disassemble(program.module))
    started = time.monotonic()
    module = vm.BytecodeModule(program.module)
    with vm.Context([module]) as ctx:
        fn = ctx.lookup_function("fuzz.main")
        args = [None if (a is None) else a for a in program.args]
        try:
            ctx.invoke(fn, args, instruction_budget=20_000, timeout=10)
        except status.DeadlineExceededError as e:
            # The budget or the deadline, or a vm.fail whose code masks to 4 (e.g. 100).
            assert ("budget" in e.message or "deadline" in e.message
                    or e.message.encode() in FAIL_MESSAGES), str(e)
        except status.PyreeError:
            pass
    assert time.monotonic() - started < 25  # the budget stops it long before the deadline


def test_a_deadline_stops_a_loop_without_budget():
    module = vm.BytecodeModule.from_vmasm("""
vm.module @spin version 0
vm.func @forever() -> () {
  vm.br ^bb1
^bb1:
  vm.br ^bb1
^bb2:
  vm.return
}
vm.export @forever
""")
    with vm.Context([module]) as ctx:
        started = time.monotonic()
        with pytest.raises(status.DeadlineExceededError, match="deadline"):
            ctx.invoke("spin.forever", timeout=0.2)
        assert time.monotonic() - started < 5


def test_run_guarded_reports_non_pyree_exceptions(monkeypatch):
    def broken(module_def):
        raise TypeError("a bug")

    monkeypatch.setattr(vm, "BytecodeModule", broken)
    with pytest.raises(Failure, match="non-pyree exception TypeError"):
        run_guarded(None, "main", ())
