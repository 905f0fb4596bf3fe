"""Native modules written in Python: per-context state, exports of every cconv kind
(spans through ``call.variadic``), result checks, error annotation, custom ref types,
calls back into the VM (vm-runtime.md 2, 3, 8.5; vm-isa.md 5.14)."""

import math
import struct

import pytest
from vmhelpers import Token, asm

from pyree import status
from pyree.status import StatusCode
from pyree.vm import Context, NativeModule, VmBuffer, VmList, export


def f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


class Kit(NativeModule):
    name = "kit"
    version = 2

    def __init__(self):
        super().__init__()
        self.seen = []
        self.allocated = []
        self.freed = []

    def alloc_state(self, context):
        state = {"context": context, "calls": 0}
        self.allocated.append(state)
        return state

    def free_state(self, state):
        self.freed.append(state)

    @export("0i_i")
    def neg(self, state, x):
        self.seen.append(("neg", x))
        return -x

    @export("0I_I")
    def neg64(self, state, x):
        self.seen.append(("neg64", x))
        return -x

    @export("0f_f")
    def half(self, state, x):
        self.seen.append(("half", x))
        return x / 2

    @export("0f_f")
    def same32(self, state, x):
        return x

    @export("0F_F")
    def half64(self, state, x):
        self.seen.append(("half64", x))
        return x / 2

    @export("0r_r")
    def same(self, state, r):
        self.seen.append(("same", r))
        return r

    @export("0i_r")
    def make(self, state, value):
        return Token(value)

    @export("0r_i")
    def value_of(self, state, r):
        if r is None:
            raise status.InvalidArgumentError("ref is null")
        return r.value

    @export("0CiD_i")
    def total(self, state, xs):
        self.seen.append(("total", xs))
        return sum(xs)

    @export("0iCiID_I")
    def weighted(self, state, k, pairs):
        self.seen.append(("weighted", k, pairs))
        return k * sum(a * b for a, b in pairs)

    @export("0CrD_i")
    def count(self, state, refs):
        self.seen.append(("count", refs))
        return sum(r is not None for r in refs)

    @export("0v_iIfFr")
    def many(self, state):
        return (-1, -(1 << 40), 0.5, 0.25, None)

    @export("0v_v")
    def nothing(self, state):
        self.seen.append(("nothing",))

    @export("0v_i")
    def calls(self, state):
        state["calls"] += 1
        return state["calls"]

    @export("0i_v")
    def refuse(self, state, code):
        raise status.make_error(code, "kit refuses")

    @export("0v_i")
    def crash(self, state):
        return 1 // 0

    @export("0v_i")
    def bad_type(self, state):
        return "seven"

    @export("0v_ii")
    def bad_count(self, state):
        return 1

    @export("0v_r")
    def bad_ref(self, state):
        return object()

    @export("0v_v")
    def bad_void(self, state):
        return 5

    @export("0v_f")
    def bad_float(self, state):
        return "1.5"


USER = """
    vm.module @user version 1
    vm.import @kit.neg cconv "0i_i"
    vm.import @kit.neg64 cconv "0I_I"
    vm.import @kit.half cconv "0f_f"
    vm.import @kit.half64 cconv "0F_F"
    vm.import @kit.same cconv "0r_r"
    vm.import @kit.total cconv "0CiD_i"
    vm.import @kit.weighted cconv "0iCiID_I"
    vm.import @kit.count cconv "0CrD_i"
    vm.import @kit.many cconv "0v_iIfFr"
    vm.import @kit.nothing cconv "0v_v"
    vm.import @kit.calls cconv "0v_i"
    vm.import @kit.refuse cconv "0i_v"
    vm.import @kit.crash cconv "0v_i"
    vm.import @kit.bad_type cconv "0v_i"
    vm.import @kit.bad_count cconv "0v_ii"
    vm.import @kit.bad_ref cconv "0v_r"

    vm.func @neg(%i0: i32) -> (i32) {
      %i1 = vm.call @kit.neg(%i0)
      vm.return %i1
    }
    vm.export @neg

    vm.func @neg_const() -> (i32) {
      %i0 = vm.const.i32 0xFFFFFFFF
      %i1 = vm.call @kit.neg(%i0)
      vm.return %i1
    }
    vm.export @neg_const

    vm.func @neg64(%i0:1: i64) -> (i64) {
      %i2:3 = vm.call @kit.neg64(%i0:1)
      vm.return %i2:3
    }
    vm.export @neg64

    vm.func @half(%i0: f32) -> (f32) {
      %i1 = vm.call @kit.half(%i0)
      vm.return %i1
    }
    vm.export @half

    vm.func @half64(%i0:1: f64) -> (f64) {
      %i2:3 = vm.call @kit.half64(%i0:1)
      vm.return %i2:3
    }
    vm.export @half64

    vm.func @same(%r0: !vm.ref<?>) -> (!vm.ref<?>) {
      %r1 = vm.call @kit.same(%r0)
      vm.return %r1
    }
    vm.export @same

    vm.func @total3(%i0: i32, %i1: i32, %i2: i32) -> (i32) {
      %i3 = vm.call.variadic @kit.total segments[3](%i0, %i1, %i2)
      vm.return %i3
    }
    vm.export @total3

    vm.func @total0() -> (i32) {
      %i0 = vm.call.variadic @kit.total segments[0]()
      vm.return %i0
    }
    vm.export @total0

    vm.func @weighted() -> (i64) {
      %i0 = vm.const.i32 10
      %i1 = vm.const.i32 2
      %i2:3 = vm.const.i64 3
      %i4 = vm.const.i32 -4
      %i6:7 = vm.const.i64 5000000000
      %i8:9 = vm.call.variadic @kit.weighted segments[0, 2](%i0, %i1, %i2:3, %i4, %i6:7)
      vm.return %i8:9
    }
    vm.export @weighted

    vm.func @count(%r0: !vm.ref<?>, %r1: !vm.ref<?>) -> (i32) {
      %r2 = vm.const.ref.zero
      %i0 = vm.call.variadic @kit.count segments[3](%r0, %r2, %r1)
      vm.return %i0
    }
    vm.export @count

    vm.func @many() -> (i32, i64, f32, f64, !vm.ref<?>) {
      %i0, %i2:3, %i4, %i6:7, %r0 = vm.call @kit.many()
      vm.return %i0, %i2:3, %i4, %i6:7, %r0
    }
    vm.export @many

    vm.func @nothing() -> () {
      vm.call @kit.nothing()
      vm.return
    }
    vm.export @nothing

    vm.func @calls() -> (i32) {
      %i0 = vm.call @kit.calls()
      vm.return %i0
    }
    vm.export @calls

    vm.func @refuse(%i0: i32) -> () {
      vm.call @kit.refuse(%i0)
      vm.return
    }
    vm.export @refuse

    vm.func @crash() -> (i32) {
      %i0 = vm.call @kit.crash()
      vm.return %i0
    }
    vm.export @crash

    vm.func @bad_type() -> (i32) {
      %i0 = vm.call @kit.bad_type()
      vm.return %i0
    }
    vm.export @bad_type

    vm.func @bad_count() -> (i32) {
      %i0, %i1 = vm.call @kit.bad_count()
      vm.return %i0
    }
    vm.export @bad_count

    vm.func @bad_ref() -> () {
      %r0 = vm.call @kit.bad_ref()
      vm.return
    }
    vm.export @bad_ref
"""


@pytest.fixture
def kit():
    return Kit()


@pytest.fixture
def ctx(kit):
    with Context([kit, asm(USER)]) as c:
        yield c


# -- module surface ----------------------------------------------------------------
def test_exports_are_listed_sorted_by_name(kit):
    names = [e.name for e in kit.exports()]
    assert names == sorted(names)
    assert kit.lookup_export("weighted").cconv == "0iCiID_I"
    assert kit.lookup_export("absent") is None


def test_a_native_module_needs_a_name():
    class Nameless(NativeModule):
        pass

    with pytest.raises(status.InvalidArgumentError, match="no module name"):
        Nameless()


def test_export_checks_the_cconv_when_declared():
    with pytest.raises(status.UnimplementedError, match="cconv version"):
        export("1i_i")
    with pytest.raises(status.PyreeError):
        export("0Ci")


def test_export_under_another_name():
    class Named(NativeModule):
        name = "named"

        @export("0i_i", name="plus.one")
        def plus_one(self, state, x):
            return x + 1

    ctx = Context([Named()])
    assert ctx.invoke("named.plus.one", (1,)) == (2,)


# -- state per context -------------------------------------------------------------
def test_state_is_allocated_per_context_and_freed_on_close(kit):
    user = asm(USER)
    one, two = Context([kit, user]), Context([kit, user])
    assert [s["context"] for s in kit.allocated] == [one, two]
    assert [one.invoke("user.calls")[0] for _ in range(3)] == [1, 2, 3]
    assert two.invoke("kit.calls") == (1,)  # directly from the host, same state
    assert two.invoke("user.calls") == (2,)
    one.close()
    assert kit.freed == [kit.allocated[0]]
    two.close()
    assert kit.freed == kit.allocated


# -- every cconv kind from bytecode --------------------------------------------------
def test_i32_arguments_arrive_signed(ctx, kit):
    assert ctx.invoke("user.neg", (5,)) == (-5,)
    assert ctx.invoke("user.neg_const") == (1,)
    assert kit.seen[-1] == ("neg", -1)
    # -(-2**31) does not fit: the result wraps in the i32 register.
    assert ctx.invoke("user.neg", (-(1 << 31),)) == (-(1 << 31),)
    assert kit.seen[-1] == ("neg", -(1 << 31))


def test_i64_arguments(ctx, kit):
    assert ctx.invoke("user.neg64", (5_000_000_000,)) == (-5_000_000_000,)
    assert kit.seen[-1] == ("neg64", 5_000_000_000)
    assert ctx.invoke("user.neg64", (-(1 << 63),)) == (-(1 << 63),)


def test_float_arguments(ctx, kit):
    assert ctx.invoke("user.half", (3.0,)) == (1.5,)
    assert ctx.invoke("user.half", (0.1,)) == (f32(f32(0.1) / 2),)
    assert kit.seen[-1] == ("half", f32(0.1))
    assert ctx.invoke("user.half64", (0.1,)) == (0.05,)
    assert kit.seen[-1] == ("half64", 0.1)
    (nan,) = ctx.invoke("user.half", (math.nan,))
    assert math.isnan(nan)
    assert ctx.invoke("user.half64", (-math.inf,)) == (-math.inf,)


def test_ref_arguments_and_results_keep_identity(ctx, kit):
    token = Token(1)
    assert ctx.invoke("user.same", (token,))[0] is token
    assert kit.seen[-1] == ("same", token)
    buf = VmBuffer.allocate(4)
    assert ctx.invoke("user.same", (buf,))[0] is buf
    assert ctx.invoke("user.same", (None,)) == (None,)


def test_span_of_i32(ctx, kit):
    assert ctx.invoke("user.total3", (1, -2, 40)) == (39,)
    assert kit.seen[-1] == ("total", [1, -2, 40])
    assert ctx.invoke("user.total0") == (0,)
    assert kit.seen[-1] == ("total", [])


def test_span_of_tuples(ctx, kit):
    assert ctx.invoke("user.weighted") == (10 * (2 * 3 - 4 * 5_000_000_000),)
    assert kit.seen[-1] == ("weighted", 10, [(2, 3), (-4, 5_000_000_000)])


def test_span_of_refs(ctx, kit):
    a, b = Token(1), Token(2)
    assert ctx.invoke("user.count", (a, b)) == (2,)
    assert kit.seen[-1] == ("count", [a, None, b])
    assert ctx.invoke("user.count", (None, b)) == (1,)


def test_several_results_of_every_kind(ctx):
    assert ctx.invoke("user.many") == (-1, -(1 << 40), 0.5, 0.25, None)
    assert ctx.invoke("kit.many") == (-1, -(1 << 40), 0.5, 0.25, None)


def test_no_arguments_no_results(ctx, kit):
    assert ctx.invoke("user.nothing") == ()
    assert kit.seen[-1] == ("nothing",)


# -- exports called directly from the host --------------------------------------------
def test_host_calls_native_exports(ctx, kit):
    assert ctx.invoke("kit.neg", (5,)) == (-5,)
    assert ctx.invoke("kit.total", ([1, 2, 3],)) == (6,)
    assert ctx.invoke("kit.weighted", (2, [(1, 2), (3, 4)])) == (28,)
    assert kit.seen[-1] == ("weighted", 2, [(1, 2), (3, 4)])
    with pytest.raises(status.InvalidArgumentError, match="span"):
        ctx.invoke("kit.total", (3,))


def test_host_span_arguments_are_checked_and_converted(ctx, kit):
    # Span elements follow the same conversion as plain arguments (vm-runtime.md 9.1).
    assert ctx.invoke("kit.total", ([0xFFFFFFFF, 2],)) == (1,)
    assert kit.seen[-1] == ("total", [-1, 2])
    assert ctx.invoke("kit.total", ((1, 2),)) == (3,)
    assert kit.seen[-1] == ("total", [1, 2])
    assert ctx.invoke("kit.weighted", (1, [[2, (1 << 64) + 3]])) == (6,)
    assert kit.seen[-1] == ("weighted", 1, [(2, 3)])
    with pytest.raises(status.InvalidArgumentError, match="argument 0 element 1: expected i32, "
                                                          "got str"):
        ctx.invoke("kit.total", ([1, "2"],))
    with pytest.raises(status.InvalidArgumentError, match="argument 1 element 0"):
        ctx.invoke("kit.weighted", (1, [3]))
    with pytest.raises(status.InvalidArgumentError, match="argument 1 element 0"):
        ctx.invoke("kit.weighted", (1, [(1, 2, 3)]))
    with pytest.raises(status.InvalidArgumentError, match="argument 0 element 0: expected a ref"):
        ctx.invoke("kit.count", ([object()],))
    assert ctx.invoke("kit.count", ([None, Token(1)],)) == (1,)


def test_host_arguments_to_native_exports_are_converted_to_the_abi(ctx, kit):
    # i32 arguments are truncated to 32 bits and read signed, as for bytecode callees.
    ctx.invoke("kit.neg", (0xFFFFFFFF,))
    assert kit.seen[-1] == ("neg", -1)
    ctx.invoke("kit.neg64", ((1 << 64) + 3,))
    assert kit.seen[-1] == ("neg64", 3)
    # An f32 argument is a binary32 value.
    ctx.invoke("kit.half", (0.1,))
    assert kit.seen[-1] == ("half", f32(0.1))


def test_signalling_nan_reaches_native_code_and_back(ctx, kit):
    # f32 values cross module boundaries bit-exactly (vm-runtime.md 2.2), host included.
    from pyree.vm.list_ops import f32_bits_to_float, float_to_f32_bits

    snan = f32_bits_to_float(0x7F800001)
    ctx.invoke("kit.half", (snan,))
    assert float_to_f32_bits(kit.seen[-1][1]) == 0x7F800001
    (x,) = ctx.invoke("kit.same32", (snan,))
    assert float_to_f32_bits(x) == 0x7F800001


def test_native_results_are_converted_to_the_cconv_types(ctx):
    # An i32 result is what an i32 register would hold: -(-2**31) wraps.
    assert ctx.invoke("kit.neg", (-(1 << 31),)) == (-(1 << 31),)
    assert ctx.invoke("kit.neg64", (-(1 << 63),)) == (-(1 << 63),)
    # An f32 result is a binary32 value.
    assert ctx.invoke("kit.half", (0.2,)) == (f32(0.1),)


# -- result checks --------------------------------------------------------------------
@pytest.mark.parametrize("caller", ["user", "kit"])
@pytest.mark.parametrize("fn, message", [
    ("bad_type", "native function kit.bad_type result 0: expected i32, got str"),
    ("bad_count", "native function kit.bad_count returned 1 results; cconv expects 2"),
    ("bad_ref", "native function kit.bad_ref result 0: expected a ref, got object"),
])
def test_results_are_checked_against_the_cconv(ctx, caller, fn, message):
    with pytest.raises(status.InternalError) as e:
        ctx.invoke(f"{caller}.{fn}")
    assert e.value.message.startswith(message)
    assert f"while invoking native function kit.{fn}" in e.value.annotations


def test_result_for_a_function_without_results(ctx):
    with pytest.raises(status.InternalError, match="declares no results"):
        ctx.invoke("kit.bad_void")
    with pytest.raises(status.InternalError, match="expected f32, got str"):
        ctx.invoke("kit.bad_float")


# -- errors ---------------------------------------------------------------------------
@pytest.mark.parametrize("code", [StatusCode.OUT_OF_RANGE, StatusCode.PERMISSION_DENIED,
                                  StatusCode.UNAVAILABLE])
def test_native_errors_keep_their_code_and_are_annotated(ctx, code):
    with pytest.raises(status.PyreeError) as e:
        ctx.invoke("user.refuse", (int(code),))
    err = e.value
    assert err.code == code
    assert err.message == "kit refuses"
    assert "while invoking native function kit.refuse" in err.annotations
    assert "while invoking native function kit.refuse" in str(err)
    assert str(err).startswith(f"{code.name}; kit refuses; ")


def test_calling_import_annotation(ctx):
    # vm-runtime.md 3: errors returned from an import call made by bytecode are annotated
    # "while calling import", after the native function's own annotation.
    with pytest.raises(status.PyreeError) as e:
        ctx.invoke("user.refuse", (int(StatusCode.ABORTED),))
    notes = e.value.annotations
    assert notes.index("while invoking native function kit.refuse") < \
        notes.index("while calling import")
    # A host call of the native export directly crosses no import.
    with pytest.raises(status.PyreeError) as e:
        ctx.invoke("kit.refuse", (int(StatusCode.ABORTED),))
    assert "while calling import" not in e.value.annotations


@pytest.mark.parametrize("caller", ["user", "kit"])
def test_python_exceptions_become_internal(ctx, caller):
    with pytest.raises(status.InternalError) as e:
        ctx.invoke(f"{caller}.crash")
    err = e.value
    assert err.code == StatusCode.INTERNAL
    assert "native function kit.crash raised ZeroDivisionError" in err.message
    assert "while invoking native function kit.crash" in err.annotations
    assert not isinstance(err, ZeroDivisionError)


def test_keyboard_interrupt_is_not_converted():
    class Interrupted(NativeModule):
        name = "interrupted"

        @export("0v_v")
        def stop(self, state):
            raise KeyboardInterrupt

    user = asm("""
        vm.module @user version 1
        vm.import @interrupted.stop cconv "0v_v"
        vm.func @main() -> () {
          vm.call @interrupted.stop()
          vm.return
        }
        vm.export @main
    """)
    ctx = Context([Interrupted(), user])
    for fn in ("interrupted.stop", "user.main"):
        with pytest.raises(KeyboardInterrupt):
            ctx.invoke(fn)
        with pytest.raises(KeyboardInterrupt):
            ctx.lookup_function(fn)()


def test_the_context_stays_usable_after_native_errors(ctx):
    for fn in ("crash", "bad_type", "bad_ref"):
        with pytest.raises(status.InternalError):
            ctx.invoke(f"user.{fn}")
    assert ctx.invoke("user.neg", (3,)) == (-3,)


# -- custom ref types through bytecode lists and globals -----------------------------
TOKENS = """
    vm.module @tokens version 1
    vm.import @kit.make cconv "0i_r"
    vm.import @kit.value_of cconv "0r_i"

    vm.func @build(%i0: i32) -> (!vm.list<!vmtest.token>) {
      %r0 = vm.list.alloc %i0 : !vm.list<!vmtest.token>
      vm.list.resize %r0, %i0
      %i1 = vm.const.i32.zero
      vm.br ^bb1
    ^bb1:
      %i2 = vm.cmp.lt.i32.s %i1, %i0
      vm.cond_br %i2, ^bb2, ^bb3
    ^bb2:
      %i3 = vm.mul.i32 %i1, %i1
      %r1 = vm.call @kit.make(%i3)
      vm.list.set.ref %r0, %i1, %R1
      %i4 = vm.const.i32 1
      %i1 = vm.add.i32 %i1, %i4
      vm.br ^bb1
    ^bb3:
      vm.return %R0
    }
    vm.export @build

    vm.func @sum(%r0: !vm.list<!vmtest.token>) -> (i32) {
      %i0 = vm.list.size %r0
      %i1 = vm.const.i32.zero
      %i5 = vm.const.i32.zero
      vm.br ^bb1
    ^bb1:
      %i2 = vm.cmp.lt.i32.s %i1, %i0
      vm.cond_br %i2, ^bb2, ^bb3
    ^bb2:
      %r1 = vm.list.get.ref %r0, %i1 : !vmtest.token
      %i3 = vm.call @kit.value_of(%R1)
      %i5 = vm.add.i32 %i5, %i3
      %i4 = vm.const.i32 1
      %i1 = vm.add.i32 %i1, %i4
      vm.br ^bb1
    ^bb3:
      vm.return %i5
    }
    vm.export @sum

    vm.func @keep(%r0: !vmtest.token) -> () {
      vm.global.store.ref %R0, .refs[0] : !vmtest.token
      vm.return
    }
    vm.export @keep

    vm.func @kept() -> (!vmtest.token) {
      %r0 = vm.global.load.ref .refs[0] : !vmtest.token
      vm.return %R0
    }
    vm.export @kept

    vm.func @kept_value() -> (i32) {
      %r0 = vm.global.load.ref .refs[0] : !vmtest.token
      %i0 = vm.call @kit.value_of(%R0)
      vm.return %i0
    }
    vm.export @kept_value

    vm.func @in_variant(%r0: !vmtest.token) -> (!vm.list<!vm.opaque>, i32) {
      %i0 = vm.const.i32 1
      %r1 = vm.list.alloc %i0 : !vm.list<!vm.opaque>
      vm.list.resize %r1, %i0
      %i1 = vm.const.i32.zero
      vm.list.set.ref %r1, %i1, %r0
      %r2 = vm.list.get.ref %r1, %i1 : !vmtest.token
      %i2 = vm.call @kit.value_of(%R2)
      vm.return %R1, %i2
    }
    vm.export @in_variant
"""


@pytest.fixture
def tokens():
    with Context([Kit(), asm(TOKENS)]) as c:
        yield c


def test_custom_refs_in_typed_lists(tokens):
    (lst,) = tokens.invoke("tokens.build", (4,))
    assert isinstance(lst, VmList)
    assert [t.value for t in lst] == [0, 1, 4, 9]
    assert all(type(t) is Token for t in lst)
    assert tokens.invoke("tokens.sum", (lst,)) == (14,)


def test_custom_refs_in_globals(tokens):
    token = Token(41)
    tokens.invoke("tokens.keep", (token,))
    assert tokens.invoke("tokens.kept_value") == (41,)
    assert tokens.invoke("tokens.kept")[0] is token


def test_custom_refs_in_variant_lists(tokens):
    token = Token(6)
    lst, value = tokens.invoke("tokens.in_variant", (token,))
    assert value == 6
    assert lst[0] is token


def test_custom_ref_type_is_checked_by_bytecode(tokens):
    with pytest.raises(status.InvalidArgumentError, match="source ref type mismatch"):
        tokens.invoke("tokens.keep", (VmList("i32"),))
    assert tokens.invoke("tokens.kept") == (None,)


def test_null_ref_reaches_native_code(tokens):
    with pytest.raises(status.InvalidArgumentError) as e:
        tokens.invoke("tokens.kept_value")
    assert e.value.message == "ref is null"
    assert "while invoking native function kit.value_of" in e.value.annotations


# -- calling back into the VM ----------------------------------------------------------
class Relay(NativeModule):
    name = "relay"

    def alloc_state(self, context):
        return context

    @export("0i_i")
    def via_vm(self, context, x):
        (squared,) = context.invoke("app.square", (x,))
        return squared + 1

    @export("0i_i")
    def via_vm_failing(self, context, x):
        return context.invoke("app.boom", (x,))[0]


RELAY_APP = """
    vm.module @app version 1
    vm.import @relay.via_vm cconv "0i_i"
    vm.import @relay.via_vm_failing cconv "0i_i"

    vm.func @square(%i0: i32) -> (i32) {
      %i1 = vm.mul.i32 %i0, %i0
      vm.return %i1
    }
    vm.export @square

    vm.func @main(%i0: i32) -> (i32) {
      %i1 = vm.call @relay.via_vm(%i0)
      %i2 = vm.call @relay.via_vm(%i1)
      vm.return %i2
    }
    vm.export @main

    vm.func @boom(%i0: i32) -> (i32) {
      vm.fail %i0, "boom from the inside"
    }
    vm.export @boom

    vm.func @main_failing(%i0: i32) -> (i32) {
      %i1 = vm.call @relay.via_vm_failing(%i0)
      vm.return %i1
    }
    vm.export @main_failing
"""


def test_native_function_calls_back_into_the_context():
    ctx = Context([Relay(), asm(RELAY_APP)])
    # main(3): via_vm(3) = 9 + 1 = 10; via_vm(10) = 101.
    assert ctx.invoke("app.main", (3,)) == (101,)


def test_error_inside_a_callback_propagates_with_its_code():
    ctx = Context([Relay(), asm(RELAY_APP)])
    with pytest.raises(status.PyreeError) as e:
        ctx.invoke("app.main_failing", (int(StatusCode.DATA_LOSS),))
    err = e.value
    assert err.code == StatusCode.DATA_LOSS
    assert err.message == "boom from the inside"
    assert "while invoking native function relay.via_vm_failing" in err.annotations
    assert ctx.invoke("app.main", (1,)) == (5,)


# -- state lifetime failures -------------------------------------------------------------
class BadAlloc(NativeModule):
    name = "badalloc"

    def alloc_state(self, context):
        raise KeyError("no state for you")


class BadFree(NativeModule):
    name = "badfree"

    def __init__(self):
        super().__init__()
        self.freed = 0

    def free_state(self, state):
        self.freed += 1
        raise RuntimeError("free failed")


def test_alloc_state_failure_is_internal_and_rolls_back():
    from vmhelpers import EventLog, logged_module

    log = EventLog(names={1: "a"})
    ctx = Context([log])
    with pytest.raises(status.InternalError, match="badalloc.*alloc_state.*KeyError"):
        ctx.register_modules([logged_module("a", 1), BadAlloc()])
    assert ctx.modules == [log]
    assert log.events == [("log", "alloc"), ("a", "init"), ("a", "deinit")]


def test_free_state_failure_does_not_leave_the_context_half_closed():
    from vmhelpers import EventLog, logged_module

    log, bad = EventLog(names={1: "a"}), BadFree()
    ctx = Context([log, bad, logged_module("a", 1)])
    init = ctx.lookup_function("a.__init")
    del log.events[:]
    with pytest.raises(status.InternalError, match="badfree.*free_state.*RuntimeError"):
        ctx.close()
    # Teardown went all the way (vm-runtime.md 8.2) and happened once.
    assert log.events == [("a", "deinit"), ("log", "free")]
    assert bad.freed == 1
    ctx.close()
    assert log.events == [("a", "deinit"), ("log", "free")]
    assert bad.freed == 1
    with pytest.raises(status.UseAfterReleaseError):
        init()
