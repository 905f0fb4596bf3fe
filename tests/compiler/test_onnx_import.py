"""The ONNX importer: op rules, opsets, dynamic dims, zero-copy initializers, errors."""

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper
from pyree.compiler import reference
from pyree.compiler.onnx_import import import_model

from pyree.status import InvalidArgumentError, UnimplementedError

from .helpers import F32, I64, model


def test_unsupported_op_is_unimplemented_naming_node_and_op():
    m = model([helper.make_node("Relu", ["x"], ["r"]),
               helper.make_node("NonMaxSuppression", ["r", "r"], ["y"], name="nms7")],
              [("x", F32, [1, 2, 4])], [("y", I64, None)])
    with pytest.raises(UnimplementedError, match=r"node 'nms7' \(NonMaxSuppression\)"):
        import_model(m)


def test_foreign_domain_is_unimplemented():
    node = helper.make_node("Binarizer", ["x"], ["y"], domain="ai.onnx.ml", name="b")
    m = model([node], [("x", F32, [2])], [("y", F32, [2])])
    m.opset_import.append(helper.make_opsetid("ai.onnx.ml", 3))
    with pytest.raises(UnimplementedError, match="domain 'ai.onnx.ml'"):
        import_model(m)


def test_shape_operand_that_is_not_constant_is_unimplemented():
    m = model([helper.make_node("Reshape", ["x", "s"], ["y"], name="r")],
              [("x", F32, [2, 3]), ("s", I64, [2])], [("y", F32, None)])
    with pytest.raises(UnimplementedError, match=r"'r' \(Reshape\).*shape.*compile-time"):
        import_model(m)


def test_dynamic_dims_default_to_one_or_come_from_options():
    m = model([helper.make_node("Relu", ["x"], ["y"])], [("x", F32, ["N", 3])],
              [("y", F32, ["N", 3])])
    assert import_model(m).types["x"].shape == (1, 3)
    assert import_model(m, dim_params={"N": 5}).types["x"].shape == (5, 3)
    assert import_model(m, input_shapes={"x": (7, 3)}).types["x"].shape == (7, 3)
    with pytest.raises(InvalidArgumentError, match="dimension 0 \\('N'\\) is dynamic"):
        import_model(m, default_dim=None)


def test_shape_arithmetic_folds_to_a_constant_reshape():
    # y = reshape(x, concat(shape(x)[0:1], [-1])): the whole shape chain folds away.
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "zero1"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
             helper.make_node("Reshape", ["x", "shape"], ["y"])]
    m = model(nodes, [("x", F32, [2, 3, 4])], [("y", F32, None)],
              {"zero": np.array(0, np.int64), "zero1": np.array([0], np.int64),
               "minus1": np.array([-1], np.int64)})
    g = import_model(m)
    assert [n.op for n in g.nodes] == ["reshape"]
    assert g.types[g.outputs[0]].shape == (2, 12)


def test_initializers_are_viewed_not_copied():
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    m = model([helper.make_node("MatMul", ["x", "w"], ["y"])], [("x", F32, [2, 3])],
              [("y", F32, [2, 4])], {"w": w})
    g = import_model(m)
    c = g.constants["w"]
    assert not c.flags.writeable and not c.flags.owndata
    assert isinstance(c.base, bytes) or isinstance(getattr(c.base, "base", None), bytes)


def test_external_data_is_memory_mapped(tmp_path):
    w = np.arange(4096, dtype=np.float32).reshape(64, 64)
    m = model([helper.make_node("MatMul", ["x", "w"], ["y"])], [("x", F32, [1, 64])],
              [("y", F32, [1, 64])], {"w": w})
    path = tmp_path / "m.onnx"
    onnx.save_model(m, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="w.bin", size_threshold=0)
    g = import_model(str(path))
    base, chain = g.constants["w"], []
    while base is not None:
        chain.append(type(base).__name__)
        base = getattr(base, "base", None)
    assert "memmap" in chain or "mmap" in chain, chain
    x = np.ones((1, 64), np.float32)
    np.testing.assert_allclose(reference.evaluate(g, [x])[0], x @ w, rtol=1e-6)


def test_softmax_semantics_follow_the_opset():
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    node = helper.make_node("Softmax", ["x"], ["y"], axis=1)
    old = import_model(model([node], [("x", F32, [2, 3, 4])], [("y", F32, None)], opset=11))
    new = import_model(model([node], [("x", F32, [2, 3, 4])], [("y", F32, None)], opset=13))
    flat = np.exp(x.reshape(2, 12)) / np.exp(x.reshape(2, 12)).sum(1, keepdims=True)
    np.testing.assert_allclose(reference.evaluate(old, [x])[0], flat.reshape(x.shape),
                               rtol=1e-5)
    per_axis = np.exp(x) / np.exp(x).sum(1, keepdims=True)
    np.testing.assert_allclose(reference.evaluate(new, [x])[0], per_axis, rtol=1e-5)


def test_function_ops_expand_into_their_body():
    # Swish has no import rule: its schema's function body (x * sigmoid(alpha x)) is used.
    m = model([helper.make_node("Swish", ["x"], ["y"], alpha=2.0)], [("x", F32, [5])],
              [("y", F32, [5])], opset=24)
    g = import_model(m)
    assert "sigmoid" in {n.op for n in g.nodes}
    x = np.linspace(-2, 2, 5).astype(np.float32)
    np.testing.assert_allclose(reference.evaluate(g, [x])[0], x / (1 + np.exp(-2 * x)),
                               rtol=1e-5)


def test_batchnorm_with_constant_parameters_becomes_a_folded_scale_and_shift():
    c = 3
    params = {"s": np.full(c, 2, np.float32), "b": np.ones(c, np.float32),
              "m": np.zeros(c, np.float32), "v": np.ones(c, np.float32)}
    m = model([helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"],
                                epsilon=0.0)],
              [("x", F32, [1, c, 2, 2])], [("y", F32, None)], params)
    g = import_model(m)
    assert [n.op for n in g.nodes] == ["mul", "add"]
    x = np.ones((1, c, 2, 2), np.float32)
    np.testing.assert_allclose(reference.evaluate(g, [x])[0], 3 * x)


def test_constant_of_shape_folds_to_a_zero_memory_splat():
    m = model([helper.make_node("ConstantOfShape", ["s"], ["w"],
                                value=numpy_helper.from_array(np.array([0.5], np.float32))),
               helper.make_node("Add", ["x", "w"], ["y"])],
              [("x", F32, [256, 256])], [("y", F32, None)],
              {"s": np.array([256, 256], np.int64)})
    g = import_model(m)
    splat = next(a for a in g.constants.values() if a.shape == (256, 256))
    assert splat.strides == (0, 0)


def test_an_attribute_no_rule_reads_is_refused_not_ignored():
    node = helper.make_node("Relu", ["x"], ["y"], name="r", mystery=3)
    m = model([node], [("x", F32, [2])], [("y", F32, [2])])
    with pytest.raises(UnimplementedError, match=r"'r' \(Relu\): attribute 'mystery'"):
        import_model(m)


def test_large_folds_are_views_or_are_not_made():
    from pyree.compiler.ir import Attributes, Node, TensorType
    from pyree.compiler.passes.constant_folding import try_fold

    c = np.broadcast_to(np.arange(4, dtype=np.float32).reshape(4, 1), (4, 3000))
    reshape = Node("reshape", ("c",), ("y",), Attributes.of(shape=(12000,)))
    out = [TensorType("f32", (12000,))]
    assert try_fold(reshape, [TensorType("f32", (4, 3000))], out, {"c": c},
                    max_elements=100) is None  # would copy 12000 elements
    splat = np.broadcast_to(np.float32(1), (4, 3000))
    (folded,) = try_fold(reshape, [TensorType("f32", (4, 3000))], out, {"c": splat},
                         max_elements=100)
    assert folded.strides == (0,)


def test_if_with_a_runtime_condition_selects_between_both_branches():
    def branch(op, name):
        return helper.make_graph([helper.make_node(op, ["x", "two"], [f"{name}_out"])], name,
                                 [], [helper.make_tensor_value_info(f"{name}_out", F32, [3])])
    node = helper.make_node("If", ["c"], ["y"], then_branch=branch("Add", "then"),
                            else_branch=branch("Mul", "else"))
    m = model([node], [("c", onnx.TensorProto.BOOL, []), ("x", F32, [3])], [("y", F32, [3])],
              {"two": np.full(3, 2, np.float32)})
    g = import_model(m)
    assert "select" in {n.op for n in g.nodes}
    x = np.arange(3, dtype=np.float32)
    np.testing.assert_allclose(reference.evaluate(g, [np.array(True), x])[0], x + 2)
    np.testing.assert_allclose(reference.evaluate(g, [np.array(False), x])[0], x * 2)
