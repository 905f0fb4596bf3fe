"""Buffer planning: transients share one arena by liveness; no two live values overlap."""

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper
from pyree.compiler import reference, testsuite
from pyree.compiler.onnx_import import import_model
from pyree.compiler.passes.buffer_plan import ALIGNMENT, Slot
from pyree.compiler.pipeline import compile_graph

from pyree.status import InternalError

from .helpers import F32, model

UNARY = ["Relu", "Neg", "Exp", "Tanh"]


def _pairwise_disjoint_when_live(plan):
    roots = plan.roots()
    for a, sa in roots.items():
        for b, sb in roots.items():
            if a < b and sa.start <= sb.end and sb.start <= sa.end:
                assert (sa.offset + sa.size <= sb.offset or sb.offset + sb.size <= sa.offset), \
                    (a, sa, b, sb)


@st.composite
def random_models(draw):
    """A random DAG of unary/binary/transpose/softmax/reduce nodes over [4, 6] tensors."""
    values = ["x"]
    nodes = []
    shapes = {"x": (4, 6)}
    for i in range(draw(st.integers(2, 14))):
        kind = draw(st.sampled_from(["unary", "binary", "transpose", "softmax", "reduce"]))
        src = draw(st.sampled_from(values))
        out = f"v{i}"
        if kind == "unary":
            nodes.append(helper.make_node(draw(st.sampled_from(UNARY)), [src], [out]))
            shapes[out] = shapes[src]
        elif kind == "binary":
            other = draw(st.sampled_from([v for v in values if shapes[v] == shapes[src]]))
            nodes.append(helper.make_node(draw(st.sampled_from(["Add", "Mul", "Sub"])),
                                          [src, other], [out]))
            shapes[out] = shapes[src]
        elif kind == "transpose":
            nodes.append(helper.make_node("Transpose", [src], [out], perm=[1, 0]))
            shapes[out] = shapes[src][::-1]
        elif kind == "softmax":
            nodes.append(helper.make_node("Softmax", [src], [out], axis=-1))
            shapes[out] = shapes[src]
        else:
            nodes.append(helper.make_node("ReduceSum", [src], [out], keepdims=1, axes=[0]))
            shapes[out] = (1, shapes[src][1])
        values.append(out)
    outputs = draw(st.lists(st.sampled_from(values[1:]), min_size=1, max_size=3,
                            unique=True))
    return model(nodes, [("x", F32, [4, 6])], [(o, F32, None) for o in outputs], opset=11)


@settings(deadline=None)
@given(random_models())
def test_planned_arena_never_overlaps_live_values_and_computes_the_same(m):
    compiled = compile_graph(import_model(m))
    plan = compiled.plan
    plan.verify()
    _pairwise_disjoint_when_live(plan)
    for slot in plan.slots.values():
        assert slot.offset % ALIGNMENT == 0 and slot.offset + slot.size <= plan.arena_size
    x = np.random.default_rng(1).standard_normal((4, 6)).astype(np.float32)
    want = reference.evaluate(compiled.graph, [x])
    got = reference.evaluate_planned(compiled.partition, plan, [x])
    assert reference.allclose(want, got, rtol=1e-6) == []


def test_a_region_never_writes_over_its_own_inputs():
    nodes = [helper.make_node("Softmax", ["x"], ["a"]),
             helper.make_node("Softmax", ["a"], ["b"]),
             helper.make_node("Softmax", ["b"], ["c"]),
             helper.make_node("Softmax", ["c"], ["y"])]
    plan = compile_graph(import_model(model(nodes, [("x", F32, [8, 8])],
                                            [("y", F32, None)]))).plan
    a, b, c = plan.slots["a"], plan.slots["b"], plan.slots["c"]
    assert a.offset != b.offset and b.offset != c.offset
    assert a.offset == c.offset  # a is dead once b exists: its bytes are reused
    assert plan.arena_size == 2 * 256 and plan.unshared_size == 3 * 256


def test_views_alias_their_source_and_extend_its_lifetime():
    nodes = [helper.make_node("Exp", ["x"], ["a"]),
             helper.make_node("Reshape", ["a", "shape"], ["r"]),
             helper.make_node("Neg", ["x"], ["n"]),
             helper.make_node("Reshape", ["n", "shape"], ["n2"]),
             helper.make_node("Softmax", ["r"], ["s"], axis=-1),
             helper.make_node("Softmax", ["n2"], ["t"], axis=-1),
             helper.make_node("Add", ["s", "t"], ["y"])]
    m = model(nodes, [("x", F32, [4, 6])], [("y", F32, None)],
              {"shape": np.array([2, 12], np.int64)}, opset=13)
    compiled = compile_graph(import_model(m))
    plan = compiled.plan
    plan.verify()
    assert plan.slots["r"].alias_of == "a" and plan.slots["r"].offset == plan.slots["a"].offset
    assert plan.slots["a"].end >= max(r.index for r in compiled.partition.regions
                                      if "r" in r.inputs)


def test_verify_rejects_overlapping_live_slots():
    nodes = [helper.make_node("Softmax", ["x"], ["a"]),
             helper.make_node("Softmax", ["a"], ["b"]),
             helper.make_node("Add", ["a", "b"], ["y"])]
    plan = compile_graph(import_model(model(nodes, [("x", F32, [8, 8])],
                                            [("y", F32, None)]))).plan
    broken = dict(plan.slots)
    broken["b"] = attrs.evolve(broken["b"], offset=broken["a"].offset)
    with pytest.raises(InternalError, match="overlaps"):
        attrs.evolve(plan, slots=broken).verify()
    assert isinstance(plan.slots["a"], Slot)


def test_squeezenet_plan_reuses_memory_and_runs_in_the_arena():
    path, inputs, expected = testsuite.light_case("squeezenet")
    compiled = compile_graph(import_model(path))
    plan = compiled.plan
    _pairwise_disjoint_when_live(plan)
    assert plan.arena_size < plan.unshared_size / 3
    got = reference.evaluate_planned(compiled.partition, plan, inputs)
    assert reference.allclose(expected, got) == []
