"""``--output`` specifications of ``pyree run-module`` (``hal-abi.md`` section 6.3).

One specification per result, in order:

* empty: discard the result;
* ``-``: print it to stdout as ``result[i]: ...`` (the default when no ``--output`` is
  given);
* ``@path.npy`` / ``+path.npy``: write (truncate / append) a NumPy array: primitive values
  as shape ``()`` arrays (``<i4``, ``<i8``, ``<f4``, ``<f8``), a ``vm.buffer`` as an ``i8``
  array of its bytes;
* ``@path`` / ``+path`` (any other extension): the same array's raw bytes, no metadata.

Ref types other than ``vm.buffer`` become arrays through :func:`register_array_converter`
(the HAL adds ``hal.buffer_view`` there), and may give raw outputs their own bytes through
:func:`register_raw_converter` (a buffer view whose element type has no numpy dtype, such
as bf16, can still be written raw); a ``vm.list`` or a null result cannot be written to a
file.
"""

from __future__ import annotations

import attrs
import numpy as np

from pyree import status
from pyree.bytecode import cconv as cc
from pyree.tools import values
from pyree.vm import ref_type_of

_DTYPES = {"i": "<i4", "I": "<i8", "f": "<f4", "F": "<f8"}
_CONVERTERS: dict = {"vm.buffer": lambda buf: np.frombuffer(buf.tobytes(), dtype=np.int8)}
_RAW_CONVERTERS: dict = {}


def register_array_converter(type_name: str, fn) -> None:
    """``fn(obj) -> numpy.ndarray`` for results of ref type ``type_name``."""
    _CONVERTERS[type_name] = fn


def register_raw_converter(type_name: str, fn) -> None:
    """``fn(obj) -> bytes`` for raw outputs (``@path`` without ``.npy``) of ``type_name``;
    without one, raw outputs are the bytes of the array converter's array."""
    _RAW_CONVERTERS[type_name] = fn


@attrs.frozen
class OutputSpec:
    """``mode`` is ``"discard"``, ``"print"``, ``"npy"`` or ``"raw"``."""

    mode: str
    path: str | None = None
    append: bool = False

    @classmethod
    def parse(cls, text: str) -> OutputSpec:
        if text == "":
            return cls("discard")
        if text == "-":
            return cls("print")
        if text[:1] in ("@", "+") and len(text) > 1:
            path = text[1:]
            return cls("npy" if path.endswith(".npy") else "raw", path, text[0] == "+")
        raise status.InvalidArgumentError(
            f"unsupported output specification `{text}`; expected ``, `-`, `@path` or "
            "`+path`")


def to_array(char: str, value) -> np.ndarray:
    """The NumPy array a result of cconv element ``char`` is written as."""
    if char != "r":
        return np.array(value, dtype=_DTYPES[char])
    if value is None:
        raise status.InvalidArgumentError("a null result cannot be written to a file")
    ref_type = ref_type_of(value)
    converter = _CONVERTERS.get(ref_type.name) if ref_type is not None else None
    if converter is None:
        name = ref_type.name if ref_type is not None else type(value).__name__
        raise status.UnimplementedError(f"{name} results cannot be written to a file")
    return converter(value)


def write_results(specs, results, cconv: str, out,
                  max_elements: int = values.DEFAULT_MAX_ELEMENTS) -> None:
    """Handle every result as its :class:`OutputSpec` says (printing to ``out``)."""
    chars = cc.parse(cconv).result_chars
    if len(specs) != len(chars):
        raise status.InvalidArgumentError(
            f"{len(specs)} outputs specified but the function returns {len(chars)} results")
    for i, (spec, char, value) in enumerate(zip(specs, chars, results)):
        if spec.mode == "print":
            out.write(values.format_result(i, char, value, max_elements))
        elif spec.mode != "discard":
            try:
                _write_file(spec, _raw_bytes(char, value) if spec.mode == "raw"
                            else to_array(char, value))
            except status.PyreeError as e:
                raise e.annotate(f"writing result {i} to '{spec.path}'")


def _raw_bytes(char: str, value) -> bytes:
    ref_type = ref_type_of(value) if char == "r" and value is not None else None
    converter = _RAW_CONVERTERS.get(ref_type.name) if ref_type is not None else None
    return converter(value) if converter is not None else to_array(char, value).tobytes()


def _write_file(spec: OutputSpec, data) -> None:
    try:
        with open(spec.path, "ab" if spec.append else "wb") as f:
            if spec.mode == "npy":
                np.save(f, data, allow_pickle=False)
            else:
                f.write(data)
    except OSError as e:
        raise status.UnavailableError(
            f"cannot write '{spec.path}': {e.strerror or e}") from None
