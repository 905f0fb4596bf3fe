"""End to end: an MLP 784-128-10 (Gemm+Relu+Gemm+Softmax) compiled and run on both
drivers against onnxruntime."""

import numpy as np
import onnxruntime as ort
import pytest
from pyree.compiler import compile_model

from pyree.runtime import InferenceSession

from .helpers import F32, helper, model

DRIVERS = ("local-sync", "local-task")


def mlp_model(batch=4):
    rng = np.random.default_rng(7)
    weights = {"w1": rng.standard_normal((784, 128), dtype=np.float32) * 0.05,
               "b1": rng.standard_normal(128, dtype=np.float32) * 0.1,
               "w2": rng.standard_normal((128, 10), dtype=np.float32) * 0.1,
               "b2": rng.standard_normal(10, dtype=np.float32) * 0.1}
    return model([helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1"),
                  helper.make_node("Relu", ["h"], ["r"], name="relu1"),
                  helper.make_node("Gemm", ["r", "w2", "b2"], ["l"], name="fc2"),
                  helper.make_node("Softmax", ["l"], ["y"], axis=1, name="softmax")],
                 [("x", F32, [batch, 784])], [("y", F32, [batch, 10])], weights)


@pytest.fixture(scope="module")
def mlp():
    proto = mlp_model()
    return proto, compile_model(proto)


@pytest.mark.parametrize("driver", DRIVERS)
def test_mlp_matches_onnxruntime(mlp, driver):
    proto, data = mlp
    x = np.random.default_rng(1).standard_normal((4, 784), dtype=np.float32)
    expected = ort.InferenceSession(proto.SerializeToString(),
                                    providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    with InferenceSession(data, device=driver) as sess:
        (y,) = sess.run(None, {"x": x})
        (y2,) = sess.run(None, {"x": x})
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(y, y2)


def test_mlp_drivers_agree_exactly(mlp):
    _, data = mlp
    x = np.random.default_rng(2).standard_normal((4, 784), dtype=np.float32)
    results = []
    for driver in DRIVERS:
        with InferenceSession(data, device=driver) as sess:
            results.append(sess.run(None, {"x": x})[0])
    np.testing.assert_array_equal(results[0], results[1])
