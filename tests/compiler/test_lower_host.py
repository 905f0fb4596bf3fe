"""The host-library fallback lowering (compiler/emit/lower_host.py): regions no numba
lowering expresses run as ``op`` dispatches, node by node with region scratch, executed
against the HAL on numpy buffers and compared with the reference evaluator."""

from __future__ import annotations

import numpy as np
import pytest
from pyree.compiler import reference
from pyree.compiler.emit import execute_lowered
from pyree.compiler.emit.lower_host import lower_host
from pyree.compiler.emit.lowering import LOWERINGS
from pyree.compiler.onnx_import import import_model
from pyree.compiler.pipeline import compile_graph

from .helpers import F32, TensorProto, helper, model

F16 = TensorProto.FLOAT16
I32 = TensorProto.INT32
RNG = np.random.default_rng(3)
NP = {"f32": np.float32, "f16": np.float16, "i32": np.int32, "i64": np.int64}


def compiled(nodes, inputs, n_out=1, inits=None, opset=18):
    m = model(nodes, inputs, [(f"z{i}", F32, None) for i in range(n_out)], inits or {},
              opset=opset)
    for out in m.graph.output:
        out.type.tensor_type.elem_type = 0
    return compile_graph(import_model(m))


CASES = {
    # an elementwise chain with an op v1 lacks (sin), f16: scratch between the nodes
    "f16-chain": ([helper.make_node("Sin", ["a"], ["t"]),
                   helper.make_node("Mul", ["t", "b"], ["u"]),
                   helper.make_node("Relu", ["u"], ["z0"])],
                  [("a", F16, [3, 4]), ("b", F16, [4])]),
    "lrn": ([helper.make_node("LRN", ["a"], ["z0"], size=3, alpha=1e-3, beta=0.75, bias=2.0)],
            [("a", F32, [1, 5, 4, 4])]),
    "instance-norm": ([helper.make_node("InstanceNormalization", ["a", "s", "b"], ["z0"])],
                      [("a", F32, [2, 3, 4, 5]), ("s", F32, [3]), ("b", F32, [3])]),
    "layer-norm": ([helper.make_node("LayerNormalization", ["a", "s", "b"], ["z0"], axis=-1)],
                   [("a", F32, [2, 3, 6]), ("s", F32, [6]), ("b", F32, [6])]),
    "int-matmul-with-epilogue": ([helper.make_node("MatMul", ["a", "b"], ["t"]),
                                  helper.make_node("Add", ["t", "c"], ["z0"])],
                                 [("a", I32, [2, 3, 4]), ("b", I32, [4, 5]),
                                  ("c", I32, [5])]),
    "gather-elements": ([helper.make_node("GatherElements", ["a", "i"], ["z0"], axis=1)],
                        [("a", F32, [3, 4])]),
    "top-k-two-results": ([helper.make_node("TopK", ["a", "k"], ["z0", "z1"], axis=1)],
                          [("a", F32, [3, 6])]),
    "einsum": ([helper.make_node("Einsum", ["a", "b"], ["z0"], equation="ij,jk->ik")],
               [("a", F32, [3, 4]), ("b", F32, [4, 2])]),
    "cumsum": ([helper.make_node("CumSum", ["a", "ax"], ["z0"], exclusive=1, reverse=1)],
               [("a", F32, [3, 5])]),
}
INITS = {"gather-elements": {"i": np.array([[0, 3], [1, 1], [2, 0]], np.int64)},
         "top-k-two-results": {"k": np.array([2], np.int64)},
         "cumsum": {"ax": np.array(1, np.int64)}}


def feeds(graph):
    return [(RNG.standard_normal(graph.types[n].shape) * 4).astype(NP[graph.types[n].dtype])
            for n in graph.inputs]


@pytest.mark.parametrize("case", sorted(CASES))
def test_fallback_region_matches_the_reference(case):
    nodes, inputs = CASES[case]
    n_out = len(nodes[-1].output)
    c = compiled(nodes, inputs, n_out, INITS.get(case))
    graph = c.partition.graph
    used = 0
    for region in c.partition.regions:
        if not region.dispatches:
            continue
        lowered = lower_host(region, graph)
        assert lowered is not None
        assert len(lowered.dispatches) == len(region.nodes)
        assert all(d.workgroups == (1, 1, 1) and d.function["body"]["kind"] == "op"
                   for d in lowered.dispatches)
        private = {o for n in region.nodes for o in n.outputs if o} - set(region.outputs)
        assert {s.name for s in lowered.scratch} == {f"r{region.index}.{v}"
                                                     for v in private}
        used += 1
    assert used
    x = feeds(graph)
    expected = reference.evaluate(graph, x)
    env = dict(zip(graph.inputs, x))
    for region in c.partition.regions:
        if region.dispatches:
            env.update(execute_lowered.run_region(region, graph, env,
                                                  lower_host(region, graph)))
        else:
            env.update(zip([n.outputs[0] for n in region.nodes],
                           [reference.run_node(n, {**graph.constants, **env})[0]
                            for n in region.nodes]))
    got = [env[n] if n in env else graph.constants[n] for n in graph.outputs]
    problems = reference.allclose(expected, got, rtol=2e-3 if "f16" in case else 1e-5,
                                  atol=1e-5)
    assert not problems, problems


def test_fallback_is_registered_last_for_every_region_kind():
    for kind in ("data", "library", "normalization", "reduce", "softmax", "elementwise",
                 "matmul", "conv", "pool", "transpose"):
        assert LOWERINGS[kind][-1] is lower_host, kind


def test_eight_bit_floats_travel_through_op_bodies():
    nodes = [helper.make_node("Cast", ["a"], ["t"], to=TensorProto.FLOAT8E4M3FN),
             helper.make_node("Cast", ["t"], ["z0"], to=TensorProto.FLOAT)]
    c = compiled(nodes, [("a", F32, [4])])
    x = [np.array([0.1, 1.0, 300.0, -7.0], np.float32)]
    got = execute_lowered.run_partition(c.partition, x)
    assert not reference.allclose(reference.evaluate(c.partition.graph, x), got)


def test_fallback_and_data_lowerings_run_end_to_end_through_the_vm():
    from pyree.compiler import compile_model

    from pyree.runtime import InferenceSession

    m = model([helper.make_node("LRN", ["x"], ["l"], size=3),
               helper.make_node("Cast", ["l"], ["h"], to=F16),
               helper.make_node("Sin", ["h"], ["s"]),
               helper.make_node("Cast", ["s"], ["c"], to=F32),
               helper.make_node("InstanceNormalization", ["c", "sc", "b"], ["i"]),
               helper.make_node("Concat", ["i", "x"], ["y"], axis=1),
               helper.make_node("Pad", ["y", "p"], ["z"])],
              [("x", F32, [1, 3, 4, 4])], [("z", F32, None)],
              {"sc": np.ones(3, np.float32), "b": np.zeros(3, np.float32),
               "p": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)})
    x = RNG.standard_normal((1, 3, 4, 4)).astype(np.float32)
    expected = reference.evaluate(compile_graph(import_model(m)).partition.graph, [x])
    with InferenceSession(compile_model(m), device="local-sync") as sess:
        (z,) = sess.run(None, {"x": x})
    assert not reference.allclose(expected, [z], rtol=1e-3, atol=1e-3)
