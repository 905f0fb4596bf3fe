"""Valid modules with structural damage: what the loader and the verifier must reject.

:func:`mutated_modules` draws a valid module (:func:`~pyree.testing.strategies.modules`)
and damages it in one way, returning a :class:`Mutation`. Each kind of damage knows
whether it must be rejected and by which verifier rules (``vm-isa.md`` section 4, the rule
ids of :mod:`pyree.bytecode.verifier`); kinds that may leave a valid module (bit flips)
say so, and such modules must then load and run with nothing but pyree errors.

=====================  =====================================================  ===========
kind                   damage                                                 rejected by
=====================  =====================================================  ===========
``truncate``           a function body cut short                              any code rule
``bitflip``            1-3 bits flipped in a function body                    (maybe)
``ordinal``            a function/import/global/rodata/type ordinal past its  the ordinal's
                       table                                                  rule
``branch``             a branch target moved off its Block marker            branch-target
``register``           a register past the register file, or of the wrong    register-*
                       bank
``cconv``              an unparsable, versioned or variadic function cconv   cconv-* /
                                                                              internal-variadic
``counts``             register or block counts too large, zero or off by    register-count /
                       one                                                    block-count*
``export``             an export naming a function that does not exist       export-ordinal
``container-truncate`` the ``.pyrm`` bytes cut short                          the container
``container-flip``     bits flipped in the ``.pyrm`` bytes                    the checksum
=====================  =====================================================  ===========
"""

from __future__ import annotations

import attrs
from hypothesis import strategies as st

from pyree.bytecode import container, encoding, isa
from pyree.bytecode.builder import FunctionBuilder
from pyree.bytecode.module_def import ExportDef, ModuleDef
from pyree.testing.operands import IMPORT_BIT, pick
from pyree.testing.strategies import modules

KINDS = ("truncate", "bitflip", "ordinal", "branch", "register", "cconv", "counts", "export",
         "container-truncate", "container-flip")
CONTAINER_KINDS = frozenset({"container-truncate", "container-flip"})
_ORDINAL_RULES = {"func_attr": ("function-ordinal", "import-ordinal"),
                  "global_attr": ("global-offset", "ref-global"),
                  "rodata_attr": ("rodata-ordinal",), "type_of": ("type-id",)}


@attrs.frozen
class Mutation:
    """A damaged module: ``module`` (a ModuleDef) or, for container kinds, ``data`` (the
    ``.pyrm`` bytes). ``must_reject`` damage is refused by loading; ``rules`` are the
    verifier rule ids that may report it (empty: any rejection, e.g. by the container
    reader)."""

    kind: str
    original: ModuleDef
    module: ModuleDef | None
    data: bytes | None
    must_reject: bool
    rules: frozenset = frozenset()
    detail: str = ""


def _replace_function(module: ModuleDef, k: int, **changes) -> ModuleDef:
    functions = list(module.functions)
    functions[k] = attrs.evolve(functions[k], **changes)
    return attrs.evolve(module, functions=tuple(functions))


def _reencode(module: ModuleDef, k: int, ins, args) -> ModuleDef:
    code = bytearray(module.functions[k].code)
    new = encoding.encode(ins.op, args, ins.pc)
    if len(new) != ins.size:  # fields of fixed size only: cannot happen
        raise AssertionError("re-encoding changed the instruction size")
    code[ins.pc:ins.end] = new
    return _replace_function(module, k, code=bytes(code))


def _sites(module: ModuleDef, want) -> list:
    """(function, instruction, field index) for every field ``want(op, field)`` accepts."""
    out = []
    for k, f in enumerate(module.functions):
        for ins in encoding.decode(f.code):
            for i, field in enumerate(ins.op.fields):
                if want(ins.op, field):
                    out.append((k, ins, i))
    return out


def _set_arg(ins, i: int, value) -> list:
    args = list(ins.args)
    args[i] = value
    return args


def _truncate(draw, m):
    k = draw(st.integers(0, len(m.functions) - 1))
    code = m.functions[k].code
    cut = draw(st.integers(0, len(code) - 1))
    return _replace_function(m, k, code=code[:cut]), frozenset(), True, f"function {k} cut at {cut}"


def _bitflip(draw, m):
    k = draw(st.integers(0, len(m.functions) - 1))
    code = bytearray(m.functions[k].code)
    for _ in range(draw(st.integers(1, 3))):
        code[draw(st.integers(0, len(code) - 1))] ^= 1 << draw(st.integers(0, 7))
    return _replace_function(m, k, code=bytes(code)), frozenset(), False, f"function {k}"


def _ordinal(draw, m, sites):
    k, ins, i = pick(draw, sites)
    field = ins.op.fields[i]
    kind = field.kind
    if kind == "func_attr":
        if ins.args[i] & IMPORT_BIT:
            value, rule = IMPORT_BIT | (len(m.imports) + draw(st.integers(0, 3))), "import-ordinal"
        else:
            value, rule = len(m.functions) + draw(st.integers(0, 3)), "function-ordinal"
        if ins.op.mnemonic == "import.resolved" and not value & IMPORT_BIT:
            rule = "import-resolved"
    elif kind == "global_attr":
        if ins.op.mnemonic.endswith(".ref"):
            value, rule = m.ref_global_count + draw(st.integers(0, 3)), "ref-global"
        else:
            value, rule = m.rwdata_size - 3 + draw(st.integers(0, 8)), "global-offset"
    elif kind == "rodata_attr":
        value, rule = len(m.rodata) + draw(st.integers(0, 3)), "rodata-ordinal"
    else:
        value, rule = len(m.types) + draw(st.integers(0, 3)), "type-id"
    mutated = _reencode(m, k, ins, _set_arg(ins, i, value))
    return mutated, frozenset({rule}), True, f"{ins.op.mnemonic}.{field.name} = {value}"


def _branch(draw, m, sites):
    k, ins, i = pick(draw, sites)
    field = ins.op.fields[i]
    markers = {x.pc for x in encoding.decode(m.functions[k].code) if x.op.is_block}
    size = len(m.functions[k].code)
    bad = [pc for pc in range(size + 4) if pc not in markers]
    target = pick(draw, bad)
    if field.kind == "branch_table_cases":
        cases = list(ins.args[i])
        j = draw(st.integers(0, len(cases) - 1))
        cases[j] = (target, cases[j][1])
        value = tuple(cases)
    else:
        value = target
    mutated = _reencode(m, k, ins, _set_arg(ins, i, value))
    return mutated, frozenset({"branch-target"}), True, f"{ins.op.mnemonic} -> pc {target}"


def _register(draw, m, sites):
    k, ins, i = pick(draw, sites)
    field = ins.op.fields[i]
    how = draw(st.sampled_from(("range", "bank")))
    if field.type == "ref":
        value = (isa.REF_BIT | isa.REF_INDEX_MASK) if how == "range" else 0
        rules = {"register-range"} if how == "range" else {"register-bank"}
    else:
        value = 0x7FFE if how == "range" else isa.REF_BIT
        rules = {"register-range"} if how == "range" else {"register-bank"}
    mutated = _reencode(m, k, ins, _set_arg(ins, i, value))
    return mutated, frozenset(rules), True, f"{ins.op.mnemonic}.{field.name} = 0x{value:X}"


_BAD_CCONVS = {"1v_v": "cconv-version", "0q_v": "cconv-syntax", "0C": "cconv-syntax",
               "0CiD_v": "internal-variadic", "0v_CiD": "internal-variadic"}


def _cconv(draw, m):
    k = draw(st.integers(0, len(m.functions) - 1))
    text = draw(st.sampled_from(sorted(_BAD_CCONVS)))
    rules = {_BAD_CCONVS[text]}
    if rules == {"internal-variadic"}:  # a caller's call, checked first, may object
        rules.add("callee-signature")
    return (_replace_function(m, k, cconv=text), frozenset(rules), True,
            f"function {k} cconv {text!r}")


def _counts(draw, m):
    k = draw(st.integers(0, len(m.functions) - 1))
    f = m.functions[k]
    what = draw(st.sampled_from(("i32", "ref", "blocks+1", "blocks-0")))
    if what == "i32":
        return (_replace_function(m, k, i32_register_count=0x8001), frozenset({"register-count"}),
                True, "i32_register_count 0x8001")
    if what == "ref":
        return (_replace_function(m, k, ref_register_count=0x4001),
                frozenset({"register-count"}), True, "ref_register_count 0x4001")
    if what == "blocks+1":
        return (_replace_function(m, k, block_count=f.block_count + 1),
                frozenset({"block-count"}), True, "block_count + 1")
    return (_replace_function(m, k, block_count=0), frozenset({"block-count-min"}), True,
            "block_count 0")


def _export(draw, m):
    bad = len(m.functions) + draw(st.integers(0, 3))
    exports = m.exports + (ExportDef("broken", bad),)
    return (attrs.evolve(m, exports=exports), frozenset({"export-ordinal"}), True,
            f"export of function {bad}")


def _container(draw, m, kind):
    data = bytearray(container.write(m))
    if kind == "container-truncate":
        cut = draw(st.integers(0, len(data) - 1))
        return bytes(data[:cut]), f"cut at {cut} of {len(data)}"
    for _ in range(draw(st.integers(1, 3))):
        data[draw(st.integers(0, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
    return bytes(data), "bits flipped"


def _is_ordinal(op, field) -> bool:
    return field.kind in _ORDINAL_RULES


def _is_branch(op, field) -> bool:
    return field.kind == "branch_target" or field.kind == "branch_table_cases"


def _is_register(op, field) -> bool:
    return field.kind == "register"


def _with_anchor(module: ModuleDef) -> ModuleDef:
    """The module plus an uncalled function that has a type ordinal, a branch and
    registers, so that every kind of damage has a site."""
    fb = FunctionBuilder("anchor")
    fb.emit("const.i32", (1, 0))
    fb.emit("list.alloc", (0, 0, isa.REF_BIT))
    nxt = fb.new_label("next")
    fb.emit("br", (nxt, ()))
    fb.place(nxt)
    fb.emit("return", ((),))
    return attrs.evolve(module, functions=module.functions + (fb.finish(),))


@st.composite
def mutated_modules(draw, kinds=KINDS, **options) -> Mutation:
    """A :class:`Mutation` of a module drawn with ``modules(**options)`` (small by
    default: two functions of a few statements) plus an uncalled ``anchor`` function
    that gives every kind of damage a site."""
    options.setdefault("max_functions", 2)
    options.setdefault("max_statements", 4)
    original = _with_anchor(draw(modules(**options)))
    sites = {"ordinal": _sites(original, _is_ordinal),
             "branch": [s for s in _sites(original, _is_branch)
                        if s[1].op.fields[s[2]].kind != "branch_table_cases" or s[1].args[s[2]]],
             "register": _sites(original, _is_register)}
    feasible = [k for k in kinds if k not in sites or sites[k]]
    kind = draw(st.sampled_from(feasible))
    if kind in CONTAINER_KINDS:
        data, detail = _container(draw, original, kind)
        return Mutation(kind, original, None, data, True, frozenset(), detail)
    if kind in sites:
        module, rules, must, detail = globals()["_" + kind](draw, original, sites[kind])
    else:
        module, rules, must, detail = globals()["_" + kind](draw, original)
    return Mutation(kind, original, module, None, must, rules, detail)


__all__ = ["CONTAINER_KINDS", "KINDS", "Mutation", "mutated_modules"]
