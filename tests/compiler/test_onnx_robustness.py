"""Malformed models only ever raise pyree's own errors (property over mutated node cases):
operands dropped or added, attributes and input dimensions changed at random."""

import copy
import warnings

import numpy as np
import onnx
from hypothesis import given, settings
from hypothesis import strategies as st
from pyree.compiler import testsuite
from pyree.compiler.onnx_import import import_model
from pyree.compiler.pipeline import compile_graph

from pyree.status import PyreeError


def _mutate(draw, model):
    node = draw(st.sampled_from(list(model.graph.node)))
    what = draw(st.sampled_from(["drop", "attr", "dim", "extra"]))
    if what == "drop" and node.input:
        node.input[draw(st.integers(0, len(node.input) - 1))] = ""
    elif what == "attr" and node.attribute:
        a = draw(st.sampled_from(list(node.attribute)))
        if a.type == onnx.AttributeProto.INT:
            a.i = draw(st.sampled_from([-5, -1, 0, 1, 2, 7, 1000]))
        elif a.type == onnx.AttributeProto.INTS and a.ints:
            a.ints[draw(st.integers(0, len(a.ints) - 1))] = draw(st.sampled_from([-3, 0, 5]))
        elif a.type == onnx.AttributeProto.FLOAT:
            a.f = draw(st.sampled_from([0.0, -1.0, float("nan")]))
    elif what == "dim" and len(model.graph.input):
        dims = draw(st.sampled_from(list(model.graph.input))).type.tensor_type.shape.dim
        if dims:
            dims[draw(st.integers(0, len(dims) - 1))].dim_value = draw(
                st.sampled_from([0, 1, 3, 7]))
    else:
        node.input.append(node.input[0] if node.input else "nothing")


@settings(deadline=None)
@given(st.data())
def test_mutated_models_raise_only_pyree_errors(data):
    case = data.draw(st.sampled_from(testsuite.node_cases()))
    model = copy.deepcopy(case.model)
    _mutate(data.draw, model)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            compile_graph(import_model(model))
    except PyreeError:
        pass
