"""The expression operator table: the one source of truth for elementwise ops.

Each row names an op, its arity, the element-type classes its operands may have, how its
result type is formed, and one source template per operand class. Templates are the *only*
text that reaches generated kernels besides identifiers and numbers the code generator
formats itself: ``{a}``, ``{b}``, ``{c}`` are operand temporaries, ``{T}`` the result type's
constructor (``np.float32``...), ``{S}`` the operand type's constructor, ``{W}`` the result
type's bit width. Integer results are wrapped in ``{T}(...)`` so arithmetic wraps like numpy's
(numba widens small integers). Helpers a template calls (``kernels.runtime``) are listed in
its row so the generated module imports exactly what it uses.

Operand types of an op must be identical (no implicit promotion); ``cast`` converts.
The spec's operator table (spec/executables.md) is rendered from these rows.
"""

from __future__ import annotations

import attrs

NUMERIC = frozenset({"sint", "uint", "float"})
FLOAT = frozenset({"float"})
INTS = frozenset({"sint", "uint"})
BOOL = frozenset({"bool"})
ANY = frozenset({"bool", "sint", "uint", "float"})


@attrs.frozen
class OpRow:
    name: str
    arity: int
    kinds: frozenset          # classes the (first compared) operand type may have
    result: str               # "same" | "i1"
    templates: tuple          # ((kind, template), ...)
    summary: str
    helpers: tuple = ()       # names the templates call from ``kernels.runtime``

    def template(self, kind: str) -> str:
        for k, text in self.templates:
            if k == kind:
                return text
        raise KeyError(kind)


def _all(kinds, text):
    return tuple((k, text) for k in sorted(kinds))


def _arith(name, sym, summary, float_text=None):
    return OpRow(name, 2, NUMERIC, "same",
                 (("float", float_text or "({a} %s {b})" % sym),
                  ("sint", "{T}({a} %s {b})" % sym), ("uint", "{T}({a} %s {b})" % sym)),
                 summary)


def _unary_float(name, fn, summary):
    return OpRow(name, 1, FLOAT, "same", (("float", "{T}(" + fn + "({a}))"),), summary)


_ROWS = (
    _arith("add", "+", "a + b (integers wrap)"),
    _arith("sub", "-", "a - b (integers wrap)"),
    _arith("mul", "*", "a * b (integers wrap)"),
    OpRow("div", 2, NUMERIC, "same",
          (("float", "({a} / {b})"), ("sint", "{T}(sdiv({a}, {b}))"),
           ("uint", "{T}(udiv({a}, {b}))")),
          "a / b; integers truncate toward zero, x / 0 = 0, MIN / -1 = MIN"),
    OpRow("min", 2, NUMERIC, "same",
          (("float", "fmin({a}, {b})"), ("sint", "{T}(min({a}, {b}))"),
           ("uint", "{T}(min({a}, {b}))")),
          "minimum; NaN if either operand is NaN"),
    OpRow("max", 2, NUMERIC, "same",
          (("float", "fmax({a}, {b})"), ("sint", "{T}(max({a}, {b}))"),
           ("uint", "{T}(max({a}, {b}))")),
          "maximum; NaN if either operand is NaN"),
    OpRow("pow", 2, FLOAT, "same", (("float", "{T}({a} ** {b})"),), "a ** b"),
    OpRow("neg", 1, NUMERIC, "same",
          (("float", "(-{a})"), ("sint", "{T}(-{a})"), ("uint", "{T}({T}(0) - {a})")),
          "-a (integers wrap)"),
    OpRow("abs", 1, NUMERIC, "same",
          (("float", "abs({a})"), ("sint", "{T}(abs({a}))"), ("uint", "{a}")),
          "absolute value; abs(MIN) = MIN for signed integers"),
    OpRow("relu", 1, NUMERIC, "same",
          (("float", "fmax({a}, {T}(0))"), ("sint", "{T}(max({a}, 0))"), ("uint", "{a}")),
          "max(a, 0); NaN stays NaN"),
    OpRow("exp", 1, FLOAT, "same", (("float", "{T}(np.exp({a}))"),), "e ** a"),
    OpRow("log", 1, FLOAT, "same", (("float", "{T}(np.log({a}))"),),
          "natural log; log(0) = -inf, log(<0) = NaN"),
    OpRow("sqrt", 1, FLOAT, "same", (("float", "{T}(np.sqrt({a}))"),), "square root"),
    OpRow("rsqrt", 1, FLOAT, "same", (("float", "({T}(1) / {T}(np.sqrt({a})))"),),
          "1 / sqrt(a)"),
    OpRow("tanh", 1, FLOAT, "same", (("float", "{T}(np.tanh({a}))"),), "hyperbolic tangent"),
    OpRow("sigmoid", 1, FLOAT, "same",
          (("float", "({T}(1) / ({T}(1) + {T}(np.exp(-{a}))))"),), "1 / (1 + exp(-a))"),
    OpRow("erf", 1, FLOAT, "same", (("float", "{T}(math.erf({a}))"),), "error function"),
    *(_unary_float(name, fn, summary) for name, fn, summary in (
        ("expm1", "np.expm1", "e ** a - 1 (accurate near 0)"),
        ("log1p", "np.log1p", "log(1 + a) (accurate near 0)"),
        ("sin", "np.sin", "sine"), ("cos", "np.cos", "cosine"), ("tan", "np.tan", "tangent"),
        ("asin", "np.arcsin", "arc sine; NaN outside [-1, 1]"),
        ("acos", "np.arccos", "arc cosine; NaN outside [-1, 1]"),
        ("atan", "np.arctan", "arc tangent"),
        ("sinh", "np.sinh", "hyperbolic sine"), ("cosh", "np.cosh", "hyperbolic cosine"),
        ("asinh", "np.arcsinh", "inverse hyperbolic sine"),
        ("acosh", "np.arccosh", "inverse hyperbolic cosine; NaN below 1"),
        ("atanh", "np.arctanh", "inverse hyperbolic tangent; +-inf at +-1, NaN outside"),
        ("floor", "np.floor", "largest integral value <= a"),
        ("ceil", "np.ceil", "smallest integral value >= a"),
        ("round", "np.rint", "nearest integral value, halves to even"))),
    OpRow("mod", 2, NUMERIC, "same",
          (("float", "{T}({a} % {b})"), ("sint", "{T}(smod({a}, {b}))"),
           ("uint", "{T}(umod({a}, {b}))")),
          "floor modulo, the sign of b (numpy `mod`); integers: x mod 0 = 0; "
          "floats: x mod 0 = NaN", ("smod", "umod")),
    OpRow("fmod", 2, NUMERIC, "same",
          (("float", "{T}(np.fmod({a}, {b}))"), ("sint", "{T}(sfmod({a}, {b}))"),
           ("uint", "{T}(umod({a}, {b}))")),
          "truncated modulo, the sign of a (C `fmod`); integers: x fmod 0 = 0; "
          "floats: x fmod 0 = NaN", ("sfmod", "umod")),
    OpRow("shl", 2, INTS, "same", (("sint", "{T}(sshl({a}, {b}, {W}))"),
                                   ("uint", "{T}(ushl({a}, {b}, {W}))")),
          "a << b (wraps); 0 when b < 0 or b >= the bit width", ("sshl", "ushl")),
    OpRow("shr", 2, INTS, "same", (("sint", "{T}(sshr({a}, {b}, {W}))"),
                                   ("uint", "{T}(ushr({a}, {b}, {W}))")),
          "a >> b (arithmetic for signed a); when b < 0 or b >= the bit width: -1 for "
          "negative a, else 0", ("sshr", "ushr")),
    OpRow("and", 2, frozenset({"bool", "sint", "uint"}), "same",
          (("bool", "({a} and {b})"), ("sint", "{T}({a} & {b})"), ("uint", "{T}({a} & {b})")),
          "logical (i1) or bitwise (integers) and"),
    OpRow("or", 2, frozenset({"bool", "sint", "uint"}), "same",
          (("bool", "({a} or {b})"), ("sint", "{T}({a} | {b})"), ("uint", "{T}({a} | {b})")),
          "logical (i1) or bitwise (integers) or"),
    OpRow("xor", 2, frozenset({"bool", "sint", "uint"}), "same",
          (("bool", "({a} != {b})"), ("sint", "{T}({a} ^ {b})"), ("uint", "{T}({a} ^ {b})")),
          "logical (i1) or bitwise (integers) exclusive or"),
    OpRow("not", 1, frozenset({"bool", "sint", "uint"}), "same",
          (("bool", "(not {a})"), ("sint", "{T}(~{a})"), ("uint", "{T}(~{a})")),
          "logical (i1) or bitwise (integers) complement"),
    OpRow("cmp", 2, ANY, "i1", _all(ANY, "({a} {pred} {b})"),
          "compare with `pred` (eq ne lt le gt ge); with NaN only ne is true"),
    OpRow("select", 3, ANY, "same", _all(ANY, "({b} if {a} else {c})"),
          "b where a (i1) else c; b and c have the same type"),
)

OPS: dict[str, OpRow] = {row.name: row for row in _ROWS}

PREDICATES = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def cast_template(src_kind: str, dst_kind: str) -> str:
    """Source template of ``cast`` from one class to another (``{a}`` operand)."""
    if dst_kind == "bool":
        return "({a} != 0)"
    if src_kind == "bool":
        return "{T}(1 if {a} else 0)"
    return "{T}({a})"


def render_table() -> str:
    """The markdown operator table of spec/executables.md (kept in sync by a test)."""
    lines = ["| op | operands | operand classes | result | meaning |",
             "|----|---------:|-----------------|--------|---------|"]
    for row in _ROWS:
        kinds = " ".join(sorted(row.kinds))
        result = "i1" if row.result == "i1" else "operand type"
        lines.append(f"| `{row.name}` | {row.arity} | {kinds} | {result} | {row.summary} |")
    lines.append("| `cast` | 1 | any | `type` | numeric conversion; to i1: a != 0; "
                 "float to integer truncates (NaN / out of range: unspecified value) |")
    return "\n".join(lines)
