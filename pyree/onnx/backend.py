"""pyree as an ONNX backend (the convention of ``onnxruntime.backend``).

    import pyree.onnx.backend as backend

    rep = backend.prepare(model)                # compile (pyree.compiler) and load
    outputs = rep.run([x])                      # a namedtuple-dict of numpy arrays
    outputs = backend.run_model(model, [x])     # prepare + run
    outputs = backend.run_node(node, [x, y])    # one node, wrapped in a model

``device`` is ONNX's device string: ``"CPU"`` (pyree's HAL devices run on the host), or
a pyree driver name, ``"local-sync"`` (the default for ``"CPU"``) or ``"local-task"``;
``driver=`` overrides the driver for ``"CPU"``. Other keywords of ``prepare``:
``options`` (``pyree.compiler.onnx_import.ImportOptions``: input shapes, dims) and
``specialize`` (see :mod:`pyree.onnx.backend_rep`).

A model pyree cannot compile raises the compiler's own pyree error from ``prepare``:
UNIMPLEMENTED naming the node and the op for an unsupported op or attribute.
``onnx.backend.test.BackendTest(pyree.onnx.backend, __name__)`` runs ONNX's backend test
suite through this module (``tests/compiler/test_onnx_backend.py`` runs a curated subset;
``python -m pyree.compiler.backend_coverage`` runs all of it).
"""

from __future__ import annotations

import onnx
from onnx import helper
from onnx.backend.base import Backend

from pyree.onnx.backend_rep import PyreeBackendRep
from pyree.status import InvalidArgumentError

DRIVERS = ("local-sync", "local-task")
DEVICES = ("CPU", *DRIVERS)


def _driver(device: str, driver: str | None) -> str:
    device = (device or "CPU").strip()
    if device.upper() == "CPU":
        return driver or DRIVERS[0]
    if device in DRIVERS:
        return device
    raise InvalidArgumentError(f"pyree.onnx.backend: unsupported device {device!r}; "
                               f"devices: {', '.join(DEVICES)}")


def _load(model) -> onnx.ModelProto:
    if isinstance(model, onnx.ModelProto):
        return model
    if isinstance(model, (bytes, bytearray)):
        return onnx.load_from_string(bytes(model))
    return onnx.load(model)


class PyreeBackend(Backend):
    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device in DEVICES or (device or "").upper() == "CPU"

    @classmethod
    def is_compatible(cls, model, device: str = "CPU", **kwargs) -> bool:
        """Whether the device is supported and every node's op type is one pyree can
        import (an import rule, control flow, or an ONNX function body). A compatible
        model can still be refused by ``prepare`` (an attribute or dtype pyree does not
        handle)."""
        from pyree.compiler.onnx_import import CONTROL_FLOW, DEFAULT_DOMAINS
        from pyree.compiler.ops import ONNX_RULES

        if not cls.supports_device(device):
            return False
        model = _load(model)
        for node in model.graph.node:
            if node.domain not in DEFAULT_DOMAINS:
                return False
            if node.op_type in ONNX_RULES or node.op_type in CONTROL_FLOW:
                continue
            if not onnx.defs.has(node.op_type) or not onnx.defs.get_schema(
                    node.op_type).has_function:
                return False
        return True

    @classmethod
    def prepare(cls, model, device: str = "CPU", **kwargs) -> PyreeBackendRep:
        """Compiles ``model`` (``ModelProto``, serialized bytes or a path) and loads it on
        the device; raises pyree's errors (UNIMPLEMENTED naming node and op)."""
        driver = _driver(device, kwargs.pop("driver", None))
        options = kwargs.pop("options", None)
        specialize = kwargs.pop("specialize", True)
        if kwargs:
            raise InvalidArgumentError(f"pyree.onnx.backend.prepare: unknown keyword(s) "
                                       f"{sorted(kwargs)}")
        return PyreeBackendRep(_load(model), driver=driver, options=options,
                               specialize=specialize)

    @classmethod
    def run_model(cls, model, inputs, device: str = "CPU", **kwargs):
        rep = cls.prepare(model, device, **kwargs)
        try:
            return rep.run(inputs)
        finally:
            rep.close()

    @classmethod
    def run_node(cls, node, inputs, device: str = "CPU", outputs_info=None, **kwargs):
        """Runs one node on ``inputs`` (arrays for its inputs, in order; ``""`` inputs are
        skipped). ``opset_version`` picks the default-domain opset (default: the newest
        onnx knows)."""
        import numpy as np

        opset = kwargs.pop("opset_version", onnx.defs.onnx_opset_version())
        names = [n for n in node.input if n]
        arrays = list(inputs.values()) if isinstance(inputs, dict) else list(inputs)
        if len(arrays) != len(names):
            raise InvalidArgumentError(f"node {node.name!r} ({node.op_type}) has "
                                       f"{len(names)} input(s), got {len(arrays)} arrays")
        arrays = [np.asarray(a) for a in arrays]
        graph_inputs = [helper.make_tensor_value_info(
            n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape) for n, a in zip(names, arrays)]
        outputs = []
        for i, name in enumerate(n for n in node.output if n):
            if outputs_info and i < len(outputs_info):
                dtype, shape = outputs_info[i]
                outputs.append(helper.make_tensor_value_info(
                    name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), shape))
            else:
                outputs.append(helper.make_empty_tensor_value_info(name))
        graph = helper.make_graph([node], f"run_node_{node.op_type}", graph_inputs, outputs)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        return cls.run_model(model, arrays, device, **kwargs)


prepare = PyreeBackend.prepare
run_model = PyreeBackend.run_model
run_node = PyreeBackend.run_node
supports_device = PyreeBackend.supports_device
is_compatible = PyreeBackend.is_compatible
