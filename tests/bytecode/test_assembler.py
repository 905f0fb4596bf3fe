"""The assembler: vmasm.md section 8 examples, encodings of vm-isa.md 3.5, special forms,
literals, module directives and errors with line/column."""

from __future__ import annotations

import pickle
import struct

import programs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyree.bytecode import encoding, isa
from pyree.bytecode.asm import (
    AssemblyError,
    AssemblyRangeError,
    AssemblyUnimplementedError,
    assemble,
)
from pyree.bytecode.module_def import DebugLocation, ExportDef, ImportDef

from pyree.status import InvalidArgumentError, OutOfRangeError, StatusCode, UnimplementedError

# -- vmasm.md section 8, verbatim (tests/programs) ------------------------------------

EXAMPLES = {name: programs.text(name) for name in programs.NAMES}
COUNTER, CALLS, APP, LISTS, STATE, CLASSIFY = (
    EXAMPLES[name] for name in ("counter", "calls", "app", "lists", "state", "classify"))


def ops_of(function) -> list[tuple[str, tuple]]:
    return [(i.op.mnemonic, i.args) for i in encoding.decode(function.code)]


def body(lines: str, header: str = "() -> ()", prelude: str = "") -> list[tuple[str, tuple]]:
    """Assemble ``lines`` as the body of one function; its instructions minus markers."""
    text = f"vm.module @m\n{prelude}\nvm.func @f{header} {{\n{lines}\n  vm.return\n}}\n"
    return [x for x in ops_of(assemble(text).functions[0]) if x[0] != "block"][:-1]


def one(line: str, **kw) -> tuple:
    ops = body(line, **kw)
    assert len(ops) == 1, ops
    return ops[0]


def error(text: str) -> AssemblyError:
    with pytest.raises(AssemblyError) as info:
        assemble(text, "t.vmasm")
    return info.value


def body_error(lines: str, prelude: str = "") -> AssemblyError:
    return error(f"vm.module @m\n{prelude}\nvm.func @f() -> () {{\n{lines}\n  vm.return\n}}\n")


# -- examples ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_section_8_examples_assemble(name):
    module = assemble(EXAMPLES[name], f"{name}.vmasm")
    assert module.name == name
    assert module.source == f"{name}.vmasm"
    for function in module.functions:
        first = encoding.decode(function.code)[0]
        assert first.op.is_block
        assert function.block_count == sum(1 for i in encoding.decode(function.code)
                                           if i.op.is_block)


def test_counter_details():
    m = assemble(COUNTER)
    assert m.version == 3
    assert m.exports == (ExportDef("sum_to", 0),)
    f = m.functions[0]
    assert (f.cconv, f.block_count, f.i32_register_count, f.ref_register_count) == (
        "0i_i", 4, 5, 0)
    assert f.name == "sum_to" and f.requirements == 0
    ops = ops_of(f)
    markers = [pc for pc, (name, _) in zip(_pcs(f), ops) if name == "block"]
    assert ops[3] == ("br", (markers[1], ()))
    assert ops[6] == ("cond_br", (3, markers[3], (), markers[2], ()))


def _pcs(function):
    return [i.pc for i in encoding.decode(function.code)]


def test_calls_example_pairs_and_ordinals():
    m = assemble(CALLS)
    scale, main = m.functions
    assert scale.cconv == "0Ii_Ii" and main.cconv == "0I_Ii"
    calls = [a for n, a in ops_of(main) if n == "call"]
    assert calls == [(0, (0, 2), (4, 6)), (0, (4, 6), (8, 10))]
    assert main.i32_register_count == 11  # %i8:9 and %i10


def test_app_example_imports():
    m = assemble(APP)
    assert m.imports == (ImportDef("mathlib.square", "0i_i", False),
                         ImportDef("extras.cube", "0i_i", True))
    ops = ops_of(m.functions[0])
    assert ops[1] == ("call", (0x80000000, (0,), (2,)))
    assert ("import.resolved", (0x80000001, 5)) in ops


def test_lists_example_types():
    m = assemble(LISTS)
    assert m.types == ("i32", "!vm.opaque", "!vm.buffer")
    squares, mixed = m.functions
    assert ops_of(squares)[1] == ("list.alloc", (0, 0, 0x8000))
    assert ops_of(squares)[-1] == ("return", ((0xC000,),))
    assert ("list.get.ref", (0x8000, 6, 2, 0x8002)) in ops_of(mixed)
    assert mixed.cconv == "0v_ri" and mixed.ref_register_count == 3


def test_state_example_globals_and_rodata():
    m = assemble(STATE)
    assert m.rodata == (bytes.fromhex("0A0000001400000028000000"),)
    assert m.rwdata_size == 16
    bump, lookup = m.functions
    assert ops_of(bump)[1] == ("global.load.i32", (0, 0))
    assert ops_of(bump)[4] == ("global.store.i32", (0, 0))
    assert ("global.load.i64", (8, 4)) in ops_of(lookup)
    assert ("global.store.i64", (8, 4)) in ops_of(lookup)


def test_classify_example_special_forms():
    m = assemble(CLASSIFY)
    f = m.functions[0]
    ops = ops_of(f)
    pcs = [pc for pc, (n, _) in zip(_pcs(f), ops) if n == "block"]
    assert ops[1] == ("br_table", (0, pcs[4], (), 3, ((pcs[1], ()), (pcs[2], ((0, 5),)),
                                                       (pcs[3], ()))))
    assert ("select.i32", (3, 4, 5, 6)) in ops
    assert ("switch.i32", (5, 9, (7, 8), 10)) in ops
    assert ("fail", (11, b"case 2 is not supported")) in ops
    assert f.requirements == isa.REQ_EXT_F32


# -- vm-isa.md 3.5 worked encodings -----------------------------------------------------


def _encoded(line: str, header: str = "() -> ()") -> bytes:
    m = assemble(f"vm.module @m\nvm.func @f{header} {{\n{line}\nvm.return\n}}\n")
    code = m.functions[0].code
    instrs = encoding.decode(code)
    return code[instrs[1].pc:instrs[1].end]


def test_encoding_add_i32():
    assert _encoded("%i2 = vm.add.i32 %i0, %i1") == bytes.fromhex("22 00 00 01 00 02 00")


def test_encoding_const_i64():
    assert _encoded("%i4:5 = vm.const.i64 -1") == bytes.fromhex("0F" + "FF" * 8 + "0400")


def test_encoding_add_f32():
    assert _encoded("%i1 = vm.add.f32 %i2, %i3") == bytes.fromhex("E0 0A 02 00 03 00 01 00")


def test_encoding_cond_br_remap():
    text = """vm.module @m
vm.func @f(%i0: i32) -> () {
  %i3 = vm.const.i32.zero
^bb9:
  vm.cond_br %i0, ^bb1, ^bb2(%i3 -> %i1)
^bb1:
  vm.return
^bb2:
  vm.return
}"""
    code = assemble(text).functions[0].code
    instrs = encoding.decode(code)
    cond = instrs[3]
    assert cond.pc == 5
    b1, b2 = instrs[4].pc, instrs[6].pc
    assert code[5:cond.end] == (bytes([0x57]) + bytes(2) + struct.pack("<I", b1) + bytes(2)
                                + struct.pack("<I", b2) + bytes.fromhex("01 00 03 00 01 00"))


def test_padding_before_register_lists():
    # call at pc 1 (odd): callee u32 brings pc to 6, list is aligned already; at pc 4 the
    # operand list would start at 9 and needs one pad byte.
    m = assemble("vm.module @m\nvm.func @f() -> () {\n  %i0 = vm.const.i32.zero\n"
                 "  vm.call @f(%i0)\n  vm.return\n}")
    code = m.functions[0].code
    call = encoding.decode(code)[2]
    assert call.pc == 4 and code[9] == 0
    assert call.args == (0, (0,), ())


# -- literals ---------------------------------------------------------------------------


@pytest.mark.parametrize("text, value", [
    ("42", 42), ("-7", -7), ("0x2A", 42), ("0X2a", 42), ("017", 15), ("0", 0),
    ("0xFFFFFFFF", -1), ("4294967297", 1), ("-2147483648", -2147483648),
    ("12abc", 12), ("08", 0), ("0x", 0), ("+5", 5),
])
def test_i32_literals_follow_strtol(text, value):
    assert one(f"%i0 = vm.const.i32 {text}") == ("const.i32", (value, 0))


@pytest.mark.parametrize("text, value", [
    ("-1", -1), ("0x7FFFFFFFFFFFFFFF", 2**63 - 1), ("-9223372036854775808", -2**63),
    ("0777", 511),
])
def test_i64_literals(text, value):
    assert one(f"%i0:1 = vm.const.i64 {text}") == ("const.i64", (value, 0))


def test_i64_out_of_range_and_length_limits():
    e = body_error("  %i0:1 = vm.const.i64 0xFFFFFFFFFFFFFFFF")
    assert isinstance(e, AssemblyRangeError) and e.code == StatusCode.OUT_OF_RANGE
    assert (e.line, e.column) == (4, 24)
    e = body_error("  %i0 = vm.const.i32 0000000000000001")  # 16 characters
    assert "longer than 15" in e.reason
    e = body_error("  %i0 = vm.const.i32 abc")
    assert "expected i32 literal" in e.reason and "'abc'" in e.reason


@pytest.mark.parametrize("text, bits", [
    ("1.5", 0x3FC00000), ("-0.0", 0x80000000), ("1e-3", 0x3A83126F),
    ("0x1.8p1", 0x40400000), ("inf", 0x7F800000), ("-inf", 0xFF800000),
    ("nan", 0x7FC00000), ("-nan", 0xFFC00000), ("0.1", 0x3DCCCCCD),
    ("0x1p-149", 0x00000001), ("3.4028235e38", 0x7F7FFFFF), ("INFINITY", 0x7F800000),
    ("nan(0x5)", 0x7FC00005),
    # decimal -> binary32 rounded once (a double-rounding parser gets 0x3F800001 wrong)
    ("1.00000005960464477539062499", 0x3F800000),
])
def test_f32_literals(text, bits):
    assert one(f"%i0 = vm.const.f32 {text}") == ("const.f32", (bits, 0))


@pytest.mark.parametrize("text, bits", [
    ("2.718281828459045", struct.unpack("<Q", struct.pack("<d", 2.718281828459045))[0]),
    ("-inf", 0xFFF0000000000000), ("nan", 0x7FF8000000000000),
    ("4.9406564584124654e-324", None), ("0x1p-1074", 1), ("1e308", 0x7FE1CCF385EBC8A0),
])
def test_f64_literals(text, bits):
    if bits is None:
        with pytest.raises(AssemblyRangeError):
            body(f"%i0:1 = vm.const.f64 {text}")
        return
    assert one(f"%i0:1 = vm.const.f64 {text}") == ("const.f64", (bits, 0))


@pytest.mark.parametrize("text, kind", [
    ("1e-40", AssemblyRangeError), ("1e39", AssemblyRangeError), ("1e-50", AssemblyRangeError),
    ("1.5x", AssemblyError), ("abc", AssemblyError), ("1e", AssemblyError),
    ("nan(", AssemblyError),
])
def test_f32_literal_errors(text, kind):
    e = body_error(f"  %i0 = vm.const.f32 {text}")
    assert type(e) is kind
    assert e.column == 22


# -- registers --------------------------------------------------------------------------


def test_register_rules():
    assert one("%i3:4 = vm.add.i64 %i0:1, %i010:011") == ("add.i64", (0, 8, 3))
    e = body_error("  %i4 = vm.add.i64 %i0:1, %i2:3")
    assert "expected i64 register like %i0:1" in e.reason and e.column == 3
    e = body_error("  %i4 = vm.add.i32 %i0:1, %i2")
    assert "expected i32 register like %i0" in e.reason and e.column == 20
    e = body_error("  %i4:6 = vm.add.i64 %i0:1, %i2:3")
    assert "second slot must be 5" in e.reason
    e = body_error("  %i0 = vm.cmp.nz.ref %R1")
    assert "move" in e.reason and e.column == 23
    e = body_error("  %i0 = vm.const.i32 1, 2")
    assert "too many operands" in e.reason and e.column == 25
    e = body_error("  %r16384 = vm.const.ref.zero")
    assert isinstance(e, AssemblyRangeError)


def test_register_counts_include_pairs_in_untyped_lists():
    text = """vm.module @m
vm.func @f(%i0: i32, %r0: !vm.buffer, %i1:2: i64) -> (i64) {
  %i6:7, %r3 = vm.call @f(%i0, %r0, %i1:2)
  vm.return %i6:7
}"""
    f = assemble(text).functions[0]
    assert f.cconv == "0irI_I"
    assert (f.i32_register_count, f.ref_register_count) == (8, 4)
    text2 = text.replace("%i6:7, %r3 = vm.call @f(%i0, %r0, %i1:2)", "%i6, %r3 = vm.call @f()")
    text2 = text2.replace("vm.return %i6:7", "vm.return %i6")
    assert assemble(text2).functions[0].i32_register_count == 7


def test_argument_registers_must_be_sequential():
    e = error("vm.module @m\nvm.func @f(%i0: i32, %i2: i32) -> () {\n vm.return\n}")
    assert "expected argument register %i1" in e.reason and (e.line, e.column) == (2, 22)
    e = error("vm.module @m\nvm.func @f(%i0: i64) -> () {\n vm.return\n}")
    assert "%i0:1" in e.reason
    e = error("vm.module @m\nvm.func @f(%i0: tensor) -> () {\n vm.return\n}")
    assert "expected type i32" in e.reason
    m = assemble("vm.module @m\nvm.func @f(%i0:1: i64, %i2: f32, %r0: !vm.list<i32>, "
                 "%i3:4 : f64) -> (%x: i32, !vm.buffer) {\n vm.return\n}")
    assert m.functions[0].cconv == "0IfrF_ir"
    assert m.functions[0].i32_register_count == 5
    assert m.types == ()  # signature types are not type-table entries


# -- special forms (vmasm.md 5.2 - 5.8) -------------------------------------------------


def test_buffer_store_value_comes_first():
    assert one("vm.buffer.store.i32 %i0, %r0, %i2:3") == ("buffer.store.i32", (0x8000, 2, 0))
    assert one("vm.buffer.store.i64 %i4:5, %r0, %i2:3") == ("buffer.store.i64", (0x8000, 2, 4))
    assert one("vm.buffer.store.f32 %i6, %r1, %i2:3") == ("buffer.store.f32", (0x8001, 2, 6))


def test_select_and_switch():
    assert one("%i4:5 = vm.select.i64 %i0 ? %i2:3 : %i6:7") == ("select.i64", (0, 2, 6, 4))
    prelude = "vm.type !vm.buffer"
    assert one("%r2 = vm.select.ref %i0 ? %r0 : %R1 -> !vm.buffer", prelude=prelude) == (
        "select.ref", (0, 0, 0x8000, 0xC001, 0x8002))
    assert one("%i6:7 = vm.switch.i64 %i0[%i2:3, %i4:5] else %i8:9") == (
        "switch.i64", (0, 8, (2, 4), 6))
    assert one("%i1 = vm.switch.f32 %i0[] else %i2") == ("switch.f32", (0, 2, (), 1))
    assert one("%r2 = vm.switch.ref %i0[%r0, %R1] else %r3 -> !vm.buffer") == (
        "switch.ref", (0, 0, 0x8003, (0x8000, 0xC001), 0x8002))
    e = body_error("  %i6 = vm.select.i32 %i3 ? %i4: %i5")
    assert "colon with spaces" in e.reason


def test_globals_by_name_offset_and_ref_index():
    prelude = ("vm.global.i64 @big\nvm.global.i32 @a\nvm.global.f32 @b\n"
               "vm.global.f64 mutable private @c = 0 : f64\nvm.global.i32 @d = 0x0 : i32")
    ops = body("""  %i0 = vm.global.load.i32 @a
  %i1 = vm.global.load.f32 @b
  %i2 = vm.global.load.i32 @d
  %i4:5 = vm.global.load.i64 @big
  vm.global.store.f64 %i4:5, @c
  %i6 = vm.global.load.i32 .rwdata[4]""", prelude=prelude)
    assert [a[0] for _, a in ops] == [0, 4, 8, 16, 24, 4]
    e = body_error("  %i0 = vm.global.load.i32 @big", prelude=prelude)
    assert "storage class mismatch" in e.reason and e.column == 28
    e = body_error("  %i0 = vm.global.load.i32 @nope", prelude=prelude)
    assert "unknown global @nope" in e.reason


def test_rwdata_and_refs_grow_storage():
    m = assemble("""vm.module @m
vm.global.i32 @a
vm.func @f() -> () {
  %i0:1 = vm.global.load.f64 .rwdata[0x20]
  %r0 = vm.global.load.ref .refs[6] : !vm.buffer
  vm.global.store.ref %R0, .refs[2] : !vm.buffer
  %i2 = vm.global.load.indirect.i32 %i0
  vm.return
}""")
    assert (m.rwdata_size, m.ref_global_count) == (40, 7)
    assert m.types == ("!vm.buffer",)
    assert ops_of(m.functions[0])[3] == ("global.store.ref", (2, 0, 0xC000))


def test_nonzero_global_initialiser_is_unimplemented():
    e = error("vm.module @m\nvm.global.i32 @a = 5 : i32\n")
    assert isinstance(e, AssemblyUnimplementedError) and isinstance(e, UnimplementedError)
    assert e.code == StatusCode.UNIMPLEMENTED and (e.line, e.column) == (2, 20)
    e = error("vm.module @m\nvm.global.i32 @a = 0 : i64\n")
    assert "initialiser type ' : i32'" in e.reason


def test_indirect_globals_canonical_and_disassembler_spellings():
    prelude = "vm.type !vm.list<i32>"
    canonical = body("""  %i1 = vm.global.load.indirect.i32 %i0
  vm.global.store.indirect.i32 %i0, %i1
  %r1 = vm.global.load.indirect.ref %i0 : !vm.list<i32>
  vm.global.store.indirect.ref %i0 : !vm.list<i32>, %r1""", prelude=prelude)
    dis = body("""  %i1 = vm.global.load.indirect.i32 .rwdata[%i0]
  vm.global.store.indirect.i32 %i1, .rwdata[%i0]
  %r1 = vm.global.load.indirect.ref .refs[%i0] : !vm.list<i32>
  vm.global.store.indirect.ref %r1, .refs[%i0] : !vm.list<i32>""", prelude=prelude)
    assert canonical == dis
    assert canonical[1] == ("global.store.indirect.i32", (0, 1))
    assert canonical[3] == ("global.store.indirect.ref", (0, 0, 0x8001))


def test_typed_list_ops_and_cast():
    ops = body("""  %r0 = vm.list.alloc %i0 : !vm.list<f32>
  %r1 = vm.list.alloc %i0 : !vm.list<!vm.list<i8>>
  %i4:5 = vm.list.get.i64 %r0, %i1
  vm.list.set.i64 %r0, %i1, %i4:5
  %r3 = vm.list.get.ref %r2, %i1 : !vm.buffer
  vm.list.set.ref %r2, %i1, %R3
  %r4 = vm.cast.any.ref %r3 : !vm.ref<?> -> vm.buffer
  %r5 = vm.cast.any.ref %R3 -> !hal.buffer""", prelude="vm.type !vm.buffer")
    assert ops[0] == ("list.alloc", (1, 0, 0x8000))
    assert ops[1] == ("list.alloc", (2, 0, 0x8001))
    assert ops[4] == ("list.get.ref", (0x8002, 1, 0, 0x8003))
    assert ops[5] == ("list.set.ref", (0x8002, 1, 0xC003))
    assert ops[6] == ("cast.any.ref", (0x8003, 0, 0x8004))  # vm.buffer reuses !vm.buffer
    assert ops[7] == ("cast.any.ref", (0xC003, 3, 0x8005))
    m = assemble("vm.module @m\nvm.func @f() -> () {\n %r4 = vm.cast.any.ref %r3 -> vm.buffer"
                 "\n vm.return\n}")
    assert m.types == ("vm.buffer",)
    e = body_error("  %r0 = vm.list.alloc %i0 : !vm.buffer")
    assert "!vm.list<TYPE>" in e.reason and e.column == 29


def test_branches_with_remaps_and_br_table():
    text = """vm.module @m
vm.func @f(%i0: i32) -> () {
  vm.br ^bb2(%i0->%i3, %r1->%r0, %i4->%i6, %i5 -> %i7)
^bb1:
  vm.cond_br %i0, ^bb1(%i1->%i2), ^bb2()
^bb2:
  vm.br_table %i0 { default: ^bb9, 0: ^bb1, 1: ^bb2(%i3->%i4), 2: ^bb1() }
^bb9:
  vm.yield ^bb1
^bb3:
  vm.break ^bb9
^bb4:
  vm.cond_break %i0, ^bb9(%R2->%r1)
^bb5:
  vm.return
}"""
    f = assemble(text).functions[0]
    pcs = {i.pc: i for i in encoding.decode(f.code)}
    markers = [pc for pc, i in pcs.items() if i.op.is_block]
    ops = [i for i in pcs.values() if not i.op.is_block]
    b1, b2, b9 = markers[1], markers[2], markers[3]
    assert ops[0].args == (b2, ((0, 3), (0x8001, 0x8000), (4, 6), (5, 7)))
    assert ops[1].args == (0, b1, ((1, 2),), b2, ())
    assert ops[2].args == (0, b9, (), 3, ((b1, ()), (b2, ((3, 4),)), (b1, ())))
    assert ops[3].args == (b1, ())
    assert ops[5].args == (0, b9, ((0xC002, 0x8001),))
    assert f.requirements == isa.REQ_YIELD and f.block_count == 7


def test_br_table_cases_must_be_dense():
    e = body_error("  vm.br_table %i0 { default: ^bb1, 0: ^bb1, 2: ^bb1 }\n^bb1:")
    assert "expected case 1" in e.reason and e.column == 45
    e = body_error("  vm.br_table %i0 { 0: ^bb1 }\n^bb1:")
    assert "expected 'default:' first" in e.reason


def test_calls_and_callee_resolution():
    text = """vm.module @mymod
vm.import @hal.buffer_view.dim cconv "0ri_I"
vm.import @hal.fence.join cconv "0ICrD_r"
vm.import @other.wait cconv "0r_v"
vm.func @a(%i0: i32) -> (i32) {
  %i2 = vm.call @b(%i0)
  %i3 = vm.call @mymod:1(%i0)
  %i3 = vm.call @mymod.b(%i0)
  %i4:5 = vm.call @hal.buffer_view.dim(%r0, %i2)
  vm.call @consume(%R0)
  %r2 = vm.call.variadic @hal.fence.join segments[0, 2](%i6:7, %r0, %r1)
  vm.call.yieldable @other.wait(%r0) -> ^bb3()
^bb3:
  vm.call.yieldable @mymod:1(%i0) -> ^bb4(%i1)
^bb4:
  vm.call.variadic.yieldable @hal.fence.join segments[65535, 3](%i0, %r0, %r1, %r2) -> ^bb5(%r3)
^bb5:
  vm.return %i0
}
vm.func @b(%i0: i32) -> (i32) {
  vm.return %i0
}
vm.func @consume(%r0: !vm.buffer) -> () {
  vm.return
}"""
    m = assemble(text)
    f = m.functions[0]
    ops = [(i.op.mnemonic, i.args) for i in encoding.decode(f.code) if not i.op.is_block]
    assert ops[0] == ("call", (1, (0,), (2,)))
    assert ops[1] == ops[2] == ("call", (1, (0,), (3,)))
    assert ops[3] == ("call", (0x80000000, (0x8000, 2), (4,)))
    assert ops[4] == ("call", (2, (0xC000,), ()))
    assert ops[5] == ("call.variadic", (0x80000001, (0, 2), (6, 0x8000, 0x8001), (0x8002,)))
    assert ops[6][0] == "call.yieldable" and ops[6][1][:2] == (0x80000002, (0x8000,))
    assert ops[7][1][0] == 1 and ops[7][1][3] == (1,)
    assert ops[8][1][:3] == (0x80000001, (65535, 3), (0, 0x8000, 0x8001, 0x8002))
    assert ops[8][1][4] == (0x8003,)
    assert f.requirements == isa.REQ_YIELD
    assert f.i32_register_count == 8  # %i6:7 in the variadic operand list


def test_call_errors():
    e = body_error("  %i0 = vm.call @nothere()")
    assert "unknown function @nothere" in e.reason and (e.line, e.column) == (4, 17)
    e = body_error("  %i0 = vm.call @other:1()")
    assert "expected this module's name @m:N" in e.reason
    e = body_error("  %i0 = vm.call.yieldable @f() -> ^bb1()\n^bb1:")
    assert "results go after the resume label" in e.reason
    e = body_error("  vm.call.variadic @f(%i0)")
    assert "segments[...]" in e.reason


def test_return_fail_print_trace_discard():
    ops = body("""  vm.fail %i0, "something, went // wrong # here"
  vm.print "value", %i1
  vm.trace "after_copy"(%i1, %r2)
  vm.discard.refs %r0, %R1""")
    assert ops[0] == ("fail", (0, b"something, went // wrong # here"))
    assert ops[1] == ("print", (b"value", (1,)))
    assert ops[2] == ("trace", (b"after_copy", (1, 0x8002)))
    assert ops[3] == ("discard.refs", ((0x8000, 0xC001),))
    m = assemble("vm.module @m\nvm.func @f() -> (i32, i64, !t) {\n"
                 "  vm.return %i0, %i2:3, %R1\n}")
    assert ops_of(m.functions[0])[1] == ("return", ((0, 2, 0xC001),))
    assert m.functions[0].i32_register_count == 4


# -- lexical rules ----------------------------------------------------------------------


def test_comments_prefixes_and_blank_lines():
    text = ("  # leading comment\n\nvm.module @m   // trailing\n"
            "[00000000] vm.func @f() -> () {\n"
            "[00000001]   %i0 = vm.const.i32 5 # five\n"
            "[anything]   vm.fail %i0, \"a # b // c\"  // real comment\n"
            "}\r\n")
    ops = ops_of(assemble(text).functions[0])
    assert ops[1:] == [("const.i32", (5, 0)), ("fail", (0, b"a # b // c"))]


def test_type_annotation_needs_spaces_around_colon():
    e = body_error("  %r3 = vm.list.get.ref %r2, %i1: !vm.buffer")
    assert e.column == 30 and "'%i1: !vm.buffer'" in e.reason
    e = body_error("  %r3 = vm.list.get.ref %r2, %i1")
    assert "expected ' : TYPE'" in e.reason
    e = body_error("  %i3 = vm.add.i32 %i1 : i32, %i2")
    assert "unexpected type annotation" in e.reason and e.column == 26


def test_vm_prefix_is_optional():
    assert one("%i2 = add.i32 %i0, %i1") == one("%i2 = vm.add.i32 %i0, %i1")
    e = body_error("  %i2 = vm.frobnicate %i0")
    assert "expected instruction mnemonic" in e.reason and e.column == 9
    e = body_error("  vm.block")
    assert "expected instruction mnemonic" in e.reason


# -- module directives ------------------------------------------------------------------


def test_types_imports_rodata_exports():
    text = """vm.module @m version 017
vm.type !vm.buffer
vm.type !vm.list<!vm.list<i32>>
vm.import @hal.device.query.i64 cconv "0rrr_iI"
vm.import optional @x.y cconv ""
vm.rodata[0] = DEADbeef
vm.rodata[1] =
vm.export @first
vm.func @first() -> () {
  vm.return
}
vm.export @alias = @second
vm.export @second
vm.func @second() -> () {
  vm.return
}
vm.export @again = @m.first
"""
    m = assemble(text)
    assert m.version == 15
    assert m.types == ("!vm.buffer", "!vm.list<!vm.list<i32>>")
    assert m.imports == (ImportDef("hal.device.query.i64", "0rrr_iI"), ImportDef("x.y", "", True))
    assert m.rodata == (b"\xde\xad\xbe\xef", b"")
    assert m.exports == (ExportDef("first", 0), ExportDef("alias", 1), ExportDef("second", 1),
                         ExportDef("again", 0))
    assert [f.name for f in m.functions] == ["first", "second"]


@pytest.mark.parametrize("text, line, column, words", [
    ("vm.module @m\nvm.type !a\nvm.type !a\n", 3, 9, "duplicate type"),
    ("vm.module @m\nvm.import @a.b cconv \"\"\nvm.import @a.b cconv \"0\"\n", 3, 11,
     "duplicate import"),
    ("vm.module @m\nvm.rodata[1] = 00\n", 2, 1, "expected vm.rodata[0]"),
    ("vm.module @m\nvm.rodata[0] = 0G\n", 2, 17, "expected hex digits, found 'G'"),
    ("vm.module @m\nvm.rodata[0] = 000\n", 2, 16, "even number of hex digits"),
    ("vm.module @m\nvm.global.i32 @g\nvm.global.i64 @g\n", 3, 15, "duplicate global"),
    ("vm.module @m\nvm.global.ref @g\n", 2, 1, "expected vm.global.i32"),
    ("vm.module @m\nvm.func @f() -> () {\n vm.return\n}\nvm.type !t\n", 5, 1,
     "vm.type is not allowed after the first vm.func"),
    ("vm.module @m\nvm.func @f() -> () {\n vm.return\n}\nvm.func @f() -> () {\n", 5, 9,
     "duplicate function @f"),
    ("vm.module @m\nvm.module @n\n", 2, 1, "duplicate vm.module"),
    ("vm.module m\n", 1, 11, "expected module name like @name"),
    ("vm.module @m version x\n", 1, 22, "module version"),
    ("vm.module @m\nvm.func @f() {\n", 2, 14, "expected '-> (RESULTS)'"),
    ("vm.module @m\nvm.func @f() -> () \n", 2, 19, "expected '{'"),
    ("vm.module @m\nvm.frob\n", 2, 1, "expected a module directive"),
    ("vm.module @m\nvm.func @f() -> () {\n vm.return\n}\nvm.export @g\n", 5, 11,
     "unknown function @g"),
    ("vm.module @m\nvm.func @f() -> () {\n %i0 = vm.const.i32 1\n}\n", 4, 1,
     "function missing terminator"),
    ("vm.module @m\nvm.func @f() -> () {\n vm.br ^bb1\n}\n", 3, 8, "unknown block label ^bb1"),
    ("vm.module @m\nvm.func @f() -> () {\n^bb1:\n^bb1:\n vm.return\n}\n", 4, 1,
     "defined twice"),
    ("vm.module @m\nvm.func @f() -> () {\n^foo:\n vm.return\n}\n", 3, 1,
     "expected block label line like ^bb1:"),
])
def test_directive_errors(text, line, column, words):
    e = error(text)
    assert words in e.reason
    assert (e.line, e.column) == (line, column)
    assert str(e).startswith(f"INVALID_ARGUMENT; t.vmasm:{line}:{column}: ")
    assert f"at line {line}" in str(e)


@pytest.mark.parametrize("text, words", [
    ("", "module directive missing"),
    ("# nothing\n", "module directive missing"),
    ("vm.func @f() -> () {\n", "module directive missing"),
    ("vm.module @m\n", "function directive missing"),
    ("vm.module @m\nvm.func @f() -> () {\n vm.return\n", "unterminated function body"),
])
def test_file_level_errors(text, words):
    e = error(text)
    assert words in e.reason and e.line >= 1


def test_error_types():
    e = body_error("  %i0 = vm.const.i32 x")
    assert isinstance(e, InvalidArgumentError) and isinstance(e, ValueError)
    assert e.code == StatusCode.INVALID_ARGUMENT and e.filename == "t.vmasm"
    again = pickle.loads(pickle.dumps(e))
    assert (type(again), str(again)) == (type(e), str(e))
    r = body_error("  %i0:1 = vm.const.i64 99999999999999999999")
    assert isinstance(r, OutOfRangeError) and r.code == StatusCode.OUT_OF_RANGE


# -- debug information ------------------------------------------------------------------


def test_debug_locations_names_and_source():
    m = assemble(COUNTER, "counter.vmasm")
    f = m.functions[0]
    assert f.locations[0] == DebugLocation(1, "counter.vmasm:5")
    assert len(f.locations) == 10  # one per instruction, none for block markers
    assert f.locations[-1].location == "counter.vmasm:17"
    instr_pcs = [i.pc for i in encoding.decode(f.code) if not i.op.is_block]
    assert [loc.pc for loc in f.locations] == instr_pcs
    m = assemble(CALLS)
    assert [f.name for f in m.functions] == ["scale", "main"]  # names kept, even unexported
    assert m.source == "<vmasm>"


# -- metadata comments (spec/assembly.md section 4) -------------------------------------


def test_metadata_overrides():
    text = """vm.module @m
//! pyree.module {"name": "real name", "source": null, "rwdata_size": 64, "dependencies": [["hal", 4, 1]]}
//! pyree.type "a type"
//! pyree.type "a type"
//! pyree.function {"name": null, "cconv": "", "i32_registers": 9, "local_names": [[0, "x"]], "locations": "inline"}
vm.func @f() -> () {
^bb0:  //! loc="entry"
  %i0 = vm.const.f32 nan  //! bits="0x7F800001" loc="one" loc="two"
  vm.fail %i0, "?"  //! str="22"
  vm.return
}
//! pyree.export {"name": "not a symbol", "function": 5}
"""
    m = assemble(text)
    assert (m.name, m.source, m.rwdata_size, m.types) == ("real name", None, 64,
                                                          ("a type", "a type"))
    assert m.dependencies[0].name == "hal" and m.exports == (ExportDef("not a symbol", 5),)
    f = m.functions[0]
    assert (f.name, f.cconv, f.i32_register_count, f.local_names) == (None, "", 9, ((0, "x"),))
    assert f.locations == (DebugLocation(0, "entry"), DebugLocation(1, "one"),
                           DebugLocation(1, "two"))
    ops = ops_of(f)
    assert ops[1] == ("const.f32", (0x7F800001, 0)) and ops[2] == ("fail", (0, b'"'))


@pytest.mark.parametrize("lines, words", [
    ('//! pyree.function {"colour": 1}', "unknown key 'colour'"),
    ('//! pyree.function {"blocks": -1}', "invalid value for 'blocks'"),
    ("//! pyree.function {nope", "expected JSON value"),
    ('//! pyree.nothing 1', "unknown metadata directive"),
    ('vm.func @f() -> () {\n  vm.return  //! bits="0x1"\n}', "does not apply"),
    ('vm.func @f() -> () {\n  vm.return  //! colour="red"\n}', "unknown metadata item"),
    ('vm.func @f() -> () {\n  vm.return  //! loc=1\n}', "must be a JSON string"),
    ('vm.func @f() -> () {\n  %i0 = vm.const.f32 1.0  //! bits="xyz"\n  vm.return\n}',
     "hex string"),
    ('//! pyree.function {}\n//! pyree.function {}', "two pyree.function lines"),
])
def test_metadata_errors(lines, words):
    text = "vm.module @m\n" + lines + "\n"
    if "vm.func" not in lines:
        text += "vm.func @g() -> () {\n vm.return\n}\n"
    assert words in error(text).reason


def test_ordinary_bang_comments_are_comments():
    m = assemble("vm.module @m\n//! This module does things.\nvm.func @f() -> () {\n"
                 "  vm.return  //! see the docs\n}")
    assert m.functions[0].locations == (DebugLocation(1, "<vmasm>:4"),)


# -- robustness: damaged input only ever raises AssemblyError ----------------------------

_PIECES = list('%ir:R,()[]{}^@"#/!=.-> 0123456789abcxp') + [
    "vm.", "//!", " : ", "->", "loc=", 'bits="0x1"', "nan", "\n"]


@given(st.sampled_from(sorted(EXAMPLES)), st.data())
def test_damaged_examples_raise_only_assembly_errors(name, data):
    lines = EXAMPLES[name].split("\n")
    k = data.draw(st.integers(0, len(lines) - 1))
    line = lines[k]
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, len(line)))
        if data.draw(st.booleans()):
            line = line[:pos] + data.draw(st.sampled_from(_PIECES)) + line[pos:]
        else:
            line = line[:pos] + line[pos + data.draw(st.integers(1, 6)):]
    lines[k] = line
    try:
        assemble("\n".join(lines))
    except AssemblyError as e:
        assert e.line >= 1 and e.column >= 1
