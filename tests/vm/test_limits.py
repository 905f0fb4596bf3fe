"""Limits an untrusted module cannot pass: call depth (RESOURCE_EXHAUSTED, vm-runtime.md
9.3), instruction budgets and deadlines (DEADLINE_EXCEEDED)."""

import sys
import threading
import time

import programs
import pytest
from vmhelpers import asm, run_isolated, source

from pyree import status
from pyree.status import StatusCode
from pyree.vm import MAX_CALL_DEPTH, Context, NativeModule, Wait, export

REC = """
    vm.module @rec version 1

    vm.func @down(%i0: i32) -> (i32) {
      %i1 = vm.const.i32 1
      %i2 = vm.add.i32 %i0, %i1
      %i3 = vm.call @down(%i2)
      vm.return %i3
    }
    vm.export @down

    // count(n) = n by n nested calls.
    vm.func @count(%i0: i32) -> (i32) {
      %i1 = vm.const.i32 0
      %i2 = vm.cmp.eq.i32 %i0, %i1
      vm.cond_br %i2, ^bb1, ^bb2
    ^bb1:
      vm.return %i1
    ^bb2:
      %i3 = vm.const.i32 1
      %i4 = vm.sub.i32 %i0, %i3
      %i5 = vm.call @count(%i4)
      %i6 = vm.add.i32 %i5, %i3
      vm.return %i6
    }
    vm.export @count

    // The same through call.yieldable, with a yield at the bottom.
    vm.func @ycount(%i0: i32) -> (i32) {
      %i1 = vm.const.i32 0
      %i2 = vm.cmp.eq.i32 %i0, %i1
      vm.cond_br %i2, ^bb1, ^bb2
    ^bb1:
      vm.yield ^bb3
    ^bb3:
      vm.return %i1
    ^bb2:
      %i3 = vm.const.i32 1
      %i4 = vm.sub.i32 %i0, %i3
      vm.call.yieldable @ycount(%i4) -> ^bb4(%i5)
    ^bb4:
      %i6 = vm.add.i32 %i5, %i3
      vm.return %i6
    }
    vm.export @ycount

    vm.func @ydown(%i0: i32) -> (i32) {
      %i1 = vm.const.i32 1
      %i2 = vm.add.i32 %i0, %i1
      vm.call.yieldable @ydown(%i2) -> ^bb1(%i3)
    ^bb1:
      vm.return %i3
    }
    vm.export @ydown
"""

LOOPS = source("""
    vm.module @loops version 1
    // Also sum_to (vmasm.md 8.1), at the end.
    vm.global.i32 mutable @entered

    vm.func @spin() -> () {
      %i0 = vm.global.load.i32 @entered
      %i1 = vm.const.i32 1
      %i0 = vm.add.i32 %i0, %i1
      vm.global.store.i32 %i0, @entered
      vm.br ^bb1
    ^bb1:
      vm.cond_br %i1, ^bb1, ^bb2
    ^bb2:
      vm.return
    }
    vm.export @spin

    vm.func @entered() -> (i32) {
      %i0 = vm.global.load.i32 @entered
      vm.return %i0
    }
    vm.export @entered

    vm.func @spin_yielding() -> () {
      %i0 = vm.const.i32 1
      vm.br ^bb1
    ^bb1:
      vm.cond_br %i0, ^bb2, ^bb3
    ^bb2:
      vm.yield ^bb1
    ^bb3:
      vm.return
    }
    vm.export @spin_yielding
""", programs.function("counter", "sum_to"))

CALLER = """
    vm.module @caller version 1
    vm.import @loops.spin cconv "0v_v"
    vm.import @loops.sum_to cconv "0i_i"

    vm.func @spin_via_import() -> () {
      vm.call @loops.spin()
      vm.return
    }
    vm.export @spin_via_import

    vm.func @sums(%i0: i32) -> (i32) {
      %i1 = vm.call @loops.sum_to(%i0)
      %i2 = vm.call @loops.sum_to(%i0)
      %i3 = vm.add.i32 %i1, %i2
      vm.return %i3
    }
    vm.export @sums
"""


@pytest.fixture(scope="module")
def rec():
    return asm(REC)


@pytest.fixture
def loops():
    with Context([asm(LOOPS), asm(CALLER)]) as c:
        yield c


# -- call depth ----------------------------------------------------------------------
def test_max_call_depth_is_in_iree_range():
    # IREE's 1 MiB stack allows roughly 6,500 small frames.
    assert 4000 <= MAX_CALL_DEPTH <= 10000


@pytest.mark.parametrize("fn", ["down", "ydown"])
def test_unbounded_recursion_is_resource_exhausted(rec, fn):
    ctx = Context([rec])
    limit = sys.getrecursionlimit()
    with pytest.raises(status.ResourceExhaustedError) as e:
        ctx.invoke(f"rec.{fn}", (0,))
    err = e.value
    assert err.code == StatusCode.RESOURCE_EXHAUSTED
    assert not isinstance(err, RecursionError)
    assert "call depth" in err.message or "stack" in err.message
    assert len(err.backtrace) >= MAX_CALL_DEPTH
    assert sys.getrecursionlimit() == limit
    # The context keeps working.
    assert ctx.invoke("rec.count", (10,)) == (10,)


@pytest.mark.parametrize("fn", ["count", "ycount"])
def test_recursion_just_below_the_limit_works(rec, fn):
    ctx = Context([rec])
    n = MAX_CALL_DEPTH - 1
    assert ctx.invoke(f"rec.{fn}", (n,)) == (n,)
    with pytest.raises(status.ResourceExhaustedError):
        ctx.invoke(f"rec.{fn}", (MAX_CALL_DEPTH + 1,))


def test_deep_suspended_stack_resumes(rec):
    ctx = Context([rec])
    call = ctx.begin_call("rec.ycount", (MAX_CALL_DEPTH - 10,))
    assert call.status == StatusCode.DEFERRED
    call.resume()
    assert call.results == (MAX_CALL_DEPTH - 10,)


def test_depth_limit_with_a_budget(rec):
    ctx = Context([rec])
    with pytest.raises(status.ResourceExhaustedError):
        ctx.invoke("rec.down", (0,), instruction_budget=10**9)


def test_recursion_through_native_callbacks_is_resource_exhausted():
    # Each level re-enters the VM through the context from a native function; the depth
    # counter restarts per invocation, so Python's own limit is what stops it. It must
    # end as RESOURCE_EXHAUSTED, not as a RecursionError or a crash (run isolated so a
    # crash cannot take the test session down), also on a thread.
    code = """
        import threading
        from vmhelpers import asm
        from pyree import status
        from pyree.vm import Context, NativeModule, export

        class Relay(NativeModule):
            name = "relay"
            def alloc_state(self, context):
                return context
            @export("0i_i")
            def again(self, ctx, x):
                return ctx.invoke("cb.main", (x,))[0]

        cb = asm('''
            vm.module @cb version 1
            vm.import @relay.again cconv "0i_i"
            vm.func @main(%i0: i32) -> (i32) {
              %i1 = vm.call @relay.again(%i0)
              vm.return %i1
            }
            vm.export @main
        ''')

        def run():
            ctx = Context([Relay(), cb])
            try:
                ctx.invoke("cb.main", (0,))
            except status.ResourceExhaustedError as e:
                assert not isinstance(e, RecursionError)
                print("RESOURCE_EXHAUSTED")

        run()
        t = threading.Thread(target=run)
        t.start()
        t.join()
    """
    done = run_isolated(code)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["RESOURCE_EXHAUSTED", "RESOURCE_EXHAUSTED"]


# -- instruction budget and deadlines -------------------------------------------------
def test_infinite_loop_with_an_instruction_budget(loops):
    start = time.monotonic()
    with pytest.raises(status.DeadlineExceededError) as e:
        loops.invoke("loops.spin", instruction_budget=100_000)
    assert time.monotonic() - start < 5
    assert e.value.code == StatusCode.DEADLINE_EXCEEDED
    assert isinstance(e.value, TimeoutError)
    assert "invoking function 'spin'" in e.value.annotations


@pytest.mark.parametrize("option", ["timeout", "deadline"])
def test_infinite_loop_with_a_timeout_or_deadline(loops, option):
    start = time.monotonic()
    value = 0.2 if option == "timeout" else start + 0.2
    with pytest.raises(status.DeadlineExceededError):
        loops.invoke("loops.spin", **{option: value})
    elapsed = time.monotonic() - start
    assert 0.2 <= elapsed < 5


def test_an_expired_deadline_fails_at_once(loops):
    with pytest.raises(status.DeadlineExceededError):
        loops.invoke("loops.sum_to", (3,), deadline=time.monotonic() - 1)


def test_timeout_and_deadline_take_the_earlier(loops):
    start = time.monotonic()
    with pytest.raises(status.DeadlineExceededError):
        loops.invoke("loops.spin", timeout=0.1, deadline=start + 60)
    assert time.monotonic() - start < 5


def test_budget_applies_through_imports(loops):
    with pytest.raises(status.DeadlineExceededError):
        loops.invoke("caller.spin_via_import", instruction_budget=50_000)
    start = time.monotonic()
    with pytest.raises(status.DeadlineExceededError):
        loops.invoke("caller.spin_via_import", timeout=0.1)
    assert time.monotonic() - start < 5


def test_budget_applies_across_yields(loops):
    with pytest.raises(status.DeadlineExceededError):
        loops.invoke("loops.spin_yielding", instruction_budget=10_000)
    with pytest.raises(status.DeadlineExceededError):
        loops.invoke("loops.spin_yielding", timeout=0.1)
    call = loops.begin_call("loops.spin_yielding", instruction_budget=100)
    with pytest.raises(status.DeadlineExceededError):
        for _ in range(1000):
            call.resume()


def test_a_sufficient_budget_completes(loops):
    assert loops.invoke("loops.sum_to", (1000,), instruction_budget=1_000_000) == (500500,)
    assert loops.invoke("caller.sums", (100,), instruction_budget=1_000_000) == (10100,)
    assert loops.invoke("loops.sum_to", (1000,), timeout=30) == (500500,)


def minimal_budget(ctx, fn, args):
    lo, hi = 0, 1 << 20
    while lo < hi:
        mid = (lo + hi) // 2
        try:
            ctx.invoke(fn, args, instruction_budget=mid)
            hi = mid
        except status.DeadlineExceededError:
            lo = mid + 1
    return lo


def test_budget_counts_instructions(loops):
    b10 = minimal_budget(loops, "loops.sum_to", (10,))
    b20 = minimal_budget(loops, "loops.sum_to", (20,))
    b40 = minimal_budget(loops, "loops.sum_to", (40,))
    assert 0 < b10 < b20 < b40
    # Each loop iteration executes the same instructions: the cost is linear in n.
    assert b40 - b20 == 2 * (b20 - b10)
    # An iteration executes 6 instructions (cmp, cond_br, add, const, add, br); a budget
    # counts instructions (block markers may count too).
    per_iteration = (b20 - b10) / 10
    assert 6 <= per_iteration <= 9
    # Budgets are per invocation: the same budget works again and again.
    for _ in range(3):
        assert loops.invoke("loops.sum_to", (10,), instruction_budget=b10) == (55,)
    with pytest.raises(status.DeadlineExceededError):
        loops.invoke("loops.sum_to", (10,), instruction_budget=b10 - 1)


def test_zero_budget(loops):
    with pytest.raises(status.DeadlineExceededError):
        loops.invoke("loops.sum_to", (1,), instruction_budget=0)


def test_context_usable_after_a_deadline_and_state_kept(loops):
    with pytest.raises(status.DeadlineExceededError):
        loops.invoke("loops.spin", instruction_budget=1000)
    # No rollback: the global written before the loop stays written.
    assert loops.invoke("loops.entered") == (1,)
    assert loops.invoke("loops.sum_to", (4,)) == (10,)
    # The budgeted and unbudgeted translations share the context's globals.
    with pytest.raises(status.DeadlineExceededError):
        loops.invoke("loops.spin", timeout=0.05)
    assert loops.invoke("loops.entered", instruction_budget=100) == (2,)


# -- deadlines and waits ---------------------------------------------------------------
class SlowWait(Wait):
    """A wait whose condition never holds; it blocks for at most its timeout (capped)."""

    def __init__(self):
        self.timeouts = []

    def wait(self, timeout=None):
        self.timeouts.append(timeout)
        time.sleep(min(0.05 if timeout is None else timeout, 0.05))


class Never(NativeModule):
    name = "never"

    def __init__(self):
        super().__init__()
        self.waiter = SlowWait()

    @export("0v_v")
    def forever(self, state):
        while True:
            yield self.waiter


NEVER_USER = """
    vm.module @waits version 1
    vm.import @never.forever cconv "0v_v"
    vm.func @main() -> () {
      vm.call.yieldable @never.forever() -> ^bb1()
    ^bb1:
      vm.return
    }
    vm.export @main
"""


def finishes_within(seconds, fn):
    """Run ``fn`` on a daemon thread; its outcome, or a failure if it is still running."""
    outcome = {}

    def run():
        try:
            outcome["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - reported to the test
            outcome["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"still running after {seconds}s"
    return outcome


@pytest.mark.parametrize("fn", ["never.forever", "waits.main"])
def test_deadline_bounds_waits(fn):
    # A suspended import that never completes: invoke() performs its waits, and the
    # deadline of the invocation bounds them (vm-runtime.md 9.2: the host performs the
    # wait, then resumes; a timed-out invocation fails DEADLINE_EXCEEDED).
    never = Never()
    ctx = Context([never, asm(NEVER_USER)])
    start = time.monotonic()
    outcome = finishes_within(10, lambda: ctx.invoke(fn, timeout=0.3))
    assert isinstance(outcome.get("error"), status.DeadlineExceededError), outcome
    assert 0.3 <= time.monotonic() - start < 5
    timeouts = never.waiter.timeouts
    assert timeouts and all(t is not None and t <= 0.3 for t in timeouts)


def test_resume_after_the_deadline_fails():
    never = Never()
    ctx = Context([never, asm(NEVER_USER)])
    call = ctx.begin_call("waits.main", timeout=0.1)
    assert call.status == StatusCode.DEFERRED
    time.sleep(0.15)
    with pytest.raises(status.DeadlineExceededError):
        call.resume()
    with pytest.raises(status.FailedPreconditionError):
        call.resume()
