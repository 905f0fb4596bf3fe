"""Differential testing: every pyree execution tier agrees with the reference evaluator,
bit for bit and down to the status code of traps. The reference itself is checked on the
worked examples of vm-isa.md first."""

from __future__ import annotations

import math
import struct

import attrs
import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from pyree.bytecode.builder import FunctionBuilder
from pyree.bytecode.disasm import disassemble

from pyree import vm
from pyree.status import StatusCode
from pyree.testing import differential as D
from pyree.testing import families as fam
from pyree.testing import reference as R
from pyree.testing import standard_module
from pyree.testing.strategies import Program, programs
from pyree.testing.targets import DifferentialTarget, ref_args

#: Big generated programs: some draws overrun, and generation takes time.
HEAVY = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def f32(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def f64(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def one_op(mnemonic: str, arg_banks: str, result: str, *operands) -> list:
    """Run one instruction on the reference: arguments in %i0.. by cconv, result back."""
    from pyree.bytecode import cconv as cc
    from pyree.bytecode import isa

    cconv = cc.make(arg_banks, result)
    fb = FunctionBuilder("main", cconv)
    ordinals, slots, _ = cc.register_placement(arg_banks)
    out = slots + (slots & 1)
    op = isa.BY_MNEMONIC[mnemonic]
    reads = iter(ordinals)
    args = [out if f.access == "write" else next(reads) for f in op.fields]
    fb.emit(op, args)
    fb.emit("return", ((out,),))
    module = standard_module(fb.finish())
    with D._quiet_numpy():
        return R.Machine(module).call("main", operands)[0]


# -- the reference on vm-isa.md's examples ------------------------------------------------

@pytest.mark.parametrize("mnemonic,a,b,expected", [
    ("div.i32.s", -7, 2, -3), ("rem.i32.s", -7, 2, -1), ("rem.i32.s", 7, -2, 1),
    ("div.i32.u", -1, 2, 0x7FFFFFFF), ("shl.i32", 1, 32, 1), ("shl.i32", 1, 33, 2),
    ("shr.i32.s", -8, -1, -1), ("min.i32.u", -1, 3, 3), ("max.i32.s", -1, 3, 3),
])
def test_reference_integer_examples(mnemonic, a, b, expected):
    assert one_op(mnemonic, "ii", "i", a, b) == expected


def test_reference_integer_traps():
    for mnemonic, a, b in (("div.i32.s", 1, 0), ("rem.i32.u", 1, 0), ("div.i32.s", -2**31, -1)):
        with pytest.raises(R.Trap) as info:
            one_op(mnemonic, "ii", "i", a, b)
        assert info.value.codes == {StatusCode.INVALID_ARGUMENT}


@pytest.mark.parametrize("mnemonic,x,expected", [
    ("cast.f32.si32", 2.5, 3), ("cast.f32.si32", -2.5, -3), ("cast.f32.si32", 3e9, -1294967296),
    ("cast.f32.si32", math.inf, 0), ("cast.f32.si32", math.nan, 0),
    ("cast.f32.ui32", -1.0, -1), ("cast.f32.ui32", 4294967295.0, 0),
])
def test_reference_float_to_int_examples(mnemonic, x, expected):
    assert one_op(mnemonic, "f", "i", x) == expected


@pytest.mark.parametrize("mnemonic,x,expected", [
    ("round.f32", 2.5, 3.0), ("round.f32", -2.5, -3.0), ("round.f32", -0.4, -0.0),
    ("round.f32.even", 2.5, 2.0), ("round.f32.even", 3.5, 4.0), ("round.f32.even", -2.5, -2.0),
    ("round.f32.even", -0.5, 0.0), ("round.f32.even", -0.4, -0.0), ("ceil.f32", -0.5, -0.0),
])
def test_reference_rounding_examples(mnemonic, x, expected):
    assert one_op(mnemonic, "f", "f", x) == f32(expected)


def test_reference_float_examples():
    assert one_op("rem.f32", "ff", "f", 5.0, 3.0) == f32(-1.0)
    assert one_op("rem.f32", "ff", "f", 7.0, 2.0) == f32(-1.0)
    assert one_op("min.f32", "ff", "f", -0.0, 0.0) == f32(-0.0)
    assert one_op("max.f32", "ff", "f", 0.0, -0.0) == f32(0.0)
    assert one_op("cmp.ne.f32.o", "ff", "i", math.nan, 1.0) == 1
    assert one_op("cast.f64.si32", "F", "i", 0.49999999999999994) == 1
    assert one_op("cast.ui32.f32", "i", "f", -1) == f32(4294967296.0)
    assert one_op("trunc.f64.f32", "F", "f", 1e40) == f32(math.inf)
    assert one_op("cast.f64.ui64", "F", "I", -1.0) == -1
    assert one_op("cast.f32.si64", "f", "I", math.nan) == -2**63


def test_a_failure_with_code_zero_is_not_a_success():
    """vm-isa.md 5.17: ``fail 32`` fails, and the status reads as OK (code 0)."""
    from pyree.bytecode.asm import assemble

    module = assemble("vm.module @f version 0\nvm.func @main(%i0: i32) -> (i32) {\n"
                      '  vm.fail %i0, "masked"\n}\nvm.export @main\n')
    (outcome, _) = D.check(Program(module, "main", (32,)))
    assert outcome.failed and outcome.codes == {0}
    (outcome, _) = D.check(Program(module, "main", (100,)))
    assert outcome.codes == {StatusCode.DEADLINE_EXCEEDED}


def test_reference_siphash_vectors():
    from pyree.testing.reference.siphash import siphash24

    assert siphash24(b"") == 0x726FDB47DD0E0E31
    assert siphash24(bytes(range(8))) == 0x93F5F5799A932462
    assert siphash24(bytes(range(16))) == 0x3F2ACC7F57C29BDB


def test_reference_shares_no_code_with_the_interpreter():
    import subprocess
    import sys

    code = ("import sys, pyree.testing.reference; "
            "print(sorted(m for m in sys.modules if m.startswith('pyree.vm')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


# -- the properties -----------------------------------------------------------------------

#: Differential programs: the target's options (the exact families, up to one bytecode
#: library imported), host imports, buffer, list and null ref arguments.
DIFFERENTIAL = dict(DifferentialTarget.options, imports=D.host_imports())


def _explain(program: Program) -> None:
    note(disassemble(program.module))
    note(f"arguments: {program.args!r}")


@HEAVY
@given(programs(refs=ref_args(), **DIFFERENTIAL))
def test_every_tier_agrees_with_the_reference(program):
    for lib in program.libraries:
        note(disassemble(lib))
    _explain(program)
    outcome = D.check(program, imports=D.HOST_FUNCTIONS)
    event("indeterminate" if outcome == D.INDETERMINATE else
          "ok" if outcome[0].ok else "trap")


@settings(max_examples=30, suppress_health_check=HEAVY.suppress_health_check)
@given(programs(families={"int", "float", "const", "control"}, max_functions=1,
                arg_chars="ifIF"))
def test_compute_programs_agree(program):
    _explain(program)
    D.check(program, tiers=("plain", "budget"))


_MATH = [op.mnemonic for op in fam.OPS_BY_FAMILY["math"]]


def _ulps(a: int, b: int, wide: bool) -> int:
    def key(bits):
        sign = 1 << (63 if wide else 31)
        return -(bits & ~sign) if bits & sign else bits
    return abs(key(a) - key(b))


def _math_op(mnemonic, args):
    """(pyree's result as bits, the reference's bits) of one math instruction."""
    from pyree.bytecode import isa

    wide = mnemonic.endswith("f64")
    t = "F" if wide else "f"
    arity = sum(f.access == "read" for f in isa.BY_MNEMONIC[mnemonic].fields)
    assert len(args) == arity
    expected = one_op(mnemonic, t * arity, t, *args)
    fb = FunctionBuilder("main", f"0{t * arity}_{t}")
    fb.emit(mnemonic, (*range(0, 2 * arity if wide else arity, 2 if wide else 1), 8))
    fb.emit("return", ((8,),))
    module = vm.BytecodeModule(standard_module(fb.finish()))
    with vm.Context([module]) as ctx:
        (got,) = ctx.lookup_function("fuzz.main")(*args)
    return got, (f64(got) if wide else D._f32_bits_of_float(got)), expected


@settings(max_examples=40)
@given(st.sampled_from(_MATH), st.data())
def test_math_functions_are_the_c_librarys(mnemonic, data):
    """libm functions are excluded from the exact differential family (programs may run
    them on another libm), but on one machine pyree's f32 and f64 forms are the C
    library's binary32 and binary64 functions, as the reference's are (vm-isa.md 5.7):
    the same bits."""
    from pyree.bytecode import isa

    wide = mnemonic.endswith("f64")
    arity = sum(f.access == "read" for f in isa.BY_MNEMONIC[mnemonic].fields)
    values = st.floats(width=64 if wide else 32, allow_nan=False, min_value=-100,
                       max_value=100)
    args = tuple(data.draw(values) for _ in range(arity))
    got, got_bits, expected = _math_op(mnemonic, args)
    if math.isnan(got) and (expected & (0x7FF0000000000000 if wide else 0x7F800000)) == (
            0x7FF0000000000000 if wide else 0x7F800000):
        return
    assert _ulps(got_bits, expected, wide) == 0, (mnemonic, args, got, expected)


def test_log10_f32_is_log10f_not_the_rounded_binary64_log10():
    """log10.f32(0.75) as the C library's log10f gives it. glibc 2.36's log10f is 2 ulps
    from the correctly rounded value there (what log10 in binary64 rounded to binary32
    gives): a VM computing f32 libm functions in binary64 differed from IREE's results by
    more than the ulp vm-isa.md 5.7 allows."""
    import ctypes
    import ctypes.util

    libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
    libm.log10f.restype = ctypes.c_float
    libm.log10f.argtypes = [ctypes.c_float]
    want = D._f32_bits_of_float(libm.log10f(0.75))
    got, got_bits, expected = _math_op("log10.f32", (0.75,))
    assert got_bits == want == expected


# -- libm inside full programs ------------------------------------------------------------

def _libm_program(body: str, arg: float) -> Program:
    from pyree.bytecode.asm import assemble

    module = assemble("vm.module @f version 0\nvm.func @main(%i0: f32) -> (i32, f32) {\n"
                      f"{body}\n  vm.return %i2, %i1\n}}\nvm.export @main\n")
    return Program(module, "main", (arg,))


def test_step_ulps_walks_adjacent_floats():
    from pyree.testing.reference.values import step_ulps
    assert step_ulps(f32(1.0), 1, False) == f32(1.0) + 1
    assert step_ulps(f32(1.0), -1, False) == f32(1.0) - 1
    assert step_ulps(f32(0.0), -1, False) == f32(-1.401298464324817e-45)
    assert step_ulps(f32(-0.0), 1, False) == f32(1.401298464324817e-45)
    assert step_ulps(f32(math.inf), -1, False) == f32(math.inf)
    assert step_ulps(f32(3.4028234663852886e38), 1, False) == f32(3.4028234663852886e38)
    assert step_ulps(f64(2.0), -1, True) == f64(2.0) - 1


def test_programs_calling_libm_compare_within_ulps():
    """sin(x) flows into arithmetic and out: pyree may land an ulp or two away from the
    reference's C library, and the comparison accepts that, and only that."""
    program = _libm_program("  %i1 = vm.sin.f32 %i0\n  %i3 = vm.const.f32 2.5\n"
                            "  %i1 = vm.mul.f32 %i1, %i3\n  %i2 = vm.const.i32 7", 0.7)
    (expected, _) = D.check(program, tiers=("plain",))
    assert expected.ulps == D.LIBM_ULPS
    near = attrs.evolve(expected, results=(expected.results[0], (
        "f", expected.results[1][1] + D.LIBM_ULPS)))
    far = attrs.evolve(expected, results=(expected.results[0], (
        "f", expected.results[1][1] + D.LIBM_ULPS + 1)))
    assert expected.close_to(near, expected.ulps)
    assert not expected.close_to(far, expected.ulps)


def test_outcomes_that_hinge_on_the_last_bit_of_libm_are_not_compared():
    """Comparing sin(x) with the C library's exact sinf(x) flips when libm moves an ulp:
    the ISA leaves that bit open, so the program is indeterminate, not a disagreement."""
    x = 0.7
    exact = one_op("sin.f32", "f", "f", x)
    value = struct.unpack("<f", struct.pack("<I", exact))[0]
    program = _libm_program(f"  %i1 = vm.sin.f32 %i0\n  %i3 = vm.const.f32 {value!r}\n"
                            "  %i2 = vm.cmp.eq.f32.o %i1, %i3", x)
    assert D.reference_outcomes(program) == D.INDETERMINATE


@HEAVY
@given(programs(families={"int", "float", "math", "const", "control"}, max_functions=1,
                arg_chars="ifIF"))
def test_compute_programs_with_libm_agree(program):
    _explain(program)
    D.check(program, tiers=("plain", "budget"))
