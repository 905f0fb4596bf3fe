"""Tensor values of the command-line tools (``hal-abi.md`` 6.1 - 6.3), plugged into
``pyree.tools`` through its registries when this module is imported.

Inputs (``--input``, for ``r`` arguments), as ``iree-run-module`` reads them:

* ``[DIMxDIMx...]TYPE[=CONTENTS]``: the text before the first ``=`` is split at its last
  ``x`` into shape (non-negative decimal dims, at most 128) and element type. CONTENTS is
  empty (zero fill), ``@file`` / ``+file`` (raw bytes, read from a fresh / the already open
  file), or element tokens separated by blanks, commas or brackets; one token is splatted.
  The buffer is allocated DEVICE_LOCAL with DEFAULT usage from the device's allocator.
* ``@path.npy`` (first array, file opened fresh), ``+path.npy`` (next array of the open
  file), ``*path.npy`` (every remaining array, one argument each); other files are
  UNIMPLEMENTED. ``i`` arrays become signed (``si``) views, as IREE's numpy loader does.
* ``&TENSOR``: parses TENSOR but passes only its ``!hal.buffer``.

Element tokens (IREE's ``iree_hal_parse_element``): i8/i16 take ``-128..255`` /
``-32768..65535``, si8/si16 at most 127/32767, ui8/ui16/ui32 an unsigned 32-bit parse up
to 255/65535/2**32-1; i32/si32 a C ``strtol`` truncated to 32 bits, 64-bit types
``strtoll``/``strtoull`` (all with automatic base and trailing text ignored); f32/f64
``strtof``/``strtod``; f16, bf16 and the f8 types parse as f32 and round to nearest even.
Types without a numeric parser (``i1``, opaque, complex, sub-byte) take exactly two hex
digits per byte. A bad token is INVALID_ARGUMENT; a token count other than one or the
element count OUT_OF_RANGE ("input data string underflow" / "output data buffer overflow").
Every error is annotated "parsing input `TEXT`" (by ``pyree.tools.values``).

Printing (``2x2xf32=[1 2][3 4]``) and output files are in ``hal_values_format.py``; this
module registers both with the tools.
"""

from __future__ import annotations

import numpy as np

from pyree import status
from pyree.bytecode.asm import numbers
from pyree.tools import outputs, values

from . import hal_values_floats as floats
from .hal_values_format import (buffer_to_array, format_buffer_view, format_elements,  # noqa: F401
                                view_bytes, view_to_array)
from .allocator import HalAllocator
from .buffer import HalBuffer
from .buffer_view import MAX_RANK, HalBufferView
from .element_type import (ElementType, dense_byte_size, element_type_name,
                           parse_element_type)
from .enums import BufferUsage, MemoryAccess, MemoryType

_SEPARATORS = frozenset(" \t\n\v\f\r,[]")
_DEVICE_LOCAL = int(MemoryType.DEVICE_LOCAL)
_DEFAULT_USAGE = int(BufferUsage.DEFAULT)
_READ = int(MemoryAccess.READ)
_WRITE = int(MemoryAccess.WRITE)
_U64 = (1 << 64) - 1

E = ElementType

# -- element tokens -----------------------------------------------------------------------


class _BadToken(Exception):
    pass


def _atoi32(token: str) -> int:
    try:
        return values.parse_int(token, "i")
    except status.PyreeError:
        raise _BadToken from None


def _atoi64(token: str) -> int:
    try:
        return values.parse_int(token, "I")
    except status.PyreeError:
        raise _BadToken from None


def _atou(token: str, limit: int) -> int:
    """``strtoul``/``strtoull`` (negative values wrap modulo 2**64, as C does)."""
    scanned = numbers.scan_int(token) if len(token) <= limit else None
    if scanned is None or abs(scanned[0]) > _U64:
        raise _BadToken
    return scanned[0] & _U64


def _ranged(parse, low: int, high: int, bits: int):
    def element(token: str) -> int:
        value = parse(token)
        if value < low or value > high:
            raise _BadToken
        return value & ((1 << bits) - 1)
    return element


def _float(char: str):
    def element(token: str) -> float:
        try:
            return values.parse_float(token, char)
        except status.PyreeError:
            raise _BadToken from None
    return element


_f32 = _float("f")
_I32_MIN, _I32_MAX = -(1 << 31), (1 << 32)

# element type -> (token parser returning the stored integer bits or a float, numpy dtype
# of the stored values)
_PARSERS = {
    E.INT_8: (_ranged(_atoi32, -128, 255, 8), "<u1"),
    E.SINT_8: (_ranged(_atoi32, _I32_MIN, 127, 8), "<u1"),
    E.UINT_8: (_ranged(lambda t: _atou(t, 15), 0, 255, 8), "<u1"),
    E.INT_16: (_ranged(_atoi32, -32768, 65535, 16), "<u2"),
    E.SINT_16: (_ranged(_atoi32, _I32_MIN, 32767, 16), "<u2"),
    E.UINT_16: (_ranged(lambda t: _atou(t, 15), 0, 65535, 16), "<u2"),
    E.INT_32: (_ranged(_atoi32, _I32_MIN, _I32_MAX, 32), "<u4"),
    E.SINT_32: (_ranged(_atoi32, _I32_MIN, _I32_MAX, 32), "<u4"),
    E.UINT_32: (_ranged(lambda t: _atou(t, 15), 0, 0xFFFFFFFF, 32), "<u4"),
    E.INT_64: (_ranged(_atoi64, -(1 << 63), _U64, 64), "<u8"),
    E.SINT_64: (_ranged(_atoi64, -(1 << 63), _U64, 64), "<u8"),
    E.UINT_64: (_ranged(lambda t: _atou(t, 31), 0, _U64, 64), "<u8"),
    E.FLOAT_16: (lambda t: floats.f32_to_f16(_f32(t)), "<u2"),
    E.BFLOAT_16: (lambda t: floats.f32_to_bf16(_f32(t)), "<u2"),
    E.FLOAT_32: (_f32, "<f4"),
    E.FLOAT_64: (_float("F"), "<f8"),
    **{et: ((lambda t, et=et: floats.f32_to_f8(et, _f32(t))), "<u1")
       for et in floats.F8_FORMATS},
}


def _hex_element(size: int):
    def element(token: str) -> bytes:
        if len(token) != 2 * size:
            raise status.InvalidArgumentError(
                f"binary hex element count mismatch: buffer={size} bytes, "
                f"string={len(token)} chars")
        try:
            return bytes.fromhex(token)
        except ValueError:
            raise status.InvalidArgumentError(f"invalid hex element `{token}`") from None
    return element


def tokens(text: str) -> list[str]:
    """Element tokens: runs of characters other than blanks, commas and brackets."""
    out, start = [], None
    for i, c in enumerate(text):
        if c in _SEPARATORS:
            if start is not None:
                out.append(text[start:i])
                start = None
        elif start is None:
            start = i
    if start is not None:
        out.append(text[start:])
    return out


def parse_elements(text: str, element_type: int, target: np.ndarray) -> None:
    """Fills ``target`` (a uint8 array of the storage) from element text (6.1)."""
    size = (element_type & 0xFF) + 7 >> 3
    capacity = len(target) // size if size else 0
    if not text:
        target[:] = 0
        return
    words = tokens(text)
    parser = _PARSERS.get(element_type)
    parse, dtype = parser if parser is not None else (_hex_element(size), None)
    parsed = []
    for word in words:  # in order, as IREE: a bad token before an overflow is reported
        if len(parsed) >= capacity:
            raise status.OutOfRangeError("output data buffer overflow")
        try:
            parsed.append(parse(word))
        except _BadToken:
            raise status.InvalidArgumentError(
                f"invalid {element_type_name(element_type)} element `{word}`") from None
    if len(parsed) < capacity and len(parsed) != 1:
        raise status.OutOfRangeError("input data string underflow")
    data = b"".join(parsed) if dtype is None else np.array(parsed, dtype=dtype).tobytes()
    if len(parsed) == 1 and capacity > 1:
        data = data * capacity
    target[:len(data)] = np.frombuffer(data, dtype=np.uint8)


# -- tensors ------------------------------------------------------------------------------


def parse_shape(text: str) -> tuple[int, ...]:
    if not text:
        return ()
    parts = text.split("x")
    if len(parts) > MAX_RANK:
        raise status.OutOfRangeError(
            f"a shape rank of {len(parts)} is just a little bit excessive, eh?")
    shape = []
    for i, part in enumerate(parts):
        if not part.isascii() or not part.isdigit() or int(part) > _U64:
            rest = "x".join(parts[i:])
            raise status.InvalidArgumentError(f"shape[{i}] invalid value '{part}' of '{rest}'")
        shape.append(int(part))
    return tuple(shape)


def split_spec(text: str) -> tuple[tuple[int, ...], int, str | None]:
    """(shape, element type, contents or None) of ``SHAPExTYPE[=CONTENTS]``."""
    head, eq, contents = text.partition("=")
    x = head.rfind("x")
    shape_text, type_text = (head[:x], head[x + 1:]) if x >= 0 else ("", head)
    shape = parse_shape(shape_text)
    return shape, parse_element_type(type_text), (contents if eq else None)


class FileReader:
    """Files opened by one command line: ``@`` opens fresh, ``+`` / ``*`` continue."""

    def __init__(self):
        self._files: dict[str, object] = {}

    def open(self, path: str, fresh: bool):
        f = self._files.get(path)
        if f is None or fresh:
            if f is not None:
                f.close()
            try:
                f = open(path, "rb")  # noqa: SIM115 - kept open for `+path` inputs
            except OSError as e:
                text = f"cannot open '{path}': {e.strerror or e}"
                if isinstance(e, FileNotFoundError):
                    raise status.NotFoundError(text) from None
                raise status.UnavailableError(text) from None
            self._files[path] = f
        return f

    def read_array(self, path: str, fresh: bool) -> np.ndarray | None:
        """The next array of a .npy file, or None at its end."""
        f = self.open(path, fresh)
        if not f.peek(1):
            return None
        try:
            return np.load(f, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise status.InvalidArgumentError(f"'{path}' is not a valid .npy file: {e}") \
                from None

    def read_bytes(self, path: str, fresh: bool, length: int) -> bytes:
        data = self.open(path, fresh).read(length)
        if len(data) != length:
            raise status.OutOfRangeError(
                f"file '{path}' has {len(data)} bytes left but the tensor needs {length}")
        return data

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()


def allocate(allocator: HalAllocator, size: int) -> HalBuffer:
    return allocator.allocate(_DEVICE_LOCAL, _DEFAULT_USAGE, size)


def parse_tensor(text: str, allocator: HalAllocator, files: FileReader | None = None
                 ) -> HalBufferView:
    """A buffer view from ``SHAPExTYPE[=CONTENTS]`` (see the module docstring)."""
    text = text.strip(" \t\n\v\f\r")
    text = text.removeprefix('"').removesuffix('"')
    if not text:
        raise status.InvalidArgumentError("empty string input")
    shape, element_type, contents = split_spec(text)
    count = 1
    for d in shape:
        count *= d
    size = dense_byte_size(element_type, count)
    buffer = allocate(allocator, size)
    target = buffer.map_range(_WRITE, 0, size)
    if contents is not None and contents[:1] in ("@", "+"):
        files = files or FileReader()
        target[:] = np.frombuffer(files.read_bytes(contents[1:], contents[0] == "@", size),
                                  dtype=np.uint8)
    else:
        parse_elements(contents or "", element_type, target)
    return HalBufferView(buffer, shape, element_type)


_NPY_KINDS = {"b": 0x13, "i": 0x11, "u": 0x12, "f": 0x21, "c": 0x23, "V": 0x00}


def from_array(array: np.ndarray, allocator: HalAllocator) -> HalBufferView:
    """A buffer view holding a copy of a numpy array (``i`` arrays as signed ``si``)."""
    dtype = array.dtype
    code = _NPY_KINDS.get(dtype.kind)
    if code is None or dtype.fields is not None or dtype.subdtype is not None:
        raise status.UnimplementedError(f"numpy dtype {dtype} has no HAL element type")
    element_type = (code << 24) | (dtype.itemsize * 8)
    if dtype.kind != "V" and not dtype.isnative and dtype.itemsize > 1:
        array = array.astype(dtype.newbyteorder("="))
    flat = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
    buffer = allocate(allocator, flat.nbytes)
    if flat.nbytes:
        buffer.map_range(_WRITE, 0, flat.nbytes)[:] = flat
    return HalBufferView(buffer, array.shape, element_type)


def parse_input(text: str, allocator: HalAllocator, files: FileReader) -> list | None:
    """The value(s) of one ``r`` input, or None when ``text`` is not tensor syntax."""
    if text.startswith("&"):
        found = parse_input(text[1:], allocator, files)
        if found is None:
            return None
        return [view.buffer for view in found]
    if text[:1] in ("@", "+", "*"):
        path = text[1:]
        if not path.endswith(".npy"):
            raise status.UnimplementedError(
                f"only numpy (.npy) files are supported for inputs without a tensor type "
                f"(`@path.npy`); got '{path}'")
        if text[0] == "*":
            arrays = []
            while (array := files.read_array(path, False)) is not None:
                arrays.append(array)
            return [from_array(a, allocator) for a in arrays]
        array = files.read_array(path, text[0] == "@")
        if array is None:
            raise status.OutOfRangeError(f"no more arrays in '{path}'")
        return [from_array(array, allocator)]
    head = text.partition("=")[0]
    if "=" not in text and "x" not in head:
        return None
    return [parse_tensor(text, allocator, files)]


# -- registration -------------------------------------------------------------------------

_DEFAULT_ALLOCATOR: list = []


def default_allocator() -> HalAllocator:
    """The allocator used when the command line has no device (created once)."""
    if not _DEFAULT_ALLOCATOR:
        _DEFAULT_ALLOCATOR.append(HalAllocator.create())
    return _DEFAULT_ALLOCATOR[0]


def _state_allocator(state: dict) -> HalAllocator:
    allocator = state.get("hal.allocator")
    if allocator is None:
        device = state.get("hal.device")
        allocator = device.allocator if device is not None else default_allocator()
    return allocator


def _input_parser(text: str, state: dict):
    files = state.get("hal.files")
    if files is None:
        files = state["hal.files"] = FileReader()
        state.setdefault("on_finish", []).append(files.close)
    return parse_input(text, _state_allocator(state), files)


def register() -> None:
    """Plugs buffer views into ``pyree.tools`` (idempotent; done at import)."""
    values.register_input_parser(_input_parser)
    values.register_printer("hal.buffer_view", format_buffer_view)
    outputs.register_array_converter("hal.buffer_view", view_to_array)
    outputs.register_array_converter("hal.buffer", buffer_to_array)
    outputs.register_raw_converter("hal.buffer_view", view_bytes)


register()
