"""``lower_pool`` (``compiler/emit/lower_conv.py``) marks a pool body ``whole_planes``
(spec/executables.md 6.6) exactly when the pool is 2-D, of stride 1 and dilation 1, and its
output plane has the input's shape: the kernel then has the plane pass, every other pool a
kernel without it. Flat pools run through the lowered dispatch match the reference
evaluator.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper
from pyree.compiler import reference
from pyree.compiler.emit import execute_lowered
from pyree.compiler.emit.lower_conv import lower_pool
from pyree.compiler.onnx_import import import_model
from pyree.compiler.pipeline import compile_graph

from .helpers import F32, model

POOLS = {   # ONNX op, x shape, attributes, whole_planes
    "max-3x3-same": ("MaxPool", (1, 3, 7, 9), {"kernel_shape": [3, 3],
                                                "pads": [1, 1, 1, 1]}, True),
    "average-3x3-same": ("AveragePool", (2, 2, 5, 6), {"kernel_shape": [3, 3],
                                                        "pads": [1, 1, 1, 1]}, True),
    "average-cip-same": ("AveragePool", (1, 2, 6, 6), {"kernel_shape": [3, 3],
                                                        "pads": [1, 1, 1, 1],
                                                        "count_include_pad": 1}, True),
    "lp-same": ("LpPool", (1, 2, 5, 5), {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, True),
    "max-4x2-uneven-pads": ("MaxPool", (1, 2, 8, 5), {"kernel_shape": [4, 2],
                                                      "pads": [1, 0, 2, 1]}, True),
    "max-same-upper": ("MaxPool", (1, 2, 6, 7), {"kernel_shape": [3, 3],
                                                 "auto_pad": "SAME_UPPER"}, True),
    "max-ceil-stride-1": ("MaxPool", (1, 2, 6, 6), {"kernel_shape": [3, 3],
                                                    "pads": [1, 1, 1, 1], "ceil_mode": 1},
                          True),
    "average-1x1": ("AveragePool", (1, 2, 4, 5), {"kernel_shape": [1, 1]}, True),
    "max-stride-2": ("MaxPool", (1, 2, 9, 9), {"kernel_shape": [3, 3], "strides": [2, 2],
                                               "pads": [1, 1, 1, 1]}, False),
    "average-2x2-stride-2": ("AveragePool", (1, 4, 8, 8), {"kernel_shape": [2, 2],
                                                           "strides": [2, 2]}, False),
    "max-stride-1-2": ("MaxPool", (1, 2, 6, 6), {"kernel_shape": [3, 3], "strides": [1, 2],
                                                 "pads": [1, 1, 1, 1]}, False),
    "max-no-pads": ("MaxPool", (1, 2, 7, 7), {"kernel_shape": [3, 3]}, False),
    "max-dilated-same-shape": ("MaxPool", (1, 2, 8, 8), {"kernel_shape": [3, 3],
                                                         "dilations": [2, 2],
                                                         "pads": [2, 2, 2, 2]}, False),
    "global-average": ("AveragePool", (1, 3, 7, 7), {"kernel_shape": [7, 7]}, False),
    "max-1d-same": ("MaxPool", (1, 2, 9), {"kernel_shape": [3], "pads": [1, 1]}, False),
    "average-3d-same": ("AveragePool", (1, 2, 3, 4, 5), {"kernel_shape": [3, 3, 3],
                                                         "pads": [1] * 6}, False),
}


def _lowered(case):
    op, xs, attrs, _ = POOLS[case]
    compiled = compile_graph(import_model(model(
        [helper.make_node(op, ["x"], ["y"], **attrs)], [("x", F32, list(xs))],
        [("y", F32, None)])))
    region = next(r for r in compiled.partition.regions if r.kind == "pool")
    return compiled, lower_pool(region, compiled.graph)


@pytest.mark.parametrize("case", sorted(POOLS))
def test_whole_planes_is_set_exactly_for_flat_pools(case):
    _, lowered = _lowered(case)
    (dispatch,) = lowered.dispatches
    body = dispatch.function["body"]
    assert body["kind"] == "pool"
    assert body.get("whole_planes", False) is POOLS[case][3]


@pytest.mark.parametrize("case", ["max-3x3-same", "average-cip-same", "max-4x2-uneven-pads",
                                  "max-stride-2"])
def test_lowered_pools_match_the_reference(case):
    compiled, _ = _lowered(case)
    x = np.random.default_rng(7).standard_normal(POOLS[case][1]).astype(np.float32)
    want = reference.evaluate(compiled.graph, [x])
    got = execute_lowered.run_partition(compiled.partition, [x])
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6)
