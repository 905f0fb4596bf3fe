"""The disassembler: vmasm.md section 9 layout, and assemble(disassemble(m)) == m for the
section 8 examples and for random modules built through the builder (every opcode and
field kind, NaN/inf constants, odd strings, names and debug information)."""

from __future__ import annotations

import re
import struct

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyree.bytecode import encoding, isa
from pyree.bytecode.asm import assemble
from pyree.bytecode.builder import IMPORT_BIT, Label, ModuleBuilder
from pyree.bytecode.disasm import disassemble
from pyree.bytecode.module_def import DependencyDef, ExportDef
from test_assembler import CALLS, CLASSIFY, COUNTER, EXAMPLES, LISTS, STATE

from pyree.status import InvalidArgumentError

R, MOVE = isa.REF_BIT, isa.MOVE_BIT


def roundtrip(module, **kw):
    text = disassemble(module, **kw)
    again = assemble(text, "other-name.vmasm")
    assert again == module, text
    return text


def strip_metadata(text: str) -> str:
    return "\n".join(line.split("//!")[0] for line in text.splitlines())


# -- section 9 layout -------------------------------------------------------------------


def test_layout_of_counter():
    text = disassemble(assemble(COUNTER, "counter.vmasm"))
    lines = [x for x in strip_metadata(text).splitlines() if x and not x.startswith("//")]
    assert lines[0] == "vm.module @counter version 3"
    assert lines[1:4] == ["vm.export @sum_to", "vm.func @sum_to(%i0: i32) -> (i32) {", "^bb0:"]
    assert lines[4].rstrip() == "  %i1 = vm.const.i32.zero"
    assert lines[5].rstrip() == "  %i2 = vm.const.i32 1  // 0x00000001"
    assert lines[6].rstrip() == "  vm.br ^bb1()"
    assert "  vm.cond_br %i3, ^bb3(), ^bb2()" in [x.rstrip() for x in lines]
    assert lines[-1] == "}"


def test_layout_of_header_sections():
    text = disassemble(assemble(LISTS.replace("vm.module @lists version 1", (
        "vm.module @lists version 1\nvm.import optional @a.b cconv \"0r_v\"\n"
        "vm.rodata[0] = 0aff"))))
    head = text.split("\n\n")[0].splitlines()
    plain = [x for x in head if not x.startswith("//")]
    assert plain == ["vm.module @lists version 1", "vm.type i32", "vm.type !vm.opaque",
                     "vm.type !vm.buffer", 'vm.import optional @a.b cconv "0r_v"',
                     "vm.rodata[0] = 0AFF  // 2 bytes"]
    assert "%r0 = vm.list.alloc %i0 : !vm.list<i32>" in text
    assert "%r2 = vm.list.get.ref %r0, %i6 : !vm.buffer" in text
    assert "vm.func @mixed() -> (!vm.ref<?>, i32) {" in text


def test_globals_calls_and_returns_print_as_iree_does():
    state = disassemble(assemble(STATE))
    assert "%i4:5 = vm.global.load.i64 .rwdata[8]" in state
    assert "vm.global.store.i64 %i4:5, .rwdata[8]" in state
    assert "%r0 = vm.const.ref.rodata 0  // 12b" in state
    assert "vm.return %i1, %i4  " in state  # 64-bit list entries print the even slot
    calls = disassemble(assemble(CALLS))
    assert "%i4, %i6 = vm.call @calls.scale(%i0, %i2)" in calls
    assert "%i8, %i10 = vm.call @calls.scale(%i4, %i6)" in calls
    unnamed = attrs.evolve(assemble(CALLS), functions=tuple(
        attrs.evolve(f, name=None) for f in assemble(CALLS).functions))
    text = roundtrip(unnamed)
    assert "vm.func @fn0(" in text and "vm.call @calls:0(" in text


def test_special_forms_print_as_assembler_forms():
    text = disassemble(assemble(CLASSIFY))
    assert ("vm.br_table %i0 { default: ^bb4(), 0: ^bb1(), 1: ^bb2(%i0->%i5), 2: ^bb3() }"
            in text)
    assert "%i6 = vm.select.i32 %i3 ? %i4 : %i5" in text
    assert "%i10 = vm.switch.i32 %i5[%i7, %i8] else %i9" in text
    assert 'vm.fail %i11, "case 2 is not supported"' in text
    assert "%i5 = vm.const.i32 -100  // 0xFFFFFF9C" in text
    assert "%i2 = vm.const.f32 0.0  // 0x00000000" in text


def test_bytecode_offsets_prefix_lines():
    module = assemble(COUNTER)
    text = roundtrip(module, bytecode_offsets=True)
    assert "[00000000] ^bb0:" in text
    assert re.search(r"^\[00000049\]   vm\.return %i1", text, re.MULTILINE)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_section_8_examples_round_trip(name):
    module = assemble(EXAMPLES[name], f"{name}.vmasm")
    text = roundtrip(module)
    assert disassemble(assemble(text)) == text


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_output_without_pyree_metadata_is_plain_vmasm(name):
    """What IREE's assembler sees (it ignores comments) gives the same code."""
    module = assemble(EXAMPLES[name])
    plain = assemble(strip_metadata(disassemble(module)))
    assert [f.code for f in plain.functions] == [f.code for f in module.functions]
    assert (plain.exports, plain.imports, plain.types, plain.rodata) == (
        module.exports, module.imports, module.types, module.rodata)


# -- constants --------------------------------------------------------------------------


def _const(mnemonic: str, bits: int) -> tuple[str, object]:
    mb = ModuleBuilder("m")
    fb = mb.function("f")
    fb.emit(mnemonic, (bits, 0))
    fb.emit("return", ((),))
    module = mb.finish()
    text = roundtrip(module)
    line = next(x for x in text.splitlines() if f"vm.{mnemonic} " in x)
    return line.split("=", 1)[1].split("//")[0].split()[1], line


@pytest.mark.parametrize("value, shown", [
    (0.1, "0.1"), (1.0, "1.0"), (-0.0, "-0.0"), (3.4028234663852886e38, "3.4028235e+38"),
    (float("inf"), "inf"), (float("-inf"), "-inf"), (2.0 ** -149, "0x1p-149"),
    (1.1754943508222875e-38, "1.1754944e-38"),
])
def test_f32_constants_print_shortest_exact(value, shown):
    bits = struct.unpack("<I", struct.pack("<f", value))[0]
    assert _const("const.f32", bits)[0] == shown


def test_nan_payloads_round_trip_through_metadata():
    assert _const("const.f32", 0x7FC00000) == ("nan", _const("const.f32", 0x7FC00000)[1])
    assert "//!" not in _const("const.f32", 0xFFC00000)[1]
    text, line = _const("const.f32", 0x7F800001)
    assert text == "nan" and 'bits="0x7F800001"' in line
    text, line = _const("const.f64", 0xFFF0000000000ABC)
    assert text == "-nan" and 'bits="0xFFF0000000000ABC"' in line
    assert _const("const.f64", 1)[0] == "0x0.0000000000001p-1022"
    assert _const("const.f64", struct.unpack("<Q", struct.pack("<d", 0.1))[0])[0] == "0.1"


def test_strings_vmasm_cannot_spell_use_metadata():
    mb = ModuleBuilder("m")
    fb = mb.function("f")
    fb.emit("fail", (0, b'say "hi"\n\xff'))
    fb.emit("print", (b"plain, text", (0, R | MOVE | 1)))
    fb.emit("return", ((),))
    text = roundtrip(mb.finish())
    assert "vm.fail %i0, \"say 'hi'??\"" in text and 'str="' in text
    assert 'vm.print "plain, text", %i0, %R1' in text


# -- names, exports, module metadata ----------------------------------------------------


def test_names_that_collide_or_are_not_symbols():
    mb = ModuleBuilder("my module!")
    for name in ("f", "x y", None, "fn3"):
        fb = mb.function(name)
        fb.emit("return", ((),))
    fb = mb.function("g")
    fb.emit("call", (1, (), ()))
    fb.emit("return", ((),))
    mb.add_export("f", 4)  # export name equals another function's debug name
    mb.add_export("main", 0)
    mb.add_export("not a symbol", 1)
    mb.add_export("dangling", 9)
    text = roundtrip(mb.finish())
    assert "vm.module @my_module_ version 0" in text
    assert 'pyree.export {"name": "not a symbol", "function": 1}' in text


def test_export_order_is_kept():
    module = attrs.evolve(assemble(CALLS), exports=(ExportDef("b", 1), ExportDef("a", 0),
                                                    ExportDef("c", 1)))
    text = roundtrip(module)
    assert text.index("vm.export @b\n") < text.index("vm.export @a\n") < text.index(
        "vm.export @c = @b\n") < text.index("vm.func")


def test_module_metadata_round_trips():
    module = attrs.evolve(
        assemble(STATE), dependencies=(DependencyDef("hal", 4, 1), DependencyDef("x", 0, 2)),
        bytecode_version=(17, 3), source=None, rwdata_size=100, ref_global_count=3)
    roundtrip(module)


def test_types_that_need_ordinals():
    mb = ModuleBuilder("m")
    for name in ("!vm.buffer", "!vm.buffer", "a b", ".types[0]", "", "x//y", "!vm.list<i32>"):
        mb.add_type(name, allow_duplicate=True)
    fb = mb.function("f")
    for index in range(8):
        fb.emit("list.alloc", (index, 0, R))
        fb.emit("cast.any.ref", (R, index, R | 1))
    fb.emit("return", ((),))
    text = roundtrip(mb.finish())
    assert ".types[1]" in text and "!vm.list<.types[2]>" in text
    assert "vm.list.alloc %i0 : !vm.list<!vm.list<i32>>" in text


def test_unrepresentable_imports_are_rejected():
    mb = ModuleBuilder("m")
    mb.add_import("bad name", "0v_v")
    mb.function("f").emit("return", ((),))
    with pytest.raises(InvalidArgumentError, match="cannot be written in vmasm"):
        disassemble(mb.finish())


def test_locations_off_instruction_boundaries_use_a_list():
    mb = ModuleBuilder("m")
    fb = mb.function("f")
    fb.emit("const.i32", (5, 0), location="a")
    fb.add_location(3, "middle of an instruction")
    fb.emit("return", ((),), location="b")
    text = roundtrip(mb.finish())
    assert '"locations": [[1, "a"], [3, "middle of an instruction"], [8, "b"]]' in text


# -- random modules through the builder -------------------------------------------------

SYMBOLS = st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True)
TYPE_POOL = ["!vm.buffer", "!vm.list<i32>", "!vm.opaque", "i32", "f64", "!hal.fence",
             "a b", "", "x//y", ".types[1]", "!vm.buffer"]
FLOAT32_SPECIAL = [0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FBFFFFF, 0x7F800000, 0xFF800000,
                   0x80000000, 0, 1, 0x007FFFFF, 0x00800000, 0x7F7FFFFF]
FLOAT64_SPECIAL = [0x7FF8000000000000, 0xFFF8000000000000, 0x7FF0000000000001,
                   0x7FF0000000000000, 0xFFF0000000000000, 0x8000000000000000, 0, 1,
                   0x000FFFFFFFFFFFFF, 0x0010000000000000, 0x7FEFFFFFFFFFFFFF]
OPS = [op for op in isa.OPS if not op.is_block]
TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)


def register(draw, bank: str, move: bool):
    if bank in ("i64", "f64"):
        return 2 * draw(st.integers(0, 12))
    if bank in ("i32", "f32"):
        return draw(st.integers(0, 25))
    if bank == "ref" or draw(st.booleans()):
        return R | draw(st.integers(0, 9)) | (MOVE if move and draw(st.booleans()) else 0)
    return draw(st.integers(0, 25))


def register_list(draw, bank: str, move: bool = True):
    return tuple(register(draw, bank, move) for _ in range(draw(st.integers(0, 4))))


def remap(draw):
    return tuple((register(draw, "any", True), register(draw, "any", True))
                 for _ in range(draw(st.integers(0, 3))))


def field_value(draw, op, field, env, args):
    kind, bank = field.kind, field.type
    if kind == "register":
        return register(draw, bank, field.move)
    if kind == "attribute":
        if bank == "i32":
            return draw(st.integers(-2**31, 2**31 - 1))
        if bank == "i64":
            return draw(st.integers(-2**63, 2**63 - 1))
        special = FLOAT32_SPECIAL if bank == "f32" else FLOAT64_SPECIAL
        width = 32 if bank == "f32" else 64
        return draw(st.sampled_from(special) | st.integers(0, 2**width - 1))
    if kind in ("global_attr", "rodata_attr"):
        return draw(st.integers(0, 40) | st.integers(0, 2**32 - 1))
    if kind == "func_attr":
        choices = st.integers(0, env["functions"] + 1)
        if env["imports"]:
            choices |= st.integers(0, env["imports"] - 1).map(lambda i: IMPORT_BIT | i)
        return draw(choices)
    if kind == "type_of":
        return draw(st.integers(0, env["types"] + 1))
    if kind == "string_attr":
        return draw(st.binary(max_size=10) | TEXT.map(lambda s: s.encode()))
    if kind == "branch_target":
        return draw(st.sampled_from(env["labels"]))
    if kind == "branch_operands":
        return remap(draw)
    if kind == "const_i16":
        return draw(st.integers(0, 3))
    if kind == "branch_table_cases":
        return tuple((draw(st.sampled_from(env["labels"])), remap(draw))
                     for _ in range(args[-1]))
    if field.name == "segment_sizes":
        return tuple(draw(st.integers(0, 0xFFFF)) for _ in range(draw(st.integers(0, 3))))
    return register_list(draw, bank, field.move or bank == "any")


CCONV = st.tuples(st.text("iIfFr", max_size=4), st.text("iIfFr", max_size=3)).map(
    lambda p: "0" + (p[0] or "v") + "_" + (p[1] or "v"))


@st.composite
def modules(draw):
    mb = ModuleBuilder(draw(SYMBOLS | TEXT), draw(st.integers(0, 2**32 - 1)),
                       source=draw(st.none() | TEXT))
    for name in draw(st.lists(st.sampled_from(TYPE_POOL), max_size=5)):
        mb.add_type(name, allow_duplicate=True)
    for name in draw(st.lists(st.tuples(SYMBOLS, SYMBOLS).map(".".join), unique=True,
                              max_size=3)):
        mb.add_import(name, draw(CCONV | st.just("")), draw(st.booleans()))
    for data in draw(st.lists(st.binary(max_size=6), max_size=2)):
        mb.add_rodata(data)
    for i, gtype in enumerate(draw(st.lists(st.sampled_from(["i32", "i64", "f32", "f64"]),
                                            max_size=3))):
        mb.declare_global(f"g{i}", gtype)
    count = draw(st.integers(1, 3))
    names = draw(st.lists(st.none() | SYMBOLS | TEXT, min_size=count, max_size=count))
    env = {"functions": count, "imports": len(mb.imports), "types": len(mb.types)}
    for name in names:
        name = None if name is not None and mb.function_ordinal(name) is not None else name
        fb = mb.function(name, draw(CCONV))
        env["labels"] = [Label(f"L{k}") for k in range(draw(st.integers(1, 3)))]
        pending = list(env["labels"])
        for _ in range(draw(st.integers(0, 8))):
            if pending and draw(st.integers(0, 3)) == 0:
                fb.place(pending.pop(0))
            op = draw(st.sampled_from(OPS))
            args: list = []
            for field in op.fields:
                args.append(field_value(draw, op, field, env, args))
            fb.emit(op, args, location=draw(st.none() | TEXT))
        for label in pending:
            fb.place(label)
        fb.emit("return", ((),), location=draw(st.none() | TEXT))
        if draw(st.booleans()):
            fb.name_local(register(draw, "any", False), draw(TEXT))
        if draw(st.integers(0, 5)) == 0:
            fb.add_location(draw(st.integers(0, fb.pc)), draw(TEXT))
    for name, target in draw(st.lists(st.tuples(SYMBOLS | TEXT, st.integers(0, count)),
                                      max_size=3)):
        mb.add_export(name, target)
    if draw(st.booleans()):
        mb.add_dependency(draw(SYMBOLS), draw(st.integers(0, 9)), draw(st.sampled_from([1, 2])))
    return mb.finish()


@given(modules())
def test_random_builder_modules_round_trip(module):
    text = roundtrip(module)
    assert disassemble(assemble(text)) == text


@given(modules())
def test_dump_then_assemble_gives_a_byte_identical_container(module):
    # `pyree dump-module` then `pyree as-module` reproduces the .pyrm file byte for byte.
    from pyree.bytecode import container

    data = container.write(module)
    again = container.write(assemble(disassemble(container.read(data)), "dump.vmasm"))
    assert again == data


def test_random_programs_cover_every_field_kind():
    kinds = {f.kind for op in OPS for f in op.fields}
    assert kinds == {"register", "attribute", "global_attr", "rodata_attr", "func_attr",
                     "type_of", "string_attr", "const_i16", "branch_target",
                     "variadic_operands", "variadic_results", "branch_operands",
                     "branch_table_cases"}


def test_every_opcode_round_trips_once():
    """Deterministic companion of the property: one instance of each row of the table."""
    mb = ModuleBuilder("m")
    mb.add_type("!vm.buffer")
    mb.add_import("x.y", "0i_i")
    fb = mb.function("f", "0iI_v")
    label = fb.place("bb0")
    for op in OPS:
        args: list = []
        for field in op.fields:
            args.append(_fixed_value(field, label, args))
        fb.emit(op, args)
    fb.emit("return", ((),))
    module = mb.finish()
    assert len([i for i in encoding.decode(module.functions[0].code)]) == len(OPS) + 2
    roundtrip(module)


def _fixed_value(field, label, args):
    kind, bank = field.kind, field.type
    if kind == "register":
        return {"i64": 2, "f64": 4, "ref": R | 1}.get(bank, 3)
    if kind == "attribute":
        return {"i32": -5, "i64": 2**40, "f32": 0x7FC00001, "f64": 0x4000000000000000}[bank]
    if kind == "func_attr":
        return IMPORT_BIT
    if kind == "string_attr":
        return b"s"
    if kind == "branch_target":
        return label
    if kind == "branch_operands":
        return ((1, 2), (R | MOVE | 3, R))
    if kind == "const_i16":
        return 2
    if kind == "branch_table_cases":
        return tuple((label, ((i, i + 1),)) for i in range(args[-1]))
    if kind in ("variadic_operands", "variadic_results"):
        return (1, 2) if field.name == "segment_sizes" or bank not in ("ref", "i64", "f64") \
            else ((R | 1, R | MOVE | 2) if bank == "ref" else (2, 4))
    return 0
