"""``PyreeBackendRep``: a model prepared by :mod:`pyree.onnx.backend`, run many times.

A rep owns the compiled module(s) of one ONNX model on one HAL device. Most models
compile once, in ``prepare``. A model that feeds a shape-deciding operand (Reshape's
shape, Slice's starts, a reduction's axes ...) from a graph input cannot be compiled
before its values are known: pyree is a static-shape compiler, and it refuses such a
model with UNIMPLEMENTED "input k 'name' ... must be a compile-time constant". With
``specialize=True`` (the default) the rep then compiles at ``run`` time, binding exactly
the inputs the compiler asked for to the values given (``ImportOptions.constant_inputs``),
and keeps one compiled module per distinct set of bound values. Any other compile error
propagates from ``prepare`` unchanged: a pyree ``UnimplementedError`` names the node and
the op it cannot compile.
"""

from __future__ import annotations

import re

import numpy as np
from onnx.backend.base import BackendRep, namedtupledict

from pyree.status import InvalidArgumentError, UnimplementedError

_NEEDS_CONSTANT = re.compile(r"input \d+ '([^']*)' \(.*?\) must be a compile-time constant")


def needs_constant(exc: UnimplementedError) -> str | None:
    """The graph input a compile error asks to be a compile-time constant, if any."""
    match = _NEEDS_CONSTANT.search(str(exc))
    return match.group(1) if match else None


def _key(name: str, array: np.ndarray) -> tuple:
    array = np.ascontiguousarray(array)
    return (name, array.dtype.str, array.shape, array.tobytes())


class PyreeBackendRep(BackendRep):
    def __init__(self, model, *, driver: str = "local-sync", options=None,
                 specialize: bool = True):
        self.model = model
        self.driver = driver
        self.options = options
        self.specialize = specialize
        inits = {t.name for t in model.graph.initializer}
        self.input_names = [v.name for v in model.graph.input if v.name not in inits]
        self.output_names = [v.name for v in model.graph.output]
        self._outputs = namedtupledict("Outputs", self.output_names)
        self._bound: list[str] = []  # inputs the compiler asked to bind, in asked order
        self._modules: dict[tuple, object] = {}
        try:
            self._modules[()] = self._compile({})
        except UnimplementedError as exc:
            name = needs_constant(exc)
            if not (specialize and name in self.input_names):
                raise
            self._bound.append(name)

    @property
    def specialized(self) -> bool:
        """Whether the model compiles per value of some inputs (see the module doc)."""
        return bool(self._bound)

    def _compile(self, constants: dict):
        from pyree.compiler.api import compile_to_module
        from pyree.compiler.onnx_import import ImportOptions
        from pyree.runtime.module import CompiledModule

        options = self.options or ImportOptions()
        if constants:
            import attrs

            options = attrs.evolve(options, constant_inputs={
                **options.constant_inputs, **constants})
        return CompiledModule(compile_to_module(self.model, options=options), self.driver)

    def _module_for(self, feeds: dict):
        while True:
            key = tuple(_key(n, feeds[n]) for n in self._bound)
            module = self._modules.get(key)
            if module is not None:
                return module
            try:
                module = self._compile({n: np.asarray(feeds[n]) for n in self._bound})
            except UnimplementedError as exc:
                name = needs_constant(exc)
                if name not in feeds or name in self._bound:
                    raise
                self._bound.append(name)
                continue
            self._modules[key] = module
            return module

    def _feeds(self, inputs) -> dict:
        if isinstance(inputs, dict):
            missing = [n for n in self.input_names if n not in inputs]
            if missing:
                raise InvalidArgumentError(f"missing model input(s) {missing}; the model "
                                           f"takes {self.input_names}")
            return {n: inputs[n] for n in self.input_names}
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        inputs = list(inputs)
        if len(inputs) != len(self.input_names):
            raise InvalidArgumentError(f"the model takes {len(self.input_names)} input(s) "
                                       f"{self.input_names}; got {len(inputs)}")
        return dict(zip(self.input_names, inputs))

    def run(self, inputs, **kwargs):
        """Runs the model on ``inputs`` (a list in graph-input order, one array, or a
        name -> array dict); returns the outputs as a namedtuple-dict (by position or
        by output name)."""
        feeds = self._feeds(inputs)
        module = self._module_for(feeds)
        args = [np.asarray(a) for n, a in feeds.items() if n not in self._bound]
        return self._outputs(*module.main(*args))

    def close(self) -> None:
        for module in self._modules.values():
            module.close()
        self._modules.clear()
