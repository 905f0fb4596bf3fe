"""Running compiled models from Python (``spec/compiled-modules.md``).

* :func:`load_module` (``module.py``): a ``.pyrm`` compiled by ``pyree.compiler`` (bytes
  or a path) on a HAL device -> :class:`CompiledModule` with ``main(*arrays)``;
* :class:`InferenceSession` (``session.py``): the onnxruntime-style session over a
  compiled module, or over an ONNX model it compiles.

Names are imported lazily so that ``pyree.runtime`` costs nothing until used.
"""

_EXPORTS = {"load_module": "module", "CompiledModule": "module",
            "InferenceSession": "session", "NodeArg": "session"}


def __getattr__(name):
    where = _EXPORTS.get(name)
    if where is None:
        raise AttributeError(f"module 'pyree.runtime' has no attribute '{name}'")
    import importlib

    return getattr(importlib.import_module(f"pyree.runtime.{where}"), name)


__all__ = ["CompiledModule", "InferenceSession", "NodeArg", "load_module"]
