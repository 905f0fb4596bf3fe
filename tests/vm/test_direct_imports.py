"""Imports bound to plain native exports are called by translated code without the
adapter frame (vm/native.py ``DirectExport``): the same results, result checks, error
annotations and backtraces as the adapter gives, for plain and yieldable calls."""

import textwrap

import pytest
from pyree.vm import BytecodeModule, Context, NativeModule, export

from pyree import status

PROGRAM = textwrap.dedent("""\
    vm.module @user version 1
    vm.import @kit.twice cconv "0i_i"
    vm.import @kit.boom cconv "0i_v"
    vm.import @kit.leaky cconv "0_v"
    vm.import @kit.not_a_ref cconv "0_r"
    vm.import @kit.pair cconv "0i_ii"
    vm.import @kit.wait cconv "0i_i"

    vm.func @twice(%i0: i32) -> (i32) {
      %i1 = vm.call @kit.twice(%i0)
      vm.return %i1
    }
    vm.export @twice

    vm.func @boom(%i0: i32) -> () {
      vm.call @kit.boom(%i0)  // CALL-BOOM
      vm.return
    }
    vm.export @boom

    vm.func @leaky() -> () {
      vm.call @kit.leaky()
      vm.return
    }
    vm.export @leaky

    vm.func @not_a_ref() -> (!vm.ref<?>) {
      %r0 = vm.call @kit.not_a_ref()
      vm.return %r0
    }
    vm.export @not_a_ref

    vm.func @pair(%i0: i32) -> (i32, i32) {
      %i1, %i2 = vm.call @kit.pair(%i0)
      vm.return %i1, %i2
    }
    vm.export @pair

    vm.func @waits(%i0: i32) -> (i32) {
      vm.call.yieldable @kit.wait(%i0) -> ^bb1(%i1)
    ^bb1:
      vm.return %i1
    }
    vm.export @waits
    """)


class Kit(NativeModule):
    name = "kit"
    version = 1

    @export("0i_i")
    def twice(self, state, x):
        return 2 * x

    @export("0i_v")
    def boom(self, state, x):
        if x:
            raise status.OutOfRangeError("kit says no")
        return 1 // x   # ZeroDivisionError: a module bug

    @export("0_v")
    def leaky(self, state):
        return 5

    @export("0_r")
    def not_a_ref(self, state):
        return object()

    @export("0i_ii")
    def pair(self, state, x):
        return x, (1 << 32) + x     # the second is wrapped to i32, as the adapter does

    @export("0i_i")
    def wait(self, state, x):
        return x + 1


@pytest.fixture()
def ctx():
    module = BytecodeModule.from_vmasm(PROGRAM, "direct.vmasm")
    context = Context([Kit(), module])
    context.user_module = module
    return context


def test_imports_of_plain_native_exports_are_called_directly(ctx):
    assert ctx.invoke("user.twice", (21,)) == (42,)
    module = ctx.user_module
    sources = [tm.source for (_, direct), tm in module._translations.items() if direct]
    assert sources and all(f"_id{k}(_im{k}, _is{k}" in sources[0] for k in range(6))
    assert "_i0(inv" not in sources[0]
    # A yieldable call of a plain export does not make @waits a generator.
    direct = [tm for (_, d), tm in module._translations.items() if d]
    assert direct[0].generators == frozenset()


def test_direct_results(ctx):
    assert ctx.invoke("user.twice", (21,)) == (42,)
    assert ctx.invoke("user.pair", (3,)) == (3, 3)
    assert ctx.invoke("user.waits", (4,)) == (5,)


def test_direct_pyree_error_is_annotated_as_through_the_adapter(ctx):
    with pytest.raises(status.OutOfRangeError) as e:
        ctx.invoke("user.boom", (1,))
    assert e.value.message == "kit says no"
    assert e.value.annotations == ["while invoking native function kit.boom",
                                   "while calling import", "invoking function 'boom'"]
    assert e.value.backtrace[0] == "[ 1]   native kit.boom -"
    assert e.value.backtrace[1].startswith("[ 0] bytecode user.boom:")


def test_direct_python_exception_is_internal(ctx):
    with pytest.raises(status.InternalError) as e:
        ctx.invoke("user.boom", (0,))
    assert e.value.message == ("native function kit.boom raised ZeroDivisionError: "
                               "integer division or modulo by zero")
    assert e.value.annotations[:2] == ["while invoking native function kit.boom",
                                       "while calling import"]
    assert e.value.backtrace[0] == "[ 1]   native kit.boom -"


@pytest.mark.parametrize("fn, message", [
    ("leaky", "native function kit.leaky returned a value but its cconv declares no results"),
    ("not_a_ref", "native function kit.not_a_ref result 0: expected a ref, got object"),
])
def test_direct_results_are_checked(ctx, fn, message):
    with pytest.raises(status.InternalError) as e:
        ctx.invoke(f"user.{fn}")
    assert e.value.message.startswith(message)
    assert e.value.annotations[:2] == [f"while invoking native function kit.{fn}",
                                       "while calling import"]
    assert e.value.backtrace[0] == f"[ 1]   native kit.{fn} -"


class Probe(NativeModule):
    name = "probe"
    version = 1

    def __init__(self):
        super().__init__()
        self.seen = []

    @export("0iI_v")
    def take(self, state, x, y):
        self.seen.append((x, y))


def test_integer_arguments_reach_exports_as_ints_not_bools():
    # A local only constants write is passed as is; a comparison result (a Python bool
    # in translated code) is still converted: the export sees ints either way.
    module = BytecodeModule.from_vmasm(textwrap.dedent("""\
        vm.module @args version 1
        vm.import @probe.take cconv "0iI_v"

        vm.func @f(%i0: i32) -> () {
          %i1 = vm.const.i32 7
          %i2:3 = vm.const.i64 -5
          vm.call @probe.take(%i1, %i2:3)
          %i4 = vm.cmp.eq.i32 %i0, %i1
          %i6:7 = vm.const.i64 1
          vm.call @probe.take(%i4, %i6:7)
          %i8 = vm.const.i32 3
          %i8 = vm.cmp.lt.i32.s %i0, %i8
          vm.call @probe.take(%i8, %i6:7)
          vm.return
        }
        vm.export @f
        """), "args.vmasm")
    probe = Probe()
    context = Context([probe, module])
    context.lookup_function("args.f")(7)
    assert probe.seen == [(7, -5), (1, 1), (0, 1)]
    assert all(type(v) is int for pair in probe.seen for v in pair)
