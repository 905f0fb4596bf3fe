"""Host invocation: argument checks and conversion, result conversion, Function objects,
errors raised by bytecode (vm-runtime.md 3 and 9.1)."""

import math
import struct

import programs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vmhelpers import Token, asm, source

from pyree import status
from pyree.status import StatusCode
from pyree.vm import Context, Function, VmBuffer, VmList
from pyree.vm.ref import TypedValue, ValueType

CALC = source("""
    vm.module @calc version 1
    // Also squares (vmasm.md 8.4) and classify (8.6), at the end.
    vm.rodata[0] = 0A0B0C0D

    vm.func @add(%i0: i32, %i1: i32) -> (i32) {
      %i2 = vm.add.i32 %i0, %i1
      vm.return %i2
    }
    vm.export @add

    vm.func @id32(%i0: i32) -> (i32) {
      vm.return %i0
    }
    vm.export @id32

    vm.func @id64(%i0:1: i64) -> (i64) {
      vm.return %i0:1
    }
    vm.export @id64

    vm.func @idf32(%i0: f32) -> (f32) {
      vm.return %i0
    }
    vm.export @idf32

    vm.func @idf64(%i0:1: f64) -> (f64) {
      vm.return %i0:1
    }
    vm.export @idf64

    vm.func @idref(%r0: !vm.ref<?>) -> (!vm.ref<?>) {
      vm.return %r0
    }
    vm.export @idref

    vm.func @f32_from_bits(%i0: i32) -> (f32) {
      %i1 = vm.bitcast.i32.f32 %i0
      vm.return %i1
    }
    vm.export @f32_from_bits

    vm.func @f32_bits(%i0: f32) -> (i32) {
      %i1 = vm.bitcast.f32.i32 %i0
      vm.return %i1
    }
    vm.export @f32_bits

    vm.func @f64_from_bits(%i0:1: i64) -> (f64) {
      %i2:3 = vm.bitcast.i64.f64 %i0:1
      vm.return %i2:3
    }
    vm.export @f64_from_bits

    vm.func @f64_bits(%i0:1: f64) -> (i64) {
      %i2:3 = vm.bitcast.f64.i64 %i0:1
      vm.return %i2:3
    }
    vm.export @f64_bits

    vm.func @mixed(%i0:1: i64, %i2: i32, %r0: !vm.ref<?>, %i3: f32, %i4:5: f64) -> (f64, f32, !vm.ref<?>, i32, i64) {
      vm.return %i4:5, %i3, %r0, %i2, %i0:1
    }
    vm.export @mixed

    vm.func @consts() -> (i32, i32, i64, i64) {
      %i0 = vm.const.i32 0x80000000
      %i1 = vm.const.i32 -1
      %i2:3 = vm.const.i64 -9223372036854775808
      %i4:5 = vm.const.i64 9223372036854775807
      vm.return %i0, %i1, %i2:3, %i4:5
    }
    vm.export @consts

    vm.func @nothing() -> () {
      vm.return
    }
    vm.export @nothing

    vm.func @rodata() -> (!vm.buffer) {
      %r0 = vm.const.ref.rodata 0
      vm.return %r0
    }
    vm.export @rodata

    vm.func @alloc(%i0:1: i64) -> (!vm.buffer) {
      %i2 = vm.const.i32 0
      %r0 = vm.buffer.alloc %i0:1, %i2
      vm.return %R0
    }
    vm.export @alloc

    vm.func @list_sum(%r0: !vm.list<i32>) -> (i64) {
      %i0 = vm.list.size %r0
      %i1 = vm.const.i32.zero
      %i2:3 = vm.const.i64.zero
      vm.br ^bb1
    ^bb1:
      %i4 = vm.cmp.lt.i32.s %i1, %i0
      vm.cond_br %i4, ^bb2, ^bb3
    ^bb2:
      %i6:7 = vm.list.get.i64 %r0, %i1
      %i2:3 = vm.add.i64 %i2:3, %i6:7
      %i5 = vm.const.i32 1
      %i1 = vm.add.i32 %i1, %i5
      vm.br ^bb1
    ^bb3:
      vm.return %i2:3
    }
    vm.export @list_sum

    vm.func @mixed_list() -> (!vm.list<!vm.opaque>, i32) {
      %i0 = vm.const.i32 2
      %r0 = vm.list.alloc %i0 : !vm.list<!vm.opaque>
      vm.list.resize %r0, %i0
      %i1 = vm.const.i32 0
      %i2 = vm.const.i32 42
      vm.list.set.i32 %r0, %i1, %i2
      %i4:5 = vm.const.i64 8
      %i3 = vm.const.i32 0
      %r1 = vm.buffer.alloc %i4:5, %i3
      %i6 = vm.const.i32 1
      vm.list.set.ref %r0, %i6, %R1
      %r2 = vm.list.get.ref %r0, %i6 : !vm.buffer
      %i10:11 = vm.buffer.length %r2
      %i9 = vm.trunc.i64.i32 %i10:11
      vm.discard.refs %r2
      vm.return %R0, %i9
    }
    vm.export @mixed_list

    vm.func @fail_with(%i0: i32) -> () {
      vm.fail %i0, "failed on purpose"
    ^bb1:
      vm.return
    }
    vm.export @fail_with

    vm.func @run_off(%i0: i32) -> () {
      vm.fail %i0, "failed on purpose"
    }
    vm.export @run_off
""", programs.function("lists", "squares"), programs.function("classify", "classify"))


@pytest.fixture(scope="module")
def calc_module():
    return asm(CALC)


@pytest.fixture
def ctx(calc_module):
    with Context([calc_module]) as c:
        yield c


def bits32(x: float) -> int:
    """The binary32 bits of ``x``; a NaN narrows exactly (sign, top 23 payload bits), the
    inverse of IEEE widening, which ``struct`` does not do for signalling NaNs."""
    if math.isnan(x):
        d = bits64(x)
        return (d >> 63) << 31 | 0x7F800000 | (d >> 29) & 0x7FFFFF
    return struct.unpack("<I", struct.pack("<f", x))[0]


def from_bits32(b: int) -> float:
    return struct.unpack("<f", struct.pack("<I", b))[0]


def bits64(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def from_bits64(b: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", b))[0]


# -- argument count and types -------------------------------------------------------------
def test_argument_count_mismatch(ctx):
    with pytest.raises(status.InvalidArgumentError) as e:
        ctx.invoke("calc.add", (1,))
    assert "input list and function mismatch; expected 2 arguments but passed 1" \
        in e.value.message
    assert e.value.code == StatusCode.INVALID_ARGUMENT
    with pytest.raises(status.InvalidArgumentError, match="expected 2 arguments but passed 3"):
        ctx.invoke("calc.add", (1, 2, 3))
    with pytest.raises(status.InvalidArgumentError,
                       match="no input provided to a function that has inputs"):
        ctx.invoke("calc.add")
    with pytest.raises(status.InvalidArgumentError, match="expected 0 arguments but passed 1"):
        ctx.invoke("calc.nothing", (1,))


@pytest.mark.parametrize("fn, args, index, expected, got", [
    ("add", (1, "2"), 1, "i32", "str"),
    ("add", (1.0, 2), 0, "i32", "float"),
    ("add", (None, 2), 0, "i32", "NoneType"),
    ("id64", (2.5,), 0, "i64", "float"),
    ("idf32", ("1.5",), 0, "f32", "str"),
    ("idf64", (None,), 0, "f64", "NoneType"),
    ("idf64", (b"1",), 0, "f64", "bytes"),
    ("idref", (object(),), 0, "a ref", "object"),
    ("idref", (3,), 0, "a ref", "int"),
])
def test_argument_type_errors_name_the_argument(ctx, fn, args, index, expected, got):
    with pytest.raises(status.InvalidArgumentError) as e:
        ctx.invoke(f"calc.{fn}", args)
    message = e.value.message
    assert fn in message
    assert f"argument {index}" in message
    assert f"expected {expected}, got {got}" in message


@pytest.mark.parametrize("fn, args, fragment", [
    ("add", (1,), "expected 2 arguments but passed 1"),
    ("add", (), "no input provided"),
    ("add", (1, "2"), "argument 1: expected i32, got str"),
    ("idf32", ("1.5",), "argument 0: expected f32, got str"),
    ("idref", (object(),), "argument 0: expected a ref"),
])
def test_function_objects_check_arguments_too(ctx, fn, args, fragment):
    f = ctx.lookup_function(f"calc.{fn}")
    for call in (lambda: f(*args), lambda: f(*args, instruction_budget=10**6)):
        with pytest.raises(status.InvalidArgumentError, match=fragment):
            call()


def test_argument_errors_are_value_errors(ctx):
    with pytest.raises(ValueError):
        ctx.invoke("calc.add", ("x", 1))


# -- argument conversion --------------------------------------------------------------
def test_i32_arguments_truncate_and_read_signed(ctx):
    assert ctx.invoke("calc.id32", (1 << 31,)) == (-(1 << 31),)
    assert ctx.invoke("calc.id32", (0xFFFFFFFF,)) == (-1,)
    assert ctx.invoke("calc.id32", ((1 << 32) + 5,)) == (5,)
    assert ctx.invoke("calc.id32", (True,)) == (1,)
    assert ctx.invoke("calc.add", (0x7FFFFFFF, 1)) == (-(1 << 31),)


def test_i64_arguments_truncate_and_read_signed(ctx):
    assert ctx.invoke("calc.id64", (1 << 63,)) == (-(1 << 63),)
    assert ctx.invoke("calc.id64", ((1 << 64) + 7,)) == (7,)
    assert ctx.invoke("calc.id64", (-5_000_000_000,)) == (-5_000_000_000,)


def test_numpy_scalars_are_accepted(ctx):
    np = pytest.importorskip("numpy")
    assert ctx.invoke("calc.add", (np.int32(2), np.int64(3))) == (5,)
    assert ctx.invoke("calc.idf64", (np.float64(0.5),)) == (0.5,)
    assert ctx.invoke("calc.idf32", (np.float32(0.25),)) == (0.25,)


def test_f32_arguments_round_to_binary32(ctx):
    (x,) = ctx.invoke("calc.idf32", (0.1,))
    assert x == from_bits32(bits32(0.1)) and x != 0.1
    assert ctx.invoke("calc.idf32", (1e39,)) == (math.inf,)
    assert ctx.invoke("calc.idf32", (-1e39,)) == (-math.inf,)
    assert ctx.invoke("calc.idf32", (3,)) == (3.0,)  # ints are numbers too
    assert ctx.invoke("calc.f32_bits", (-0.0,)) == (-(1 << 31),)


def test_f64_arguments_are_exact(ctx):
    assert ctx.invoke("calc.idf64", (0.1,)) == (0.1,)
    assert ctx.invoke("calc.f64_bits", (-0.0,)) == (-(1 << 63),)


def test_ref_arguments_accept_null_and_any_registered_type(ctx):
    token = Token(2)
    assert ctx.invoke("calc.idref", (token,))[0] is token
    assert ctx.invoke("calc.idref", (None,)) == (None,)
    lst = VmList("i32")
    assert ctx.invoke("calc.idref", (lst,))[0] is lst


def test_mixed_signature_register_placement(ctx):
    token = Token(0)
    result = ctx.invoke("calc.mixed", (-(1 << 40), -7, token, 1.5, -2.25))
    assert result == (-2.25, 1.5, token, -7, -(1 << 40))
    assert result[2] is token


# -- results -----------------------------------------------------------------------------
def test_result_tuples(ctx):
    assert ctx.invoke("calc.nothing") == ()
    assert ctx.invoke("calc.add", (2, 3)) == (5,)
    assert ctx.invoke("calc.consts") == (-(1 << 31), -1, -(1 << 63), (1 << 63) - 1)
    assert all(type(v) is int for v in ctx.invoke("calc.consts"))


@pytest.mark.parametrize("bits", [0x7FC00000, 0xFFC00000, 0x7FC12345, 0x7FFFFFFF,
                                  0xFFF00001, 0x00000001, 0x80000000, 0x7F7FFFFF])
def test_f32_results_are_bit_exact(ctx, bits):
    (x,) = ctx.invoke("calc.f32_from_bits", (bits,))
    assert type(x) is float
    assert bits32(x) == bits
    # ... and back in through an f32 argument.
    assert ctx.invoke("calc.f32_bits", (x,))[0] & 0xFFFFFFFF == bits


@pytest.mark.parametrize("bits", [0x7F800001, 0xFFA00000, 0x7FBFFFFF])
def test_f32_signalling_nan_results_are_bit_exact(ctx, bits):
    # A host float is a binary64: the f32 NaN arrives widened (payload shifted up by 29
    # bits) and narrows back to the same bits, also through an f32 argument.
    (x,) = ctx.invoke("calc.f32_from_bits", (bits,))
    assert math.isnan(x)
    assert bits32(x) == bits
    assert ctx.invoke("calc.f32_bits", (x,))[0] & 0xFFFFFFFF == bits


@pytest.mark.parametrize("bits", [0x7FF8000000000000, 0x7FF0000000000001, 0xFFF8DEADBEEF0001,
                                  0x8000000000000000, 0x0000000000000001])
def test_f64_results_are_bit_exact(ctx, bits):
    signed = bits - (1 << 64) if bits >> 63 else bits
    (x,) = ctx.invoke("calc.f64_from_bits", (signed,))
    assert bits64(x) == bits
    assert ctx.invoke("calc.f64_bits", (x,)) == (signed,)


def test_ref_results(ctx, calc_module):
    (ro,) = ctx.invoke("calc.rodata")
    assert isinstance(ro, VmBuffer)
    assert ro.tobytes() == bytes.fromhex("0A0B0C0D")
    assert not ro.mutable
    assert ctx.invoke("calc.rodata")[0] is ro
    with Context([calc_module]) as other:
        assert other.invoke("calc.rodata")[0] is ro  # one buffer per segment per module
    (buf,) = ctx.invoke("calc.alloc", (16,))
    assert isinstance(buf, VmBuffer) and buf.mutable and len(buf) == 16
    assert buf.tobytes() == bytes(16)


def test_list_results_and_arguments(ctx):
    (squares,) = ctx.invoke("calc.squares", (5,))
    assert isinstance(squares, VmList)
    assert squares.to_list() == [0, 1, 4, 9, 16]
    assert ctx.invoke("calc.list_sum", (squares,)) == (30,)
    host = VmList.of("i32", [1, -2, 1 << 30])
    assert ctx.invoke("calc.list_sum", (host,)) == (1 - 2 + (1 << 30),)


def test_variant_list_result(ctx):
    lst, length = ctx.invoke("calc.mixed_list")
    assert length == 8
    assert len(lst) == 2
    assert lst.get_variant(0) == TypedValue(ValueType.I32, 42)
    assert isinstance(lst[1], VmBuffer) and len(lst[1]) == 8


# -- the 8.6 example and failures ------------------------------------------------------
def test_classify(ctx):
    assert ctx.invoke("calc.classify", (0, -2.5)) == (-100,)
    assert ctx.invoke("calc.classify", (0, 2.5)) == (100,)
    assert ctx.invoke("calc.classify", (1, -2.5)) == (20,)
    assert ctx.invoke("calc.classify", (7, -2.5)) == (-1,)
    with pytest.raises(status.FailedPreconditionError) as e:
        ctx.invoke("calc.classify", (2, -2.5))
    err = e.value
    assert err.code == StatusCode.FAILED_PRECONDITION
    assert err.message == "case 2 is not supported"
    assert str(err).startswith("FAILED_PRECONDITION; case 2 is not supported; ")
    assert "invoking function 'classify'" in err.annotations


@pytest.mark.parametrize("code", [1, 3, 5, 8, 11, 12, 13, 14, 16, 18])
def test_fail_codes(ctx, code):
    with pytest.raises(status.PyreeError) as e:
        ctx.invoke("calc.fail_with", (code,))
    assert int(e.value.code) == code
    assert e.value.message == "failed on purpose"


def test_fail_code_masked_to_five_bits(ctx):
    with pytest.raises(status.DeadlineExceededError):
        ctx.invoke("calc.fail_with", (100,))
    with pytest.raises(status.PyreeError) as e:
        ctx.invoke("calc.fail_with", (64,))
    assert int(e.value.code) == 0
    assert str(e.value).startswith("OK; failed on purpose")
    assert ctx.invoke("calc.fail_with", (0,)) == ()


def test_errors_subclass_natural_builtins(ctx):
    with pytest.raises(IndexError):
        ctx.invoke("calc.fail_with", (int(StatusCode.OUT_OF_RANGE),))
    with pytest.raises(LookupError):
        ctx.invoke("calc.fail_with", (int(StatusCode.NOT_FOUND),))
    with pytest.raises(MemoryError):
        ctx.invoke("calc.fail_with", (int(StatusCode.RESOURCE_EXHAUSTED),))


def test_a_fail_with_status_zero_that_runs_off_the_end_is_internal(ctx):
    with pytest.raises(status.InternalError, match="ran off the end"):
        ctx.invoke("calc.run_off", (0,))
    with pytest.raises(status.AbortedError):
        ctx.invoke("calc.run_off", (int(StatusCode.ABORTED),))


def test_runtime_errors_from_instructions(ctx):
    with pytest.raises(status.InvalidArgumentError, match="null"):
        ctx.invoke("calc.list_sum", (None,))


# -- Function objects and invoke forms ---------------------------------------------------
def test_function_object(ctx):
    f = ctx.lookup_function("calc.add")
    assert isinstance(f, Function)
    assert f.qualified_name == "calc.add"
    assert f.cconv == "0ii_i"
    assert "calc.add" in repr(f)
    assert f(2, 3) == (5,)
    assert ctx.invoke(f, (2, 3)) == (5,)
    assert ctx.invoke("calc.add", [2, 3]) == (5,)
    assert f(2, 3, instruction_budget=1000) == (5,)
    assert f(2, 3, timeout=10.0) == (5,)


def test_begin_call_runs_to_completion(ctx):
    call = ctx.begin_call("calc.add", (4, 5))
    assert call.status == StatusCode.OK
    assert call.results == (9,)
    with pytest.raises(status.FailedPreconditionError, match="not suspended"):
        call.resume()


def test_on_trace_hook_sees_trace_events():
    module = asm("""
        vm.module @traced version 1
        vm.func @main(%i0: i32) -> (i32) {
          vm.trace "entered", %i0
          %i1 = vm.const.i32 1
          %i2 = vm.add.i32 %i0, %i1
          vm.print "leaving", %i2
          vm.return %i2
        }
        vm.export @main
    """)
    events = []
    ctx = Context([module])
    assert ctx.invoke("traced.main", (4,),
                      on_trace=lambda *a: events.append(a)) == (5,)
    assert [e[:2] for e in events] == [("trace", "entered"), ("print", "leaving")]
    assert ctx.invoke("traced.main", (4,)) == (5,)


# -- values across an import boundary (bytecode to bytecode) ------------------------------
USES_CALC = """
    vm.module @uses version 1
    vm.import @calc.mixed cconv "0IirfF_FfriI"
    vm.import @calc.f32_from_bits cconv "0i_f"
    vm.import @calc.f64_from_bits cconv "0I_F"

    vm.func @relay(%i0:1: i64, %i2: i32, %r0: !vm.ref<?>, %i3: f32, %i4:5: f64) -> (f64, f32, !vm.ref<?>, i32, i64) {
      %i6:7, %i8, %r1, %i9, %i10:11 = vm.call @calc.mixed(%i0:1, %i2, %r0, %i3, %i4:5)
      vm.return %i6:7, %i8, %r1, %i9, %i10:11
    }
    vm.export @relay

    vm.func @nan32(%i0: i32) -> (i32) {
      %i1 = vm.call @calc.f32_from_bits(%i0)
      %i2 = vm.bitcast.f32.i32 %i1
      vm.return %i2
    }
    vm.export @nan32

    vm.func @nan64(%i0:1: i64) -> (i64) {
      %i2:3 = vm.call @calc.f64_from_bits(%i0:1)
      %i4:5 = vm.bitcast.f64.i64 %i2:3
      vm.return %i4:5
    }
    vm.export @nan64
"""


def test_every_value_kind_crosses_an_import(calc_module):
    ctx = Context([calc_module, asm(USES_CALC)])
    token = Token(5)
    result = ctx.invoke("uses.relay", (-(1 << 62), -(1 << 31), token, -0.0, math.inf))
    assert result == (math.inf, -0.0, token, -(1 << 31), -(1 << 62))
    assert math.copysign(1.0, result[1]) == -1.0
    assert result[2] is token


@pytest.mark.parametrize("bits", [0x7FC12345, 0xFFC00001, 0x7F800000, 0x00000001,
                                  0x7F800001, 0xFF800001])
def test_f32_bits_cross_an_import_exactly(calc_module, bits):
    # IREE passes the 4 bytes through; pyree's cross-module ABI carries a Python float.
    ctx = Context([calc_module, asm(USES_CALC)])
    assert ctx.invoke("uses.nan32", (bits,))[0] & 0xFFFFFFFF == bits


@pytest.mark.parametrize("bits", [0x7FF8000000000001, 0x7FF0000000000001, 0xFFF4000000000000])
def test_f64_bits_cross_an_import_exactly(calc_module, bits):
    ctx = Context([calc_module, asm(USES_CALC)])
    assert ctx.invoke("uses.nan64", (bits,))[0] & ((1 << 64) - 1) == bits


def test_arg_converter_passes_plain_arguments_through_and_converts_the_rest():
    from pyree.vm import invocation as inv
    from pyree.vm.buffer import VmBuffer

    convert = inv.arg_converter("m.f", ("r", "i", "I"))
    ref = VmBuffer.from_bytes(b"x")
    plain = (ref, (1 << 31) - 1, -(1 << 63))
    assert convert(plain) is plain                      # in range: the same tuple
    assert convert((None, -(1 << 31), (1 << 63) - 1))[0] is None
    assert convert((ref, 1 << 31, 0)) == [ref, -(1 << 31), 0]      # wrapped to i32
    assert convert((ref, True, 1 << 63)) == [ref, 1, -(1 << 63)]
    with pytest.raises(ValueError, match="argument 0: expected a ref"):
        convert((object(), 0, 0))
    with pytest.raises(ValueError):
        convert((ref, 0))                               # count mismatch
    assert inv.arg_converter("m.g", ())(()) == ()


# -- Function objects of ref/integer signatures: the generated __call__ ------------------
_ARGS = st.one_of(st.integers(-(1 << 65), 1 << 65), st.sampled_from(
    [0, -1, (1 << 31) - 1, 1 << 31, -(1 << 31), -(1 << 31) - 1, (1 << 63) - 1, 1 << 63,
     -(1 << 63), True, False, 1.0, None, "x", b"1"]))


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(["add", "id32", "id64", "idref"]),
       args=st.lists(st.one_of(_ARGS, st.just(VmList)), max_size=3))
def test_generated_call_agrees_with_invoke(calc_module, name, args):
    """A Function whose arguments are refs and integers calls through a ``__call__``
    generated for its signature (inline argument checks, no converter frame); whatever the
    arguments - plain in-range values, values that need converting (bools, out-of-range
    ints), wrong types or counts - it ends as ``Context.invoke`` ends: the same results
    or the same error."""
    with Context([calc_module]) as ctx:
        args = [VmList("i32") if a is VmList else a for a in args]
        f = ctx.lookup_function(f"calc.{name}")
        assert type(f).__name__ != "Function" and isinstance(f, Function)

        def outcome(call):
            try:
                return "ok", call()
            except status.PyreeError as e:
                return type(e), e.message
        assert outcome(lambda: f(*args)) == outcome(lambda: ctx.invoke(f"calc.{name}", args))
        assert outcome(lambda: f(*args)) == outcome(lambda: f(*args, instruction_budget=10**6))
