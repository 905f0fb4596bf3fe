"""The ONNX backend test suite as data: node test cases and the light_* real models.

``node_cases()`` collects the node tests that onnx generates from its own case
definitions (each a model, input arrays and expected outputs, with rtol/atol);
``light_models()`` lists the real models shipped under ``onnx/backend/test/data/light``
and ``light_case(name)`` loads one with the dummy input the ONNX runner uses
(``arange(n) / n``) and the shipped expected output.
"""

from __future__ import annotations

import functools
import os
import warnings

import numpy as np
import onnx
from onnx import numpy_helper

LIGHT_DIR = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")


def light_models() -> list[str]:
    return sorted(f[len("light_"):-len(".onnx")] for f in os.listdir(LIGHT_DIR)
                  if f.startswith("light_") and f.endswith(".onnx"))


def light_case(name: str):
    """(model path, [inputs], [expected outputs]) for light model ``name``."""
    path = os.path.join(LIGHT_DIR, f"light_{name}.onnx")
    model = onnx.load(path)
    inits = {i.name for i in model.graph.initializer}
    inputs = []
    for value in model.graph.input:
        if value.name in inits:
            continue
        shape = tuple(d.dim_value if d.HasField("dim_value") else 1
                      for d in value.type.tensor_type.shape.dim)
        n = int(np.prod(shape))
        inputs.append((np.arange(n).reshape(shape) / n).astype(np.float32))
    expected = []
    for i in range(len(model.graph.output)):
        out = os.path.join(LIGHT_DIR, f"light_{name}_output_{i}.pb")
        expected.append(numpy_helper.to_array(onnx.load_tensor(out)))
    return path, inputs, expected


def _normalize(item):
    if isinstance(item, onnx.TensorProto):
        return numpy_helper.to_array(item)
    return item


@functools.lru_cache(maxsize=1)
def node_cases() -> tuple:
    """Every node test case (onnx.backend.test.case.TestCase), sorted by name."""
    from onnx.backend.test.case import node

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        cases = node.collect_testcases(None)
    return tuple(sorted(cases, key=lambda c: c.name))


def case_data(case):
    """[(inputs, expected)] of a node test case, as numpy arrays."""
    return [([_normalize(i) for i in inputs], [_normalize(o) for o in outputs])
            for inputs, outputs in case.data_sets]
