"""Shared helpers of the HAL tests."""

import contextlib

import pytest

from pyree.modules.hal import HalAllocator


@contextlib.contextmanager
def raises(cls, message=None, *, annotations=None, code=None):
    """pytest.raises that also checks the exact message, annotations and status code."""
    with pytest.raises(cls) as info:
        yield info
    if message is not None:
        assert info.value.message == message
    if annotations is not None:
        assert info.value.annotations == annotations
    if code is not None:
        assert int(info.value.code) == int(code)


def allocator(**kwargs):
    """A fresh allocator with its own small-arena pool."""
    kwargs.setdefault("arena_bytes", 64 * 1024)
    return HalAllocator.create(**kwargs)
