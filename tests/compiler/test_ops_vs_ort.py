"""Op references against onnxruntime, an oracle independent of onnx's own numpy code:
random shapes and attributes for the ops real models lean on."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from onnx import helper
from pyree.compiler import reference
from pyree.compiler.onnx_import import import_model
from pyree.compiler.pipeline import compile_graph

from .helpers import F32, model

ort = pytest.importorskip("onnxruntime")


def _check(node, shapes, initializers=None, opset=17, rtol=1e-4, atol=1e-5, seed=0):
    rng = np.random.default_rng(seed)
    inits = {k: v for k, v in (initializers or {}).items()}
    names = [n for n in node.input if n and n not in inits]
    feeds = {n: rng.standard_normal(s).astype(np.float32) for n, s in zip(names, shapes)}
    m = model([node], [(n, F32, list(feeds[n].shape)) for n in names],
              [(o, F32, None) for o in node.output], inits, opset=opset)
    session = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    want = session.run(None, feeds)
    compiled = compile_graph(import_model(m))
    got = reference.evaluate_planned(compiled.partition, compiled.plan,
                                     [feeds[n] for n in names])
    assert reference.allclose(want, got, rtol=rtol, atol=atol) == []


@settings(deadline=None)
@given(st.data())
def test_conv(data):
    d = data.draw
    group = d(st.sampled_from([1, 2]))
    cin, cout = group * d(st.integers(1, 3)), group * d(st.integers(1, 3))
    k = (d(st.integers(1, 3)), d(st.integers(1, 3)))
    hw = (d(st.integers(4, 9)), d(st.integers(4, 9)))
    attrs = {"group": group, "strides": [d(st.integers(1, 2)), d(st.integers(1, 2))],
                 "dilations": [d(st.integers(1, 2)), 1]}
    if d(st.booleans()):
        attrs["auto_pad"] = d(st.sampled_from(["SAME_UPPER", "SAME_LOWER", "VALID"]))
        if attrs["auto_pad"] != "VALID":
            attrs["dilations"] = [1, 1]
    else:
        attrs["pads"] = [d(st.integers(0, 1)) for _ in range(4)]
    assume(hw[0] >= (k[0] - 1) * attrs["dilations"][0] + 1 and hw[1] >= k[1])
    w = np.random.default_rng(1).standard_normal((cout, cin // group) + k).astype(np.float32)
    inputs = ["x", "w"] + (["b"] if d(st.booleans()) else [])
    node = helper.make_node("Conv", inputs, ["y"], **attrs)
    _check(node, [(2, cin) + hw], {"w": w, "b": np.arange(cout, dtype=np.float32)})


@settings(deadline=None)
@given(st.data())
def test_pooling(data):
    d = data.draw
    op = d(st.sampled_from(["MaxPool", "AveragePool"]))
    k = [d(st.integers(1, 3)), d(st.integers(1, 3))]
    attrs = {"kernel_shape": k, "strides": [d(st.integers(1, 3)), d(st.integers(1, 2))],
                 "pads": [d(st.integers(0, k[0] - 1)), d(st.integers(0, k[1] - 1)),
                       d(st.integers(0, k[0] - 1)), d(st.integers(0, k[1] - 1))],
                 "ceil_mode": d(st.integers(0, 1))}
    if op == "AveragePool":
        attrs["count_include_pad"] = d(st.integers(0, 1))
    node = helper.make_node(op, ["x"], ["y"], **attrs)
    _check(node, [(1, 2, d(st.integers(3, 8)), d(st.integers(3, 8)))])


@pytest.mark.parametrize("attrs", [{}, {"transA": 1}, {"transB": 1, "alpha": 0.5},
                                   {"beta": 2.0}])
def test_gemm(attrs):
    a = (5, 3) if attrs.get("transA") else (3, 5)
    b = (4, 5) if attrs.get("transB") else (5, 4)
    node = helper.make_node("Gemm", ["a", "b", "c"], ["y"], **attrs)
    _check(node, [a, b, (4,)])


@pytest.mark.parametrize("op, attrs, shapes", [
    ("LRN", {"size": 3}, [(1, 5, 4, 4)]),
    ("LRN", {"size": 5, "alpha": 0.01, "beta": 0.5, "bias": 2.0}, [(2, 6, 3, 3)]),
    ("InstanceNormalization", {}, [(2, 3, 4, 4), (3,), (3,)]),
    ("LayerNormalization", {"axis": -1}, [(2, 3, 4), (4,), (4,)]),
    ("Softmax", {"axis": 1}, [(2, 3, 4)]),
    ("LogSoftmax", {"axis": -1}, [(2, 3, 4)]),
    ("ConvTranspose", {"strides": [2, 2], "pads": [1, 0, 1, 0]}, [(1, 2, 4, 4), (2, 3, 3, 3)]),
    ("ConvTranspose", {"group": 2, "output_padding": [1, 1], "strides": [2, 2]},
     [(1, 4, 3, 3), (4, 1, 2, 2)]),
    ("MatMul", {}, [(2, 1, 3, 4), (3, 4, 5)]),
    ("GlobalAveragePool", {}, [(2, 3, 5, 5)]),
    ("Gelu", {}, [(3, 4)]),
    ("HardSwish", {}, [(3, 4)]),
])
def test_ops(op, attrs, shapes):
    inputs = [f"i{k}" for k in range(len(shapes))]
    opset = 20 if op == "Gelu" else 17
    _check(helper.make_node(op, inputs, ["y"], **attrs), shapes, opset=opset)


@pytest.mark.parametrize("attrs, scales", [
    ({"mode": "nearest"}, [1, 1, 2, 3]),
    ({"mode": "linear"}, [1, 1, 0.5, 1.5]),
    ({"mode": "cubic", "coordinate_transformation_mode": "align_corners"}, [1, 1, 2, 0.75]),
    ({"mode": "linear", "coordinate_transformation_mode": "asymmetric"}, [1, 1, 1.5, 2]),
    ({"mode": "nearest", "nearest_mode": "floor",
      "coordinate_transformation_mode": "half_pixel"}, [1, 1, 0.5, 0.5]),
])
def test_resize_with_constant_scales(attrs, scales):
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], **attrs)
    _check(node, [(1, 2, 6, 4)], {"scales": np.array(scales, np.float32)}, opset=19)


@pytest.mark.parametrize("op, gates, attrs", [
    ("LSTM", 4, {"direction": "bidirectional"}),
    ("GRU", 3, {"direction": "reverse", "linear_before_reset": 1}),
    ("GRU", 3, {"direction": "forward"}),
    ("RNN", 1, {"direction": "bidirectional", "activations": ["Relu", "Tanh"]}),
])
def test_recurrent_ops_unrolled(op, gates, attrs):
    seq, batch, inp, hidden = 3, 2, 4, 5
    dirs = 2 if attrs["direction"] == "bidirectional" else 1
    rng = np.random.default_rng(3)
    inits = {"w": rng.standard_normal((dirs, gates * hidden, inp)).astype(np.float32),
             "r": rng.standard_normal((dirs, gates * hidden, hidden)).astype(np.float32),
             "b": rng.standard_normal((dirs, 2 * gates * hidden)).astype(np.float32)}
    node = helper.make_node(op, ["x", "w", "r", "b", "", "h0"], ["y", "yh"],
                            hidden_size=hidden, **attrs)
    _check(node, [(seq, batch, inp), (dirs, batch, hidden)], inits, opset=14)


# bicubic + border is left out on purpose: onnx's reference (the node tests) clamps the
# source coordinate before taking the 4 taps, onnxruntime (like PyTorch) clamps only the
# taps; pyree follows onnx, which the node tests check.
@pytest.mark.parametrize("mode,padding", [
    (m, p) for m in ("bilinear", "nearest", "bicubic") for p in ("zeros", "border", "reflection")
    if (m, p) != ("bicubic", "border")])
@pytest.mark.parametrize("align", [0, 1])
def test_grid_sample(mode, padding, align):
    node = helper.make_node("GridSample", ["x", "g"], ["y"], mode=mode, padding_mode=padding,
                            align_corners=align)
    _check(node, [(1, 2, 4, 5), (1, 3, 6, 2)], opset=16, rtol=1e-3, atol=1e-4)
