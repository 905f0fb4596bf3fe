"""Load-time bytecode verifier (``vm-isa.md`` section 4). This docstring is the contract.

:func:`verify` checks a :class:`~pyree.bytecode.module_def.ModuleDef` once, before the VM
runs any of it, and returns the decoded instructions of every function (so the VM does
not decode twice). After it succeeds the interpreter may trust, without re-checking:
block structure, branch targets, every register ordinal and bank, move bits, direct
global offsets, ref-global / rodata / type / function / import ordinals, and call and
return register lists against the signatures. What only run time can know (list
indices, buffer ranges, indirect global offsets, null refs, ref types) stays with the
handlers.

A rejection raises :class:`VerificationError`, as the subclass matching the rule's
status (``VerificationInvalidArgumentError`` is also an ``InvalidArgumentError``,
``VerificationOutOfRangeError`` an ``OutOfRangeError``, and so on). It carries
``module``, ``function`` (ordinal), ``function_name`` (export or debug name, if any),
``pc`` and ``rule``, and its message names all of them plus what was expected and what
was found. The first failing rule wins: rules run in the order listed, module rules
first, then per function (in ordinal order) the function, code and instruction rules;
instruction rules run per instruction in pc order.

Register limits: the i32 and ref counts of a function are each rounded up to a power of
two (minimum 1); an ordinal is in range when its index (``& 0x7FFF`` for i32-bank,
``& 0x3FFF`` for refs) is below the rounded count. Bank ``any`` below means a register
list whose entries may be of either bank: call operands/results, ``return``,
``trace``/``print`` and both sides of branch remap entries.

Module rules
------------

``bytecode-version`` (INVALID_ARGUMENT)
    ``bytecode_version`` is (17, minor) with minor <= 0: "bytecode version mismatch;
    runtime supports 17.0, module has X.Y".
``module-limits`` (INVALID_ARGUMENT)
    version, rwdata_size and ref_global_count are u32; at most 2^31 functions and 2^31
    imports (func_attr bit 31 tells them apart), at most 2^32-1 types, rodata segments
    and exports; type names are non-empty strings; rodata segments and function code
    are bytes-like; block_count and requirements are u32.
``import-name`` (INVALID_ARGUMENT)
    every import name contains a '.' ("module.function").
``cconv-version`` (UNIMPLEMENTED)
    every import and function cconv is empty or starts with the version character '0'.
``cconv-syntax`` (INVALID_ARGUMENT)
    every import and function cconv parses (``cconv.parse``). ``""`` means () -> ()
    for the signature checks below, for imports too.
``export-ordinal`` (OUT_OF_RANGE)
    every export names an internal function ordinal < function count. Duplicate export
    names are allowed (as in IREE).

Function rules (per function, before decoding)
----------------------------------------------

``register-count`` (OUT_OF_RANGE)
    "register count overflow": 0 <= i32_register_count <= 0x8000 and
    0 <= ref_register_count <= 0x4000.
``block-count-min`` (OUT_OF_RANGE)
    block_count >= 1.
``internal-variadic`` (INVALID_ARGUMENT)
    "internal functions cannot accept variadic arguments": the function's own cconv has
    no span ``C...D`` (arguments or results).
``argument-storage`` (INVALID_ARGUMENT)
    "insufficient register storage for function arguments": placing the arguments
    (``cconv.register_placement``: i64/f64 on an even slot pair) needs at most the
    rounded i32 count of slots and the rounded ref count of refs.

Code rules (per function, over the whole body)
----------------------------------------------

``decode`` (INVALID_ARGUMENT)
    the body decodes (``encoding.decode``): no unknown opcode or prefixed opcode, no
    truncated instruction. ``pc`` is the instruction at fault.
``entry-block`` (INVALID_ARGUMENT)
    the body is non-empty and pc 0 is a Block marker.
``not-in-block`` (INVALID_ARGUMENT)
    "op at pc X is not in a block": after a terminator the next instruction is a Block
    marker. Terminators: ``isa.TERMINATORS`` (br, cond_br, br_table, return, fail,
    yield, break, cond_break, call.yieldable, call.variadic.yieldable).
``block-in-block`` (INVALID_ARGUMENT)
    "is a block while still in a block": a Block marker only follows a terminator.
``missing-terminator`` (INVALID_ARGUMENT)
    "function missing terminator in the last block": the last instruction is a
    terminator.
``block-count`` (INVALID_ARGUMENT)
    block_count equals the number of Block markers in the body.
``branch-target`` (INVALID_ARGUMENT)
    every branch target (br, cond_br both targets, br_table default and every case,
    yield, break, cond_break, and the resume target of the yieldable calls) is the pc of
    a Block marker of this function.

Instruction rules (per instruction)
-----------------------------------

``requirements`` (INVALID_ARGUMENT)
    an instruction behind prefix 0xE0 (0xE1) needs the EXT_F32 (EXT_F64) bit in the
    function's requirements.
``register-bank`` (INVALID_ARGUMENT)
    "ref register required but non-ref provided" and the converse: a register field or
    list whose bank is ``ref`` has bit 15 set, one whose bank is i32/i64/f32/f64 has it
    clear. ``discard.refs`` lists are treated as ref lists. Bank ``any`` is not checked
    here (signatures and ``remap-bank`` do it).
``move-bit`` (INVALID_ARGUMENT)
    bit 14 on a ref ordinal only where allowed: fields with ``move`` in the ISA table
    (and the ``switch.ref`` values list), the bank-``any`` lists, ``discard.refs``, and
    the *source* of a remap entry (never its destination).
``register-range`` (INVALID_ARGUMENT)
    every register (fields, lists, remap sources and destinations) is in range of its
    bank's rounded count.
``even-pair`` (INVALID_ARGUMENT)
    an i64/f64 register field or typed list entry (``switch.i64``/``switch.f64``
    values) is an even slot n with n+1 in range.
``remap-bank`` (INVALID_ARGUMENT)
    every remap entry (br, cond_br, br_table default and cases, yield, break,
    cond_break) moves one i32 slot or one ref: source and destination in the same bank.
``global-offset`` (OUT_OF_RANGE)
    direct primitive globals: byte_offset + width (4 for i32/f32, 8 for i64/f64) <=
    rwdata_size.
``ref-global`` (OUT_OF_RANGE)
    direct ref globals: index < ref_global_count.
``rodata-ordinal`` (OUT_OF_RANGE)
    ``const.ref.rodata`` ordinal < number of rodata segments.
``type-id`` (OUT_OF_RANGE)
    every type_of attribute < type table size.
``import-resolved`` (INVALID_ARGUMENT)
    ``import.resolved`` names an import (bit 31 set).
``function-ordinal`` (OUT_OF_RANGE)
    an internal func_attr (bit 31 clear) < function count.
``import-ordinal`` (OUT_OF_RANGE)
    an import func_attr (bit 31 set) has low 31 bits < import count.
``variadic-callee`` (FAILED_PRECONDITION)
    ``call.variadic`` and ``call.variadic.yieldable`` target an import.
``segment-sizes`` (INVALID_ARGUMENT)
    a variadic call has one segment size per top-level argument element of the callee
    cconv (values for non-span elements are ignored; 0xFFFF is customary).
``callee-signature`` (INVALID_ARGUMENT)
    call operand and result lists match the callee cconv (internal function or import):
    one entry per value character (spans expanded by their segment size for variadic
    calls), each of the character's bank (i/f: i32 bank, I/F: even i32-bank slot n
    with n+1 in range, r: ref). A plain call to a callee with spans, or a callee with
    spans in its results, is rejected.
``return-signature`` (INVALID_ARGUMENT)
    ``return`` operands match the function's own result cconv the same way.
"""

from __future__ import annotations

import re

from pyree.bytecode import verifier_code, verifier_module, verifier_operands  # noqa: F401
from pyree.bytecode.encoding import Instr
from pyree.bytecode.module_def import ModuleDef
from pyree.bytecode.verifier_base import (
    ERROR_CLASSES,
    RULES,
    SCOPES,
    FunctionContext,
    ModuleContext,
    Rule,
    VerificationError,
    VerificationFailedPreconditionError,
    VerificationInvalidArgumentError,
    VerificationOutOfRangeError,
    VerificationUnimplementedError,
)
from pyree.bytecode.verifier_operands import register_operands

from pyree.status import InvalidArgumentError

__all__ = [
    "ERROR_CLASSES",
    "RULES",
    "Rule",
    "VerificationError",
    "VerificationFailedPreconditionError",
    "VerificationInvalidArgumentError",
    "VerificationOutOfRangeError",
    "VerificationUnimplementedError",
    "verify",
]

_BY_SCOPE: dict[str, tuple[Rule, ...]] = {
    scope: tuple(r for r in RULES.values() if r.scope == scope) for scope in SCOPES}
#: op.key -> instruction rules that inspect that opcode's fields.
_PLAN: dict[int, tuple[Rule, ...]] = {}


def verify(module: ModuleDef) -> list[list[Instr]]:
    """Verify ``module``; return the decoded instructions of each function, in ordinal
    order. Raises :class:`VerificationError` (see the module docstring)."""
    if not isinstance(module, ModuleDef):
        raise InvalidArgumentError(f"verify expects a ModuleDef, got {type(module).__name__}")
    mctx = ModuleContext(module)
    for r in _BY_SCOPE["module"]:
        r.check(mctx)
    return [_verify_function(mctx, i, fn) for i, fn in enumerate(module.functions)]


def _verify_function(mctx: ModuleContext, ordinal: int, fn) -> list[Instr]:
    f = FunctionContext(mctx, ordinal, fn)
    for r in _BY_SCOPE["function"]:
        r.check(f)
    for r in _BY_SCOPE["code"]:
        r.check(f)
    for ins in f.instrs:
        rules = _PLAN.get(ins.op.key)
        if rules is None:
            rules = _PLAN[ins.op.key] = tuple(
                r for r in _BY_SCOPE["instruction"] if r.applies is None or r.applies(ins.op))
        if rules:
            regs = register_operands(ins)
            for r in rules:
                r.check(f, ins, regs)
    return f.instrs


def _documented_rules() -> dict[str, str]:
    return dict(re.findall(r"^``([a-z0-9-]+)`` \(([A-Z_]+)\)$", __doc__, re.MULTILINE))


def _check_table() -> None:
    documented = _documented_rules()
    registered = {r.id: r.status.name for r in RULES.values()}
    if documented != registered:
        raise ImportError(f"verifier rule table out of sync with its docstring: documented "
                          f"{sorted(documented.items() - registered.items())}, registered "
                          f"{sorted(registered.items() - documented.items())}")
    if list(documented) != [r.id for scope in SCOPES for r in _BY_SCOPE[scope]]:
        raise ImportError("verifier docstring lists the rules in a different order than "
                          "they run")


_check_table()
