"""pyree.onnx.backend under ONNX's own backend test runner, plus its API.

``onnx.backend.test.BackendTest(pyree.onnx.backend, __name__)`` generates one unittest
method per ONNX test case; this module keeps only a curated fast subset of CPU cases
known to pass (NODE_CASES: many op families, compiled and run on local-sync) and one
real model (light_squeezenet), so CI stays short. The whole suite runs with
``python -m pyree.compiler.backend_coverage --models`` (docs/onnx-coverage.md).
"""

from __future__ import annotations

import unittest

import numpy as np
import onnx
import onnx.backend.test
import pytest
from onnx import TensorProto, helper

from pyree.onnx import backend
from pyree.status import InvalidArgumentError, UnimplementedError

NODE_CASES = """
abs add add_bcast add_int8 and_bcast3v1d argmax_keepdims_example argmin_default_axis_example
averagepool_2d_default averagepool_2d_pads_count_include_pad batchnorm_example
bitshift_left_int32 cast_FLOAT_to_DOUBLE cast_FLOAT_to_BFLOAT16 cast_BFLOAT16_to_FLOAT
cast_FLOAT_to_FLOAT8E4M3FN cast_FLOAT_to_FLOAT8E5M2 cast_FLOAT8E4M3FN_to_FLOAT ceil clip concat_2d_axis_1
conv_with_strides_padding convtranspose cumsum_2d_axis_1 depthtospace_example div
div_int32_trunc dropout_default einsum_batch_matmul elu equal_bcast erf expand_dim_changed
flatten_axis2 floor gather_0 gather_elements_0 gathernd_example_float32 gelu_tanh_1
gemm_transposeB globalaveragepool globalmaxpool greater_equal_bcast hardmax_axis_1
hardsigmoid identity instancenorm_example layer_normalization_2d_axis1 leakyrelu less_bcast
log logsoftmax_axis_1 matmul_2d matmul_3d max_example maxpool_2d_default mean_two_inputs
mod_broadcast mul_bcast neg not_3d onehot_with_axis or_bcast3v1d pow_bcast_array
prelu_broadcast range_float_type_positive_delta reciprocal
reduce_max_do_not_keepdims_example reduce_mean_default_axes_keepdims_random
reduce_min_bool_inputs reduce_sum_default_axes_keepdims_example relu reshape_negative_dim
reshape_allowzero_reordered round shape_end_1 sigmoid sign sin size slice
softmax_default_axis softplus spacetodepth_example split_equal_parts_1d_opset18 sqrt
squeeze_negative_axes sub_bcast sum_two_inputs tanh tile top_k top_k_uint64
transpose_all_permutations_3
tril unsqueeze_axis_1 where_example xor_bcast3v1d
""".split()  # noqa: SIM905 - a block of names reads best as text
REAL_MODELS = ["squeezenet"]


def _selected() -> dict[str, type]:
    """The BackendTest classes reduced to the chosen ``*_cpu`` methods (the runner marks
    every other case skipped; we do not generate them at all)."""
    wanted = {f"test_{name}_cpu" for name in NODE_CASES + REAL_MODELS}
    runner = onnx.backend.test.BackendTest(backend, __name__)
    classes = {}
    for name, cls in runner.test_cases.items():
        methods = {m: getattr(cls, m) for m in dir(cls) if m in wanted}
        if methods:
            classes[name] = type(name, (unittest.TestCase,), methods)
    found = {m for cls in classes.values() for m in dir(cls) if m.startswith("test_")}
    missing = wanted - found
    if missing:
        raise LookupError(f"no ONNX backend test named {sorted(missing)}")
    return classes


globals().update(_selected())


def test_the_subset_covers_many_op_families():
    assert len(NODE_CASES) >= 60
    stems = {name.split("_")[0] for name in NODE_CASES}
    assert len(stems) >= 25


def _model(nodes, inputs, outputs, inits=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _f32(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def test_prepare_run_by_position_and_by_name():
    model = _model([helper.make_node("Relu", ["x"], ["y"])], [_f32("x", [2, 2])],
                   [_f32("y", [2, 2])])
    x = np.array([[-1, 2], [3, -4]], np.float32)
    rep = backend.prepare(model)
    out = rep.run([x])
    np.testing.assert_array_equal(out[0], np.maximum(x, 0))
    np.testing.assert_array_equal(out["y"], np.maximum(x, 0))
    np.testing.assert_array_equal(rep.run({"x": x}).y, np.maximum(x, 0))
    with pytest.raises(InvalidArgumentError, match="takes 1 input"):
        rep.run([x, x])
    rep.close()


def test_run_model_serialized_and_on_local_task():
    model = _model([helper.make_node("Add", ["a", "b"], ["c"])],
                   [_f32("a", [3]), _f32("b", [3])], [_f32("c", [3])])
    a, b = np.ones(3, np.float32), np.arange(3, dtype=np.float32)
    (c,) = backend.run_model(model.SerializeToString(), [a, b], "local-task")
    np.testing.assert_array_equal(c, a + b)


def test_run_node_and_shape_inputs_specialized_at_run_time():
    node = helper.make_node("Reshape", ["x", "shape"], ["y"])
    x = np.arange(6, dtype=np.float32)
    (y,) = backend.run_node(node, [x, np.array([3, 2])])
    np.testing.assert_array_equal(y, x.reshape(3, 2))
    model = _model([node], [_f32("x", [6]),
                            helper.make_tensor_value_info("shape", TensorProto.INT64, [2])],
                   [_f32("y", None)])
    rep = backend.prepare(model)
    assert rep.specialized
    np.testing.assert_array_equal(rep.run([x, np.array([2, 3])])[0], x.reshape(2, 3))
    np.testing.assert_array_equal(rep.run([x, np.array([1, 6])])[0], x.reshape(1, 6))
    rep.close()


def test_unsupported_ops_are_unimplemented_naming_node_and_op():
    node = helper.make_node("MaxUnpool", ["x", "i"], ["y"], name="unpool_7", kernel_shape=[2, 2])
    model = _model([node], [_f32("x", [1, 1, 2, 2]),
                            helper.make_tensor_value_info("i", TensorProto.INT64, [1, 1, 2, 2])],
                   [_f32("y", None)])
    assert not backend.is_compatible(model)
    with pytest.raises(UnimplementedError, match="node 'unpool_7' \\(MaxUnpool\\)"):
        backend.prepare(model)


def test_devices():
    assert backend.supports_device("CPU") and backend.supports_device("local-task")
    assert not backend.supports_device("CUDA")
    model = _model([helper.make_node("Neg", ["x"], ["y"])], [_f32("x", [1])],
                   [_f32("y", [1])])
    assert backend.is_compatible(model) and not backend.is_compatible(model, "CUDA")
    with pytest.raises(InvalidArgumentError, match="unsupported device"):
        backend.prepare(model, "CUDA")
