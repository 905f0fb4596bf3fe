"""Argument helpers of the ``hal`` module exports (``hal-abi.md`` section 2).

Refs are dereferenced with an exact type check (the VM has no subtyping): a null ref where
an object is required is INVALID_ARGUMENT "ref is null", a ref of another type is
INVALID_ARGUMENT "ref type mismatch; expected hal.X but got Y". Arguments documented as
"may be null" go through :func:`deref_or_null`. Message, label, key and format arguments
are ``!vm.buffer`` values whose bytes are decoded as UTF-8 text (:func:`text`).

The exports check the common case inline (``type(x) is HalBuffer``) and call these only
to build the error, so the fast path of a call costs one identity test per ref.
"""

from __future__ import annotations

from pyree.status import InvalidArgumentError
from pyree.vm.buffer import VmBuffer
from pyree.vm.ref import lookup_ref_type, ref_type_of

from .buffer import HalBuffer
from .fence import HalFence


_KNOWN_TYPES = ("hal.allocator", "hal.buffer", "hal.buffer_view", "hal.channel",
                "hal.command_buffer", "hal.device", "hal.event", "hal.executable", "hal.fence",
                "hal.file", "hal.semaphore", "vm.buffer", "vm.list")


def _type_name(cls: type) -> str:
    for name in _KNOWN_TYPES:
        found = lookup_ref_type(name)
        if found is not None and found.cls is cls:
            return name
    return cls.__name__


def ref_error(value, cls: type) -> InvalidArgumentError:
    """The error for ``value`` where a ``cls`` ref is required."""
    if value is None:
        return InvalidArgumentError("ref is null")
    found = ref_type_of(value)
    got = found.name if found is not None else type(value).__name__
    return InvalidArgumentError(
        f"ref type mismatch; expected {_type_name(cls)} but got {got}")


def deref(value, cls: type):
    """``value`` if it is a non-null ``cls`` ref, else INVALID_ARGUMENT."""
    if type(value) is cls:
        return value
    raise ref_error(value, cls)


def deref_or_null(value, cls: type):
    """``value`` if it is null or a ``cls`` ref, else INVALID_ARGUMENT."""
    if value is None or type(value) is cls:
        return value
    raise ref_error(value, cls)


def buffer_or_null(value) -> HalBuffer | None:
    if value is None or type(value) is HalBuffer:
        return value
    raise ref_error(value, HalBuffer)


def fence_or_null(value) -> HalFence | None:
    if value is None or type(value) is HalFence:
        return value
    raise ref_error(value, HalFence)


def vm_buffer(value) -> VmBuffer:
    if type(value) is VmBuffer:
        return value
    raise ref_error(value, VmBuffer)


def text(value) -> str:
    """The UTF-8 text of a non-null ``!vm.buffer`` argument (invalid bytes replaced)."""
    if type(value) is not VmBuffer:
        raise ref_error(value, VmBuffer)
    return bytes(value.data).decode("utf-8", errors="replace")


def text_or_empty(value) -> str:
    """:func:`text`, with a null buffer read as the empty string."""
    return "" if value is None else text(value)
