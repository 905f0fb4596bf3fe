"""Instruction families, derived from the ISA table by the shape of each row's fields.

No family lists mnemonics: membership follows from :mod:`pyree.bytecode.isa` field kinds,
banks and the instruction's namespace (the text before the first ``.``), so a new row of
the table lands in a family without an edit here. The one list that is not derived is
:data:`MATH_FUNCTIONS`: the libm functions of ``vm-isa.md`` 5.7, whose results may differ
by an ulp between implementations.

=============  ========================================================================
family         rows
=============  ========================================================================
``int``        every field a register of bank i32/i64 (or a typed i32/i64 value list):
               arithmetic, bitwise, shifts, compares, extensions, select, switch
``float``      the same shape touching f32/f64, except the math functions
``math``       the libm functions (sin, exp, pow, ...)
``const``      an immediate (``attribute``) and/or one written register, nothing read
``global``     namespace ``global``: direct (``global_attr``) and indirect accesses
``buffer``     namespace ``buffer``
``list``       namespace ``list``
``ref``        the remaining non-terminators with a ref field, a type or a rodata
               ordinal: ``const.ref.*``, ``select.ref``, ``switch.ref``, ``cmp.*.ref``,
               ``assign.ref``, ``cast.any.ref``, ``discard.refs``
``call``       rows with a ``func_attr`` (calls and ``import.resolved``)
``debug``      non-terminators with a ``string_attr`` (``trace``, ``print``)
``control``    terminators (branches, ``return``, ``fail``, ``yield``, breaks, yieldable
               calls); the structured generator places these itself
=============  ========================================================================
"""

from __future__ import annotations

from pyree.bytecode import isa

#: libm functions of vm-isa.md 5.7 (mnemonic stems; each exists as .f32 and .f64).
MATH_FUNCTIONS = frozenset({
    "atan", "atan2", "cos", "sin", "exp", "exp2", "expm1", "log", "log10", "log1p", "log2",
    "pow", "rsqrt", "tanh", "erf",
})

VALUE_BANKS = frozenset({"i32", "i64", "f32", "f64"})
FLOAT_BANKS = frozenset({"f32", "f64"})
MEMORY_NAMESPACES = ("global", "buffer", "list")

FAMILIES = ("int", "float", "math", "const", "global", "buffer", "list", "ref", "call",
            "debug", "control")


def namespace(op: isa.Op) -> str:
    return op.mnemonic.split(".", 1)[0]


def is_math(op: isa.Op) -> bool:
    return op.opcode_set != "core" and op.mnemonic.rsplit(".", 1)[0] in MATH_FUNCTIONS


def _banks(op: isa.Op) -> set:
    return {f.type for f in op.fields if f.kind in ("register", "variadic_operands")}


def _is_value_shape(op: isa.Op) -> bool:
    """Only registers (and typed value lists), all of value banks, something is read."""
    if not op.fields or any(f.kind not in ("register", "variadic_operands") for f in op.fields):
        return False
    if not _banks(op) <= VALUE_BANKS:
        return False
    return any(f.access != "write" for f in op.fields)


def family_of(op: isa.Op) -> str | None:
    """The family of a row (None for the Block marker)."""
    if op.is_block:
        return None
    kinds = {f.kind for f in op.fields}
    if op.is_terminator:
        return "control"
    if "func_attr" in kinds:
        return "call"
    if "string_attr" in kinds:
        return "debug"
    ns = namespace(op)
    if ns in MEMORY_NAMESPACES:
        return ns
    if _is_value_shape(op):
        if is_math(op):
            return "math"
        return "float" if _banks(op) & FLOAT_BANKS else "int"
    if all(f.kind == "attribute" or f.access == "write" for f in op.fields) \
            and not any(f.type == "ref" for f in op.fields):
        return "const"
    return "ref"


def _build() -> dict[str, tuple[isa.Op, ...]]:
    out: dict[str, list] = {name: [] for name in FAMILIES}
    for op in isa.OPS:
        fam = family_of(op)
        if fam is not None:
            out[fam].append(op)
    return {k: tuple(v) for k, v in out.items()}


#: family name -> rows, in table order.
OPS_BY_FAMILY: dict[str, tuple[isa.Op, ...]] = _build()

#: What :func:`~pyree.testing.strategies.modules` draws by default: everything.
DEFAULT_FAMILIES = frozenset(FAMILIES)
#: Every family but the libm functions: programs whose outcomes are exact bits. The
#: differential harness also takes libm (``differential.LIBM_ULPS``).
EXACT_FAMILIES = DEFAULT_FAMILIES - {"math"}


def resolve(families) -> frozenset:
    """Validate a family selection (names from :data:`FAMILIES`)."""
    chosen = frozenset(families)
    unknown = chosen - set(FAMILIES)
    if unknown:
        raise ValueError(f"unknown instruction families {sorted(unknown)}; "
                         f"known: {', '.join(FAMILIES)}")
    return chosen
