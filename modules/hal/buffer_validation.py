"""Buffer validation: ranges, access, usage and memory types, with IREE's messages.

These are the checks of ``iree/hal/buffer.c`` (``iree_hal_buffer_calculate_range``,
``validate_access``/``usage``/``memory_type``), shared by buffers, buffer views, command
buffer validation and the ``hal`` module so that every caller raises the same error.

Sizes and offsets are ``I`` ABI values: 64-bit and unsigned. :func:`device_size` maps any
Python int (a signed register value included) onto ``[0, 2**64)``, so ``-1`` becomes
:data:`WHOLE_BUFFER`. Range arithmetic is done on unbounded ints afterwards: a range whose
end would wrap around 2**64 in C is rejected here instead of wrapping.
"""

from __future__ import annotations

import operator

from pyree.status import InvalidArgumentError, OutOfRangeError, PermissionDeniedError

from .enums import (MASK32, MASK64, WHOLE_BUFFER, format_buffer_usage,
                    format_memory_access, format_memory_type)

_ANY = 0x20
_READ_WRITE = 0x03


def device_size(value) -> int:
    """An ``I`` argument as an unsigned 64-bit int (``-1`` -> :data:`WHOLE_BUFFER`)."""
    try:
        return operator.index(value) & MASK64
    except TypeError:
        raise InvalidArgumentError(
            f"expected an integer size/offset, got {type(value).__name__}") from None


def flags32(value) -> int:
    """An ``i`` flag-set argument as an unsigned 32-bit int."""
    try:
        return operator.index(value) & MASK32
    except TypeError:
        raise InvalidArgumentError(
            f"expected integer flags, got {type(value).__name__}") from None


def message_text(message) -> str:
    """The prefix text of ``buffer.assert``-style messages: a str, bytes-like object or
    ``!vm.buffer`` (its bytes, decoded as UTF-8 with replacement); None is empty."""
    if message is None:
        return ""
    if isinstance(message, str):
        return message
    data = getattr(message, "data", message)
    return bytes(data).decode("utf-8", errors="replace")


def calculate_range(byte_length: int, offset: int, length: int) -> tuple[int, int]:
    """Resolves ``(offset, length)`` within a buffer of ``byte_length`` bytes.

    Both are :func:`device_size` values; ``length == WHOLE_BUFFER`` means to the end. Returns
    the (offset, length) pair relative to the buffer. Errors (OUT_OF_RANGE):
    "attempted to access an address off the end of the valid buffer range (offset=O,
    length=L, buffer byte_length=N)" when the start is past the end, and "attempted to
    access an address outside of the valid buffer range (offset=O, length=L, end(inc)=E,
    buffer byte_length=N)" when the end is. A zero length anywhere up to the end is fine.
    """
    if offset > byte_length:
        raise OutOfRangeError(
            "attempted to access an address off the end of the valid buffer range "
            f"(offset={offset}, length={length}, buffer byte_length={byte_length})")
    if length == WHOLE_BUFFER:
        return offset, byte_length - offset
    if length == 0:
        return offset, 0
    end = offset + length - 1
    if end >= byte_length:
        raise OutOfRangeError(
            "attempted to access an address outside of the valid buffer range "
            f"(offset={offset}, length={length}, end(inc)={end}, "
            f"buffer byte_length={byte_length})")
    return offset, length


def validate_memory_type(actual: int, expected: int) -> None:
    """Every bit of ``expected`` must be in ``actual`` (PERMISSION_DENIED otherwise)."""
    if actual & expected != expected:
        raise PermissionDeniedError(
            "buffer memory type is not compatible with the requested operation; "
            f"buffer has {format_memory_type(actual)}, "
            f"operation requires {format_memory_type(expected)}")


def validate_access(allowed: int, required: int) -> None:
    """The required access must be allowed.

    ANY in ``required`` always passes. A requirement without READ or WRITE is
    INVALID_ARGUMENT "memory access must specify one or more of _READ or _WRITE"; missing
    bits are PERMISSION_DENIED "buffer does not support the requested access type; buffer
    allows X, operation requires Y".
    """
    if required & _ANY:
        return
    if not required & _READ_WRITE:
        raise InvalidArgumentError("memory access must specify one or more of _READ or _WRITE")
    if allowed & required != required:
        raise PermissionDeniedError(
            "buffer does not support the requested access type; "
            f"buffer allows {format_memory_access(allowed)}, "
            f"operation requires {format_memory_access(required)}")


def validate_usage(allowed: int, required: int) -> None:
    """Every bit of ``required`` must be an allowed usage (PERMISSION_DENIED otherwise)."""
    if allowed & required != required:
        raise PermissionDeniedError(
            "requested usage was not specified when the buffer was allocated; "
            f"buffer allows {format_buffer_usage(allowed)}, "
            f"operation requires {format_buffer_usage(required)}")
