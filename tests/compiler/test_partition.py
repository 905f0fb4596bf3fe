"""Partitioning into dispatch regions: fusion rules, execution order, kernel body kinds."""

import numpy as np
from onnx import helper
from pyree.compiler import reference, testsuite
from pyree.compiler.onnx_import import import_model
from pyree.compiler.pipeline import compile_graph

from .helpers import F32, model


def _compile(m):
    return compile_graph(import_model(m))


def test_conv_bias_batchnorm_relu_is_one_conv_region_with_an_epilogue():
    c = 4
    params = {"w": np.ones((c, 3, 3, 3), np.float32), "s": np.ones(c, np.float32),
              "b": np.zeros(c, np.float32), "m": np.zeros(c, np.float32),
              "v": np.ones(c, np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["n"]),
             helper.make_node("Relu", ["n"], ["y"])]
    compiled = _compile(model(nodes, [("x", F32, [1, 3, 8, 8])], [("y", F32, None)], params))
    (region,) = compiled.partition.regions
    assert region.kind == "conv" and [n.op for n in region.epilogue] == ["mul", "add", "relu"]
    assert region.outputs == ("y",)


def test_gemm_bias_and_activation_attach_to_the_matmul_region():
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["g"], transB=1),
             helper.make_node("Tanh", ["g"], ["y"])]
    compiled = _compile(model(nodes, [("x", F32, [2, 8])], [("y", F32, None)],
                              {"w": np.ones((4, 8), np.float32),
                               "b": np.ones(4, np.float32)}))
    (region,) = compiled.partition.regions
    assert region.kind == "matmul" and region.body == "matmul"
    assert region.anchor.attr("transpose_b") == 1
    assert [n.op for n in region.epilogue] == ["add", "tanh"]


def test_elementwise_chain_fuses_and_shares_values_as_extra_outputs():
    nodes = [helper.make_node("Mul", ["x", "x"], ["a"]),
             helper.make_node("Add", ["a", "x"], ["b"]),
             helper.make_node("Exp", ["b"], ["c"]),
             helper.make_node("ReduceSum", ["a"], ["s"], keepdims=1),  # a escapes
             helper.make_node("Add", ["c", "s"], ["y"])]
    compiled = _compile(model(nodes, [("x", F32, [4, 5])], [("y", F32, None)], opset=11))
    kinds = [(r.kind, [n.op for n in r.nodes]) for r in compiled.partition.regions]
    assert kinds == [("elementwise", ["mul", "add", "exp"]), ("reduce", ["reduce_sum"]),
                     ("elementwise", ["add"])]
    first = compiled.partition.regions[0]
    assert set(first.outputs) == {"a", "c"} and first.body == "elementwise"
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    expected = np.exp(x * x + x) + (x * x).sum(keepdims=True)
    got = reference.evaluate_partition(compiled.partition, [x])
    np.testing.assert_allclose(got[0], expected, rtol=1e-5)


def test_broadcasting_expansion_starts_a_new_elementwise_region():
    # a [4,1] chain and its broadcast to [4,5] have different iteration spaces.
    nodes = [helper.make_node("Neg", ["x"], ["a"]), helper.make_node("Add", ["a", "z"], ["y"])]
    compiled = _compile(model(nodes, [("x", F32, [4, 1]), ("z", F32, [4, 5])],
                              [("y", F32, None)]))
    assert [len(r.nodes) for r in compiled.partition.regions] == [1, 1]


def test_softmax_reduction_and_views_are_their_own_regions():
    nodes = [helper.make_node("Softmax", ["x"], ["s"], axis=-1),
             helper.make_node("Reshape", ["s", "shape"], ["r"]),
             helper.make_node("ReduceMax", ["r"], ["y"], axes=[1], keepdims=0)]
    compiled = _compile(model(nodes, [("x", F32, [2, 3, 4])], [("y", F32, None)],
                              {"shape": np.array([6, 4], np.int64)}, opset=17))
    regions = compiled.partition.regions
    assert [(r.kind, r.body) for r in regions] == [("softmax", "softmax"), ("view", None),
                                                    ("reduce", "reduce")]


def test_squeezenet_regions_fuse_every_relu_into_its_conv():
    path, inputs, expected = testsuite.light_case("squeezenet")
    compiled = compile_graph(import_model(path))
    compiled.partition.verify()
    summary = compiled.partition.summary()
    assert summary["conv"] == 26 and "elementwise" not in summary  # every relu fused
    got = reference.evaluate_partition(compiled.partition, inputs)
    assert reference.allclose(expected, got) == []


def test_resnet50_fuses_batchnorm_relu_and_residual_adds_into_conv_epilogues():
    path, _, _ = testsuite.light_case("resnet50")
    compiled = compile_graph(import_model(path))
    regions = compiled.partition.regions
    convs = [r for r in regions if r.kind == "conv"]
    assert len(convs) == 53 and all(r.epilogue for r in convs)
    assert not [r for r in regions if r.kind == "elementwise"]
    residual = [r for r in convs if sum(n.op == "add" for n in r.epilogue) == 2]
    assert len(residual) == 16  # bn shift + the block's residual add
    assert compiled.plan.arena_size < compiled.plan.unshared_size / 4


def test_region_body_is_none_where_v1_cannot_express_it():
    from .helpers import helper as h

    def body_of(nodes, dtype=F32, shape=(2, 3, 4), opset=17):
        m = model(nodes, [("x", dtype, list(shape))], [("y", dtype, None)], opset=opset)
        return [(r.kind, r.body) for r in compile_graph(import_model(m)).partition.regions]

    assert body_of([h.make_node("LeakyRelu", ["x"], ["y"])]) == [("elementwise", "elementwise")]
    assert body_of([h.make_node("Sin", ["x"], ["y"])]) == [("elementwise", "elementwise")]
    f16 = 10
    assert body_of([h.make_node("Relu", ["x"], ["y"])], dtype=f16) == [("elementwise", None)]
    assert body_of([h.make_node("ReduceSum", ["x"], ["y"], axes=[1, 2])], opset=11) == [
        ("reduce", "reduce")]
    assert body_of([h.make_node("ReduceSum", ["x"], ["y"], axes=[0, 2])], opset=11) == [
        ("reduce", None)]
