"""Gemm/MatMul epilogues fused into the matmul dispatch (compiler/emit/lower_v1_matmul.py,
spec/executables.md 6.4): alpha, a bias (C of shape [N], [1, N] or [M, N]) and an
activation run as ONE dispatch whose values match onnxruntime; the description's epilogue
bindings are validated before any kernel runs."""

from __future__ import annotations

import numpy as np
import onnxruntime
import pytest
from pyree.compiler import compile_model
from pyree.compiler.emit.lowering import lower_region
from pyree.compiler.onnx_import import import_model
from pyree.compiler.pipeline import compile_graph
from pyree.modules.hal import executable_format as fmt
from pyree.modules.hal.executable import Executable
from pyree.runtime import load_module
from pyree.status import InvalidArgumentError, OutOfRangeError

from .helpers import helper, model, numpy_helper

ONNX_TYPES = {np.float32: 1, np.float64: 11}
ACTIVATIONS = [("Relu", {}), ("Sigmoid", {}), ("LeakyRelu", {"alpha": 0.2}), ("Clip", {})]


def _gemm_model(dtype, m, k, n, c_shape, trans, alpha, beta, act, c_input=False):
    rng = np.random.default_rng(m * 7 + n)
    a_shape = (k, m) if trans[0] else (m, k)
    w = rng.standard_normal((n, k) if trans[1] else (k, n)).astype(dtype)
    c = rng.standard_normal(c_shape).astype(dtype)
    t = ONNX_TYPES[dtype]
    inits = {"w": w}
    inputs = [("a", t, list(a_shape))]
    if c_input:
        inputs.append(("c", t, list(c_shape)))
    else:
        inits["c"] = c
    name, attrs = act
    act_inputs = ["y"]
    if name == "Clip":
        inits["lo"], inits["hi"] = np.array(-0.5, dtype), np.array(0.7, dtype)
        act_inputs += ["lo", "hi"]
    nodes = [helper.make_node("Gemm", ["a", "w", "c"], ["y"], alpha=alpha, beta=beta,
                              transA=trans[0], transB=trans[1]),
             helper.make_node(name, act_inputs, ["z"], **attrs)]
    mdl = model(nodes, inputs, [("z", t, [m, n])], inits)
    a = rng.standard_normal(a_shape).astype(dtype)
    return mdl, [a, c] if c_input else [a]


def _total_dispatches(mdl):
    compiled = compile_graph(import_model(mdl))
    return [d for r in compiled.partition.regions
            for d in lower_region(r, compiled.graph).dispatches]


def _ort(mdl, feeds):
    sess = onnxruntime.InferenceSession(mdl.SerializeToString(),
                                        providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    return sess.run(None, dict(zip(names, feeds)))[0]


CASES = []
for i, (dtype, batch, c_kind) in enumerate(
        (d, b, c) for d in (np.float32, np.float64) for b in (1, 64) for c in ("n", "1n", "mn")):
    trans = [(0, 0), (1, 1), (0, 1), (1, 0)][i % 4]
    alpha_beta = [(1.0, 1.0), (0.5, 2.0), (1.5, 1.0)][i % 3]
    CASES.append((dtype, batch, c_kind, trans, alpha_beta, ACTIVATIONS[i % 4]))


@pytest.mark.parametrize("dtype,batch,c_kind,trans,alpha_beta,act", CASES)
def test_fused_gemm_matches_onnxruntime(dtype, batch, c_kind, trans, alpha_beta, act):
    m, k, n = batch, 37, 23
    c_shape = {"n": (n,), "1n": (1, n), "mn": (m, n)}[c_kind]
    mdl, feeds = _gemm_model(dtype, m, k, n, c_shape, trans, *alpha_beta, act)
    dispatches = _total_dispatches(mdl)
    assert [d.function["body"]["kind"] for d in dispatches] == ["matmul"]
    body = dispatches[0].function["body"]
    want_ops = ["channel_add" if c_kind != "mn" or batch == 1 else "add",
                {"Relu": "relu", "Sigmoid": "sigmoid", "LeakyRelu": "leaky_relu",
                 "Clip": "clip"}[act[0]]]
    assert [s["op"] for s in body["epilogue"]] == want_ops
    assert body.get("alpha", 1.0) == alpha_beta[0]
    got = load_module(compile_model(mdl)).main(*feeds)[0]
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, _ort(mdl, feeds), rtol=tol, atol=tol)


@pytest.mark.parametrize("beta", [1.0, 2.0])
def test_runtime_bias_input(beta):
    """C an input (not a constant): beta * C cannot fold, so only the chain before it is
    fused; the values still match."""
    mdl, feeds = _gemm_model(np.float32, 64, 30, 12, (12,), (0, 1), 0.5, beta,
                             ACTIVATIONS[0], c_input=True)
    dispatches = _total_dispatches(mdl)
    kinds = [d.function["body"]["kind"] for d in dispatches]
    # beta * C is a region of its own; the matmul region keeps alpha
    assert kinds == (["matmul"] if beta == 1.0 else ["matmul", "elementwise", "elementwise"])
    assert dispatches[0].function["body"]["alpha"] == 0.5
    got = load_module(compile_model(mdl)).main(*feeds)[0]
    np.testing.assert_allclose(got, _ort(mdl, feeds), rtol=2e-5, atol=2e-5)


def test_mlp_is_three_dispatches():
    import sys
    import pathlib
    sys.path.insert(0, str(pathlib.Path(__file__).parents[2] / "benchmarks"))
    import model_bench

    for batch in (1, 64):
        mdl = model_bench.mlp(batch)
        kinds = [d.function["body"]["kind"] for d in _total_dispatches(mdl)]
        assert kinds == ["matmul", "matmul", "softmax"]         # was 5 with the epilogues
        x = np.random.default_rng(batch).standard_normal((batch, 784)).astype(np.float32)
        got = load_module(compile_model(mdl)).main(x)[0]
        np.testing.assert_allclose(got, _ort(mdl, [x]), rtol=1e-5, atol=1e-6)


# -- the executable format: epilogue bindings validated before the kernel runs ---------------

def _fn(epilogue, extra):
    pcs = [{"pc": i} for i in range(4)]
    return {"name": "mm", "push_constants": ["M", "K", "N", "rows"],
            "bindings": [
                {"index": 0, "type": "f64", "access": "read", "shape": [pcs[0], pcs[1]]},
                {"index": 1, "type": "f64", "access": "read", "shape": [pcs[1], pcs[2]]},
                {"index": 2, "type": "f64", "access": "write", "shape": [pcs[0], pcs[2]]},
                *extra],
            "items_per_workgroup": pcs[3],
            "body": {"kind": "matmul", "lhs": 0, "rhs": 1, "out": 2, "epilogue": epilogue}}


def _exe(epilogue, extra):
    data = fmt.serialize({"version": 1, "constants": 0, "functions": [_fn(epilogue, extra)]})
    return Executable.create(fmt.FORMAT, data, b"")


def _u8(a):
    return np.ascontiguousarray(a).reshape(-1).view(np.uint8)


def test_kernel_channel_tensor_and_activation_steps():
    pcs = [{"pc": i} for i in range(4)]
    exe = _exe([{"op": "channel_mul", "binding": 4}, {"op": "channel_add", "binding": 3},
                {"op": "add", "binding": 5}, {"op": "clip", "min": -1.0, "max": "inf"}],
               [{"index": 3, "type": "f64", "access": "read", "shape": [pcs[2]]},
                {"index": 4, "type": "f64", "access": "read", "shape": [1]},
                {"index": 5, "type": "f64", "access": "read", "shape": [pcs[0], pcs[2]]}])
    rng = np.random.default_rng(0)
    m, k, n = 9, 5, 7
    a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
    bias, scale, res = rng.standard_normal(n), np.array([3.0]), rng.standard_normal((m, n))
    for rows in (1, 4, 9):
        out = np.full((m, n), np.nan)
        exe.dispatch(0, (-(-m // rows), 1, 1), (m, k, n, rows),
                     [_u8(x) for x in (a, b, out, bias, scale, res)])
        np.testing.assert_allclose(out, np.maximum((a @ b) * 3.0 + bias + res, -1.0),
                                   rtol=1e-12, atol=1e-12)


def test_epilogue_bindings_are_validated():
    pcs = [{"pc": i} for i in range(4)]
    with pytest.raises(InvalidArgumentError, match="per-channel operand has rank 1"):
        _exe([{"op": "channel_add", "binding": 3}],
             [{"index": 3, "type": "f64", "access": "read", "shape": [1, pcs[2]]}])
    with pytest.raises(InvalidArgumentError, match="unknown epilogue op"):
        _exe([{"op": "tanh"}], [])
    exe = _exe([{"op": "channel_add", "binding": 3}],
               [{"index": 3, "type": "f64", "access": "read", "shape": [pcs[1]]}])
    a, b, out = np.ones((2, 3)), np.ones((3, 4)), np.zeros((2, 4))
    with pytest.raises(InvalidArgumentError, match="per-column operand is \\[4\\] or \\[1\\]"):
        exe.dispatch(0, (1, 1, 1), (2, 3, 4, 2), [_u8(x) for x in (a, b, out, np.ones(3))])
    exe = _exe([{"op": "channel_add", "binding": 3}, {"op": "relu"}],
               [{"index": 3, "type": "f64", "access": "read", "shape": [pcs[2]]}])
    with pytest.raises((OutOfRangeError, InvalidArgumentError), match="binding 3"):
        exe.dispatch(0, (1, 1, 1), (2, 3, 4, 2), [_u8(x) for x in (a, b, out, np.ones(3))])
    assert not out.any()                     # nothing ran
    exe.dispatch(0, (1, 1, 1), (2, 3, 4, 2), [_u8(x) for x in (a, b, out, -np.ones(4))])
    np.testing.assert_array_equal(out, np.full((2, 4), 2.0))
