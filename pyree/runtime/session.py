"""``InferenceSession``: onnxruntime's session API over a compiled module.

``InferenceSession(model, device="local-sync")`` (onnxruntime's ``sess_options`` and
``providers`` positions are accepted and ignored) accepts ``.pyrm`` bytes or a ``.pyrm``
path (loaded), or an ONNX model (``onnx.ModelProto``, ``.onnx`` path or serialized bytes,
compiled first with ``pyree.compiler.compile_model``). ``get_inputs()`` /
``get_outputs()`` describe the tensors (:class:`NodeArg`: ``name``, ``shape``, ``type``
such as ``"tensor(float)"``); ``run(output_names, feed)`` takes ``{input name: array}``
and returns the requested outputs (all, in graph order, for ``None``).
"""

from __future__ import annotations

import os

import attrs

from pyree.bytecode import container
from pyree.runtime.module import CompiledModule, read_module_def
from pyree.status import InvalidArgumentError, NotFoundError


@attrs.frozen
class NodeArg:
    name: str
    shape: list
    type: str


def _is_compiled(source) -> bool:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source[:len(container.MAGIC)]) == container.MAGIC
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if path.endswith(container.FILE_EXTENSION):
            return True
        try:
            with open(path, "rb") as f:
                return f.read(len(container.MAGIC)) == container.MAGIC
        except OSError:
            return False
    return False


class InferenceSession:
    def __init__(self, model, sess_options=None, providers=None, *, device: str = "local-sync",
                 options=None, progress=None):
        """``sess_options`` and ``providers`` are accepted for onnxruntime compatibility
        and ignored; ``device`` picks the HAL driver (``local-sync`` or ``local-task``)."""
        if _is_compiled(model):
            module_def = read_module_def(model)
        else:
            from pyree.compiler.api import compile_to_module

            module_def = compile_to_module(model, options=options, progress=progress)
        self.module = CompiledModule(module_def, device)

    def get_inputs(self) -> list[NodeArg]:
        return [NodeArg(t.name, list(t.shape), t.onnx_type) for t in self.module.input_info]

    def get_outputs(self) -> list[NodeArg]:
        return [NodeArg(t.name, list(t.shape), t.onnx_type) for t in self.module.output_info]

    def run(self, output_names, input_feed: dict, run_options=None) -> list:
        inputs = self.module.input_info
        names = [t.name for t in inputs]
        unknown = [k for k in input_feed if k not in names]
        if unknown:
            raise InvalidArgumentError(f"unknown input(s) {unknown}; the model's inputs are "
                                       f"{names}")
        missing = [n for n in names if n not in input_feed]
        if missing:
            raise InvalidArgumentError(f"missing input(s) {missing}")
        results = self.module.main(*(input_feed[n] for n in names))
        if output_names is None:
            return results
        outs = [t.name for t in self.module.output_info]
        picked = []
        for name in output_names:
            if name not in outs:
                raise NotFoundError(f"no output named '{name}'; the model's outputs are "
                                    f"{outs}")
            picked.append(results[outs.index(name)])
        return picked

    def close(self) -> None:
        self.module.close()

    def __enter__(self) -> InferenceSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
