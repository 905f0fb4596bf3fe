"""What a compiled model's module says about itself (``spec/compiled-modules.md``).

The compiler writes one rodata segment that starts with :data:`MAGIC` followed by UTF-8
JSON::

    {"version": 1, "function": "main",
     "inputs":  [{"name": "x", "type": "f32", "shape": [1, 784]}, ...],
     "outputs": [{"name": "y", "type": "f32", "shape": [1, 10]}, ...]}

``inputs``/``outputs`` are the ONNX graph's names in the order of ``main``'s arguments
and results; ``type`` is a pyree element type name (``f32``, ``i64``, ``i1`` ...). The
runtime finds the segment by its magic (:func:`find`); this module depends on nothing
but numpy so both sides can import it.
"""

from __future__ import annotations

import json

import attrs
import numpy as np

from pyree.status import InvalidArgumentError, NotFoundError

MAGIC = b"pyree.model.v1\0"
VERSION = 1

# pyree element type name -> (numpy dtype, ONNX-runtime style type string)
_TYPES = {
    "f32": (np.float32, "tensor(float)"), "f64": (np.float64, "tensor(double)"),
    "f16": (np.float16, "tensor(float16)"),
    "i8": (np.int8, "tensor(int8)"), "i16": (np.int16, "tensor(int16)"),
    "i32": (np.int32, "tensor(int32)"), "i64": (np.int64, "tensor(int64)"),
    "ui8": (np.uint8, "tensor(uint8)"), "ui16": (np.uint16, "tensor(uint16)"),
    "ui32": (np.uint32, "tensor(uint32)"), "ui64": (np.uint64, "tensor(uint64)"),
    "i1": (np.bool_, "tensor(bool)"),
}
# Types whose numpy dtype is ml_dtypes' (imported when asked for): the HAL has no numpy
# dtype for them and returns their bits (uint16/uint8), which the runtime views as these.
ML_TYPES = {
    "bf16": ("bfloat16", "tensor(bfloat16)"),
    "f8e4m3fn": ("float8_e4m3fn", "tensor(float8e4m3fn)"),
    "f8e4m3fnuz": ("float8_e4m3fnuz", "tensor(float8e4m3fnuz)"),
    "f8e5m2": ("float8_e5m2", "tensor(float8e5m2)"),
    "f8e5m2fnuz": ("float8_e5m2fnuz", "tensor(float8e5m2fnuz)"),
    "f8e8m0": ("float8_e8m0fnu", "tensor(float8e8m0)"),
}


def _lookup(type_: str):
    found = _TYPES.get(type_)
    if found is None and type_ in ML_TYPES:
        try:
            import ml_dtypes
        except ImportError:
            return None
        name, onnx_type = ML_TYPES[type_]
        return getattr(ml_dtypes, name), onnx_type
    return found


@attrs.frozen
class TensorInfo:
    name: str
    type: str  # pyree element type name
    shape: tuple[int, ...] = attrs.field(converter=lambda s: tuple(int(d) for d in s))

    @property
    def dtype(self) -> np.dtype:
        found = _lookup(self.type)
        if found is None:
            raise InvalidArgumentError(f"tensor '{self.name}': element type '{self.type}' "
                                       "has no numpy dtype")
        return np.dtype(found[0])

    @property
    def onnx_type(self) -> str:
        found = _TYPES.get(self.type) or ML_TYPES.get(self.type)
        return found[1] if found else f"tensor({self.type})"

    def to_json(self) -> dict:
        return {"name": self.name, "type": self.type, "shape": list(self.shape)}


@attrs.frozen
class ModelInfo:
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    function: str = "main"

    def encode(self) -> bytes:
        body = {"version": VERSION, "function": self.function,
                "inputs": [t.to_json() for t in self.inputs],
                "outputs": [t.to_json() for t in self.outputs]}
        return MAGIC + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data) -> ModelInfo:
        data = bytes(data)
        if not data.startswith(MAGIC):
            raise InvalidArgumentError("model metadata does not start with the magic "
                                       f"{MAGIC!r}")
        try:
            body = json.loads(data[len(MAGIC):].decode("utf-8"))
            if body["version"] != VERSION:
                raise InvalidArgumentError(f"model metadata version {body['version']} is "
                                           f"not {VERSION}")

            def tensors(key):
                return tuple(TensorInfo(t["name"], t["type"], t["shape"]) for t in body[key])

            return cls(tensors("inputs"), tensors("outputs"), body.get("function", "main"))
        except (ValueError, KeyError, TypeError) as e:
            raise InvalidArgumentError(f"malformed model metadata: {e}") from None


def find(module_def) -> ModelInfo:
    """The metadata of a compiled module (NOT_FOUND for a module the compiler did not
    write)."""
    for segment in module_def.rodata:
        if len(segment) >= len(MAGIC) and bytes(segment[:len(MAGIC)]) == MAGIC:
            return ModelInfo.decode(segment)
    raise NotFoundError(f"module '{module_def.name}' has no model metadata (not compiled "
                        "from a model by pyree.compiler)")
