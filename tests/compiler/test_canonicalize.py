"""Canonicalization: transposes fold into matmul flags, reshape/transpose chains collapse."""

import numpy as np
from onnx import helper
from pyree.compiler import reference
from pyree.compiler.onnx_import import import_model
from pyree.compiler.pipeline import compile_graph

from .helpers import F32, model


def _ops(compiled):
    return [n.op for n in compiled.graph.nodes]


def test_attention_style_key_transpose_becomes_a_matmul_flag():
    nodes = [helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
             helper.make_node("MatMul", ["q", "kt"], ["s"]),
             helper.make_node("Softmax", ["s"], ["y"], axis=-1)]
    m = model(nodes, [("q", F32, [2, 3, 4]), ("k", F32, [2, 5, 4])], [("y", F32, None)])
    compiled = compile_graph(import_model(m))
    assert _ops(compiled) == ["matmul", "softmax"]
    assert compiled.graph.nodes[0].attr("transpose_b") == 1
    rng = np.random.default_rng(0)
    q, k = rng.standard_normal((2, 3, 4), np.float32), rng.standard_normal((2, 5, 4), np.float32)
    s = q @ k.transpose(0, 2, 1)
    want = np.exp(s - s.max(-1, keepdims=True))
    want /= want.sum(-1, keepdims=True)
    got = reference.evaluate_planned(compiled.partition, compiled.plan, [q, k])[0]
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_a_transpose_that_is_not_a_last_two_dims_swap_stays():
    nodes = [helper.make_node("Transpose", ["k"], ["kt"], perm=[1, 0, 2]),
             helper.make_node("MatMul", ["q", "kt"], ["y"])]
    m = model(nodes, [("q", F32, [2, 3, 4]), ("k", F32, [4, 2, 5])], [("y", F32, None)])
    assert _ops(compile_graph(import_model(m))) == ["transpose", "matmul"]


def test_reshape_and_transpose_chains_collapse():
    nodes = [helper.make_node("Transpose", ["x"], ["a"], perm=[1, 2, 0]),
             helper.make_node("Transpose", ["a"], ["b"], perm=[2, 0, 1]),  # identity
             helper.make_node("Flatten", ["b"], ["c"], axis=1),
             helper.make_node("Reshape", ["c", "s"], ["d"]),
             helper.make_node("Relu", ["d"], ["y"])]
    m = model(nodes, [("x", F32, [2, 3, 4])], [("y", F32, None)],
              {"s": np.array([6, 4], np.int64)})
    compiled = compile_graph(import_model(m))
    assert _ops(compiled) == ["reshape", "relu"]
    assert compiled.graph.nodes[0].inputs == ("x",)
