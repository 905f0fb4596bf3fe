"""Data movement: concat, slice (and Split), pad, tile, one-hot, top-k, trilu, bitcast,
reverse-sequence, and the ops whose output shape depends on data (Range, NonZero, Compress,
Unique), which compile only when their operands are constants (then they fold).

``slice`` carries one normalized (start, stop, step) triple per dimension; ``stop`` is
``None`` when a negative step runs past the first element.

The host library's rows for these ops (shape/type inference and numpy semantics):
host-library ``op`` bodies execute them, and ``compiler/ops/data.py`` (which keeps the
ONNX import rules) takes its ``infer``/``reference`` from here through
``registry.hosted``; the compiler depends on the HAL, never the reverse.
"""

from __future__ import annotations

import numpy as np

from .common import bad, np_dtype, same_dtype, tt
from .indices import lengths
from .registry import define

FAMILY = "data"


def _infer_concat(node, types):
    ax = node.attr("axis")
    dtype = same_dtype(node, types)
    base = list(types[0].shape)
    for t in types[1:]:
        if t.rank != len(base) or any(a != b for i, (a, b) in enumerate(zip(t.shape, base))
                                      if i != ax):
            bad(node, f"cannot concatenate {types[0]} and {t} on axis {ax}")
    base[ax] = sum(t.shape[ax] for t in types)
    return [tt(dtype, base)]


define("concat", FAMILY, "data", _infer_concat,
       lambda n, *xs: np.concatenate(xs, axis=n.attr("axis")))


def _slices(node):
    return tuple(slice(a, b, c) for a, b, c in node.attr("slices"))


def _infer_slice(node, types):
    t = types[0]
    shape = [len(range(*s.indices(d))) for s, d in zip(_slices(node), t.shape)]
    return [tt(t.dtype, shape)]


define("slice", FAMILY, "data", _infer_slice, lambda n, x: x[_slices(n)])


def _pad(node, x, value=None):
    pads = node.attr("pads")
    r = x.ndim
    width = [(pads[i], pads[i + r]) for i in range(r)]
    crop = tuple(slice(-b if b < 0 else 0, (d + a if a < 0 else d)) for (b, a), d in
                 zip(width, x.shape))
    x = x[crop]
    width = [(max(b, 0), max(a, 0)) for b, a in width]
    mode = node.attr("mode")
    if mode == "constant":
        v = 0 if value is None or value.size == 0 else value.reshape(-1)[0]
        return np.pad(x, width, mode="constant", constant_values=v)
    return np.pad(x, width, mode={"reflect": "reflect", "edge": "edge", "wrap": "wrap"}[mode])


def _infer_pad(node, types):
    t = types[0]
    pads = node.attr("pads")
    return [tt(t.dtype, [d + pads[i] + pads[i + t.rank] for i, d in enumerate(t.shape)])]


define("pad", FAMILY, "data", _infer_pad, _pad)
define("tile", FAMILY, "data",
       lambda n, t: [tt(t[0].dtype, [d * r for d, r in zip(t[0].shape, n.attr("repeats"))])],
       lambda n, x: np.tile(x, n.attr("repeats")))


def _one_hot(node, idx, values):
    depth, ax = node.attr("depth"), node.attr("axis")
    idx = np.asarray(idx).astype(np.int64)
    idx = np.where(idx < 0, idx + depth, idx)
    hot = np.expand_dims(idx, ax) == np.arange(depth).reshape(
        [depth if i == ax % (idx.ndim + 1) else 1 for i in range(idx.ndim + 1)])
    return np.where(hot, values[1], values[0]).astype(values.dtype)


def _infer_one_hot(node, types):
    shape = list(types[0].shape)
    ax = node.attr("axis")
    shape.insert(ax, node.attr("depth"))
    return [tt(types[1].dtype, shape)]


define("one_hot", FAMILY, "data", _infer_one_hot, _one_hot)


def _top_k(node, x):
    k, ax = node.attr("k"), node.attr("axis")
    if node.attr("largest"):
        # descending with ties in index order: a stable ascending sort of an order-reversing
        # key; ~x for integers and booleans (-x wraps: 0 stays the smallest uint, INT_MIN
        # the smallest int)
        key = ~x if x.dtype.kind in "iub" else -x
    else:
        key = x
    order = np.argsort(key, axis=ax, kind="stable")
    idx = np.take(order, np.arange(k), axis=ax)
    return np.take_along_axis(x, idx, axis=ax), idx.astype(np.int64)


def _infer_top_k(node, types):
    shape = list(types[0].shape)
    shape[node.attr("axis")] = node.attr("k")
    return [tt(types[0].dtype, shape), tt("i64", shape)]


define("top_k", FAMILY, "library", _infer_top_k, _top_k)


def _trilu(node, x, k=None):
    offset = 0 if k is None else int(np.asarray(k).reshape(-1)[0])
    return (np.triu if node.attr("upper") else np.tril)(x, offset)


define("trilu", FAMILY, "library", lambda n, t: [t[0]], _trilu)
define("bitcast", FAMILY, "view", lambda n, t: [tt(n.attr("to"), t[0].shape)],
       lambda n, x: np.ascontiguousarray(x).view(np_dtype(n.attr("to"))).reshape(x.shape))


def _reverse_sequence(node, x, lens):
    b, t = node.attr("batch_axis"), node.attr("time_axis")
    out = np.array(x, copy=True)
    limit = x.shape[t]
    for i, n in enumerate(lengths(node, lens, limit, f"time axis {t} of size {limit}")):
        index = [slice(None)] * x.ndim
        index[b] = i
        index[t] = slice(0, int(n))
        out[tuple(index)] = np.flip(x[tuple(index)], axis=t - (1 if b < t else 0))
    return out


define("reverse_sequence", FAMILY, "data", lambda n, t: [t[0]], _reverse_sequence)
