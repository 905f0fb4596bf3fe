"""pyree-kernels-v1 region lowerings executed on the HAL against the reference evaluator.

Elementwise ops run as a few wide regions built directly in the IR (every op reads the same
inputs, so one fused dispatch computes two dozen ops: few numba compiles); matmul,
reductions, softmax and transposes come from small ONNX graphs run region by region through
``execute_lowered``. Integer and boolean results are exact; floats within a few ulps.

Every dispatch here is small, so it runs the serial kernel anyway: the module compiles
serial kernels only (``config.PARALLEL`` off while it runs; the same sources, and disk
cache entries, as the serial variants), which halves its compile time. The parallel
variants are the HAL kernel tests' business.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyree.compiler import dtypes
from pyree.compiler.emit import lower_v1_elementwise, lower_v1_matmul, lower_v1_misc
from pyree.compiler.emit.execute_lowered import run_lowered, run_partition
from pyree.compiler.emit.v1_elementwise_build import collapse
from pyree.compiler.ir import Attributes, Graph, Node, TensorType
from pyree.compiler.onnx_import import import_model
from pyree.compiler.ops import OPS
from pyree.compiler.passes.lowering_v1 import V1_ELEMENTWISE
from pyree.compiler.passes.partition import Region
from pyree.compiler.pipeline import compile_graph
from pyree.compiler.reference import evaluate

from .helpers import F32, helper, model


@pytest.fixture(scope="module", autouse=True)
def serial_kernels_only():
    from pyree.modules.hal.kernels import config

    saved, config.PARALLEL = config.PARALLEL, False
    yield
    config.PARALLEL = saved


SHAPE = (4, 3, 5)
BSHAPE = (3, 1)
F = ("a_f32", "b_f32")
D = ("a_f64", "b_f64")

# (case id, op, attributes, inputs) - inputs name graph inputs or scalar constants
FLOAT_UNARY = ["abs", "neg", "relu", "exp", "log", "sqrt", "rsqrt", "reciprocal", "tanh",
               "sigmoid", "erf", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh",
               "asinh", "acosh", "atanh", "floor", "ceil", "round", "sign", "softplus",
               "softsign", "hard_swish", "mish", "isnan"]
FLOAT_ATTR = [("gelu", {"approximate": "none"}), ("gelu_tanh", {"approximate": "tanh"}),
              ("leaky_relu", {"alpha": 0.1}), ("elu", {"alpha": 0.7}),
              ("selu", {"alpha": 1.67326319217681884765625,
                        "gamma": 1.05070102214813232421875}),
              ("celu", {"alpha": 0.8}), ("thresholded_relu", {"alpha": 0.4}),
              ("hard_sigmoid", {"alpha": 0.3, "beta": 0.4}),
              ("shrink", {"lambd": 0.6, "bias": 0.2}),
              ("isinf", {"detect_positive": 1, "detect_negative": 1}),
              ("isinf_pos", {"detect_positive": 1, "detect_negative": 0})]
FLOAT_BINARY = ["add", "sub", "mul", "div", "min", "max", "prelu", "eq", "lt", "le", "gt",
                "ge"]
INT_UNARY = ["abs", "neg", "relu", "sign", "bitwise_not", "floor", "round"]
INT_BINARY = ["add", "sub", "mul", "div", "min", "max", "bitwise_and", "bitwise_or",
              "bitwise_xor", "eq", "lt", "ge", "prelu"]


def _cases():
    out = []
    for t, (a, b) in (("f32", F), ("f64", D)):
        unary = FLOAT_UNARY if t == "f32" else ["exp", "tanh", "erf", "sin", "floor", "round"]
        out += [(f"{t}-{op}", op, {}, (a,)) for op in unary]
        attr = FLOAT_ATTR if t == "f32" else FLOAT_ATTR[:2]
        out += [(f"{t}-{name}", name.split("_tanh")[0].split("_pos")[0], kw, (a,))
                for name, kw in attr]
        out += [(f"{t}-{op}", op, {}, (a, b)) for op in FLOAT_BINARY]
        out += [(f"{t}-mod", "mod", {"fmod": 0}, (a, b)), (f"{t}-fmod", "mod", {"fmod": 1}, (a, b)),
                (f"{t}-pow", "pow", {}, (a, f"s_{t}")),
                (f"{t}-clip", "clip", {}, (a, f"lo_{t}", f"hi_{t}")),
                (f"{t}-clip-tensor-hi", "clip", {}, (a, "", b)),
                (f"{t}-select", "select", {}, ("c_i1", a, b)),
                (f"{t}-cast-i32", "cast", {"to": "i32"}, (f"s_{t}",)),
                (f"{t}-cast-ui8", "cast", {"to": "ui8"}, (f"u_{t}",)),
                (f"{t}-cast-i1", "cast", {"to": "i1"}, (a,)),
                (f"{t}-cast-other", "cast", {"to": "f64" if t == "f32" else "f32"}, (a,))]
    for t in ("i32", "i64", "i8", "ui8", "ui32", "ui64"):
        a, b = f"a_{t}", f"b_{t}"
        if t in ("i32", "ui8"):
            out += [(f"{t}-{op}", op, {}, (a,)) for op in INT_UNARY]
            out += [(f"{t}-{op}", op, {}, (a, b)) for op in INT_BINARY
                    if not (op == "prelu" and t.startswith("ui"))]
            out += [(f"{t}-pow", "pow", {}, (a, f"e_{t}")),
                    (f"{t}-clip", "clip", {}, (a, f"lo_{t}", f"hi_{t}")),
                    (f"{t}-isnan", "isnan", {}, (a,)),
                    (f"{t}-cast-f32", "cast", {"to": "f32"}, (a,)),
                    (f"{t}-cast-i1", "cast", {"to": "i1"}, (a,)),
                    (f"{t}-cast-i16", "cast", {"to": "i16"}, (a,)),
                    (f"{t}-select", "select", {}, ("c_i1", a, b))]
        out += [(f"{t}-mod", "mod", {"fmod": 0}, (a, b)), (f"{t}-fmod", "mod", {"fmod": 1}, (a, b)),
                (f"{t}-div", "div", {}, (a, b))]
        if t in ("i8", "i32"):      # shift counts below 0 and past the width included
            out += [(f"{t}-shl", "bit_shift", {"direction": "LEFT"}, (a, b)),
                    (f"{t}-shr", "bit_shift", {"direction": "RIGHT"}, (a, b))]
        if t.startswith("ui"):
            out += [(f"{t}-shl", "bit_shift", {"direction": "LEFT"}, (a, f"e_{t}")),
                    (f"{t}-shr", "bit_shift", {"direction": "RIGHT"}, (a, f"e_{t}"))]
    out += [("i1-and", "and", {}, ("c_i1", "d_i1")), ("i1-or", "or", {}, ("c_i1", "d_i1")),
            ("i1-xor", "xor", {}, ("c_i1", "d_i1")), ("i1-not", "not", {}, ("c_i1",)),
            ("i1-eq", "eq", {}, ("c_i1", "d_i1")),
            ("i1-cast-f32", "cast", {"to": "f32"}, ("c_i1",)),
            ("i1-select", "select", {}, ("c_i1", "d_i1", "c_i1"))]
    return out


CASES = _cases()


def _values(rng, name: str, t: str, shape):
    np_t = dtypes.to_numpy(t)
    kind = name.split("_")[0]
    if t == "i1":
        return rng.random(shape) < 0.5
    if t in ("f32", "f64"):
        if kind in ("s", "u"):      # safe: finite, in range of the cast targets
            lo = 0 if kind == "u" else -100
            return rng.uniform(lo, 100, shape).astype(np_t)
        x = (rng.standard_normal(shape) * 2).astype(np_t)
        special = [0.0, -0.0, 0.5, -0.5, 2.5, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e-6, 0.6]
        flat = x.reshape(-1)
        k = min(len(special), flat.size)
        flat[rng.choice(flat.size, k, replace=False)] = rng.permutation(special)[:k]
        return x
    info = np.iinfo(np_t)
    if kind == "e":                 # exponents / shift counts
        return rng.integers(0, info.bits + 2 if t.startswith("ui") else 4, shape).astype(np_t)
    x = rng.integers(max(info.min, -60), min(info.max, 60), shape, endpoint=True).astype(np_t)
    special = [0, 1, info.max, info.min] + ([-1] if info.min < 0 else [])
    flat = x.reshape(-1)
    k = min(len(special), flat.size)
    flat[rng.choice(flat.size, k, replace=False)] = rng.permutation(np.array(special, np_t))[:k]
    return x


def _constant(name: str, t: str):
    lo = name.startswith("lo_")
    if t in ("f32", "f64"):
        return np.array(-1.0 if lo else 1.5, dtypes.to_numpy(t))
    return np.array(3 if lo else 40, dtypes.to_numpy(t))


def _chunks(cases, outputs=22, inputs=9):
    chunk, names = [], set()
    for case in cases:
        needed = names | {n for n in case[3] if n and not n.startswith(("lo_", "hi_"))}
        if chunk and (len(chunk) >= outputs or len(needed) > inputs):
            yield chunk
            chunk, needed = [], {n for n in case[3] if n and not n.startswith(("lo_", "hi_"))}
        chunk.append(case)
        names = needed
    if chunk:
        yield chunk


def _graph(chunk, rng):
    g = Graph()
    env = {}
    nodes = []
    for cid, op, kw, ins in chunk:
        for name in ins:
            if not name or name in g.types:
                continue
            t = name.split("_")[1]
            if name.startswith(("lo_", "hi_")):
                g.add_constant(name, _constant(name, t))
                continue
            shape = BSHAPE if name.startswith("b_") else SHAPE
            g.add_input(name, TensorType(t, shape))
            env[name] = _values(rng, name, t, shape)
        node = Node(op, ins, (f"y[{cid}]",), Attributes.of(kw), name=cid)
        g.types[node.outputs[0]] = OPS[op].infer(node, [g.types[n] if n else None
                                                        for n in ins])[0]
        nodes.append(node)
    g.nodes = nodes
    g.outputs = [n.outputs[0] for n in nodes]
    region = Region(0, "elementwise", "elementwise", tuple(nodes),
                    tuple(dict.fromkeys(n for n in (*g.inputs, *g.constants))),
                    tuple(g.outputs))
    return g, region, env


@pytest.fixture(scope="module")
def elementwise_results():
    rng = np.random.default_rng(11)
    results = {}
    for chunk in _chunks(CASES):
        g, region, env = _graph(chunk, rng)
        lowered = lower_v1_elementwise.lower_elementwise(region, g)
        assert lowered is not None and len(lowered.dispatches) == 1
        inputs = {**env, **g.constants}
        got = run_lowered(lowered, inputs, {o: g.types[o] for o in region.outputs})
        want = dict(zip(g.outputs, evaluate(g, [env[n] for n in g.inputs])))
        for node in g.nodes:
            results[node.name] = (got[node.outputs[0]], want[node.outputs[0]])
    return results


def _close(got, want):
    assert got.dtype == want.dtype and got.shape == want.shape
    if want.dtype.kind == "f":
        rtol, atol = (2e-6, 1e-6) if want.dtype == np.float32 else (1e-13, 1e-14)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("case", [c[0] for c in CASES])
def test_elementwise_op_matches_reference(elementwise_results, case):
    _close(*elementwise_results[case])


def test_every_v1_elementwise_op_is_covered_and_translated():
    from pyree.compiler.emit.v1_translate import TRANSLATE

    ops = {c[1] for c in CASES} | {"broadcast_to"}
    assert V1_ELEMENTWISE <= ops | {"rsqrt"}
    assert set(TRANSLATE) == V1_ELEMENTWISE


def test_collapse_merges_dims_with_one_broadcast_pattern():
    assert collapse((4, 3, 5), [(4, 3, 5), (3, 1)]) == [
        (4, (True, False)), (3, (True, True)), (5, (True, False))]
    assert collapse((2, 3, 4), [(2, 3, 4), (2, 3, 4)]) == [(24, (True, True))]
    assert collapse((8, 1, 6, 7), [(6, 7), ()]) == [(8, (False, False)), (42, (True, False))]


# ------------------------------------------------------------------ ONNX graphs end to end

def _run(m, feeds, rtol=2e-6, atol=1e-6):
    compiled = compile_graph(import_model(m))
    got = run_partition(compiled.partition, feeds)
    want = evaluate(compiled.graph, feeds)
    for g_, w in zip(got, want):
        if w.dtype.kind == "f":
            np.testing.assert_allclose(g_, w, rtol=rtol, atol=atol, equal_nan=True)
        else:
            np.testing.assert_array_equal(g_, w)
    return compiled


def _f32(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def _dispatches(compiled, kind):
    from pyree.compiler.emit.lowering import lower_region

    return [lower_region(r, compiled.graph) for r in compiled.partition.regions
            if r.kind == kind]


def test_broadcast_multi_output_elementwise_with_constants():
    rng = np.random.default_rng(1)
    w = _f32(rng, 3, 1)
    m = model([helper.make_node("Add", ["x", "w"], ["y"]),
               helper.make_node("Mul", ["y", "two"], ["z"]),
               helper.make_node("Sub", ["z", "b"], ["u"]),
               helper.make_node("Tanh", ["u"], ["v"])],
              [("x", F32, [2, 3, 4]), ("b", F32, [4])],
              [("y", F32, None), ("v", F32, None)],
              {"w": w, "two": np.array([2.0], np.float32)})
    compiled = _run(m, [_f32(rng, 2, 3, 4), _f32(rng, 4)])
    (lowered,) = _dispatches(compiled, "elementwise")
    (d,) = lowered.dispatches
    assert [o.value for o in d.operands] == ["x", "w", "b", "y", "v"]
    assert '"const"' in str(d.function).replace("'", '"')


def test_same_structure_shares_one_description():
    def fn(shape):
        m = model([helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Add", ["y", "x"],
                                                                              ["z"])],
                  [("x", F32, list(shape))], [("z", F32, None)])
        (lowered,) = _dispatches(compile_graph(import_model(m)), "elementwise")
        return lowered.dispatches[0]

    small, big = fn((3, 4)), fn((5, 6, 7))
    assert small.function == big.function
    assert small.constants[:-1] == (12,) and big.constants[:-1] == (210,)


def test_deep_chains_split_into_several_dispatches_through_scratch():
    rng = np.random.default_rng(2)
    nodes = []
    for i in range(12):
        nodes.append(helper.make_node("Gelu", [f"t{i}"], [f"t{i + 1}"], approximate="tanh"))
    m = model([helper.make_node("Identity", ["x"], ["t0"]), *nodes],
              [("x", F32, [6, 7])], [("t12", F32, None)], opset=20)
    compiled = _run(m, [_f32(rng, 6, 7)], rtol=1e-5, atol=1e-6)
    (lowered,) = _dispatches(compiled, "elementwise")
    assert len(lowered.dispatches) > 1 and lowered.scratch


def test_empty_elementwise_region_has_no_dispatch():
    m = model([helper.make_node("Relu", ["x"], ["y"])], [("x", F32, [0, 3])], [("y", F32, None)])
    compiled = _run(m, [np.zeros((0, 3), np.float32)])
    assert _dispatches(compiled, "elementwise")[0].dispatches == ()


MATMULS = {
    "2d": ([3, 4], [4, 5], {}),
    "batched": ([2, 3, 4], [2, 4, 5], {}),
    "rhs-broadcast-4d": ([2, 3, 6, 4], [4, 5], {}),
    "lhs-broadcast": ([6, 4], [3, 4, 5], {}),
    "vector-lhs": ([4], [2, 4, 5], {}),
    "vector-rhs": ([2, 3, 4], [4], {}),
}


@pytest.mark.parametrize("case", sorted(MATMULS))
def test_matmul(case):
    a, b, _ = MATMULS[case]
    rng = np.random.default_rng(3)
    m = model([helper.make_node("MatMul", ["a", "b"], ["y"])],
              [("a", F32, a), ("b", F32, b)], [("y", F32, None)])
    compiled = _run(m, [_f32(rng, *a), _f32(rng, *b)], rtol=1e-5, atol=1e-5)
    (lowered,) = _dispatches(compiled, "matmul")
    assert [d.function["body"]["kind"] for d in lowered.dispatches] == ["matmul"]


@pytest.mark.parametrize("trans_a,trans_b", [(0, 0), (1, 1)])
def test_gemm_with_bias_alpha_and_activation_epilogue(trans_a, trans_b):
    rng = np.random.default_rng(4)
    a = _f32(rng, 4, 3) if trans_a else _f32(rng, 3, 4)
    w = _f32(rng, 5, 4) if trans_b else _f32(rng, 4, 5)
    m = model([helper.make_node("Gemm", ["a", "w", "c"], ["y"], alpha=0.5, beta=2.0,
                                transA=trans_a, transB=trans_b),
               helper.make_node("Relu", ["y"], ["z"])],
              [("a", F32, list(a.shape))], [("z", F32, None)], {"w": w, "c": _f32(rng, 5)})
    compiled = _run(m, [a], rtol=1e-5, atol=1e-5)
    (lowered,) = _dispatches(compiled, "matmul")
    kinds = [d.function["body"]["kind"] for d in lowered.dispatches]
    assert kinds == ["matmul"]                  # alpha, bias and relu fused into the matmul
    body = lowered.dispatches[0].function["body"]
    assert body["alpha"] == 0.5
    assert [s["op"] for s in body["epilogue"]] == ["channel_add", "relu"]
    assert not lowered.scratch


def test_matmul_f64_residual_epilogue():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((2, 3, 4))
    w = rng.standard_normal((4, 3))
    m = model([helper.make_node("MatMul", ["a", "w"], ["y"]),
               helper.make_node("Add", ["y", "r"], ["z"]),
               helper.make_node("Sigmoid", ["z"], ["s"])],
              [("a", 11, [2, 3, 4]), ("r", 11, [2, 3, 3])], [("s", 11, None)], {"w": w})
    _run(m, [a, rng.standard_normal((2, 3, 3))], rtol=1e-12, atol=1e-12)


def test_matmul_partial_batch_broadcast_is_left_to_the_fallback():
    m = model([helper.make_node("MatMul", ["a", "b"], ["y"])],
              [("a", F32, [2, 1, 3, 4]), ("b", F32, [1, 3, 4, 5])], [("y", F32, None)])
    compiled = compile_graph(import_model(m))
    region = next(r for r in compiled.partition.regions if r.kind == "matmul")
    assert lower_v1_matmul.lower_matmul(region, compiled.graph) is None


REDUCES = [("ReduceSum", [1, 2], 1), ("ReduceMean", [2], 0), ("ReduceMax", [0, 1], 1),
           ("ReduceMin", [3], 0), ("ReduceProd", [1], 1), ("ReduceSumSquare", [1, 2], 0),
           ("ReduceL1", [2, 3], 1), ("ReduceL2", [0], 0), ("ReduceLogSum", [1, 2, 3], 1),
           ("ReduceLogSumExp", [1, 2], 0)]


@pytest.mark.parametrize("op,axes,keepdims", REDUCES, ids=[r[0] for r in REDUCES])
def test_reduce(op, axes, keepdims):
    rng = np.random.default_rng(6)
    x = np.abs(_f32(rng, 2, 3, 4, 5)) + 0.1 if op == "ReduceLogSum" else _f32(rng, 2, 3, 4, 5)
    m = model([helper.make_node(op, ["x"], ["y"], axes=axes, keepdims=keepdims)],
              [("x", F32, [2, 3, 4, 5])], [("y", F32, None)], opset=11)
    _run(m, [x], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMax", "ReduceProd"])
def test_reduce_integers_exact(op):
    rng = np.random.default_rng(7)
    x = rng.integers(-1000, 1000, (3, 4, 5)).astype(np.int32)
    m = model([helper.make_node(op, ["x"], ["y"], axes=[0, 1], keepdims=0)],
              [("x", 6, [3, 4, 5])], [("y", 6, None)], opset=11)
    _run(m, [x])


def test_reduce_over_non_contiguous_axes_is_left_to_the_fallback():
    m = model([helper.make_node("ReduceSum", ["x"], ["y"], axes=[0, 2])],
              [("x", F32, [2, 3, 4])], [("y", F32, None)], opset=11)
    compiled = compile_graph(import_model(m))
    region = next(r for r in compiled.partition.regions if r.kind == "reduce")
    assert lower_v1_misc.lower_reduce(region, compiled.graph) is None


@pytest.mark.parametrize("op,axis,opset", [("Softmax", -1, 13), ("Softmax", 1, 13),
                                           ("Softmax", 1, 11), ("LogSoftmax", 1, 13),
                                           ("LogSoftmax", 2, 11)])
def test_softmax(op, axis, opset):
    rng = np.random.default_rng(8)
    x = _f32(rng, 2, 3, 4) * 4
    m = model([helper.make_node(op, ["x"], ["y"], axis=axis)], [("x", F32, [2, 3, 4])],
              [("y", F32, None)], opset=opset)
    _run(m, [x], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("perm,dtype", [([1, 0], 1), ([2, 3, 0, 1], 7), ([0, 2, 1, 3], 3),
                                        ([3, 1, 2, 0], 9)])
def test_transpose(perm, dtype):
    rng = np.random.default_rng(9)
    shape = [2, 3, 4, 5][:len(perm)]
    x = rng.integers(-100, 100, shape).astype(dtypes.to_numpy(dtypes.from_onnx(dtype)))
    m = model([helper.make_node("Transpose", ["x"], ["y"], perm=perm)],
              [("x", dtype, shape)], [("y", dtype, None)])
    _run(m, [x])


def test_transpose_collapse():
    assert lower_v1_misc.collapse_transpose((2, 3, 4, 5), (2, 3, 0, 1)) == ([6, 20], [1, 0])
    assert lower_v1_misc.collapse_transpose((2, 1, 4), (1, 0, 2)) == ([8], [0])
    assert lower_v1_misc.collapse_transpose((2, 3, 4), (0, 2, 1)) == ([2, 3, 4], [0, 2, 1])
    assert math.prod(lower_v1_misc.collapse_transpose((1, 1), (1, 0))[0]) == 1


def test_scalar_elementwise_and_full_reduction():
    rng = np.random.default_rng(10)
    m = model([helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
               helper.make_node("Relu", ["s"], ["r"]),
               helper.make_node("Add", ["r", "one"], ["y"])],
              [("x", F32, [3, 4])], [("y", F32, None)], {"one": np.array(1.0, np.float32)},
              opset=11)
    compiled = _run(m, [_f32(rng, 3, 4)], rtol=1e-5, atol=1e-6)
    (lowered,) = _dispatches(compiled, "elementwise")
    assert lowered.dispatches[0].function["body"]["shape"] == []


def test_more_outputs_than_bindings_split_into_several_dispatches():
    names = [f"y{i}" for i in range(41)]
    nodes = [helper.make_node("Add", [a, "x"], [b]) for a, b in zip(["x", *names], names)]
    m = model(nodes, [("x", F32, [2, 3])], [(n, F32, None) for n in names])
    compiled = _run(m, [np.arange(6, dtype=np.float32).reshape(2, 3)])
    (lowered,) = _dispatches(compiled, "elementwise")
    assert len(lowered.dispatches) > 1
    assert all(len(d.operands) <= 32 for d in lowered.dispatches)
