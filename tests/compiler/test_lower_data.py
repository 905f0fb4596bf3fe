"""Data-movement lowerings (compiler/emit/lower_data.py): concat, slice, pad and tile as
pyree-kernels-v1 strided copies and fills, executed against the HAL on numpy buffers
(``execute_lowered``) and compared with the reference evaluator."""

from __future__ import annotations

import numpy as np
import pytest
from pyree.compiler import reference
from pyree.compiler.emit import execute_lowered
from pyree.compiler.emit.lower_data import collapse, copy_dispatch, lower_data
from pyree.compiler.onnx_import import import_model
from pyree.compiler.pipeline import compile_graph

from .helpers import F32, I64, TensorProto, helper, model

RNG = np.random.default_rng(7)


def consts(**arrays):
    return {k: np.asarray(v, np.int64) for k, v in arrays.items()}


CASES = {
    "concat-axis1": ([helper.make_node("Concat", ["a", "b", "c"], ["z"], axis=1)],
                     [("a", F32, [2, 3, 4]), ("b", F32, [2, 1, 4]), ("c", F32, [2, 2, 4])], {}),
    "concat-last-axis": ([helper.make_node("Concat", ["a", "b"], ["z"], axis=-1)],
                         [("a", F32, [3, 2]), ("b", F32, [3, 5])], {}),
    "concat-int64-empty-operand": ([helper.make_node("Concat", ["a", "b"], ["z"], axis=0)],
                                   [("a", I64, [0, 3]), ("b", I64, [2, 3])], {}),
    "slice-steps": ([helper.make_node("Slice", ["a", "s", "e", "ax", "st"], ["z"])],
                    [("a", F32, [5, 6, 7])],
                    consts(s=[1, 0, 2], e=[5, 5, 7], ax=[0, 1, 2], st=[2, 3, 1])),
    "pad-constant-negative": ([helper.make_node("Pad", ["a", "p", "v"], ["z"])],
                              [("a", F32, [2, 3, 4])],
                              {**consts(p=[0, 1, -1, 1, 0, 2]),
                               "v": np.array(-2.5, np.float32)}),
    "pad-int-default": ([helper.make_node("Pad", ["a", "p"], ["z"])],
                        [("a", TensorProto.INT32, [3, 3])], consts(p=[1, 2, 0, 1])),
    "tile": ([helper.make_node("Tile", ["a", "r"], ["z"])], [("a", F32, [2, 3, 1])],
             consts(r=[2, 1, 4])),
}


def compiled(nodes, inputs, inits):
    m = model(nodes, inputs, [("z", F32, None)], inits, opset=18)
    m.graph.output[0].type.tensor_type.elem_type = 0
    return compile_graph(import_model(m))


def feeds(graph):
    out = []
    for name in graph.inputs:
        t = graph.types[name]
        a = RNG.standard_normal(t.shape) * 10
        out.append(a.astype(np.float32) if t.dtype == "f32" else a.astype(
            {"i64": np.int64, "i32": np.int32}[t.dtype]))
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_data_region_runs_as_copies_and_matches_the_reference(case):
    c = compiled(*CASES[case])
    graph = c.partition.graph
    data = [r for r in c.partition.regions if r.kind == "data"]
    assert data
    for region in data:
        lowered = lower_data(region, graph)
        assert lowered is not None
        assert {d.function["body"]["kind"] for d in lowered.dispatches} <= {"copy", "fill"}
    x = feeds(graph)
    expected = reference.evaluate(graph, x)
    got = execute_lowered.run_partition(c.partition, x)
    assert not reference.allclose(expected, got, rtol=0, atol=0)


def test_one_description_per_type_and_rank():
    c1 = compiled(*CASES["concat-axis1"])
    c2 = compiled([helper.make_node("Concat", ["a", "b"], ["z"], axis=1)],
                  [("a", F32, [7, 5, 9]), ("b", F32, [7, 3, 9])], {})
    fns = set()
    for c in (c1, c2):
        for r in c.partition.regions:
            for d in lower_data(r, c.partition.graph).dispatches:
                fns.add(repr(d.function))
    assert len(fns) == 1


def test_negative_steps_are_left_to_the_host_library():
    c = compiled([helper.make_node("Slice", ["a", "s", "e", "ax", "st"], ["z"])],
                 [("a", F32, [6])], consts(s=[5], e=[-7], ax=[0], st=[-2]))
    region = next(r for r in c.partition.regions if r.kind == "data")
    assert lower_data(region, c.partition.graph) is None
    x = feeds(c.partition.graph)
    got = execute_lowered.run_partition(c.partition, x)      # through the fallback
    assert np.array_equal(got[0], x[0][::-2])


def test_collapse_merges_dims_contiguous_in_both_views():
    assert collapse([2, 3, 4], [12, 4, 1], [12, 4, 1]) == ([24], [1], [1])
    assert collapse([2, 1, 3, 4], [20, 99, 4, 1], [12, 12, 4, 1]) == ([2, 12], [20, 1],
                                                                      [12, 1])
    assert copy_dispatch("f32", [2], [-1], 1, [1], 0, "a", "b", "") is None


@pytest.mark.parametrize("size,shape", [(4, [2, 7, 3, 4])])
def test_lrn_runs_as_numba_bodies_and_matches_the_reference(size, shape):
    from pyree.compiler.emit.lower_norm import lower_lrn

    c = compiled([helper.make_node("LRN", ["a"], ["z"], size=size, alpha=2e-2, beta=0.75,
                                   bias=1.5)], [("a", F32, shape)], {})
    graph = c.partition.graph
    region = next(r for r in c.partition.regions if r.kind == "normalization")
    lowered = lower_lrn(region, graph)
    assert [d.function["body"]["kind"] for d in lowered.dispatches] == \
        ["fill", "elementwise", "elementwise"]
    x = feeds(graph)
    expected = reference.evaluate(graph, x)
    got = execute_lowered.run_partition(c.partition, x)
    assert not reference.allclose(expected, got, rtol=1e-6, atol=1e-7)


NORMS = {
    "instance": ([helper.make_node("InstanceNormalization", ["a", "s", "b"], ["z"],
                                   epsilon=1e-3)],
                 [("a", F32, [2, 3, 4, 5]), ("s", F32, [3]), ("b", F32, [3])]),
    "layer-two-axes": ([helper.make_node("LayerNormalization", ["a", "s", "b"], ["z"],
                                         axis=1)],
                       [("a", F32, [4, 3, 5]), ("s", F32, [3, 5]), ("b", F32, [3, 5])]),
    "layer-no-bias": ([helper.make_node("LayerNormalization", ["a", "s"], ["z"], axis=-1)],
                      [("a", F32, [2, 3, 8]), ("s", F32, [8])]),
}


@pytest.mark.parametrize("case", sorted(NORMS))
def test_instance_and_layer_norm_run_as_numba_bodies(case):
    from pyree.compiler.emit.lower_norm import lower_instance_or_layer_norm

    c = compiled(*NORMS[case], {})
    graph = c.partition.graph
    region = next(r for r in c.partition.regions if r.kind == "normalization")
    lowered = lower_instance_or_layer_norm(region, graph)
    assert [d.function["body"]["kind"] for d in lowered.dispatches] == \
        ["reduce", "elementwise", "reduce", "elementwise"]
    x = feeds(graph)
    expected = reference.evaluate(graph, x)
    got = execute_lowered.run_partition(c.partition, x)
    assert not reference.allclose(expected, got, rtol=1e-4, atol=1e-5)
