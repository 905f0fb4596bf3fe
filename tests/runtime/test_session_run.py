"""``InferenceSession.run``: a feed of exactly the model's inputs runs ``main`` directly;
every other feed, and every output selection, answers as onnxruntime's API does here:
the same results, or the same error and message."""

from collections import OrderedDict

import numpy as np
import pytest
from onnx import TensorProto, helper
from pyree.compiler import compile_model

from pyree.runtime import InferenceSession
from pyree.status import InvalidArgumentError, NotFoundError


@pytest.fixture(scope="module")
def session():
    f = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [4]) for n in "abst"]
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["s"]),
                               helper.make_node("Mul", ["a", "b"], ["t"])], "g", f[:2], f[2:])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with InferenceSession(compile_model(model)) as s:
        yield s


A = np.arange(4, dtype=np.float32)
B = np.full(4, 3, np.float32)


@pytest.mark.parametrize("names", [None, ["t"], ("s", "t"), ["t", "s", "t"], "iter"])
def test_outputs_in_the_order_asked(session, names):
    want = {"s": A + B, "t": A * B}
    picked = iter(["t", "s"]) if names == "iter" else names
    expected = ["t", "s"] if names == "iter" else names or ["s", "t"]
    for feed in ({"a": A, "b": B}, {"b": B, "a": A}, OrderedDict(a=A, b=B)):
        for _ in range(2):      # the selection is cached after the first run
            got = session.run(iter(expected) if names == "iter" else picked, feed)
            assert len(got) == len(expected)
            for name, out in zip(expected, got):
                np.testing.assert_array_equal(out, want[name])


@pytest.mark.parametrize("feed, error, message", [
    ({"a": A}, InvalidArgumentError, "missing input(s) ['b']"),
    ({"a": A, "c": B}, InvalidArgumentError,
     "unknown input(s) ['c']; the model's inputs are ['a', 'b']"),
    ({"a": A, "b": B, "c": B}, InvalidArgumentError,
     "unknown input(s) ['c']; the model's inputs are ['a', 'b']"),
    ({"c": A, "d": B}, InvalidArgumentError,
     "unknown input(s) ['c', 'd']; the model's inputs are ['a', 'b']"),
    ({}, InvalidArgumentError, "missing input(s) ['a', 'b']")])
def test_feeds_other_than_the_inputs_are_refused(session, feed, error, message):
    for _ in range(2):
        with pytest.raises(error) as info:
            session.run(None, feed)
        assert info.value.message == message


@pytest.mark.parametrize("names, message", [
    (["s", "q"], "no output named 'q'; the model's outputs are ['s', 't']"),
    ([["s"]], "no output named '['s']'; the model's outputs are ['s', 't']")])
def test_unknown_outputs_are_not_found(session, names, message):
    for _ in range(2):
        with pytest.raises(NotFoundError) as info:
            session.run(names, {"a": A, "b": B})
        assert info.value.message == message
