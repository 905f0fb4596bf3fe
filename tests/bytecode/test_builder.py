"""FunctionBuilder / ModuleBuilder: markers, labels, padding, register counts, requirement
bits, debug info, type dedupe, imports, globals layout and exports."""

from __future__ import annotations

import pytest
from pyree.bytecode import encoding, isa
from pyree.bytecode.builder import FunctionBuilder, FunctionRef, Label, ModuleBuilder
from pyree.bytecode.module_def import DebugLocation, ExportDef, FunctionDef, ImportDef

from pyree.status import AlreadyExistsError, InvalidArgumentError, NotFoundError

R = isa.REF_BIT
MOVE = isa.MOVE_BIT


def decoded(f: FunctionDef):
    return [(i.pc, i.op.mnemonic, i.args) for i in encoding.decode(f.code)]


def test_entry_marker_and_leading_label():
    fb = FunctionBuilder("f")
    entry = fb.place("bb0")  # names the entry block, no second marker
    fb.emit("vm.br", (entry, ()))
    f = fb.finish()
    assert decoded(f) == [(0, "block", ()), (1, "br", (0, ()))]
    assert f.block_count == 1


def test_labels_forward_references_and_block_count():
    fb = FunctionBuilder("f", "0i_v")
    exit_label = fb.new_label()
    loop = fb.new_label()
    fb.emit("br", (loop, ()))
    fb.place(loop)
    fb.emit("cond_br", (0, exit_label, ((0, 1),), loop, ()))
    fb.place(exit_label)
    fb.emit("return", ((),))
    f = fb.finish()
    ops = decoded(f)
    markers = [pc for pc, name, _ in ops if name == "block"]
    assert markers == [0, 8, 28]
    assert ops[1] == (1, "br", (8, ()))
    assert ops[3] == (9, "cond_br", (0, 28, ((0, 1),), 8, ()))
    assert f.block_count == 3
    assert fb.label_pc(exit_label) == 28 and fb.is_placed(loop)


def test_br_table_and_yieldable_targets_resolve():
    fb = FunctionBuilder()
    a, b = Label("a"), Label("b")
    fb.emit("br_table", (0, a, (), 2, ((b, ()), (a, ((1, 2),)))))
    fb.place(a)
    fb.emit("call.yieldable", (0, (), b, ()))
    fb.place(b)
    fb.emit("return", ((),))
    f = fb.finish()
    ops = decoded(f)
    pa, pb = (pc for pc, name, _ in ops[1:] if name == "block")
    assert ops[1][2] == (0, pa, (), 2, ((pb, ()), (pa, ((1, 2),))))
    assert ops[3][2] == (0, (), pb, ())
    assert f.requirements == isa.REQ_YIELD


def test_padding_of_register_lists_depends_on_pc_parity():
    fb = FunctionBuilder()
    fb.emit("call", (0, (1,), ()))  # pc 1: the operand list starts at 6 (even)
    fb.emit("call", (0, (1,), ()))  # pc 12: it would start at 17, so one pad byte
    f = fb.finish()
    calls = [i for i in encoding.decode(f.code) if i.op.mnemonic == "call"]
    assert [c.pc for c in calls] == [1, 12]
    assert calls[0].size == 11 and calls[1].size == 12
    assert f.code[17] == 0 and f.code[18:20] == b"\x01\x00"


def test_register_counts():
    fb = FunctionBuilder("f", "0iIr_v")  # args occupy %i0, %i2:3, %r0
    assert fb.finish().i32_register_count == 4 and fb.finish().ref_register_count == 1
    fb = FunctionBuilder("f", "0iIr_v", reserve_args=False)
    f = fb.finish()
    assert (f.i32_register_count, f.ref_register_count) == (0, 0)
    fb = FunctionBuilder()
    fb.emit("add.i64", (4, 6, 10))  # pair 10:11
    fb.emit("list.get.ref", (R | 2, 0, 0, R | MOVE | 7))
    fb.emit("call.variadic", (0x80000000, (400, 500), (1,), ()))  # segment sizes are counts
    fb.emit("br", (Label("x"), ((3, 13), (R | 9, R))))
    fb.place("x")
    fb.emit("return", ((),))
    f = fb.finish()
    assert (f.i32_register_count, f.ref_register_count) == (14, 10)
    fb.reserve_registers(i32=20, ref=1)
    assert fb.finish().i32_register_count == 20


def test_requirement_bits():
    fb = FunctionBuilder()
    fb.emit("add.f32", (0, 1, 2))
    assert fb.finish().requirements == isa.REQ_EXT_F32
    fb.emit("const.f64.zero", (4,))
    fb.emit("yield", (Label("y"), ()))
    fb.place("y")
    fb.add_requirements(isa.REQ_UNWIND)
    assert fb.finish().requirements == (isa.REQ_EXT_F32 | isa.REQ_EXT_F64 | isa.REQ_YIELD
                                        | isa.REQ_UNWIND)
    fb = FunctionBuilder()
    fb.emit("break", (Label("z"), ()))
    fb.place("z")
    assert fb.finish().requirements == 0


def test_debug_locations_and_local_names():
    fb = FunctionBuilder("f")
    fb.emit("const.i32.zero", (0,), location="a.vmasm:3")
    fb.add_location(0, "entry")
    fb.emit("return", ((0,),), location="a.vmasm:4")
    fb.name_local(0, "x")
    f = fb.finish()
    assert f.locations == (DebugLocation(0, "entry"), DebugLocation(1, "a.vmasm:3"),
                           DebugLocation(4, "a.vmasm:4"))
    assert f.local_names == ((0, "x"),)


def test_function_builder_errors():
    fb = FunctionBuilder()
    with pytest.raises(InvalidArgumentError, match="takes 3 fields"):
        fb.emit("add.i32", (0, 1))
    with pytest.raises(InvalidArgumentError, match="unknown instruction"):
        fb.emit("vm.frob", ())
    with pytest.raises(InvalidArgumentError, match="place"):
        fb.emit("block", ())
    fb.place("a")
    with pytest.raises(InvalidArgumentError, match="placed twice"):
        fb.place("a")
    fb.emit("br", (Label("nowhere"), ()))
    with pytest.raises(NotFoundError, match="nowhere"):
        fb.finish()
    fb = FunctionBuilder()
    fb.emit("call", (FunctionRef("g"), (), ()))
    with pytest.raises(InvalidArgumentError, match="resolver"):
        fb.finish()


def test_module_types_follow_vmasm_dedupe_rules():
    mb = ModuleBuilder("m")
    assert mb.add_type("!vm.buffer") == 0
    with pytest.raises(AlreadyExistsError):
        mb.add_type("!vm.buffer")
    assert mb.type_index("!vm.buffer") == 0
    assert mb.type_index("vm.buffer") == 0  # vm.x reuses !vm.x
    assert mb.type_index("vm.list") == 1  # no !vm.list: appended verbatim
    assert mb.type_index("i32") == 2 and mb.type_index("i32") == 2
    assert mb.add_type("i32", allow_duplicate=True) == 3
    assert mb.finish().types == ("!vm.buffer", "vm.list", "i32", "i32")


def test_module_imports_rodata_dependencies():
    mb = ModuleBuilder("m", 7, source="x.onnx")
    assert mb.add_import("hal.device.query.i64", "0rrr_iI") == 0x80000000
    assert mb.add_import("x.y", optional=True) == 0x80000001
    with pytest.raises(AlreadyExistsError):
        mb.add_import("x.y")
    assert mb.find_import("x.y") == 0x80000001 and mb.find_import("nope") is None
    assert mb.add_rodata(b"\x01\x02") == 0
    mb.add_dependency("hal", 4)
    m = mb.finish()
    assert m.imports == (ImportDef("hal.device.query.i64", "0rrr_iI"), ImportDef("x.y", "", True))
    assert m.rodata == (b"\x01\x02",)
    assert m.dependencies[0].name == "hal" and m.version == 7 and m.source == "x.onnx"


def test_globals_layout():
    mb = ModuleBuilder("m")
    mb.declare_global("big", "i64")
    mb.declare_global("a", "i32")
    mb.declare_global("b", "f32")
    mb.declare_global("c", "i32")
    mb.declare_global("d", "f64")
    assert [mb.global_slot(n) for n in ("a", "b", "c", "big", "d")] == [
        (0, "i32"), (4, "f32"), (8, "i32"), (16, "i64"), (24, "f64")]
    with pytest.raises(InvalidArgumentError, match="after the layout"):
        mb.declare_global("late", "i32")
    with pytest.raises(NotFoundError):
        mb.global_slot("nope")
    assert mb.finish().rwdata_size == 32
    only4 = ModuleBuilder("m")
    only4.declare_global("a", "i32")
    only4.declare_global("b", "i32")
    only4.declare_global("c", "i32")
    assert only4.finish().rwdata_size == 12
    with pytest.raises(AlreadyExistsError):
        only4.declare_global("a", "i32")
    with pytest.raises(InvalidArgumentError):
        ModuleBuilder("m").declare_global("r", "ref")


def test_rwdata_and_ref_globals_grow():
    mb = ModuleBuilder("m")
    mb.declare_global("a", "i32")
    mb.use_rwdata(32, 8)
    mb.use_ref_global(3)
    mb.use_ref_global(1)
    m = mb.finish()
    assert (m.rwdata_size, m.ref_global_count) == (40, 4)


def test_functions_exports_and_function_refs():
    mb = ModuleBuilder("m")
    main = mb.function("main", "0v_i")
    main.emit("call", (FunctionRef("helper"), (), (0,)))
    main.emit("return", ((0,),))
    helper = mb.function("helper", "0v_i")
    helper.emit("const.i32.zero", (0,))
    helper.emit("return", ((0,),))
    anonymous = FunctionBuilder(None)
    anonymous.emit("return", ((),))
    assert mb.add_function(anonymous.finish()) == 2
    mb.add_export("main", "main")
    mb.add_export("h", 1)
    with pytest.raises(AlreadyExistsError):
        mb.function("main")
    assert mb.function_ordinal("helper") == 1 and mb.function_count == 3
    m = mb.finish()
    assert m.exports == (ExportDef("main", 0), ExportDef("h", 1))
    assert decoded(m.functions[0])[1] == (1, "call", (1, (), (0,)))
    assert [f.name for f in m.functions] == ["main", "helper", None]
    bad = ModuleBuilder("m")
    bad.function("f").emit("call", (FunctionRef("g"), (), ()))
    with pytest.raises(NotFoundError, match="unknown function @g"):
        bad.finish()
