"""ONNX graph strategies (pyree.testing.onnx_strategies) and the ``onnx`` fuzz target
(pyree.compiler.fuzz): drawn graphs are valid with the shapes the strategy tracked, the
compiler agrees with onnxruntime on them, and failures save and replay."""

from __future__ import annotations

import io

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from onnx import helper
from pyree.compiler import fuzz

from pyree.testing import campaign, onnx_graphs, regressions, targets
from pyree.testing import onnx_strategies as ostr


def _shapes(values):
    return [(v.name, v.type.tensor_type.elem_type,
             tuple(d.dim_value for d in v.type.tensor_type.shape.dim)) for v in values]


@settings(max_examples=40)
@given(onnx_graphs(dtypes=ostr.DTYPES, max_nodes=8))
def test_drawn_graphs_are_valid_with_the_tracked_shapes(case):
    onnx.checker.check_model(case.model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(case.model, strict_mode=True)
    assert _shapes(inferred.graph.output) == _shapes(case.model.graph.output)
    assert [a.shape for a in case.inputs] == [s for _, _, s in _shapes(case.model.graph.input)]


@settings(max_examples=25)
@given(onnx_graphs(families={"conv", "pool"}, max_nodes=3))
def test_conv_and_pool_graphs_are_valid(case):
    onnx.checker.check_model(case.model, full_check=True)
    onnx.shape_inference.infer_shapes(case.model, strict_mode=True)
    assert set(case.ops) <= ostr.FAMILIES["conv"] | ostr.FAMILIES["pool"] | {"Neg"}


@settings(max_examples=40)
@given(onnx_graphs(dtypes=ostr.DTYPES, max_nodes=5))
def test_compiled_graphs_agree_with_onnxruntime_under_the_reference_evaluator(case):
    fuzz.check_case(case.model, case.inputs, "reference")


_UNARY_ATTRIBUTES = {"LeakyRelu": {"alpha": 0.1}, "Elu": {"alpha": 0.1},
                     "HardSigmoid": {"alpha": 0.2, "beta": 0.5}}


@pytest.mark.parametrize("name", sorted(
    n for n, o in ostr.OPS.items() if o.family == "elementwise"
    and n not in {"Clip", "Add", "Sub", "Mul", "Div", "Max", "Min"}))
def test_some_oracle_runs_every_unary_op_the_strategy_may_draw(name):
    """Every (op, dtype, rank 0 or 1) a graph may contain has an oracle: onnxruntime, or
    onnx's reference evaluator where onnxruntime has no kernel (a 0-d float64 Softsign
    has neither, so the strategy never draws it)."""
    builder = ostr.OPS[name]
    drawable = 0
    for dtype in builder.dtypes:
        for shape in [(), (2,)]:
            if not builder.applies(ostr.Value("x", shape, dtype, True)):
                continue
            drawable += 1
            tensor = [helper.make_tensor_value_info(n, ostr._ELEM[dtype], list(shape))
                      for n in "xy"]
            node = helper.make_node(name, ["x"], ["y"], **_UNARY_ATTRIBUTES.get(name, {}))
            model = helper.make_model(helper.make_graph([node], "g", tensor[:1], tensor[1:]),
                                      opset_imports=[helper.make_opsetid("", 17)])
            _, (out,) = fuzz.oracle(model, [np.ones(shape, dtype)])
            assert out.shape == shape
    assert drawable >= 2


def test_no_zero_d_float64_softsign_is_drawn():
    applies = ostr.OPS["Softsign"].applies
    assert not applies(ostr.Value("x", (), "float64", True))
    assert applies(ostr.Value("x", (), "float32", True))
    assert applies(ostr.Value("x", (3,), "float64", True))


@settings(max_examples=6, deadline=None, derandomize=True)
@given(onnx_graphs(dtypes=("float32", "int64"), max_nodes=4))
def test_compiled_graphs_agree_with_onnxruntime(case):
    """The property of the ``onnx`` campaign, compiled and run on local-sync (a few
    derandomized examples: each new graph compiles kernels)."""
    fuzz.check_case(case.model, case.inputs, "compiled")


def test_every_family_and_dtype_is_drawn():
    seen_ops, seen_dtypes = set(), set()

    @settings(max_examples=150, derandomize=True, database=None)
    @given(onnx_graphs(dtypes=ostr.DTYPES))
    def collect(case):
        seen_ops.update(case.ops)
        seen_dtypes.update(a.dtype.name for a in case.inputs)

    collect()
    assert seen_dtypes == set(ostr.DTYPES)
    assert {ostr.OPS[o].family for o in seen_ops if o in ostr.OPS} == set(ostr.FAMILIES)


def test_options_are_checked():
    with pytest.raises(ValueError, match="unknown ops"):
        onnx_graphs(ops=["NoSuchOp"])
    with pytest.raises(ValueError, match="unknown dtype"):
        onnx_graphs(dtypes=("float16",))


def test_compare_scales_the_tolerance_and_reports_the_worst_element():
    e = np.array([1000.0, 1e-6], np.float32)
    assert ostr.compare([e], [e + np.float32(0.05)]) == []  # atol scales with magnitude
    problems = ostr.compare([e], [np.array([1000.0, 1.0], np.float32)])
    assert len(problems) == 1 and "element (1,)" in problems[0]
    assert ostr.compare([np.array([1, 2])], [np.array([1, 3])]) != []  # integers: exact
    assert ostr.compare([np.array([np.nan])], [np.array([np.nan])]) == []


def _model(node, x_shape=(2, 3)):
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, x_shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def test_a_wrong_answer_is_a_mismatch_failure(monkeypatch):
    model = _model(helper.make_node("Relu", ["x"], ["y"], name="r"))
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    fuzz.check_case(model, [x], "reference")
    monkeypatch.setattr(fuzz, "run_pyree", lambda m, i, mode: [np.abs(i[0])])
    with pytest.raises(targets.Failure) as info:
        fuzz.check_case(model, [x], "reference")
    assert info.value.signature == "mismatch-float32-Relu"


def test_a_failure_saves_and_replays_through_the_target(tmp_path):
    target = targets.get("onnx")
    assert target is fuzz.TARGET
    model = _model(helper.make_node("Tanh", ["x"], ["y"], name="t"))
    case = ostr.OnnxCase(model, (np.full((2, 3), 0.5, np.float32),))
    record, inputs = target.record(case, targets.Failure("example", "example"))
    path = regressions.save(tmp_path, record, **inputs)
    rep = regressions.load(path)
    assert rep.target == "onnx" and rep.data == model.SerializeToString()
    np.testing.assert_array_equal(fuzz.decode_array(rep.record["inputs"][0]), case.inputs[0])
    regressions.replay(path)  # pyree computes tanh right: the replay passes


def test_a_short_campaign_runs(tmp_path):
    target = fuzz.OnnxTarget("onnx", "reference mode", mode="reference",
                             ops=["Add", "Relu", "Transpose"], max_nodes=3)
    summary = campaign.run(target, 2.0, tmp_path, chunk=5, seed=3, stream=io.StringIO())
    assert summary.examples > 0 and summary.failures == 0
