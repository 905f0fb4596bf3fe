"""Suspension and resumption: vm.yield, call.yieldable through bytecode and native
generators, begin_call/resume, Wait objects, plain calls to suspending callees
(vm-runtime.md 9.2; vm-isa.md 5.14-5.15)."""

import gc
import weakref

import pytest
from vmhelpers import Token, asm

from pyree import status
from pyree.status import StatusCode
from pyree.vm import Context, NativeModule, Wait, export

DEFERRED, OK = StatusCode.DEFERRED, StatusCode.OK

GEN = """
    vm.module @gen version 1

    // Yields n times, then returns 1000 + n.
    vm.func @yields(%i0: i32) -> (i32) {
      %i1 = vm.const.i32.zero
      vm.br ^bb1
    ^bb1:
      %i2 = vm.cmp.lt.i32.s %i1, %i0
      vm.cond_br %i2, ^bb2, ^bb3
    ^bb2:
      %i3 = vm.const.i32 1
      %i1 = vm.add.i32 %i1, %i3
      vm.yield ^bb1
    ^bb3:
      %i4 = vm.const.i32 1000
      %i4 = vm.add.i32 %i4, %i1
      vm.return %i4
    }
    vm.export @yields

    // Registers of every bank survive suspension: an i64 sum, an f32, a ref.
    vm.func @keeps(%i0:1: i64, %i2: f32, %r0: !vm.ref<?>) -> (i64, f32, !vm.ref<?>) {
      %i4:5 = vm.add.i64 %i0:1, %i0:1
      vm.yield ^bb1
    ^bb1:
      %i4:5 = vm.add.i64 %i4:5, %i0:1
      %i3 = vm.add.f32 %i2, %i2
      vm.yield ^bb2
    ^bb2:
      vm.return %i4:5, %i3, %r0
    }
    vm.export @keeps

    vm.func @pause() -> () {
      vm.yield ^bb1
    ^bb1:
      vm.return
    }
    vm.export @pause

    // An internal yieldable call: the callee's yields suspend the whole invocation.
    vm.func @outer(%i0: i32) -> (i32) {
      vm.call.yieldable @yields(%i0) -> ^bb1(%i1)
    ^bb1:
      %i2 = vm.const.i32 1
      %i3 = vm.add.i32 %i1, %i2
      vm.return %i3
    }
    vm.export @outer

    vm.func @yield_then_fail(%i0: i32) -> () {
      vm.yield ^bb1
    ^bb1:
      vm.fail %i0, "failed after resuming"
    }
    vm.export @yield_then_fail

    vm.func @hold(%r0: !vm.ref<?>) -> () {
      vm.yield ^bb1
    ^bb1:
      vm.return
    }
    vm.export @hold
"""


class Waiter(Wait):
    def __init__(self, tag):
        self.tag = tag
        self.waits = 0

    def wait(self, timeout=None):
        self.waits += 1


class Async(NativeModule):
    name = "async"

    def __init__(self):
        super().__init__()
        self.waiters = []

    @export("0i_i")
    def slow_double(self, state, x):
        for k in range(3):
            waiter = Waiter(k)
            self.waiters.append(waiter)
            yield waiter
        return 2 * x

    @export("0v_v")
    def pause(self, state):
        yield

    @export("0i_i")
    def quick(self, state, x):
        if x < 0:  # never true in the tests: a generator that completes at once
            yield
        return x + 1

    @export("0i_v")
    def give_up(self, state, code):
        yield
        raise status.make_error(code, "async gave up")

    @export("0CiD_i")
    def slow_total(self, state, xs):
        for _ in xs:
            yield
        return sum(xs)


USER = """
    vm.module @user version 1
    vm.import @async.slow_double cconv "0i_i"
    vm.import @async.pause cconv "0v_v"
    vm.import @async.quick cconv "0i_i"
    vm.import @async.give_up cconv "0i_v"
    vm.import @async.slow_total cconv "0CiD_i"
    vm.import @gen.yields cconv "0i_i"
    vm.import @gen.pause cconv "0v_v"

    vm.func @double_async(%i0: i32) -> (i32) {
      vm.call.yieldable @async.slow_double(%i0) -> ^bb1(%i1)
    ^bb1:
      %i2 = vm.const.i32 1
      %i3 = vm.add.i32 %i1, %i2
      vm.return %i3
    }
    vm.export @double_async

    vm.func @double_plain(%i0: i32) -> (i32) {
      %i1 = vm.call @async.slow_double(%i0)
      vm.return %i1
    }
    vm.export @double_plain

    vm.func @pause_plain() -> () {
      vm.call @async.pause()
      vm.return
    }
    vm.export @pause_plain

    vm.func @quick_plain(%i0: i32) -> (i32) {
      %i1 = vm.call @async.quick(%i0)
      vm.return %i1
    }
    vm.export @quick_plain

    vm.func @quick_yieldable(%i0: i32) -> (i32) {
      vm.call.yieldable @async.quick(%i0) -> ^bb1(%i1)
    ^bb1:
      vm.return %i1
    }
    vm.export @quick_yieldable

    vm.func @give_up(%i0: i32) -> () {
      vm.call.yieldable @async.give_up(%i0) -> ^bb1()
    ^bb1:
      vm.return
    }
    vm.export @give_up

    vm.func @total_async(%i0: i32, %i1: i32) -> (i32) {
      vm.call.variadic.yieldable @async.slow_total segments[2](%i0, %i1) -> ^bb1(%i2)
    ^bb1:
      vm.return %i2
    }
    vm.export @total_async

    vm.func @gen_yieldable(%i0: i32) -> (i32) {
      vm.call.yieldable @gen.yields(%i0) -> ^bb1(%i1)
    ^bb1:
      vm.return %i1
    }
    vm.export @gen_yieldable

    vm.func @gen_plain(%i0: i32) -> (i32) {
      %i1 = vm.call @gen.yields(%i0)
      vm.return %i1
    }
    vm.export @gen_plain

    vm.func @gen_pause_plain() -> () {
      vm.call @gen.pause()
      vm.return
    }
    vm.export @gen_pause_plain
"""


@pytest.fixture
def native():
    return Async()


@pytest.fixture
def ctx(native):
    with Context([native, asm(GEN), asm(USER)]) as c:
        yield c


def drive(call, limit=1000):
    """Resume ``call`` until it completes; returns the number of DEFERRED statuses."""
    n = 0
    while call.status == DEFERRED:
        n += 1
        assert n <= limit
        call.resume()
    assert call.status == OK
    return n


# -- vm.yield -------------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 1, 2, 5, 50])
def test_invoke_completes_a_function_that_yields_n_times(ctx, n):
    assert ctx.invoke("gen.yields", (n,)) == (1000 + n,)


@pytest.mark.parametrize("n", [0, 1, 3, 7])
def test_begin_call_sees_deferred_once_per_yield(ctx, n):
    call = ctx.begin_call("gen.yields", (n,))
    assert drive(call) == n
    assert call.results == (1000 + n,)


def test_begin_call_statuses_step_by_step(ctx):
    call = ctx.begin_call("gen.yields", (2,))
    assert call.status == DEFERRED and call.results is None
    assert call.pending is None  # a bare vm.yield asks for no wait
    assert call.resume() is call
    assert call.status == DEFERRED
    call.resume()
    assert call.status == OK and call.results == (1002,)
    with pytest.raises(status.FailedPreconditionError, match="not suspended"):
        call.resume()


def test_registers_survive_suspension(ctx):
    token = Token(9)
    call = ctx.begin_call("gen.keeps", (-(1 << 40), 1.25, token))
    assert drive(call) == 2
    assert call.results == (-3 * (1 << 40), 2.5, token)
    assert call.results[2] is token


def test_internal_yieldable_call_propagates_suspension(ctx):
    call = ctx.begin_call("gen.outer", (4,))
    assert drive(call) == 4
    assert call.results == (1005,)
    assert ctx.invoke("gen.outer", (2,)) == (1003,)


def test_function_without_results_yields(ctx):
    assert drive(ctx.begin_call("gen.pause")) == 1
    assert ctx.invoke("gen.pause") == ()


def test_failure_after_resume(ctx):
    call = ctx.begin_call("gen.yield_then_fail", (int(StatusCode.ABORTED),))
    assert call.status == DEFERRED
    with pytest.raises(status.AbortedError) as e:
        call.resume()
    assert e.value.message == "failed after resuming"
    assert call.status != DEFERRED
    with pytest.raises(status.FailedPreconditionError):
        call.resume()
    with pytest.raises(status.AbortedError):
        ctx.invoke("gen.yield_then_fail", (int(StatusCode.ABORTED),))


def test_interleaved_calls_on_one_context(ctx):
    a = ctx.begin_call("gen.yields", (3,))
    b = ctx.begin_call("gen.outer", (1,))
    a.resume()
    b.resume()
    assert b.status == OK and b.results == (1002,)
    assert drive(a) == 2
    assert a.results == (1003,)


def test_abandoned_suspended_call_releases_its_registers(ctx):
    token = Token(1)
    ref = weakref.ref(token)
    call = ctx.begin_call("gen.hold", (token,))
    assert call.status == DEFERRED
    del token
    gc.collect()
    assert ref() is not None
    del call
    gc.collect()
    assert ref() is None


# -- yieldable imports ----------------------------------------------------------------
def test_yieldable_call_of_a_yielding_bytecode_import(ctx):
    call = ctx.begin_call("user.gen_yieldable", (3,))
    assert drive(call) == 3
    assert call.results == (1003,)
    assert ctx.invoke("user.gen_yieldable", (6,)) == (1006,)


def test_native_generator_suspends_with_wait_objects(ctx, native):
    call = ctx.begin_call("user.double_async", (21,))
    seen = []
    while call.status == DEFERRED:
        assert isinstance(call.pending, Waiter)
        seen.append(call.pending.tag)
        call.resume()
    assert seen == [0, 1, 2]
    assert call.results == (43,)
    assert all(w.waits == 0 for w in native.waiters)  # begin/resume performs no wait


def test_invoke_performs_each_wait_before_resuming(ctx, native):
    assert ctx.invoke("user.double_async", (5,)) == (11,)
    assert [w.waits for w in native.waiters] == [1, 1, 1]


def test_host_can_call_a_native_generator_directly(ctx, native):
    call = ctx.begin_call("async.slow_double", (4,))
    assert drive(call) == 3
    assert call.results == (8,)
    assert ctx.invoke("async.slow_double", (-4,)) == (-8,)


def test_variadic_yieldable_call(ctx):
    call = ctx.begin_call("user.total_async", (4, 5))
    assert drive(call) == 2
    assert call.results == (9,)


def test_native_generator_that_completes_at_once(ctx):
    assert ctx.invoke("user.quick_plain", (1,)) == (2,)
    call = ctx.begin_call("user.quick_yieldable", (1,))
    assert call.status == OK and call.results == (2,)


def test_native_generator_failing_after_resume(ctx):
    call = ctx.begin_call("user.give_up", (int(StatusCode.CANCELLED),))
    assert call.status == DEFERRED
    with pytest.raises(status.CancelledError) as e:
        call.resume()
    assert e.value.message == "async gave up"
    assert e.value.annotations[:2] == ["while invoking native function async.give_up",
                                       "while calling import"]
    # The resumed frames are the backtrace: the native generator and its bytecode caller.
    assert e.value.backtrace[0] == "[ 1]   native async.give_up -"
    assert e.value.backtrace[1].startswith("[ 0] bytecode user.give_up:")


# -- plain calls to suspending callees (vm-isa.md 5.14 rule 6) ----------------------------
@pytest.mark.parametrize("fn, args", [
    ("double_plain", (3,)),   # native import with results
    ("pause_plain", ()),      # native import without results
    ("gen_plain", (2,)),      # bytecode import with results
    ("gen_pause_plain", ()),  # bytecode import without results
])
def test_plain_call_to_a_suspending_import_is_unimplemented(ctx, fn, args):
    with pytest.raises(status.UnimplementedError) as e:
        ctx.invoke(f"user.{fn}", args)
    assert e.value.code == StatusCode.UNIMPLEMENTED
    assert "yield in imports with results not supported" in e.value.message
    with pytest.raises(status.UnimplementedError):
        ctx.begin_call(f"user.{fn}", args)


def test_plain_call_to_a_bytecode_import_that_does_not_yield_this_time(ctx):
    assert ctx.invoke("user.gen_plain", (0,)) == (1000,)


def test_context_usable_after_a_refused_suspension(ctx):
    with pytest.raises(status.UnimplementedError):
        ctx.invoke("user.double_plain", (3,))
    assert ctx.invoke("user.double_async", (3,)) == (7,)


def test_plain_internal_call_to_a_yielding_function():
    text = """
        vm.module @bad version 1
        vm.func @y() -> () {
          vm.yield ^bb1
        ^bb1:
          vm.return
        }
        vm.func @main() -> () {
          vm.call @y()
          vm.return
        }
        vm.export @main
    """
    try:
        module = asm(text)
    except status.InvalidArgumentError:
        return  # rejected by the verifier: callers of yielding functions must be yieldable
    with pytest.raises(status.UnimplementedError):
        Context([module]).invoke("bad.main")


@pytest.mark.parametrize("n", [0, 1, 3])
def test_function_call_with_one_argument_matches_invoke(ctx, n):
    """Function.__call__ passes a single argument without unpacking a tuple: the results,
    the run through suspensions and the argument conversion are those of invoke."""
    fn = ctx.lookup_function("gen.yields")
    assert fn(n) == ctx.invoke("gen.yields", (n,)) == (1000 + n,)
    assert fn(n + 2**32) == (1000 + n,)         # converted to i32 as invoke converts it
    with pytest.raises(status.InvalidArgumentError):
        fn("3")
    with pytest.raises(status.InvalidArgumentError):
        fn()                                    # the arity is still checked
