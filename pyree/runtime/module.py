"""``load_module``: a compiled model's ``.pyrm`` on a HAL device, called with numpy.

A :class:`CompiledModule` owns one device (``local-sync`` by default, or ``local-task``),
a ``hal`` module on it and one VM context holding the compiled module (its ``__init``
creates the executable and constant buffers once). ``main(*arrays)`` wraps each array
in a buffer view (large arrays without a copy), calls the module's ``main`` and returns
the results as numpy arrays (large ones zero-copy views of the per-call output buffers).
On ``local-sync`` the module's memoized command buffer then runs in the fused submit
(``modules/hal/replay_fused.py``) whether an input was copied into the pool or imported.
``close()`` (or leaving a ``with`` block, or dropping the module) releases the context
and the device. A wrong number of inputs is INVALID_ARGUMENT here; a wrong shape or
element type is the module's own ``hal.buffer_view.assert`` failure naming the ONNX
input.
"""

from __future__ import annotations

import os
import weakref

import numpy as np

from pyree import model_info
from pyree.bytecode import container
from pyree.bytecode.module_def import ModuleDef
from pyree.modules.hal.buffer_view import HalBufferView
from pyree.modules.hal.device import create_device
from pyree.modules.hal.module import HalModule
from pyree.status import InvalidArgumentError
from pyree.vm import BytecodeModule, Context

#: Inputs at least this large are imported without a copy (smaller ones copy faster).
ZERO_COPY_BYTES = 1 << 16
_NDARRAY = np.ndarray
_VIEW = HalBufferView
_import_array = HalBufferView.import_array
_from_numpy = HalBufferView.from_numpy


def read_module_def(data_or_path) -> ModuleDef:
    """A ``ModuleDef`` from ``.pyrm`` bytes, a path, or a ``ModuleDef``."""
    if isinstance(data_or_path, ModuleDef):
        return data_or_path
    if isinstance(data_or_path, (bytes, bytearray, memoryview)):
        return container.read(data_or_path)
    return container.load_file(os.fspath(data_or_path))


def load_module(data_or_path, device: str = "local-sync") -> CompiledModule:
    return CompiledModule(read_module_def(data_or_path), device)


class CompiledModule:
    def __init__(self, module_def: ModuleDef, device="local-sync"):
        self.definition = module_def
        self.info = model_info.find(module_def)
        self._owns_device = isinstance(device, str)
        self.device = create_device(device) if self._owns_device else device
        try:
            self.module = BytecodeModule(module_def)
            self.context = Context([HalModule([self.device]), self.module])
        except BaseException:
            self._close_device()
            raise
        self._functions: dict = {}
        self._main_name = self.info.function
        self._arity = len(self.info.inputs)
        # main's results the HAL returns as bits (bf16, f8): viewed as ml_dtypes' types
        self._bit_outputs = tuple((i, t.dtype) for i, t in enumerate(self.info.outputs)
                                  if t.type in model_info.ML_TYPES)
        # A module dropped without close() still releases its context and device (a
        # local-task device's workers); the callback holds neither ``self`` nor a cycle.
        self._finalizer = weakref.finalize(self, _release, self.context,
                                           self.device if self._owns_device else None)

    @property
    def input_info(self) -> tuple[model_info.TensorInfo, ...]:
        return self.info.inputs

    @property
    def output_info(self) -> tuple[model_info.TensorInfo, ...]:
        return self.info.outputs

    def main(self, *arrays) -> list[np.ndarray]:
        """Runs the model: one array per input (``input_info`` order); one per output.

        ``call(info.function, *arrays)``, with the single-input, ndarray case in this frame
        (the per-call host path of a compiled model)."""
        if len(arrays) != self._arity:
            names = ", ".join(repr(t.name) for t in self.info.inputs)
            raise InvalidArgumentError(f"the model takes {len(self.info.inputs)} input(s) "
                                       f"({names}); got {len(arrays)}")
        fn = self._functions.get(self._main_name)
        if fn is None:
            fn = self._function(self._main_name)
        allocator = self.device.allocator
        if len(arrays) == 1 and arrays[0].__class__ is _NDARRAY:
            values = fn(_input_view(arrays[0], allocator))
        else:
            values = fn(*[_input_view(self._array(i, a), allocator)
                          for i, a in enumerate(arrays)])
        results = []
        for value in values:
            results.append(_to_array(value))
        for i, dtype in self._bit_outputs:
            results[i] = results[i].view(dtype)
        return results

    def call(self, name: str, *arrays) -> list[np.ndarray]:
        """Calls export ``name`` with buffer views of ``arrays``; results as arrays."""
        fn = self._functions.get(name)
        if fn is None:
            fn = self._function(name)
        allocator = self.device.allocator
        views = [_input_view(self._array(i, a), allocator) for i, a in enumerate(arrays)]
        return [_to_array(r) for r in fn(*views)]

    def _function(self, name: str):
        fn = self._functions[name] = self.context.lookup_function(name, self.module.name)
        return fn

    def _array(self, index: int, value) -> np.ndarray:
        if isinstance(value, np.ndarray):
            return value
        if index < len(self.info.inputs):
            return np.asarray(value, dtype=self.info.inputs[index].dtype)
        return np.asarray(value)

    def close(self) -> None:
        """Closes the context and (when this module created it) the device."""
        self._finalizer()
        self.context = None
        if self._owns_device:
            self.device = None

    def _close_device(self) -> None:
        if self._owns_device and self.device is not None:
            self.device.close()
            self.device = None

    def __enter__(self) -> CompiledModule:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _input_view(array: np.ndarray, allocator) -> HalBufferView:
    """A view of ``array``: large C-contiguous native arrays are imported without a copy
    (the module only reads its inputs, and ``main`` returns after the work completed; a
    read-only array is imported READ-only); anything ``HalBufferView.import_array``
    declines (strided, byte-swapped, misaligned for the allocator) and small arrays are
    copied (cheaper than an import)."""
    if array.nbytes >= ZERO_COPY_BYTES and array.__class__ is _NDARRAY:
        view = _import_array(array, allocator)
        if view is not None:
            return view
    return _from_numpy(array, allocator)


def _release(context, device) -> None:
    try:
        context.close()
    finally:
        if device is not None:
            device.close()


def _to_array(value):
    """A result as numpy: small views copied (cheaper than pinning a mapping), large
    ones zero-copy views of their buffer (kept alive by the array)."""
    if value.__class__ is _VIEW:
        array = value.copy_to_numpy(ZERO_COPY_BYTES)
        return array if array is not None else value.to_numpy()
    return value
