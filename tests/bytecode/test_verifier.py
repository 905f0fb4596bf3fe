"""The load-time verifier: one rejecting module per rule id, valid modules accepted."""

from __future__ import annotations

import pickle

import pytest
from helpers import IMPORT, RETURN, RM, R, assemble, function, module, modules, random_body
from hypothesis import given
from hypothesis import strategies as st
from pyree.bytecode import isa, verifier
from pyree.bytecode.module_def import ExportDef, FunctionDef, ImportDef, ModuleDef
from pyree.bytecode.verifier import RULES, VerificationError, verify

from pyree.status import (
    FailedPreconditionError,
    InvalidArgumentError,
    OutOfRangeError,
    PyreeError,
    StatusCode,
    UnimplementedError,
)

STATUS_CLASS = {
    StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    StatusCode.OUT_OF_RANGE: OutOfRangeError,
    StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    StatusCode.UNIMPLEMENTED: UnimplementedError,
}


def body(*ops, cconv: str = "0v_v", **kwargs) -> FunctionDef:
    """One block holding ``ops`` followed by ``return`` (no operands)."""
    return function(["^entry", *ops, ("return", ())], cconv=cconv, **kwargs)


def one(*ops, **kwargs) -> ModuleDef:
    fkw = {k: kwargs.pop(k) for k in ("cconv", "i32", "refs", "blocks", "requirements")
           if k in kwargs}
    return module(body(*ops, **fkw), **kwargs)


# --------------------------------------------------------------------------- valid modules

TYPES = ("!vm.buffer", "!vm.list<i32>")
IMPORTS = (ImportDef("m.f", "0r_I"), ImportDef("hal.fence.join", "0ICrD_r"),
           ImportDef("m.none", ""))


def _main() -> FunctionDef:
    return function([
        "^entry",
        ("const.i64", -1, 4),
        ("global.store.i32", 0, 0),
        ("global.load.i64", 8, 6),
        ("global.store.ref", 0, 0, R(0)),
        ("global.load.ref", 0, 0, RM(1)),
        ("const.ref.rodata", 0, R(1)),
        ("list.alloc", 1, 0, R(2)),
        ("switch.i64", 0, 4, (2, 6), 4),
        ("switch.ref", 0, 0, R(0), (RM(1), R(2)), R(3)),
        ("select.ref", 0, 0, RM(1), R(2), RM(3)),
        ("call", 1, (0, 2), (4,)),
        ("call", IMPORT | 0, (R(0),), (6,)),
        ("call", IMPORT | 2, (), ()),
        ("call.variadic", IMPORT | 1, (0xFFFF, 2), (2, R(0), RM(1)), (R(2),)),
        ("import.resolved", IMPORT | 0, 1),
        ("trace", b"event", (0, 2, RM(3))),
        ("print", b"", ()),
        ("discard.refs", (RM(2), R(3))),
        ("add.f32", 0, 1, 1),
        ("add.f64", 2, 4, 6),
        ("cond_br", 0, "^loop", ((0, 1), (RM(0), R(1))), "^exit", ()),
        "^loop",
        ("br_table", 0, "^exit", (), 2, (("^loop", ()), ("^y", ((1, 0), (R(1), R(0)))))),
        "^y",
        ("call.yieldable", 1, (0, 2), "^after", (1,)),
        "^after",
        ("call.variadic.yieldable", IMPORT | 1, (0, 0), (2,), "^brk", (R(3),)),
        "^brk",
        ("cond_break", 0, "^brk2", ((4, 5),)),
        "^brk2",
        ("break", "^yld", ()),
        "^yld",
        ("yield", "^fail", ()),
        "^fail",
        ("fail", 0, b"not really"),
        "^exit",
        ("return", (0, 2)),
    ], cconv="0iIr_iI", name="main")


def valid_module() -> ModuleDef:
    callee = function(["^e", ("return", (0,))], cconv="0iI_i", i32=4, refs=0)
    return module(_main(), callee, types=TYPES, imports=IMPORTS, rodata=(b"abc",),
                  rwdata_size=16, ref_global_count=1,
                  exports=(ExportDef("main", 0), ExportDef("main", 0)))


def test_valid_module_is_accepted_and_decoded_once():
    m = valid_module()
    instrs = verify(m)
    assert len(instrs) == 2
    assert [ins.op.mnemonic for ins in instrs[1]] == ["block", "return"]
    code, _, _, _ = assemble(["^e", ("return", (0,))])
    assert instrs[1][-1].pc == 1 and len(code) == instrs[1][-1].end
    assert m.functions[0].requirements == isa.REQ_EXT_F32 | isa.REQ_EXT_F64


def test_trivial_modules_are_accepted():
    assert len(verify(module())) == 1
    assert verify(ModuleDef(name="empty")) == []
    verify(module(function(RETURN, cconv="")))


def test_register_counts_round_up_to_a_power_of_two():
    verify(one(("const.i32.zero", 7), i32=5))  # 5 -> 8
    verify(one(("const.ref.zero", R(0)), refs=0))  # 0 -> 1
    verify(one(("const.i64.zero", 6), i32=7))
    with pytest.raises(VerificationError, match=r"%i8 out of range; expected < 8"):
        verify(one(("const.i32.zero", 8), i32=5))


def _instr_for(op: isa.Op):
    """A valid instance of ``op`` for the module built by ``_all_ops_module``."""
    args = []
    for field in op.fields:
        kind, bank = field.kind, field.type
        if kind == "register":
            args.append(R(1) if bank == "ref" else 2 if bank in isa.WIDE_BANKS else 1)
        elif kind in ("attribute", "global_attr", "rodata_attr", "type_of", "const_i16"):
            args.append(0)
        elif kind == "func_attr":
            args.append(IMPORT | 0 if "variadic" in op.mnemonic or "import" in op.mnemonic
                        else 1)
        elif kind == "string_attr":
            args.append(b"x")
        elif kind == "branch_target":
            args.append("^next")
        else:
            args.append(())
    return (op.mnemonic, *args)


@pytest.mark.parametrize("op", [op for op in isa.OPS if not op.is_block],
                         ids=lambda op: op.mnemonic)
def test_every_opcode_has_a_valid_form(op):
    items = ["^entry", _instr_for(op)]
    if not op.is_terminator:
        items.append(("return", ()))
    items += ["^next", ("return", ())]
    m = module(function(items), function(RETURN), types=TYPES, rodata=(b"",),
               imports=(ImportDef("m.f", "0v_v"),), rwdata_size=8, ref_global_count=1)
    assert [ins.op for ins in verify(m)[0]][1] is op


# --------------------------------------------------------------------------- one rejection per rule

_CALLEE_I = ImportDef("m.f", "0i_v")

REJECTS = {
    "bytecode-version": lambda: module(bytecode_version=(17, 1)),
    "module-limits": lambda: module(rwdata_size=-1),
    "import-name": lambda: module(imports=(ImportDef("nodot", "0v_v"),)),
    "cconv-version": lambda: module(function(RETURN, cconv="1v_v")),
    "cconv-syntax": lambda: module(imports=(ImportDef("m.f", "0x_v"),)),
    "export-ordinal": lambda: module(exports=(ExportDef("f", 1),)),
    "register-count": lambda: module(function(RETURN, i32=0x8001)),
    "block-count-min": lambda: module(function(RETURN, blocks=0)),
    "internal-variadic": lambda: module(function(RETURN, cconv="0CiD_v")),
    "argument-storage": lambda: module(function(RETURN, cconv="0iiiii_v", i32=4)),
    "decode": lambda: module(FunctionDef("0v_v", b"\x79\xe0\xff", 8, 4, 1)),
    "entry-block": lambda: module(function([("return", ())], blocks=1)),
    "not-in-block": lambda: module(function(["^a", ("return", ()), ("return", ())])),
    "block-in-block": lambda: module(function(["^a", "^b", ("return", ())])),
    "missing-terminator": lambda: module(function(["^a", ("const.i32.zero", 0)])),
    "block-count": lambda: module(function(RETURN, blocks=2)),
    "branch-target": lambda: module(function(["^a", ("br", 1, ())])),
    "requirements": lambda: one(("add.f32", 0, 1, 2), requirements=0),
    "register-bank": lambda: one(("add.i32", R(0), 1, 2)),
    "move-bit": lambda: one(("cmp.nz.ref", RM(0), 0)),
    "register-range": lambda: one(("add.i32", 0, 1, 9), i32=8),
    "even-pair": lambda: one(("add.i64", 1, 2, 4)),
    "remap-bank": lambda: module(function(["^a", ("br", "^b", ((R(0), 1),)),
                                           "^b", ("return", ())])),
    "global-offset": lambda: one(("global.load.i32", 0, 0), rwdata_size=3),
    "ref-global": lambda: one(("global.load.ref", 0, 0, R(0)), types=TYPES),
    "rodata-ordinal": lambda: one(("const.ref.rodata", 0, R(0))),
    "type-id": lambda: one(("list.alloc", 0, 0, R(0))),
    "import-resolved": lambda: one(("import.resolved", 0, 0)),
    "function-ordinal": lambda: one(("call", 5, (), ())),
    "import-ordinal": lambda: one(("call", IMPORT | 0, (), ())),
    "variadic-callee": lambda: one(("call.variadic", 0, (), (), ())),
    "segment-sizes": lambda: one(("call.variadic", IMPORT | 0, (), (), ()),
                                 imports=(ImportDef("m.f", "0CiD_v"),)),
    "callee-signature": lambda: one(("call", IMPORT | 0, (), ()), imports=(_CALLEE_I,)),
    "return-signature": lambda: module(function(RETURN, cconv="0v_i")),
}


def _reject(m: ModuleDef, rule: str) -> VerificationError:
    with pytest.raises(VerificationError) as e:
        verify(m)
    err = e.value
    assert err.rule == rule, str(err)
    status = RULES[rule].status
    assert err.code == status and isinstance(err, STATUS_CLASS[status])
    assert str(err).startswith(status.name)
    assert f"[{rule}]" in str(err) and f"module '{m.name}'" in str(err)
    return err


def test_every_rule_has_a_rejecting_example():
    assert set(RULES) == set(REJECTS), (set(RULES) ^ set(REJECTS))


@pytest.mark.parametrize("rule", list(REJECTS))
def test_rule_rejects_its_example(rule):
    _reject(REJECTS[rule](), rule)


def test_rule_table_matches_the_docstring():
    assert verifier._documented_rules() == {r.id: r.status.name for r in RULES.values()}
    assert all(f"``{rule}``" in verifier.__doc__ for rule in RULES)


def test_error_names_function_pc_and_expectation():
    bad = function(["^a", ("const.i32.zero", 0), ("add.i32", 0, 0, 33), ("return", ())],
                   name="dbg")
    m = module(function(RETURN), bad, exports=(ExportDef("exported", 1),))
    err = _reject(m, "register-range")
    assert (err.module, err.function, err.function_name, err.pc) == ("test", 1, "exported", 4)
    assert "function 1 'exported', pc 4" in str(err) and "%i33" in str(err)
    assert "expected < 8" in str(err)
    clone = pickle.loads(pickle.dumps(err))
    assert (clone.rule, clone.pc, str(clone), type(clone)) == (err.rule, 4, str(err), type(err))
    m = module(function(RETURN), bad)
    assert _reject(m, "register-range").function_name == "dbg"


def test_status_codes_from_the_spec():
    assert _reject(REJECTS["block-count-min"](), "block-count-min").code == 11
    assert _reject(REJECTS["block-count"](), "block-count").code == 3
    assert _reject(REJECTS["variadic-callee"](), "variadic-callee").code == 9
    assert _reject(REJECTS["cconv-version"](), "cconv-version").code == 12


# --------------------------------------------------------------------------- finer cases


def test_block_structure_messages():
    err = _reject(REJECTS["not-in-block"](), "not-in-block")
    assert "op at pc 4 is not in a block" in str(err) and err.pc == 4
    assert "is a block while still in a block" in str(_reject(REJECTS["block-in-block"](),
                                                                 "block-in-block"))
    err = _reject(REJECTS["missing-terminator"](), "missing-terminator")
    assert "function missing terminator in the last block" in str(err)
    _reject(module(FunctionDef("0v_v", b"", 1, 0, 1)), "entry-block")
    err = _reject(REJECTS["decode"](), "decode")
    assert err.pc == 1 and "unknown opcode" in str(err)
    _reject(module(FunctionDef("0v_v", b"\x79\x0d\x01", 1, 0, 1)), "decode")  # truncated


@pytest.mark.parametrize("items", [
    ["^a", ("cond_br", 0, "^a", (), 2, ())],
    ["^a", ("br_table", 0, "^a", (), 2, (("^a", ()), (3, ())))],
    ["^a", ("br_table", 0, 99, (), 0, ())],
    ["^a", ("yield", 7, ())],
    ["^a", ("break", 2, ())],
    ["^a", ("cond_break", 0, 2, ())],
    ["^a", ("call.yieldable", 1, (), 2, ()), "^b", ("return", ())],
])
def test_branch_targets_everywhere(items):
    _reject(module(function(items), function(RETURN)), "branch-target")


def test_register_bank_in_lists_and_fields():
    _reject(one(("discard.refs", (1,))), "register-bank")
    _reject(one(("switch.ref", 0, 0, R(0), (1,), R(1)), types=TYPES), "register-bank")
    _reject(one(("switch.i32", 0, 1, (R(0),), 1)), "register-bank")
    err = _reject(one(("assign.ref", 0, R(1))), "register-bank")
    assert "ref register required but non-ref provided" in str(err)


def test_move_bit_rules():
    _reject(one(("buffer.length", RM(0), 0)), "move-bit")
    _reject(one(("assign.ref", R(0), R(1)), ("list.size", RM(1), 0)), "move-bit")
    _reject(module(function(["^a", ("br", "^b", ((R(0), RM(1)),)), "^b", ("return", ())])),
            "move-bit")
    verify(one(("assign.ref", RM(0), RM(1)), ("discard.refs", (RM(1),)),
               ("trace", b"t", (RM(0),))))
    # bit 14 of an i32-bank ordinal is part of the slot index, not a move bit
    _reject(one(("const.i32.zero", 0x4000)), "register-range")


def test_ranges_in_lists_and_remaps():
    _reject(one(("discard.refs", (R(4),)), refs=4), "register-range")
    _reject(one(("trace", b"t", (9,)), i32=8), "register-range")
    _reject(module(function(["^a", ("br", "^b", ((0, 8),)), "^b", ("return", ())])),
            "register-range")
    _reject(module(function(["^a", ("br_table", 0, "^b", (), 1, (("^b", ((R(9), R(0)),)),)),
                             "^b", ("return", ())])), "register-range")


def test_even_pairs():
    _reject(one(("const.i64.zero", 0), i32=1), "even-pair")  # n+1 out of range
    _reject(one(("switch.i64", 0, 2, (2, 5), 4)), "even-pair")
    _reject(one(("add.f64", 2, 4, 7)), "even-pair")
    _reject(one(("buffer.load.i64", R(0), 3, 4)), "even-pair")


def test_remap_bank_both_directions():
    _reject(module(function(["^a", ("br", "^b", ((1, R(0)),)), "^b", ("return", ())])),
            "remap-bank")
    _reject(module(function(["^a", ("cond_br", 1, "^b", (), "^b", ((0, 1), (R(1), 2))),
                             "^b", ("return", ())])), "remap-bank")


def test_globals():
    verify(one(("global.load.i32", 12, 0), ("global.store.f64", 8, 2), rwdata_size=16))
    _reject(one(("global.load.i64", 12, 0), rwdata_size=16), "global-offset")
    _reject(one(("global.store.f32", 0xFFFFFFFF, 0), rwdata_size=16), "global-offset")
    _reject(one(("global.store.ref", 2, 0, R(0)), types=TYPES, ref_global_count=2),
            "ref-global")
    verify(one(("global.load.indirect.i32", 0, 1), ("global.load.indirect.ref", 0, 0, R(0)),
               types=TYPES))


def test_types_and_callees():
    _reject(one(("cast.any.ref", R(0), 2, R(1)), types=TYPES), "type-id")
    _reject(module(function(["^a", ("call.variadic.yieldable", 0, (), (), "^a", ())])),
            "variadic-callee")
    _reject(one(("import.resolved", IMPORT | 3, 0), imports=(_CALLEE_I,)), "import-ordinal")
    err = _reject(one(("import.resolved", 0, 0)), "import-resolved")
    assert "expected an import ordinal" in str(err)


@pytest.mark.parametrize("call, imports", [
    (("call", IMPORT | 0, (R(0),), ()), (_CALLEE_I,)),           # wrong bank
    (("call", IMPORT | 0, (0, 1), ()), (_CALLEE_I,)),            # too many
    (("call", IMPORT | 0, (1,), ()), (ImportDef("m.f", "0I_v"),)),  # odd i64
    (("call", IMPORT | 0, (), ()), (ImportDef("m.f", "0v_r"),)),  # missing result
    (("call", IMPORT | 0, (), (R(0),)), (ImportDef("m.f", "0v_i"),)),  # result bank
    (("call", IMPORT | 0, (0,), ()), (ImportDef("m.f", ""),)),     # "" is () -> ()
    (("call", IMPORT | 0, (), ()), (ImportDef("m.f", "0CiD_v"),)),  # plain call, spans
    (("call.variadic", IMPORT | 0, (2,), (0,), ()), (ImportDef("m.f", "0CiD_v"),)),
    (("call.variadic", IMPORT | 0, (1, 1), (0, R(0), 1), ()),
     (ImportDef("m.f", "0iCrD_v"),)),                               # span element bank
])
def test_callee_signature_variants(call, imports):
    _reject(one(call, imports=imports, i32=7), "callee-signature")


def test_callee_pair_past_the_register_file():
    m = one(("call", IMPORT | 0, (0,), ()), imports=(ImportDef("m.f", "0F_v"),), i32=1)
    assert "n+1 < 1" in str(_reject(m, "callee-signature"))


def test_internal_callee_signature():
    callee = function(["^e", ("return", (2,))], cconv="0iI_I")
    verify(module(body(("call", 1, (0, 2), (4,))), callee))
    _reject(module(body(("call", 1, (0, 3), (4,))), callee), "callee-signature")
    _reject(module(body(("call", 1, (0, 2), (3,))), callee), "callee-signature")
    _reject(module(function(["^a", ("call.yieldable", 1, (0, 2), "^a", (3,))]), callee),
            "callee-signature")


def test_return_signature_variants():
    _reject(module(function(["^a", ("return", (R(0),))], cconv="0v_i")), "return-signature")
    _reject(module(function(["^a", ("return", (1,))], cconv="0v_I")), "return-signature")
    _reject(module(function(["^a", ("return", (0, 1))], cconv="0v_i")), "return-signature")
    verify(module(function(["^a", ("return", (6, RM(0)))], cconv="0v_Fr")))


def test_argument_storage_counts_pairs_and_refs():
    verify(module(function(RETURN, cconv="0iI_v", i32=4)))
    _reject(module(function(RETURN, cconv="0iI_v", i32=2)), "argument-storage")
    _reject(module(function(RETURN, cconv="0rrr_v", refs=2)), "argument-storage")
    err = _reject(module(function(RETURN, cconv="0v_CiD")), "internal-variadic")
    assert "internal functions cannot accept variadic arguments" in str(err)


def test_module_level_checks():
    err = _reject(module(bytecode_version=(18, 0)), "bytecode-version")
    assert "bytecode version mismatch; runtime supports 17.0, module has 18.0" in str(err)
    _reject(module(imports=(ImportDef("m.f", "0CiCrDD_v"),)), "cconv-syntax")
    _reject(module(function(RETURN, cconv=5)), "cconv-syntax")
    _reject(module(types=("",)), "module-limits")
    _reject(module(rodata=(3,)), "module-limits")
    _reject(module(exports=(ExportDef("f", -1),)), "export-ordinal")
    verify(module(exports=(ExportDef("f", 0), ExportDef("f", 0))))  # duplicates allowed
    with pytest.raises(InvalidArgumentError):
        verify("nope")


# --------------------------------------------------------------------------- properties


@given(modules())
def test_random_modules_only_raise_pyree_errors(m):
    try:
        verify(m)
    except PyreeError:
        pass


@given(st.binary(max_size=64), st.integers(0, 3), st.integers(0, 20))
def test_random_code_only_raises_verification_errors(code, requirements, i32):
    m = module(FunctionDef("0i_i", b"\x79" + code, i32, 2, 1 + code.count(0x79),
                           requirements=requirements), function(RETURN),
               imports=(ImportDef("m.f", "0CiD_v"),), types=TYPES, rodata=(b"",),
               rwdata_size=8, ref_global_count=1)
    try:
        instrs = verify(m)
    except VerificationError as e:
        assert e.rule in RULES
    else:
        assert instrs[0][0].op.is_block


@given(random_body(), st.sampled_from(["0v_v", "0iI_r", "0v_i", "0r_v"]))
def test_random_instruction_streams_only_raise_verification_errors(items, cconv):
    m = module(function(items, cconv=cconv, i32=7, refs=3),
               function(RETURN, cconv="0i_i"),
               imports=(ImportDef("m.f", "0CiD_v"), ImportDef("m.g", "0r_I")), types=TYPES,
               rodata=(b"",), rwdata_size=8, ref_global_count=1)
    try:
        verify(m)
    except VerificationError as e:
        assert e.rule in RULES
