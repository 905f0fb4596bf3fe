"""Builders for small ONNX models used by the compiler tests."""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def model(nodes, inputs, outputs, initializers=(), opset=17):
    """inputs/outputs: [(name, elem_type, shape)]; initializers: {name: array}."""
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        [numpy_helper.from_array(np.asarray(a), n) for n, a in dict(initializers).items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


F32 = TensorProto.FLOAT
I64 = TensorProto.INT64
__all__ = ["F32", "I64", "helper", "model", "onnx"]
