"""Hypothesis strategies for small random ONNX graphs (needs the ``onnx`` package).

:func:`onnx_graphs` draws an :class:`OnnxCase`: a valid ``onnx.ModelProto`` built with
``onnx.helper`` plus input arrays for it. The graph starts from one or two graph inputs
and grows node by node; each node picks an operand among the values built so far
(the newest first, so that failures shrink towards short chains) and an op whose
preconditions the operand meets (a 4-d value for Conv and pooling, a 2-d one for Gemm,
...). Nothing is filtered: every drawn graph passes ``onnx.checker`` and shape
inference, and its output shapes are tracked as the graph is built.

Ops are grouped in families (:data:`FAMILIES`); each op is a registered builder
(:data:`OPS`). Numerically touchy ops (Log, Sqrt, Reciprocal, Floor, Ceil, division by
a value) only apply to *exact* values (graph inputs and values computed elementwise
from them), never to the result of a sum (MatMul, Conv, a mean ...) whose last bits
depend on the summation order: ``log`` of a sum that cancels to ``1e-8`` in one
implementation and ``2e-8`` in another is not a bug. Comparisons use
:func:`tolerances` of the output dtype, scaled by the output's magnitude.

Input values come from a drawn seed (uniform in [-3, 3] for floats, [-9, 9] for
integers), so they shrink to seed 0 rather than element by element.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import attrs
import numpy as np
import onnx
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

FLOATS = ("float32", "float64")
INTS = ("int32", "int64")
DTYPES = FLOATS + INTS
_ELEM = {"float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE,
         "int32": TensorProto.INT32, "int64": TensorProto.INT64}


@attrs.frozen
class Value:
    name: str
    shape: tuple[int, ...]
    dtype: str
    exact: bool  # no sum in its history (see the module docstring)

    @property
    def rank(self) -> int:
        return len(self.shape)


@attrs.define(eq=False, repr=False)
class OnnxCase:
    """A drawn graph and its inputs (``inputs`` in graph-input order)."""

    model: onnx.ModelProto
    inputs: tuple

    @property
    def ops(self) -> list[str]:
        return [n.op_type for n in self.model.graph.node]

    def __repr__(self) -> str:
        from onnx import printer

        shapes = ", ".join(f"{a.dtype}{list(a.shape)}" for a in self.inputs)
        return f"OnnxCase(inputs=[{shapes}]):\n{printer.to_text(self.model.graph)}"

    def _repr_pretty_(self, p, cycle) -> None:  # how Hypothesis prints a falsifying case
        p.text(repr(self))


@attrs.frozen
class GraphOptions:
    ops: frozenset[str]
    dtypes: tuple[str, ...]
    max_nodes: int = 6
    max_rank: int = 4
    max_dim: int = 5
    opset: int = 17


class _Builder:
    """A graph under construction: nodes, initializers and the values built so far."""

    def __init__(self, draw, options: GraphOptions):
        self.draw, self.options = draw, options
        self.nodes, self.initializers, self.inputs, self.values = [], [], [], []
        self.arrays = []
        self.count = 0

    def fresh(self, stem: str) -> str:
        self.count += 1
        return f"{stem}{self.count}"

    def constant(self, array: np.ndarray) -> str:
        name = self.fresh("c")
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def random_constant(self, shape, dtype: str, low=-2.0, high=2.0) -> str:
        rng = np.random.default_rng(self.draw(st.integers(0, 2**16), label="seed"))
        return self.constant(_random(rng, shape, dtype, low, high))

    def add_input(self, shape, dtype: str) -> Value:
        value = Value(self.fresh("x"), tuple(shape), dtype, True)
        self.inputs.append(value)
        self.values.append(value)
        return value

    def node(self, op: str, inputs, shape, dtype, exact, **attributes) -> Value:
        out = Value(self.fresh("v"), tuple(int(d) for d in shape), dtype, exact)
        self.nodes.append(helper.make_node(op, list(inputs), [out.name],
                                           name=f"{op}_{len(self.nodes)}", **attributes))
        self.values.append(out)
        return out


def _random(rng, shape, dtype, low=-3.0, high=3.0) -> np.ndarray:
    if dtype in INTS:
        return rng.integers(int(low * 3), int(high * 3) + 1, size=shape).astype(dtype)
    return rng.uniform(low, high, size=shape).astype(dtype)


# -- the op registry ---------------------------------------------------------------------

@attrs.frozen
class OpBuilder:
    name: str
    family: str
    dtypes: tuple[str, ...]
    applies: Callable[[Value], bool]
    build: Callable  # (builder, value) -> Value


OPS: dict[str, OpBuilder] = {}


def op(name: str, family: str, dtypes=DTYPES, applies=lambda v: True):
    def register(fn):
        OPS[name] = OpBuilder(name, family, tuple(dtypes), applies, fn)
        return fn
    return register


def _unary(name, dtypes=FLOATS, needs_exact=False, attrs_=None, applies=lambda v: True):
    def build(b: _Builder, v: Value) -> Value:
        attributes = attrs_(b) if attrs_ else {}
        return b.node(name, [v.name], v.shape, v.dtype, v.exact, **attributes)
    op(name, "elementwise", dtypes,
       (lambda v: v.exact and applies(v)) if needs_exact else applies)(build)


def _alpha(b):
    return {"alpha": b.draw(st.sampled_from([0.01, 0.1, 0.5, 1.0, 2.0]))}


for _name in ("Relu", "Sigmoid", "Tanh", "Exp", "Erf", "Softplus"):
    _unary(_name)
# No oracle checks a 0-d float64 Softsign: onnxruntime has no float64 kernel and onnx's
# reference evaluator raises a TypeError on 0-d inputs.
_unary("Softsign", applies=lambda v: v.rank > 0 or v.dtype != "float64")
for _name in ("Abs", "Neg"):
    _unary(_name, DTYPES)
for _name in ("Log", "Sqrt", "Reciprocal", "Floor", "Ceil"):
    _unary(_name, needs_exact=True)
_unary("LeakyRelu", attrs_=_alpha)
_unary("Elu", attrs_=_alpha)
_unary("HardSigmoid", attrs_=lambda b: {"alpha": b.draw(st.sampled_from([0.2, 0.5])),
                                        "beta": b.draw(st.sampled_from([0.5, 0.25]))})


@op("Clip", "elementwise", FLOATS)
def _clip(b, v):
    low = b.draw(st.sampled_from([-1.0, -0.5, 0.0]))
    high = b.draw(st.sampled_from([0.5, 1.0, 6.0]))
    lo = b.constant(np.array(low, v.dtype))
    hi = b.constant(np.array(high, v.dtype))
    return b.node("Clip", [v.name, lo, hi], v.shape, v.dtype, v.exact)


def _broadcast_shape(b: _Builder, shape) -> tuple[int, ...]:
    """A shape that broadcasts to ``shape``: some dims 1, maybe fewer leading dims."""
    drop = b.draw(st.integers(0, len(shape)), label="dropped leading dims")
    return tuple(d if b.draw(st.booleans(), label="keep dim") else 1 for d in shape[drop:])


def _binary(name, dtypes=DTYPES):
    def build(b: _Builder, v: Value) -> Value:
        others = [w for w in b.values if w is not v and w.shape == v.shape
                  and w.dtype == v.dtype]
        if name == "Div":
            others = [w for w in others if w.exact]
        if others and b.draw(st.booleans(), label="value operand"):
            other = b.draw(st.sampled_from(others))
            operands, exact = [v.name, other.name], v.exact and other.exact
        else:
            shape = _broadcast_shape(b, v.shape)
            rng = np.random.default_rng(b.draw(st.integers(0, 2**16), label="seed"))
            array = _random(rng, shape, v.dtype, -2.0, 2.0)
            if name == "Div":  # a denominator away from zero
                array = np.where(np.abs(array) < 0.5, 1, array).astype(v.dtype)
            operands, exact = [v.name, b.constant(array)], v.exact
            if b.draw(st.booleans(), label="swap") and name != "Div":
                operands.reverse()
        return b.node(name, operands, v.shape, v.dtype, exact)
    op(name, "elementwise", dtypes, (lambda v: v.exact) if name == "Div" else (lambda v: True))(
        build)


for _name in ("Add", "Sub", "Mul", "Max", "Min"):
    _binary(_name)
_binary("Div", FLOATS)


@op("MatMul", "matmul", FLOATS, applies=lambda v: v.rank >= 1)
def _matmul(b, v):
    k = v.shape[-1]
    n = b.draw(st.integers(1, b.options.max_dim + 2), label="N")
    batched = v.rank >= 3 and b.draw(st.booleans(), label="batched weight")
    w_shape = (*v.shape[:-2], k, n) if batched else (k, n)
    w = b.random_constant(w_shape, v.dtype, -1.0, 1.0)
    shape = (*v.shape[:-1], n) if v.rank >= 2 else (n,)
    return b.node("MatMul", [v.name, w], shape, v.dtype, False)


@op("Gemm", "matmul", FLOATS, applies=lambda v: v.rank == 2)
def _gemm(b, v):
    m, k = v.shape
    n = b.draw(st.integers(1, b.options.max_dim + 2), label="N")
    trans_b = b.draw(st.integers(0, 1), label="transB")
    w = b.random_constant((n, k) if trans_b else (k, n), v.dtype, -1.0, 1.0)
    inputs = [v.name, w]
    if b.draw(st.booleans(), label="bias"):
        inputs.append(b.random_constant(_broadcast_shape(b, (m, n)), v.dtype))
    alpha = b.draw(st.sampled_from([1.0, 0.5, 2.0]))
    return b.node("Gemm", inputs, (m, n), v.dtype, False, transB=trans_b, alpha=alpha)


def _reduce(name, dtypes, exact):
    def build(b: _Builder, v: Value) -> Value:
        axes = sorted(b.draw(st.sets(st.integers(0, v.rank - 1), min_size=1), label="axes"))
        keep = b.draw(st.integers(0, 1), label="keepdims")
        shape = [1 if i in axes else d for i, d in enumerate(v.shape)]
        if not keep:
            shape = [d for i, d in enumerate(shape) if i not in axes]
        signed = [a - v.rank if b.draw(st.booleans(), label="negative axis") else a
                  for a in axes]
        if name == "ReduceSum" or b.options.opset >= 18:
            ins = [v.name, b.constant(np.array(signed, np.int64))]
            return b.node(name, ins, shape, v.dtype, exact and v.exact, keepdims=keep)
        return b.node(name, [v.name], shape, v.dtype, exact and v.exact, axes=signed,
                      keepdims=keep)
    op(name, "reduce", dtypes, lambda v: v.rank >= 1)(build)


_reduce("ReduceSum", DTYPES, False)
_reduce("ReduceMean", FLOATS, False)
_reduce("ReduceMax", DTYPES, True)
_reduce("ReduceMin", DTYPES, True)
_reduce("ReduceProd", FLOATS, False)


def _softmax(name):
    def build(b: _Builder, v: Value) -> Value:
        axis = b.draw(st.integers(-v.rank, v.rank - 1), label="axis")
        return b.node(name, [v.name], v.shape, v.dtype, False, axis=axis)
    op(name, "softmax", FLOATS, lambda v: v.rank >= 1)(build)


_softmax("Softmax")
_softmax("LogSoftmax")


@op("Transpose", "transpose", DTYPES, applies=lambda v: v.rank >= 2)
def _transpose(b, v):
    perm = b.draw(st.permutations(range(v.rank)), label="perm")
    return b.node("Transpose", [v.name], [v.shape[p] for p in perm], v.dtype, v.exact,
                  perm=list(perm))


@op("Concat", "concat", DTYPES, applies=lambda v: v.rank >= 1)
def _concat(b, v):
    axis = b.draw(st.integers(0, v.rank - 1), label="axis")
    same = [w for w in b.values if w.dtype == v.dtype and w.rank == v.rank and all(
        d == e for i, (d, e) in enumerate(zip(w.shape, v.shape)) if i != axis)]
    names, total, exact = [v.name], v.shape[axis], v.exact
    for _ in range(b.draw(st.integers(1, 2), label="more operands")):
        if b.draw(st.booleans(), label="value operand"):
            w = b.draw(st.sampled_from(same))
            names.append(w.name)
            total += w.shape[axis]
            exact = exact and w.exact
        else:
            size = b.draw(st.integers(1, 3), label="constant size")
            shape = list(v.shape)
            shape[axis] = size
            names.append(b.random_constant(shape, v.dtype))
            total += size
    shape = list(v.shape)
    shape[axis] = total
    signed = axis - v.rank if b.draw(st.booleans(), label="negative axis") else axis
    return b.node("Concat", names, shape, v.dtype, exact, axis=signed)


@op("Reshape", "shape", DTYPES, applies=lambda v: v.rank >= 1)
def _reshape(b, v):
    split = b.draw(st.integers(0, v.rank), label="split")
    shape = (math.prod(v.shape[:split]), math.prod(v.shape[split:]))
    target = list(shape)
    if b.draw(st.booleans(), label="infer a dim"):
        target[b.draw(st.integers(0, 1))] = -1
    return b.node("Reshape", [v.name, b.constant(np.array(target, np.int64))], shape, v.dtype,
                  v.exact)


@op("Flatten", "shape", DTYPES, applies=lambda v: v.rank >= 1)
def _flatten(b, v):
    axis = b.draw(st.integers(0, v.rank), label="axis")
    shape = (math.prod(v.shape[:axis]), math.prod(v.shape[axis:]))
    return b.node("Flatten", [v.name], shape, v.dtype, v.exact, axis=axis)


def _window(b: _Builder, size: int, dilated: bool, max_kernel: int = 3):
    """(kernel, stride, pad_begin, pad_end, dilation, output size) along one spatial dim."""
    dilation = b.draw(st.integers(1, 2), label="dilation") if dilated else 1
    pad0 = b.draw(st.integers(0, 1), label="pad begin")
    pad1 = b.draw(st.integers(0, 1), label="pad end")
    span = size + pad0 + pad1
    k_max = max(1, min(max_kernel, (span - 1) // dilation + 1))
    kernel = b.draw(st.integers(1, k_max), label="kernel")
    stride = b.draw(st.integers(1, 2), label="stride")
    if not dilated:  # pooling: pads must be smaller than the kernel
        pad0, pad1 = min(pad0, kernel - 1), min(pad1, kernel - 1)
        span = size + pad0 + pad1
    out = (span - dilation * (kernel - 1) - 1) // stride + 1
    return kernel, stride, pad0, pad1, dilation, out


def _is_image(v: Value) -> bool:
    return v.rank == 4


@op("Conv", "conv", FLOATS, applies=_is_image)
def _conv(b, v):
    n, c, h, w = v.shape
    groups = b.draw(st.sampled_from([g for g in (1, 2, c) if c % g == 0]), label="group")
    m = groups * b.draw(st.integers(1, 2 if groups > 1 else 4), label="out channels")
    dims = [_window(b, s, True) for s in (h, w)]
    weight = b.random_constant((m, c // groups, dims[0][0], dims[1][0]), v.dtype, -1.0, 1.0)
    inputs = [v.name, weight]
    if b.draw(st.booleans(), label="bias"):
        inputs.append(b.random_constant((m,), v.dtype))
    return b.node("Conv", inputs, (n, m, dims[0][5], dims[1][5]), v.dtype, False,
                  kernel_shape=[d[0] for d in dims], strides=[d[1] for d in dims],
                  pads=[dims[0][2], dims[1][2], dims[0][3], dims[1][3]],
                  dilations=[d[4] for d in dims], group=groups)


def _pool(name):
    def build(b: _Builder, v: Value) -> Value:
        n, c, h, w = v.shape
        dims = [_window(b, s, False) for s in (h, w)]
        attributes = {"kernel_shape": [d[0] for d in dims], "strides": [d[1] for d in dims],
                      "pads": [dims[0][2], dims[1][2], dims[0][3], dims[1][3]]}
        if name == "AveragePool":
            attributes["count_include_pad"] = b.draw(st.integers(0, 1), label="include pad")
        return b.node(name, [v.name], (n, c, dims[0][5], dims[1][5]), v.dtype,
                      v.exact and name == "MaxPool", **attributes)
    op(name, "pool", FLOATS, _is_image)(build)


_pool("MaxPool")
_pool("AveragePool")


def _global_pool(name):
    def build(b: _Builder, v: Value) -> Value:
        return b.node(name, [v.name], (*v.shape[:2], 1, 1), v.dtype,
                      v.exact and name == "GlobalMaxPool")
    op(name, "pool", FLOATS, _is_image)(build)


_global_pool("GlobalAveragePool")
_global_pool("GlobalMaxPool")

FAMILIES: dict[str, frozenset[str]] = {}
for _b in OPS.values():
    FAMILIES[_b.family] = FAMILIES.get(_b.family, frozenset()) | {_b.name}
ALL_OPS = frozenset(OPS)


# -- the graph strategy ------------------------------------------------------------------

def _input_shape(draw, options: GraphOptions, image: bool) -> tuple[int, ...]:
    dim = st.integers(1, options.max_dim)
    if image:
        return (draw(st.integers(1, 2), label="N"), draw(st.integers(1, 4), label="C"),
                draw(st.integers(2, options.max_dim + 2), label="H"),
                draw(st.integers(2, options.max_dim + 2), label="W"))
    rank = draw(st.integers(1, options.max_rank), label="rank")
    return tuple(draw(dim, label="dim") for _ in range(rank))


@st.composite
def _graphs(draw, options: GraphOptions) -> OnnxCase:
    b = _Builder(draw, options)
    dtype = draw(st.sampled_from(options.dtypes), label="dtype")
    usable = sorted(name for name in options.ops if dtype in OPS[name].dtypes)
    wants_image = any(OPS[name].family in ("conv", "pool") for name in usable)
    only_image = all(OPS[name].family in ("conv", "pool") for name in usable)
    image = wants_image and options.max_rank >= 4 and (
        only_image or draw(st.booleans(), label="image"))
    first = b.add_input(_input_shape(draw, options, image), dtype)
    if draw(st.booleans(), label="second input"):
        b.add_input(first.shape, dtype)
    count = draw(st.integers(1, options.max_nodes), label="nodes")
    for _ in range(count):
        newest = draw(st.integers(0, len(b.values) - 1), label="operand (0 = newest)")
        operand = b.values[-1 - newest]
        candidates = [name for name in usable if OPS[name].applies(operand)]
        if not candidates:
            continue
        families = sorted({OPS[name].family for name in candidates})
        family = draw(st.sampled_from(families), label="family")
        name = draw(st.sampled_from([n for n in candidates if OPS[n].family == family]),
                    label="op")
        OPS[name].build(b, operand)
    if not b.nodes:  # no op applied to anything: one that always does
        b.node("Neg" if "Neg" in usable else "Identity", [first.name], first.shape, dtype, True)
    outputs = [b.values[-1]]
    extra = [v for v in b.values[:-1] if v not in b.inputs]
    if extra and draw(st.booleans(), label="second output"):
        outputs.append(draw(st.sampled_from(extra)))
    graph = helper.make_graph(
        b.nodes, "fuzz",
        [helper.make_tensor_value_info(v.name, _ELEM[v.dtype], v.shape) for v in b.inputs],
        [helper.make_tensor_value_info(v.name, _ELEM[v.dtype], v.shape) for v in outputs],
        initializer=b.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", options.opset)],
                              producer_name="pyree.testing")
    model.ir_version = 8
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="input seed"))
    inputs = tuple(_random(rng, v.shape, v.dtype) for v in b.inputs)
    return OnnxCase(model, inputs)


def onnx_graphs(*, ops=None, families=None, dtypes=("float32",), max_nodes: int = 6,
                max_rank: int = 4, max_dim: int = 5, opset: int = 17):
    """Random small ONNX graphs with inputs (:class:`OnnxCase`).

    ``ops`` (op type names) or ``families`` (keys of :data:`FAMILIES`) pin the ops drawn
    (default: every op in :data:`OPS`); ``dtypes`` the element types (one per graph:
    ``float32``, ``float64``, ``int32``, ``int64``; integer graphs use the ops defined
    for integers); ``max_nodes`` bounds the nodes, ``max_rank``/``max_dim`` the input
    shapes; ``opset`` is the default-domain opset (13..18 or later)."""
    names = set(ALL_OPS if ops is None and families is None else ops or ())
    for family in families or ():
        names |= FAMILIES[family]
    unknown = names - ALL_OPS
    if unknown or not names:
        raise ValueError(f"unknown ops {sorted(unknown)}; ops: {sorted(ALL_OPS)}")
    for dtype in dtypes:
        if dtype not in DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}; dtypes: {DTYPES}")
    options = GraphOptions(frozenset(names), tuple(dtypes), max_nodes, max_rank, max_dim,
                           opset)
    return _graphs(options)


def tolerances(dtype, scale: float = 1.0) -> tuple[float, float]:
    """(rtol, atol) for comparing outputs of ``dtype`` whose magnitude is about ``scale``
    (zero for integers: they must match exactly)."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        return 0.0, 0.0
    scale = max(1.0, scale)
    if dtype == np.float64:
        return 1e-9, 1e-12 * scale
    return 1e-3, 1e-4 * scale


def compare(expected, actual) -> list[str]:
    """Mismatch messages between two lists of outputs (empty when they agree)."""
    if len(expected) != len(actual):
        return [f"{len(actual)} outputs, expected {len(expected)}"]
    problems = []
    for i, (e, a) in enumerate(zip(expected, actual)):
        e, a = np.asarray(e), np.asarray(a)
        if e.shape != a.shape or e.dtype != a.dtype:
            problems.append(f"output {i}: {a.dtype}{list(a.shape)}, expected "
                            f"{e.dtype}{list(e.shape)}")
            continue
        finite = e[np.isfinite(e)] if e.dtype.kind == "f" else e
        scale = float(np.max(np.abs(finite))) if finite.size else 1.0
        rtol, atol = tolerances(e.dtype, scale)
        if e.dtype.kind == "f":
            ok = np.allclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
        else:
            ok = np.array_equal(a, e)
        if not ok:
            with np.errstate(all="ignore"):
                diff = np.abs(a.astype(np.float64) - e.astype(np.float64))
                if e.dtype.kind == "f":     # NaN where NaN is expected is no difference
                    diff[np.isnan(a) & np.isnan(e)] = 0.0
            worst = int(np.nanargmax(np.where(np.isnan(diff), np.inf, diff)))
            index = tuple(int(k) for k in np.unravel_index(worst, e.shape))
            problems.append(f"output {i}: element {index} is {a.flat[worst].item()!r}, "
                            f"expected {e.flat[worst].item()!r}")
    return problems
