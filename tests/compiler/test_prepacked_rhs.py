"""A Gemm/MatMul against a constant weight is lowered with its weight prepacked as the
GEMM's panels (compiler/emit/lower_v1_matmul.py, spec/executables.md 6.4 ``rhs_packed``):
the packed constant replaces the weight in the module, a weight shared by two products is
packed once, few rows are not packed, and the results are the bits of the same model
with the weight as a runtime input (unpacked)."""

from __future__ import annotations

import numpy as np
import pytest
from pyree.compiler import compile_model
from pyree.compiler.emit.execute_lowered import run_partition
from pyree.compiler.emit.host import lower_all
from pyree.compiler.onnx_import import import_model
from pyree.compiler.pipeline import compile_graph
from pyree.modules.hal.kernels import panels

from pyree.runtime import load_module

from .helpers import F32, helper, model

ROWS, K, N = 24, 300, 40


def _gemm(rows, trans_b, weight_input=False):
    rng = np.random.default_rng(rows)
    w = rng.standard_normal((N, K) if trans_b else (K, N)).astype(np.float32)
    bias = rng.standard_normal(N).astype(np.float32)
    inputs = [("x", F32, [rows, K])]
    inits = {"b": bias}
    if weight_input:
        inputs.append(("w", F32, list(w.shape)))
    else:
        inits["w"] = w
    mdl = model([helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=int(trans_b)),
                 helper.make_node("Relu", ["y"], ["z"])],
                inputs, [("z", F32, [rows, N])], inits)
    x = rng.standard_normal((rows, K)).astype(np.float32)
    return mdl, x, w, bias


def _lowered(mdl):
    compiled = compile_graph(import_model(mdl))
    lowered = lower_all(compiled)
    return compiled, [d for low in lowered.values() for d in low.dispatches]


@pytest.mark.parametrize("trans_b", [False, True])
def test_a_constant_weight_is_packed_and_gives_the_unpacked_bits(trans_b):
    mdl, x, w, bias = _gemm(ROWS, trans_b)
    compiled, (d,) = _lowered(mdl)
    body = d.function["body"]
    assert body["rhs_packed"] and not body["transpose_rhs"]
    name = d.operands[1].value
    packed = compiled.graph.constants[name]
    np.testing.assert_array_equal(packed, panels.pack(w.T if trans_b else w))
    assert d.function["bindings"][1]["shape"][1:] == [{"pc": 2}, 16]
    assert d.constants[6] == packed.shape[0] == 3
    got = load_module(compile_model(mdl)).main(x)[0]
    runtime_weight, *_ = _gemm(ROWS, trans_b, weight_input=True)
    assert "rhs_packed" not in _lowered(runtime_weight)[1][0].function["body"]
    want = load_module(compile_model(runtime_weight)).main(x, w)[0]
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(got, np.maximum(x @ w.T if trans_b else x @ w, -bias) + bias,
                               rtol=1e-4, atol=1e-4)
    # the lowered-region harness binds the derived constant too
    np.testing.assert_array_equal(run_partition(compiled.partition, [x])[0], got)


def test_few_rows_are_not_packed():
    mdl, *_ = _gemm(4, False)
    (d,) = _lowered(mdl)[1]
    assert "rhs_packed" not in d.function["body"]
    assert len(d.function["push_constants"]) == 6


def test_a_shared_weight_is_packed_once():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((K, N)).astype(np.float32)
    mdl = model([helper.make_node("MatMul", ["x", "w"], ["y1"]),
                 helper.make_node("MatMul", ["x2", "w"], ["y2"])],
                [("x", F32, [ROWS, K]), ("x2", F32, [ROWS + 8, K])],
                [("y1", F32, [ROWS, N]), ("y2", F32, [ROWS + 8, N])], {"w": w})
    compiled, dispatches = _lowered(mdl)
    assert len(dispatches) == 2
    assert {d.operands[1].value for d in dispatches} == {"w.panels"}
    assert [n for n in compiled.graph.constants if "panels" in n] == ["w.panels"]
    x, x2 = (rng.standard_normal((r, K)).astype(np.float32) for r in (ROWS, ROWS + 8))
    y1, y2 = load_module(compile_model(mdl)).main(x, x2)
    np.testing.assert_allclose(y1, x @ w, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(y2, x2 @ w, rtol=1e-4, atol=1e-4)


def test_a_model_value_named_like_the_packed_weight_keeps_its_data():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((K, N)).astype(np.float32)
    mdl = model([helper.make_node("MatMul", ["x", "w"], ["y"]),
                 helper.make_node("Relu", ["w.panels"], ["r"])],
                [("x", F32, [ROWS, K]), ("w.panels", F32, [3])],
                [("y", F32, [ROWS, N]), ("r", F32, [3])], {"w": w})
    compiled, dispatches = _lowered(mdl)
    (mm,) = [d for d in dispatches if d.function["body"]["kind"] == "matmul"]
    packed = mm.operands[1].value
    assert packed not in ("w", "w.panels")
    np.testing.assert_array_equal(compiled.graph.constants[packed], panels.pack(w))
    x, v = rng.standard_normal((ROWS, K)).astype(np.float32), np.float32([-1, 2, -3])
    y, r = load_module(compile_model(mdl)).main(x, v)
    np.testing.assert_allclose(y, x @ w, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(r, [0, 2, 0])
