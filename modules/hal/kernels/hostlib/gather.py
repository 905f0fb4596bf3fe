"""Gathers and scatters: Gather, GatherElements, GatherND, ScatterElements (and the
deprecated Scatter), ScatterND. Indices are runtime operands; negative indices count
from the end of their axis.

The host library's rows for these ops (shape/type inference and numpy semantics):
host-library ``op`` bodies execute them, and ``compiler/ops/gather.py`` (which keeps the
ONNX import rules) takes its ``infer``/``reference`` from here through
``registry.hosted``; the compiler depends on the HAL, never the reverse.
"""

from __future__ import annotations

import numpy as np

from .common import tt
from .indices import normalized, normalized_tuples
from .registry import define

FAMILY = "data"


def _fix(node, idx, x, ax):
    """``idx`` along axis ``ax`` of ``x``: checked (OUT_OF_RANGE) and made non-negative."""
    ax = ax % x.ndim if x.ndim else 0
    dim = x.shape[ax] if x.ndim else 1
    return normalized(node, idx, dim, f"axis {ax} of size {dim}")


def _infer_gather(node, types):
    x, i = types[0], types[1]
    ax = node.attr("axis")
    return [tt(x.dtype, x.shape[:ax] + i.shape + x.shape[ax + 1:])]


define("gather", FAMILY, "data", _infer_gather,
       lambda n, x, i: np.take(x, _fix(n, i, x, n.attr("axis")), axis=n.attr("axis")))
define("gather_elements", FAMILY, "data", lambda n, t: [tt(t[0].dtype, t[1].shape)],
       lambda n, x, i: np.take_along_axis(x, _fix(n, i, x, n.attr("axis")),
                                          axis=n.attr("axis")))


def _gather_nd(node, x, idx):
    b = node.attr("batch_dims")
    idx = normalized_tuples(node, idx, x.shape, first_axis=b)
    batch = x.shape[:b]
    k = idx.shape[-1]
    out_tail = x.shape[b + k:]
    xs = x.reshape((-1,) + x.shape[b:])
    ids = idx.reshape((xs.shape[0] if b else 1, -1, k))
    res = []
    for j in range(ids.shape[0]):
        part = xs[j] if b else x
        for row in ids[j]:
            res.append(part[tuple(int(r) for r in row)])
    return np.asarray(res, x.dtype).reshape(batch + idx.shape[b:-1] + out_tail)


def _infer_gather_nd(node, types):
    x, i = types
    b = node.attr("batch_dims")
    return [tt(x.dtype, i.shape[:-1] + x.shape[b + i.shape[-1]:])]


define("gather_nd", FAMILY, "data", _infer_gather_nd, _gather_nd)
_REDUCE = {"none": None, "add": np.add, "mul": np.multiply, "max": np.maximum,
           "min": np.minimum}


def _scatter_elements(node, x, idx, upd):
    ax = node.attr("axis")
    out = np.array(x, copy=True)
    idx = _fix(node, idx, x, ax)
    fn = _REDUCE[node.attr("reduction")]
    for pos in np.ndindex(*idx.shape):
        target = list(pos)
        target[ax] = idx[pos]
        target = tuple(target)
        out[target] = upd[pos] if fn is None else fn(out[target], upd[pos])
    return out


def _scatter_nd(node, x, idx, upd):
    out = np.array(x, copy=True)
    fn = _REDUCE[node.attr("reduction")]
    idx = normalized_tuples(node, idx, x.shape)
    for pos in np.ndindex(*idx.shape[:-1]):
        target = tuple(idx[pos])
        out[target] = upd[pos] if fn is None else fn(out[target], upd[pos])
    return out


define("scatter_elements", FAMILY, "data", lambda n, t: [t[0]], _scatter_elements)
define("scatter_nd", FAMILY, "data", lambda n, t: [t[0]], _scatter_nd)
