"""Shape and layout ops: identity, reshape (and Flatten/Squeeze/Unsqueeze), transpose,
broadcast (Expand), shape/size (shape arithmetic, always folded), constants and fills,
depth/space rearrangements.

``reshape`` and ``identity`` are views: a dense buffer is reinterpreted, never copied.
``broadcast_to`` is elementwise (a broadcasting load) and fuses like one. ``fill``
produces splats; folded, they are zero-memory ``np.broadcast_to`` views.

The host library's rows for these ops (shape/type inference and numpy semantics):
host-library ``op`` bodies execute them, and ``compiler/ops/shape.py`` (which keeps the
ONNX import rules) takes its ``infer``/``reference`` from here through
``registry.hosted``; the compiler depends on the HAL, never the reverse.
"""

from __future__ import annotations

import math

import numpy as np

from .common import bad, broadcast_shape, np_dtype, tt
from .registry import define

FAMILY = "shape"
define("identity", FAMILY, "view", lambda n, t: [t[0]], lambda n, x: x)


def _infer_reshape(node, types):
    shape = node.attr("shape")
    if math.prod(shape) != types[0].size:
        bad(node, f"cannot reshape {types[0]} to {list(shape)}")
    return [tt(types[0].dtype, shape)]


define("reshape", FAMILY, "view", _infer_reshape,
       lambda n, x: np.reshape(x, n.attr("shape")))


def _infer_transpose(node, types):
    perm, t = node.attr("perm"), types[0]
    if sorted(perm) != list(range(t.rank)):
        bad(node, f"perm {list(perm)} is not a permutation of {t.rank} dims")
    return [tt(t.dtype, [t.shape[p] for p in perm])]


define("transpose", FAMILY, "transpose", _infer_transpose,
       lambda n, x: np.transpose(x, n.attr("perm")))


def _infer_broadcast(node, types):
    shape = node.attr("shape")
    if broadcast_shape(node, [types[0].shape, shape]) != tuple(shape):
        bad(node, f"cannot broadcast {types[0]} to {list(shape)}")
    return [tt(types[0].dtype, shape)]


define("broadcast_to", FAMILY, "elementwise", _infer_broadcast,
       lambda n, x: np.broadcast_to(x, n.attr("shape")))


def _shape_fold(node, types):
    shape = types[0].shape
    return [np.array(shape[node.attr("start"):node.attr("end")], dtype=np.int64)]


def _infer_shape(node, types):
    return [tt("i64", [len(types[0].shape[node.attr("start"):node.attr("end")])])]


define("shape", FAMILY, "data", _infer_shape,
       lambda n, x: np.array(x.shape[n.attr("start"):n.attr("end")], np.int64),
       fold_types=_shape_fold)
define("size", FAMILY, "data", lambda n, t: [tt("i64", ())],
       lambda n, x: np.array(x.size, np.int64),
       fold_types=lambda n, t: [np.array(t[0].size, np.int64)])


def _fill_ref(node):
    value = np.array(node.attr("value"), np_dtype(node.attr("dtype")))
    return np.broadcast_to(value, node.attr("shape"))


define("fill", FAMILY, "data", lambda n, t: [tt(n.attr("dtype"), n.attr("shape"))],
       _fill_ref)
