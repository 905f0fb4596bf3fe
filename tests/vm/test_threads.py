"""Concurrent invocations: several threads calling into one context (globals, lists, refs,
imports, native state, budgets, suspensions) and into separate contexts of one module."""

import threading
from concurrent.futures import ThreadPoolExecutor

import programs
import pytest
from vmhelpers import Token, asm, source

from pyree.status import BusyResourceError, StatusCode
from pyree.vm import Context, NativeModule, export

THREADS = 8
ROUNDS = 150

SHARED = source("""
    vm.module @shared version 1

    // Also sum_to (vmasm.md 8.1) and squares (8.4), at the end.

    // Per-slot counters in rwdata (64 i32 slots): slot_add(slot, delta) -> new value.
    vm.func @slot_add(%i0: i32, %i1: i32) -> (i32) {
      %i2 = vm.const.i32 4
      %i3 = vm.mul.i32 %i0, %i2
      %i4 = vm.global.load.indirect.i32 %i3
      %i4 = vm.add.i32 %i4, %i1
      vm.global.store.indirect.i32 %i3, %i4
      vm.return %i4
    }
    vm.export @slot_add

    vm.func @last_slot() -> (i32) {
      %i0 = vm.global.load.i32 .rwdata[252]
      vm.return %i0
    }
    vm.export @last_slot

    // Per-slot ref globals (16 slots).
    vm.func @put(%i0: i32, %r0: !vmtest.token) -> () {
      vm.global.store.indirect.ref %i0 : !vmtest.token, %r0
      vm.return
    }
    vm.export @put

    vm.func @get(%i0: i32) -> (!vmtest.token) {
      %r0 = vm.global.load.indirect.ref %i0 : !vmtest.token
      vm.return %r0
    }
    vm.export @get

    vm.func @last_ref() -> (!vmtest.token) {
      %r0 = vm.global.load.ref .refs[15] : !vmtest.token
      vm.return %r0
    }
    vm.export @last_ref

    vm.func @list_total(%r0: !vm.list<i32>) -> (i32) {
      %i0 = vm.list.size %r0
      %i1 = vm.const.i32.zero
      %i5 = vm.const.i32.zero
      vm.br ^bb1
    ^bb1:
      %i2 = vm.cmp.lt.i32.s %i1, %i0
      vm.cond_br %i2, ^bb2, ^bb3
    ^bb2:
      %i3 = vm.list.get.i32 %r0, %i1
      %i5 = vm.add.i32 %i5, %i3
      %i4 = vm.const.i32 1
      %i1 = vm.add.i32 %i1, %i4
      vm.br ^bb1
    ^bb3:
      vm.return %i5
    }
    vm.export @list_total

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
      vm.return %i1
    }
    vm.export @yields
""", programs.function("counter", "sum_to"), programs.function("lists", "squares"))


class Tally(NativeModule):
    """Native state shared by the threads of one context, guarded by its own lock."""

    name = "tally"

    def alloc_state(self, context):
        return {"lock": threading.Lock(), "count": 0, "context": context}

    @export("0i_i")
    def add(self, state, n):
        with state["lock"]:
            state["count"] += n
            return state["count"]

    @export("0i_i")
    def square_via_vm(self, state, n):
        (total,) = state["context"].invoke("shared.list_total", (
            state["context"].invoke("shared.squares", (n,))[0],))
        return total

    @export("0v_i")
    def count(self, state):
        return state["count"]


USER = """
    vm.module @user version 1
    vm.import @shared.slot_add cconv "0ii_i"
    vm.import @tally.add cconv "0i_i"
    vm.import @tally.square_via_vm cconv "0i_i"

    vm.func @both(%i0: i32) -> (i32) {
      %i1 = vm.const.i32 1
      %i2 = vm.call @shared.slot_add(%i0, %i1)
      %i3 = vm.call @tally.add(%i1)
      vm.return %i2
    }
    vm.export @both

    vm.func @callback(%i0: i32) -> (i32) {
      %i1 = vm.call @tally.square_via_vm(%i0)
      vm.return %i1
    }
    vm.export @callback
"""


def run_threads(work, n=THREADS):
    """Run ``work(index, barrier)`` on ``n`` threads started together; re-raise failures."""
    barrier = threading.Barrier(n)
    with ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(work, i, barrier) for i in range(n)]
        return [f.result(timeout=300) for f in futures]


@pytest.fixture
def ctx():
    with Context([asm(SHARED), Tally(), asm(USER)]) as c:
        yield c


def test_threads_share_one_context(ctx):
    def work(tid, barrier):
        barrier.wait()
        token = Token(tid)
        for k in range(ROUNDS):
            n = tid * 10 + k % 7
            assert ctx.invoke("shared.sum_to", (n,)) == (n * (n + 1) // 2,)
            assert ctx.invoke("shared.slot_add", (tid, 1)) == (k + 1,)
            (lst,) = ctx.invoke("shared.squares", (k % 9,))
            assert lst.to_list() == [i * i for i in range(k % 9)]
            assert ctx.invoke("shared.list_total", (lst,)) == (sum(lst.to_list()),)
            ctx.invoke("shared.put", (tid, token))
            assert ctx.invoke("shared.get", (tid,))[0] is token
        return tid

    assert run_threads(work) == list(range(THREADS))
    for tid in range(THREADS):
        assert ctx.invoke("shared.slot_add", (tid, 0)) == (ROUNDS,)
        assert ctx.invoke("shared.get", (tid,))[0].value == tid


def test_threads_through_imports_and_native_state(ctx):
    def work(tid, barrier):
        barrier.wait()
        for k in range(ROUNDS):
            assert ctx.invoke("user.both", (tid + 16,)) == (k + 1,)
            assert ctx.invoke("user.callback", (k % 6,)) == (
                sum(i * i for i in range(k % 6)),)

    run_threads(work)
    assert ctx.invoke("tally.count") == (THREADS * ROUNDS,)


def test_threads_mix_budgeted_and_plain_invocations(ctx):
    def work(tid, barrier):
        barrier.wait()
        for k in range(ROUNDS):
            if (tid + k) % 2:
                result = ctx.invoke("shared.slot_add", (32 + tid, 1), instruction_budget=10**6)
            else:
                result = ctx.invoke("shared.slot_add", (32 + tid, 1))
            assert result == (k + 1,)

    run_threads(work)


def test_threads_drive_their_own_suspended_calls(ctx):
    def work(tid, barrier):
        barrier.wait()
        for k in range(20):
            call = ctx.begin_call("shared.yields", (tid + k % 3,))
            deferred = 0
            while call.status == StatusCode.DEFERRED:
                deferred += 1
                call.resume()
            assert deferred == tid + k % 3
            assert call.results == (tid + k % 3,)

    run_threads(work)


def test_one_suspended_call_resumed_from_other_threads(ctx):
    call = ctx.begin_call("shared.yields", (THREADS,))
    lock = threading.Lock()

    def work(tid, barrier):
        barrier.wait()
        with lock:
            assert call.status == StatusCode.DEFERRED
            call.resume()

    run_threads(work)
    assert call.status == StatusCode.OK and call.results == (THREADS,)


def test_first_use_from_many_threads_at_once():
    # Translation and per-context namespaces are built lazily: a fresh module and context
    # hit by every thread at the same moment.
    module = asm(SHARED)
    ctx = Context([module])

    def work(tid, barrier):
        barrier.wait()
        budget = {"instruction_budget": 10**6} if tid % 2 else {}
        return ctx.invoke("shared.sum_to", (tid,), **budget)[0]

    assert run_threads(work) == [t * (t + 1) // 2 for t in range(THREADS)]


def test_separate_contexts_per_thread_do_not_share_globals():
    module = asm(SHARED)

    def work(tid, barrier):
        with Context([module]) as own:
            barrier.wait()
            for k in range(ROUNDS):
                assert own.invoke("shared.slot_add", (0, tid + 1)) == ((k + 1) * (tid + 1),)
        return tid

    assert run_threads(work) == list(range(THREADS))


def test_registration_while_other_threads_invoke(ctx):
    stop = threading.Event()

    def register():
        for i in range(40):
            ctx.register_modules([asm(SHARED.replace("@shared", f"@extra{i}"))])
        stop.set()

    def work(tid, barrier):
        if tid == 0:
            barrier.wait()
            register()
            return
        barrier.wait()
        k = 0
        while not stop.is_set():
            assert ctx.invoke("shared.sum_to", (k % 20,)) == ((k % 20) * (k % 20 + 1) // 2,)
            k += 1

    run_threads(work, 4)
    assert ctx.invoke("extra39.sum_to", (3,)) == (6,)


class Gate(NativeModule):
    """``gate.pass_()`` suspends once; when resumed it blocks until ``release`` is set."""

    name = "gate"

    def __init__(self):
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    @export("0v_i", name="pass")
    def pass_(self, state):
        yield
        self.entered.set()
        assert self.release.wait(30)
        return 7


def test_resuming_a_call_that_another_thread_is_resuming_is_busy():
    # Concurrent misuse gets its own error (STYLE.md: BusyResourceError), and the call
    # being resumed is not disturbed by it.
    gate = Gate()
    ctx = Context([gate])
    call = ctx.begin_call("gate.pass")
    assert call.status == StatusCode.DEFERRED
    worker = threading.Thread(target=call.resume)
    worker.start()
    assert gate.entered.wait(30)
    with pytest.raises(BusyResourceError, match="another thread"):
        call.resume()
    gate.release.set()
    worker.join(30)
    assert call.status == StatusCode.OK and call.results == (7,)
