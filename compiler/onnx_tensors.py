"""ONNX tensors and attributes as numpy arrays and frozen python data.

Initializers are viewed, not copied, where protobuf allows it: ``raw_data`` becomes an
``np.frombuffer`` view of the bytes object, and external data is mapped with
``np.memmap`` (read-only). Typed repeated fields (``float_data`` ...) and the narrow types
go through ``onnx.numpy_helper``, which copies. Every array returned is read-only.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, numpy_helper
from pyree.compiler import dtypes

from pyree.status import InvalidArgumentError, NotFoundError, UnimplementedError

_PLAIN = frozenset({"f32", "ui8", "i8", "ui16", "i16", "i32", "i64", "i1", "f16", "f64",
                    "ui32", "ui64", "bf16", "f8e4m3fn", "f8e4m3fnuz", "f8e5m2",
                    "f8e5m2fnuz"})


def _readonly(array: np.ndarray) -> np.ndarray:
    if array.flags.writeable:
        array = array.view()
        array.flags.writeable = False
    return array


def tensor_to_array(tensor: TensorProto, base_dir: str | None = None) -> np.ndarray:
    """A read-only numpy array for ``tensor``; zero-copy for raw and external data."""
    name = dtypes.from_onnx(tensor.data_type) if tensor.data_type != TensorProto.STRING \
        else None
    if name is None:
        raise UnimplementedError(f"tensor '{tensor.name}': string tensors are not supported")
    shape = tuple(tensor.dims)
    dtype = dtypes.to_numpy(name)
    little = sys.byteorder == "little"
    if tensor.data_location == TensorProto.EXTERNAL:
        if name not in _PLAIN or not little:
            raise UnimplementedError(
                f"tensor '{tensor.name}': external data of type {name} is not supported")
        info = {e.key: e.value for e in tensor.external_data}
        path = os.path.join(base_dir or "", info.get("location", ""))
        if not os.path.isfile(path):
            raise NotFoundError(f"tensor '{tensor.name}': external data file '{path}' "
                                "not found")
        offset = int(info.get("offset", 0))
        count = int(np.prod(shape, dtype=np.int64))
        if count == 0:
            return _readonly(np.zeros(shape, dtype))
        return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)
    if tensor.HasField("raw_data") and name in _PLAIN and little:
        raw = tensor.raw_data  # one bytes object; the array views it
        count = int(np.prod(shape, dtype=np.int64))
        if len(raw) != count * dtype.itemsize:
            raise InvalidArgumentError(
                f"tensor '{tensor.name}': raw_data has {len(raw)} bytes, expected "
                f"{count * dtype.itemsize} for shape {list(shape)} of {name}")
        return _readonly(np.frombuffer(raw, dtype=dtype).reshape(shape))
    try:
        array = numpy_helper.to_array(tensor, base_dir or "")
    except Exception as exc:  # noqa: BLE001 - malformed tensor data, any onnx error
        raise InvalidArgumentError(f"tensor '{tensor.name}': {exc}") from None
    return _readonly(np.asarray(array, dtype=dtype).reshape(shape))


def attribute_value(attr: AttributeProto, base_dir: str | None = None):
    """Frozen python data for an attribute; tensors become arrays, graphs stay protos."""
    kind = attr.type
    if kind == AttributeProto.INT:
        return int(attr.i)
    if kind == AttributeProto.FLOAT:
        return float(np.float32(attr.f))
    if kind == AttributeProto.STRING:
        return attr.s.decode("utf-8", "replace")
    if kind == AttributeProto.INTS:
        return tuple(int(v) for v in attr.ints)
    if kind == AttributeProto.FLOATS:
        return tuple(float(np.float32(v)) for v in attr.floats)
    if kind == AttributeProto.STRINGS:
        return tuple(s.decode("utf-8", "replace") for s in attr.strings)
    if kind == AttributeProto.TENSOR:
        return tensor_to_array(attr.t, base_dir)
    if kind == AttributeProto.GRAPH:
        return attr.g
    raise UnimplementedError(
        f"attribute '{attr.name}' of type {AttributeProto.AttributeType.Name(kind)} "
        "is not supported")


def type_proto(dtype: str, shape) -> onnx.TypeProto:
    return onnx.helper.make_tensor_type_proto(dtypes.ONNX_CODE[dtype], list(shape))
