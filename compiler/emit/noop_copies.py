"""Copies onto their own bytes: dispatches emission can drop.

A concat whose operand the buffer plan placed inside its output (``Slot.alias_of``,
``passes/buffer_plan.py``) still gets a copy dispatch from its lowering, which only sees
the region and the graph: source and target are then the same bytes seen through the same
view. :func:`is_noop_copy` recognises such a dispatch once every operand has a place, so
emission records neither it nor the barrier it would need (DenseNet's and Inception's
channel concats).
"""

from __future__ import annotations

from pyree.compiler import dtypes


def _value(ref, constants):
    return constants[ref["pc"]] if isinstance(ref, dict) else ref


def _view(binding, constants):
    """(element offset, [(size, stride)] without unit dims) of a strided binding."""
    shape = [_value(s, constants) for s in binding["shape"]]
    strides = [_value(s, constants) for s in binding.get("strides", ())]
    if len(strides) != len(shape):
        return None
    offset = _value(binding.get("offset", 0), constants)
    return offset, [(d, s) for d, s in zip(shape, strides) if d != 1]


def is_noop_copy(dispatch, byte_start) -> bool:
    """True when ``dispatch`` is a v1 ``copy`` whose source and target views cover the
    same bytes in the same order. ``byte_start(operand)`` gives (buffer key, byte offset
    of the operand's first byte)."""
    body = dispatch.function.get("body", {})
    if body.get("kind") != "copy":
        return False
    bindings = {b["index"]: b for b in dispatch.function["bindings"]}
    src, dst = bindings[body["source"]], bindings[body["target"]]
    if src["type"] != dst["type"]:
        return False
    views = [_view(b, dispatch.constants) for b in (src, dst)]
    if None in views or views[0][1] != views[1][1]:
        return False
    size = dtypes.itemsize(src["type"])
    (src_key, src_at), (dst_key, dst_at) = (byte_start(dispatch.operands[b["index"]])
                                            for b in (src, dst))
    return src_key == dst_key and src_at + views[0][0] * size == dst_at + views[1][0] * size
