"""Normalisations: BatchNormalization (inference, lowered to a per-channel scale and
shift), InstanceNormalization, LayerNormalization, LRN and LpNormalization.

Batch normalization in inference is elementwise: ``y = x * a + b`` with
``a = scale / sqrt(var + eps)`` and ``b = bias - mean * a`` per channel; with constant
parameters ``a`` and ``b`` fold at import, and the two elementwise nodes fuse into the
producing convolution's epilogue. The others are their own ``normalization`` regions.

The host library's rows for these ops (shape/type inference and numpy semantics):
host-library ``op`` bodies execute them, and ``compiler/ops/nn_norm.py`` (which keeps the
ONNX import rules) takes its ``infer``/``reference`` from here through
``registry.hosted``; the compiler depends on the HAL, never the reverse.
"""

from __future__ import annotations

import numpy as np

from .common import np_dtype, tt
from .registry import define

FAMILY = "nn"


def _instance_norm(node, x, scale, bias):
    axes = tuple(range(2, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = (x - mean) / np.sqrt(var + node.attr("epsilon"))
    return (y * scale.reshape(shape) + bias.reshape(shape)).astype(x.dtype)


define("instance_norm", FAMILY, "normalization", lambda n, t: [t[0]], _instance_norm)


def _layer_norm(node, x, scale, bias=None):
    ax = node.attr("axis")
    axes = tuple(range(ax, x.ndim))
    xf = x.astype(np.float64) if x.dtype.itemsize < 4 else x
    mean = xf.mean(axis=axes, keepdims=True)
    var = ((xf - mean) ** 2).mean(axis=axes, keepdims=True)
    inv = 1 / np.sqrt(var + node.attr("epsilon"))
    y = (xf - mean) * inv * scale
    if bias is not None:
        y = y + bias
    stash = np_dtype(node.attr("stash_type"))
    return y.astype(x.dtype), mean.astype(stash), inv.astype(stash)


def _infer_layer_norm(node, types):
    x = types[0]
    ax = node.attr("axis")
    stat = x.shape[:ax] + (1,) * (x.rank - ax)
    return [x, tt(node.attr("stash_type"), stat), tt(node.attr("stash_type"), stat)]


define("layer_norm", FAMILY, "normalization", _infer_layer_norm, _layer_norm)


def _lrn(node, x):
    size = node.attr("size")
    sq = np.square(x.astype(np.float64))
    c = x.shape[1]
    lo, hi = (size - 1) // 2, size // 2 + (size - 1) % 2 * 0
    hi = size - 1 - lo
    padded = np.pad(sq, [(0, 0), (lo, hi)] + [(0, 0)] * (x.ndim - 2))
    total = sum(padded[:, i:i + c] for i in range(size))
    div = (node.attr("bias") + node.attr("alpha") / size * total) ** node.attr("beta")
    return (x / div).astype(x.dtype)


define("lrn", FAMILY, "normalization", lambda n, t: [t[0]], _lrn)


def _lp_norm(node, x):
    ax, p = node.attr("axis"), node.attr("p")
    norm = (np.sum(np.abs(x) ** p, axis=ax, keepdims=True)) ** (1.0 / p)
    with np.errstate(all="ignore"):
        return np.where(norm == 0, 0, x / norm).astype(x.dtype)


define("lp_norm", FAMILY, "normalization", lambda n, t: [t[0]], _lp_norm)
