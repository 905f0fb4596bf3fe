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
    """A random DAG of unary/binary/transpose/softmax/reduce/concat nodes from [4, 6]."""
    values = ["x"]
    nodes = []
    shapes = {"x": (4, 6)}
    for i in range(draw(st.integers(2, 14))):
        kind = draw(st.sampled_from(["unary", "binary", "transpose", "softmax", "reduce",
                                     "concat"]))
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
        elif kind == "concat":  # along axis 0: operands may be written in place
            others = [v for v in values if shapes[v][1:] == shapes[src][1:]]
            picked = [src] + draw(st.lists(st.sampled_from(others), min_size=1, max_size=3))
            nodes.append(helper.make_node("Concat", picked, [out], axis=0))
            shapes[out] = (sum(shapes[v][0] for v in picked),) + shapes[src][1:]
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
        # roots are 64-byte aligned; values inside a root (concat operands) element-aligned
        align = ALIGNMENT if slot.alias_of is None else 4
        assert slot.offset % align == 0 and slot.offset + slot.size <= plan.arena_size
    x = np.random.default_rng(1).standard_normal((4, 6)).astype(np.float32)
    want = reference.evaluate(compiled.graph, [x])
    got = reference.evaluate_planned(compiled.partition, plan, [x])
    # numpy's float32 sums depend on the data's alignment by an ulp or so: not a bug
    assert reference.allclose(want, got, rtol=1e-5) == []


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


def test_concat_operands_are_written_in_place_and_nested_concats_nest():
    nodes = [helper.make_node("Softmax", ["x"], ["a"]),
             helper.make_node("Softmax", ["a"], ["b"]),
             helper.make_node("Concat", ["a", "b"], ["c1"], axis=1),
             helper.make_node("Softmax", ["c1"], ["d"]),
             helper.make_node("Concat", ["c1", "d", "x"], ["c2"], axis=1),
             helper.make_node("Softmax", ["c2"], ["y"])]
    m = model(nodes, [("x", F32, [1, 2, 4])], [("y", F32, None)], opset=13)
    compiled = compile_graph(import_model(m))
    plan = compiled.plan
    plan.verify()
    c2 = plan.slots["c2"]
    assert c2.alias_of is None
    for name, inner in (("c1", 0), ("a", 0), ("b", 32), ("d", 64)):
        assert plan.slots[name].alias_of == "c2" and plan.slots[name].writes
        assert plan.slots[name].offset == c2.offset + inner
    x = np.random.default_rng(2).standard_normal((1, 2, 4)).astype(np.float32)
    want = reference.evaluate(compiled.graph, [x])
    assert reference.allclose(want, reference.evaluate_planned(compiled.partition, plan,
                                                               [x]), rtol=1e-6) == []


def test_squeezenet_plan_reuses_memory_and_runs_in_the_arena():
    path, inputs, expected = testsuite.light_case("squeezenet")
    compiled = compile_graph(import_model(path))
    plan = compiled.plan
    _pairwise_disjoint_when_live(plan)
    assert plan.arena_size < plan.unshared_size / 3
    got = reference.evaluate_planned(compiled.partition, plan, inputs)
    assert reference.allclose(expected, got) == []
