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


_MISSING = object()


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
        self._inputs = [t.name for t in self.module.input_info]
        self._outputs = [t.name for t in self.module.output_info]
        self._picks: dict = {}      # tuple of output names -> their indices (run)

    def get_inputs(self) -> list[NodeArg]:
        return [NodeArg(t.name, list(t.shape), t.onnx_type) for t in self.module.input_info]

    def get_outputs(self) -> list[NodeArg]:
        return [NodeArg(t.name, list(t.shape), t.onnx_type) for t in self.module.output_info]

    def run(self, output_names, input_feed: dict, run_options=None) -> list:
        names = self._inputs
        arrays = None
        if input_feed.__class__ is dict and len(input_feed) == len(names):
            arrays = []
            for name in names:
                array = input_feed.get(name, _MISSING)
                if array is _MISSING:
                    arrays = None
                    break
                arrays.append(array)
        if arrays is not None:      # exactly the model's inputs: nothing to report
            results = self.module.main(*arrays)
        else:
            unknown = [k for k in input_feed if k not in names]
            if unknown:
                raise InvalidArgumentError(f"unknown input(s) {unknown}; the model's inputs "
                                           f"are {names}")
            missing = [n for n in names if n not in input_feed]
            if missing:
                raise InvalidArgumentError(f"missing input(s) {missing}")
            results = self.module.main(*(input_feed[n] for n in names))
        if output_names is None:
            return results
        key = output_names if output_names.__class__ is tuple else tuple(output_names)
        try:
            picks = self._picks.get(key)
        except TypeError:       # unhashable names: none of them is an output's
            picks = None
        if picks is None:
            picks = self._pick(key)
        return [results[i] for i in picks]

    def _pick(self, names: tuple) -> tuple:
        """The indices of the outputs ``names`` (NOT_FOUND naming the first unknown one)."""
        outs = self._outputs
        for name in names:
            if name not in outs:
                raise NotFoundError(f"no output named '{name}'; the model's outputs are "
                                    f"{outs}")
        picks = tuple(outs.index(name) for name in names)
        if len(self._picks) < 64:
            self._picks[names] = picks      # hashable: every name is an output's (a str)
        return picks

    def close(self) -> None:
        self.module.close()

    def __enter__(self) -> InferenceSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
