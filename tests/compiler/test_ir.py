"""The tensor IR: frozen nodes and attributes, topological order, verification."""

import numpy as np
import pytest
from pyree.compiler.ir import Attributes, Graph, Node, TensorType
from pyree.compiler.verify import verify

from pyree.status import InvalidArgumentError


def _graph():
    g = Graph("t")
    g.add_input("x", TensorType("f32", (2, 3)))
    g.add_constant("c", np.ones((3,), np.float32))
    g.types["y"] = TensorType("f32", (2, 3))
    g.types["z"] = TensorType("f32", (2, 3))
    g.nodes = [Node("add", ("x", "c"), ("y",), name="a"), Node("relu", ("y",), ("z",))]
    g.outputs = ["z"]
    return g


def test_nodes_and_attributes_are_frozen_and_hashable():
    a = Attributes.of(perm=[1, 0], alpha=np.float32(0.5))
    assert a["perm"] == (1, 0) and isinstance(a["alpha"], float)
    n = Node("transpose", ["x"], ["y"], a)
    assert hash(n) == hash(Node("transpose", ("x",), ("y",), Attributes.of(perm=(1, 0),
                                                                          alpha=0.5)))
    with pytest.raises(AttributeError):
        n.op = "relu"
    with pytest.raises(InvalidArgumentError):
        Attributes.of(t=np.zeros(3))


def test_constants_are_read_only():
    g = _graph()
    with pytest.raises(ValueError):
        g.constants["c"][0] = 2


def test_a_valid_graph_verifies_and_toposort_restores_order():
    g = _graph()
    verify(g)
    g.nodes.reverse()
    with pytest.raises(InvalidArgumentError, match="not defined before use"):
        verify(g)
    g.toposort()
    verify(g)


@pytest.mark.parametrize("breakage, message", [
    (lambda g: g.nodes.append(Node("relu", ("y",), ("z",))), "defined twice"),
    (lambda g: g.nodes.append(Node("frobnicate", ("y",), ("w",))), "unknown op"),
    (lambda g: g.types.__setitem__("z", TensorType("f32", (3, 2))), "op infers"),
    (lambda g: g.types.__setitem__("y", TensorType("f32", (2, -1))), "negative"),
    (lambda g: g.outputs.append("nope"), "not defined"),
    (lambda g: g.types.__setitem__("c", TensorType("i32", (3,))), "recorded as"),
])
def test_verification_names_what_is_wrong(breakage, message):
    g = _graph()
    breakage(g)
    with pytest.raises(InvalidArgumentError, match=message):
        verify(g)


def test_tensor_type_properties():
    t = TensorType("f16", [2, 3])
    assert t.shape == (2, 3) and t.size == 6 and t.nbytes == 12 and str(t) == "tensor<2x3xf16>"
