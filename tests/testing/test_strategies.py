"""pyree.testing strategies: every drawn module verifies (no filtering anywhere), options
pin the space, families follow from the ISA table, and failures shrink to a handful of
instructions."""

from __future__ import annotations

from hypothesis import HealthCheck, find, given, note, settings
from hypothesis import strategies as st
from pyree.bytecode import encoding, isa, verifier
from pyree.bytecode.asm import assemble
from pyree.bytecode.disasm import disassemble

from pyree import vm
from pyree.testing import (
    ImportSpec,
    arguments,
    function_of,
    functions,
    instructions,
    modules,
    programs,
    standard_module,
)
from pyree.testing import families as fam

#: Big generated programs: some draws overrun, and generation takes time.
HEAVY = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _ops(module):
    return [ins.op for f in module.functions for ins in encoding.decode(f.code)]


@HEAVY
@given(modules())
def test_every_drawn_module_verifies_and_round_trips_through_vmasm(module):
    text = disassemble(module)
    note(text)
    verifier.verify(module)
    assert assemble(text) == module


@HEAVY
@given(functions())
def test_drawn_functions_verify_in_the_standard_module(function):
    verifier.verify(standard_module(function))


@given(st.lists(instructions(), min_size=1, max_size=6))
def test_drawn_instructions_verify(items):
    verifier.verify(standard_module(function_of(items)))


@given(modules(families={"int", "const"}, max_depth=0, max_functions=1))
def test_families_pin_the_instructions(module):
    allowed = set(fam.OPS_BY_FAMILY["int"]) | set(fam.OPS_BY_FAMILY["const"])
    for op in _ops(module):
        assert op in allowed or op.mnemonic in ("block", "return", "fail"), op.mnemonic


@HEAVY
@given(modules(max_depth=0))
def test_depth_zero_has_no_loops(module):
    for f in module.functions:
        for ins in encoding.decode(f.code):
            for field, arg in zip(ins.op.fields, ins.args):
                if field.kind == "branch_target":
                    assert arg > ins.pc, "a backward branch without loops"


IMPORTS = (ImportSpec("ext.f", "0iI_f"), ImportSpec("ext.g", "0CiD_i"),
           ImportSpec("ext.h", "0r_v", optional=True))


@given(modules(imports=IMPORTS, families={"call", "int", "const"}, max_functions=1))
def test_imports_are_declared_and_called_by_their_cconv(module):
    assert [i.full_name for i in module.imports] == ["ext.f", "ext.g", "ext.h"]
    verifier.verify(module)  # callee-signature and segment-sizes rules hold


@settings(max_examples=20, suppress_health_check=HEAVY.suppress_health_check)
@given(modules(entry_cconv="0iIfFr_Ii", max_functions=1))
def test_entry_signature_can_be_pinned(module):
    assert module.functions[0].cconv == "0iIfFr_Ii"
    assert [e.name for e in module.exports] == ["main"]


@given(st.data())
def test_arguments_follow_the_cconv(data):
    args = data.draw(arguments("0iIfFr_v"))
    assert [type(a) for a in args] == [int, int, float, float, type(None)]
    assert -2**31 <= args[0] < 2**31 and -2**63 <= args[1] < 2**63


def test_families_are_derived_from_field_shapes():
    for op in fam.OPS_BY_FAMILY["int"]:
        assert all(f.kind in ("register", "variadic_operands") for f in op.fields)
        assert {f.type for f in op.fields} <= {"i32", "i64"}, op.mnemonic
    for op in fam.OPS_BY_FAMILY["float"] + fam.OPS_BY_FAMILY["math"]:
        assert {f.type for f in op.fields} & {"f32", "f64"}, op.mnemonic
    assert {op.mnemonic for op in fam.OPS_BY_FAMILY["math"]} == {
        f"{name}.{t}" for name in fam.MATH_FUNCTIONS for t in ("f32", "f64")}
    every = [op for ops in fam.OPS_BY_FAMILY.values() for op in ops]
    assert len(every) == len(set(every)) == len(isa.OPS) - 1  # all but the Block marker


def test_failures_shrink_to_a_handful_of_instructions():
    """A property failing on any program that multiplies shrinks to the multiplication
    and the return: every statement is one span the shrinker can delete, and the zero
    choice of every draw is the smallest program (``pyree fuzz`` reproducers are small for
    the same reason; this space is kept small so that the test stays fast)."""
    def multiplies(module):
        return any(op.mnemonic == "mul.i32" for op in _ops(module))

    smallest = find(modules(families={"int", "const"}, max_functions=1), multiplies,
                    settings=settings(max_examples=500, database=None, derandomize=True,
                                      suppress_health_check=list(HealthCheck)))
    count = sum(not op.is_block for op in _ops(smallest))
    assert count <= 3, disassemble(smallest)


@settings(max_examples=20, suppress_health_check=HEAVY.suppress_health_check)
@given(modules(avoid={"yieldable-plain-callee"}, families={"call", "control", "int"}))
def test_avoid_leaves_out_a_construct(module):
    """With ``avoid``, call.yieldable only targets functions that may really yield."""
    instrs = [encoding.decode(f.code) for f in module.functions]
    yields = {k for k, code in enumerate(instrs)
              if any(i.op.mnemonic in ("yield", "call.yieldable") for i in code)}
    for code in instrs:
        for ins in code:
            if ins.op.mnemonic == "call.yieldable":
                assert ins.arg("callee_ordinal") in yields


@settings(max_examples=20, suppress_health_check=HEAVY.suppress_health_check)
@given(programs(libraries=1, max_functions=2))
def test_library_imports_resolve_against_the_library(program):
    libs = [vm.BytecodeModule(lib) for lib in program.libraries]
    with vm.Context([*libs, vm.BytecodeModule(program.module)]):
        pass  # every import resolved, with matching cconvs
    assert {i.full_name.split(".")[0] for i in program.module.imports} <= {
        lib.name for lib in program.libraries}
