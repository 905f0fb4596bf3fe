"""Failures: IREE-style backtraces (vm-runtime.md 4), annotations and their rendering
(vm-runtime.md 3), and release of the refs held by frames a failure tears down."""

import gc
import re
import textwrap
import weakref

import attrs
import pytest
from vmhelpers import Token

from pyree import status
from pyree.status import StatusCode
from pyree.vm import BytecodeModule, Context, NativeModule, export

BT = textwrap.dedent("""\
    vm.module @bt version 1
    vm.import @host.refuse cconv "0i_v"
    vm.import @host.make cconv "0i_r"

    vm.func @leaf(%i0: i32) -> () {
      %i1 = vm.const.i32 1
      vm.fail %i0, "leaf failed"  // FAIL-LEAF
    ^bb1:
      vm.return
    }

    vm.func @middle(%i0: i32) -> () {
      %i1 = vm.const.i32 7
      vm.call @leaf(%i0)  // CALL-LEAF
      vm.return
    }

    vm.func @main(%i0: i32) -> () {
      vm.call @middle(%i0)  // CALL-MIDDLE
      vm.return
    }
    vm.export @main

    vm.func @via_native(%i0: i32) -> () {
      %i1 = vm.const.i32 3
      vm.call @host.refuse(%i0)  // CALL-NATIVE
      vm.return
    }

    vm.func @outer_native(%i0: i32) -> () {
      vm.call @via_native(%i0)  // CALL-VIA-NATIVE
      vm.return
    }
    vm.export @outer_native

    vm.func @yleaf(%i0: i32) -> () {
      vm.yield ^bb1
    ^bb1:
      vm.fail %i0, "failed after a yield"  // FAIL-YLEAF
    }

    vm.func @ymain(%i0: i32) -> () {
      vm.call.yieldable @yleaf(%i0) -> ^bb1()  // CALL-YLEAF
    ^bb1:
      vm.return
    }
    vm.export @ymain

    vm.func @holds(%i0: i32) -> () {
      %r0 = vm.call @host.make(%i0)
      %i1 = vm.const.i32 1
      %r1 = vm.list.alloc %i1 : !vm.list<!vmtest.token>
      vm.list.resize %r1, %i1
      %i2 = vm.const.i32 0
      %i3 = vm.const.i32 100
      %r2 = vm.call @host.make(%i3)
      vm.list.set.ref %r1, %i2, %R2
      vm.call @holds_inner(%r0, %i0)
      vm.return
    }
    vm.export @holds

    vm.func @holds_inner(%r0: !vmtest.token, %i0: i32) -> () {
      %i1 = vm.const.i32 200
      %r1 = vm.call @host.make(%i1)
      vm.br_table %i0 { default: ^bb1, 0: ^bb2, 1: ^bb3 }
    ^bb1:
      vm.fail %i0, "torn down"
    ^bb2:
      %i4 = vm.const.i32 10
      vm.call @host.refuse(%i4)
      vm.return
    ^bb3:
      %i2 = vm.const.i32 1
      vm.br ^bb3
    }

    vm.func @holds_deep(%i0: i32) -> () {
      %r0 = vm.call @host.make(%i0)
      %i1 = vm.const.i32 1
      %i2 = vm.add.i32 %i0, %i1
      vm.call @holds_deep(%i2)
      vm.return
    }
    vm.export @holds_deep

    vm.func @holds_yielding(%i0: i32) -> () {
      %r0 = vm.call @host.make(%i0)
      vm.yield ^bb1
    ^bb1:
      vm.fail %i0, "failed while holding"
    }
    vm.export @holds_yielding
""")


class Host(NativeModule):
    name = "host"

    def __init__(self):
        super().__init__()
        self.made = []

    @export("0i_v")
    def refuse(self, state, code):
        raise status.make_error(code, "host refused")

    @export("0i_r")
    def make(self, state, value):
        token = Token(value)
        self.made.append(weakref.ref(token))
        return token


@pytest.fixture(scope="module")
def module():
    return BytecodeModule.from_vmasm(BT, filename="bt.vmasm")


@pytest.fixture
def host():
    return Host()


@pytest.fixture
def ctx(module, host):
    with Context([host, module]) as c:
        yield c


def line_of(marker: str) -> int:
    for n, line in enumerate(BT.splitlines(), 1):
        if line.rstrip().endswith(f"// {marker}"):
            return n
    raise AssertionError(marker)


def instr(module, function: str, line: int):
    """The (ordinal, instruction) assembled from source line ``line`` of ``function``."""
    d = module.definition
    k = next(i for i, f in enumerate(d.functions) if d.function_name(i) == function)
    (pc,) = [loc.pc for loc in d.functions[k].locations if loc.location == f"bt.vmasm:{line}"]
    (ins,) = [i for i in module.instrs[k] if i.pc == pc]
    return k, ins


def failing(module, function, marker):
    line = line_of(marker)
    return f"bt.{function}:{instr(module, function, line)[1].pc} bt.vmasm:{line}"


def calling(module, function, marker):
    line = line_of(marker)
    return f"bt.{function}:{instr(module, function, line)[1].end} bt.vmasm:{line}"


def error_of(ctx, fn, args=(), **options):
    with pytest.raises(status.PyreeError) as e:
        ctx.invoke(fn, args, **options)
    return e.value


LINE = re.compile(r"^\[(?P<depth>[ \d]\d)\] (?P<kind>[ a-z?]{8}) (?P<name>\S+) (?P<loc>\S+)$")


# -- format ------------------------------------------------------------------------------
@pytest.mark.parametrize("budget", [None, 10**6])
def test_one_line_per_frame_innermost_first(ctx, module, budget):
    err = error_of(ctx, "bt.main", (int(StatusCode.ABORTED),), instruction_budget=budget)
    assert err.backtrace == [
        f"[ 2] bytecode {failing(module, 'leaf', 'FAIL-LEAF')}",
        f"[ 1] bytecode {calling(module, 'middle', 'CALL-LEAF')}",
        f"[ 0] bytecode {calling(module, 'main', 'CALL-MIDDLE')}",
    ]
    for line in err.backtrace:
        assert LINE.match(line), line


def test_caller_frames_show_the_pc_after_the_call(ctx, module):
    err = error_of(ctx, "bt.main", (int(StatusCode.ABORTED),))
    _, call = instr(module, "main", line_of("CALL-MIDDLE"))
    assert call.op.mnemonic == "call"
    assert LINE.match(err.backtrace[-1]).group("name") == f"bt.main:{call.end}"
    _, fail = instr(module, "leaf", line_of("FAIL-LEAF"))
    assert fail.op.mnemonic == "fail"
    assert LINE.match(err.backtrace[0]).group("name") == f"bt.leaf:{fail.pc}"


def test_native_frames(ctx, module):
    err = error_of(ctx, "bt.outer_native", (int(StatusCode.UNAVAILABLE),))
    assert err.code == StatusCode.UNAVAILABLE
    assert err.backtrace == [
        "[ 2]   native host.refuse -",
        f"[ 1] bytecode {calling(module, 'via_native', 'CALL-NATIVE')}",
        f"[ 0] bytecode {calling(module, 'outer_native', 'CALL-VIA-NATIVE')}",
    ]


def test_native_export_called_from_the_host(ctx):
    err = error_of(ctx, "host.refuse", (int(StatusCode.UNAVAILABLE),))
    assert err.backtrace == ["[ 0]   native host.refuse -"]


def test_frames_of_a_resumed_call(ctx, module):
    call = ctx.begin_call("bt.ymain", (int(StatusCode.CANCELLED),))
    assert call.status == StatusCode.DEFERRED
    with pytest.raises(status.CancelledError) as e:
        call.resume()
    assert e.value.backtrace == [
        f"[ 1] bytecode {failing(module, 'yleaf', 'FAIL-YLEAF')}",
        f"[ 0] bytecode {calling(module, 'ymain', 'CALL-YLEAF')}",
    ]


def test_functions_without_names_print_as_module_at_ordinal(host, module):
    d = module.definition
    k = next(i for i, f in enumerate(d.functions) if f.name == "leaf")
    functions = list(d.functions)
    functions[k] = attrs.evolve(functions[k], name=None, locations=())
    anonymous = BytecodeModule(attrs.evolve(d, functions=tuple(functions)))
    err = error_of(Context([host, anonymous]), "bt.main", (int(StatusCode.ABORTED),))
    assert err.backtrace[0] == f"[ 2] bytecode bt@{k}:{instr(module, 'leaf', line_of('FAIL-LEAF'))[1].pc} -"


def test_locations_come_from_debug_info(ctx, module):
    text = BT.replace('"leaf failed"  // FAIL-LEAF', '"leaf failed"  //! loc="model.onnx:7"')
    custom = BytecodeModule.from_vmasm(text, filename="bt.vmasm")
    err = error_of(Context([Host(), custom]), "bt.main", (int(StatusCode.ABORTED),))
    assert err.backtrace[0].endswith(" model.onnx:7")
    no_debug = BytecodeModule(attrs.evolve(module.definition, functions=tuple(
        attrs.evolve(f, locations=()) for f in module.definition.functions)))
    err = error_of(Context([Host(), no_debug]), "bt.main", (int(StatusCode.ABORTED),))
    assert all(line.endswith(" -") for line in err.backtrace)


def test_depth_column_is_right_aligned(ctx):
    err = error_of(ctx, "bt.holds_deep", (0,))
    assert err.code == StatusCode.RESOURCE_EXHAUSTED
    depths = [int(LINE.match(line).group("depth")) for line in err.backtrace[-12:]]
    assert depths == list(range(11, -1, -1))
    assert err.backtrace[-1].startswith("[ 0] bytecode bt.holds_deep:")
    assert err.backtrace[-11].startswith("[10] bytecode bt.holds_deep:")


# -- annotations and rendering ---------------------------------------------------------
def test_str_renders_code_message_annotations_and_backtrace(ctx):
    err = error_of(ctx, "bt.main", (int(StatusCode.ABORTED),))
    assert err.message == "leaf failed"
    assert err.annotations == ["invoking function 'main'"]
    text = str(err)
    head, *rest = text.split("\n")
    assert head == "ABORTED; leaf failed; invoking function 'main'"
    assert rest == err.backtrace


def test_native_failure_annotations(ctx):
    err = error_of(ctx, "bt.outer_native", (int(StatusCode.ABORTED),))
    notes = err.annotations
    assert notes[0] == "while invoking native function host.refuse"
    assert notes[-1] == "invoking function 'outer_native'"
    head = str(err).split("\n")[0]
    assert head.startswith("ABORTED; host refused; while invoking native function "
                           "host.refuse; ")
    assert head.endswith("; invoking function 'outer_native'")


def test_import_calls_are_annotated(ctx):
    # vm-runtime.md 3 and vm-isa.md 5.14: an error returned from an import call made by
    # bytecode is annotated "while calling import" (once per import call crossed).
    err = error_of(ctx, "bt.outer_native", (int(StatusCode.ABORTED),))
    assert err.annotations == ["while invoking native function host.refuse",
                               "while calling import", "invoking function 'outer_native'"]


def test_errors_pickle_with_backtrace(ctx):
    import pickle

    err = error_of(ctx, "bt.main", (int(StatusCode.ABORTED),))
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is type(err)
    assert str(copy) == str(err)


# -- refs held by torn-down frames -----------------------------------------------------
def assert_all_released(host):
    assert host.made, "the program made no tokens"
    alive = [r() for r in host.made if r() is not None]
    assert alive == []


@pytest.mark.parametrize("mode, expected", [
    (int(StatusCode.ABORTED), status.AbortedError),  # vm.fail in the callee
    (0, status.AbortedError),                        # a native import fails
    (1, status.DeadlineExceededError),               # the budget runs out in a loop
])
def test_refs_of_torn_down_frames_are_released(ctx, host, mode, expected):
    with pytest.raises(expected) as e:
        ctx.invoke("bt.holds", (mode,), instruction_budget=100_000)
    # The error is still alive (pytest holds it) but the VM frames are gone.
    assert e.value.backtrace
    assert len(host.made) == 3
    assert_all_released(host)


def test_refs_released_after_call_depth_exhaustion(ctx, host):
    with pytest.raises(status.ResourceExhaustedError):
        ctx.invoke("bt.holds_deep", (0,))
    assert len(host.made) > 1000
    assert_all_released(host)


def test_refs_released_when_a_resumed_call_fails(ctx, host):
    call = ctx.begin_call("bt.holds_yielding", (int(StatusCode.ABORTED),))
    assert call.status == StatusCode.DEFERRED
    (ref,) = host.made
    assert ref() is not None  # held by the suspended frame
    with pytest.raises(status.AbortedError):
        call.resume()
    assert ref() is None


def test_refs_released_when_a_native_python_exception_tears_frames_down(host, module):
    class Crashing(Host):
        @export("0i_v")
        def refuse(self, state, code):
            raise KeyError(code)

    crashing = Crashing()
    ctx = Context([crashing, module])
    with pytest.raises(status.InternalError) as e:
        ctx.invoke("bt.holds", (0,))
    assert "KeyError" in e.value.message
    assert_all_released(crashing)


def test_no_collection_needed(ctx, host):
    gc.disable()
    try:
        with pytest.raises(status.AbortedError):
            ctx.invoke("bt.holds", (int(StatusCode.ABORTED),))
        assert_all_released(host)
    finally:
        gc.enable()


# -- nested invocations ----------------------------------------------------------------
class Relay(NativeModule):
    name = "relay"

    def alloc_state(self, context):
        return context

    @export("0i_v")
    def reenter(self, context, code):
        context.invoke("bt.main", (code,))


NESTED = textwrap.dedent("""\
    vm.module @outer version 1
    vm.import @relay.reenter cconv "0i_v"
    vm.func @main(%i0: i32) -> () {
      vm.call @relay.reenter(%i0)
      vm.return
    }
    vm.export @main
""")


def test_backtrace_of_a_nested_invocation_is_kept(host, module):
    # A native function that re-enters the VM runs a second invocation; when that one
    # fails, its backtrace is an annotation of the error (IREE: one backtrace annotation
    # per invocation that ended with the error) and the outer frames are the backtrace.
    outer = BytecodeModule.from_vmasm(NESTED, filename="outer.vmasm")
    ctx = Context([host, module, Relay(), outer])
    err = error_of(ctx, "outer.main", (int(StatusCode.ABORTED),))
    assert len(err.backtrace) == 2
    assert err.backtrace[0] == "[ 1]   native relay.reenter -"
    assert err.backtrace[1].startswith("[ 0] bytecode outer.main:")
    assert err.backtrace[1].endswith(" outer.vmasm:4")
    inner = f"\n[ 2] bytecode {failing(module, 'leaf', 'FAIL-LEAF')}"
    (note,) = [a for a in err.annotations if a.startswith("\n")]
    assert note.startswith(inner)
    assert note.endswith(f"\n[ 0] bytecode {calling(module, 'main', 'CALL-MIDDLE')}")
    notes = err.annotations
    assert notes.index("invoking function 'main'") < notes.index(note) < \
        notes.index("while invoking native function relay.reenter")
    assert f"; {inner.lstrip()}" not in str(err)
    assert f"; {inner}" in str(err)


def test_frames_across_bytecode_modules(host, module):
    app = BytecodeModule.from_vmasm(textwrap.dedent("""\
        vm.module @app version 1
        vm.import @bt.main cconv "0i_v"
        vm.func @run(%i0: i32) -> () {
          %i1 = vm.const.i32 0
          vm.call @bt.main(%i0)
          vm.return
        }
        vm.export @run
    """), filename="app.vmasm")
    ctx = Context([host, module, app])
    err = error_of(ctx, "app.run", (int(StatusCode.ABORTED),))
    (run,) = [i for i in app.instrs[0] if i.op.mnemonic == "call"]
    assert err.backtrace == [
        f"[ 3] bytecode {failing(module, 'leaf', 'FAIL-LEAF')}",
        f"[ 2] bytecode {calling(module, 'middle', 'CALL-LEAF')}",
        f"[ 1] bytecode {calling(module, 'main', 'CALL-MIDDLE')}",
        f"[ 0] bytecode app.run:{run.end} app.vmasm:5",
    ]
    assert err.annotations == ["while calling import", "invoking function 'run'"]


# -- ref ownership while a frame is suspended -------------------------------------------
OWNERSHIP = """
    vm.module @own version 1
    vm.import @host.make cconv "0i_r"
    vm.import @host.consume cconv "0r_v"

    vm.func @moved(%i0: i32) -> () {
      %r0 = vm.call @host.make(%i0)
      vm.call @host.consume(%R0)
      vm.yield ^bb1
    ^bb1:
      vm.return
    }
    vm.export @moved

    vm.func @kept(%i0: i32) -> () {
      %r0 = vm.call @host.make(%i0)
      vm.call @host.consume(%r0)
      vm.yield ^bb1
    ^bb1:
      vm.return
    }
    vm.export @kept

    vm.func @discarded(%i0: i32) -> () {
      %r0 = vm.call @host.make(%i0)
      vm.discard.refs %r0
      vm.yield ^bb1
    ^bb1:
      vm.return
    }
    vm.export @discarded

    vm.func @cast_then_discarded(%i0: i32) -> () {
      %r0 = vm.call @host.make(%i0)
      %r1 = vm.cast.any.ref %R0 : !vm.ref<?> -> !vmtest.token
      vm.discard.refs %r1
      vm.yield ^bb1
    ^bb1:
      vm.return
    }
    vm.export @cast_then_discarded

    vm.func @callee_discards(%r0: !vmtest.token) -> () {
      vm.discard.refs %r0
      vm.yield ^bb1
    ^bb1:
      vm.return
    }

    vm.func @moved_to_internal_callee(%i0: i32) -> () {
      %r0 = vm.call @host.make(%i0)
      %r1 = vm.assign.ref %R0
      %i1 = vm.const.i32 -1
      %r0 = vm.call @host.make(%i1)
      vm.call.yieldable @callee_discards(%R1) -> ^bb1()
    ^bb1:
      vm.return
    }
    vm.export @moved_to_internal_callee
"""


class Consumer(Host):
    @export("0r_v")
    def consume(self, state, r):
        pass


@pytest.fixture
def owner():
    consumer = Consumer()
    with Context([consumer, BytecodeModule.from_vmasm(textwrap.dedent(OWNERSHIP))]) as c:
        yield c, consumer


@pytest.mark.parametrize("fn, alive", [("moved", False), ("kept", True)])
def test_move_bit_on_an_import_argument_releases_the_register(owner, fn, alive):
    # vm-runtime.md 2.2: the caller releases moved argument refs; a retained one stays.
    ctx, consumer = owner
    call = ctx.begin_call(f"own.{fn}", (1,))
    assert call.status == StatusCode.DEFERRED
    (ref,) = consumer.made
    assert (ref() is not None) == alive
    call.resume()
    del call
    assert ref() is None


@pytest.mark.parametrize("fn", ["discarded", "cast_then_discarded"])
def test_discarded_refs_are_released_while_the_frame_is_suspended(owner, fn):
    ctx, consumer = owner
    call = ctx.begin_call(f"own.{fn}", (1,))
    assert call.status == StatusCode.DEFERRED
    (ref,) = consumer.made
    gc.collect()
    assert ref() is None


def test_a_ref_moved_into_an_internal_callee_is_released_by_the_callee(owner):
    ctx, consumer = owner
    call = ctx.begin_call("own.moved_to_internal_callee", (1,))
    assert call.status == StatusCode.DEFERRED
    first, second = consumer.made
    assert second() is not None  # still in the caller's %r0
    gc.collect()
    assert first() is None  # moved to the callee, which discarded it
