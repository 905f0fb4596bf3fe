"""Reductions (static axes), arg-reductions, scans and the softmax family.

IR reductions carry their axes as a sorted attribute tuple (an ONNX ``axes`` input must
be a constant); ``keepdims`` is 0/1. The softmax family reduces along one axis: ONNX
opsets before 13 define softmax over the input coerced to 2-D at ``axis``, which the
import rule rewrites as reshape -> softmax(axis=1) -> reshape.

The host library's rows for these ops (shape/type inference and numpy semantics):
host-library ``op`` bodies execute them, and ``compiler/ops/reduction.py`` (which keeps the
ONNX import rules) takes its ``infer``/``reference`` from here through
``registry.hosted``; the compiler depends on the HAL, never the reverse.
"""

from __future__ import annotations

import numpy as np

from .common import is_float, tt
from .registry import define

FAMILY = "reduction"


def _reduced_shape(shape, axes, keepdims):
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _infer_reduce(node, types):
    t = types[0]
    return [tt(t.dtype, _reduced_shape(t.shape, node.attr("axes"), node.attr("keepdims")))]


def _extreme(fn, x, axes, keepdims, lowest):
    if x.size == 0:
        if is_float(x.dtype):
            init = -np.inf if lowest else np.inf
        elif x.dtype == np.bool_:
            init = not lowest
        else:
            info = np.iinfo(x.dtype)
            init = info.min if lowest else info.max
        return fn(x, axis=axes, keepdims=keepdims, initial=init)
    return fn(x, axis=axes, keepdims=keepdims)


def _logsumexp(x, axes, keepdims):
    if x.size == 0:
        return np.log(np.sum(np.exp(x), axis=axes, keepdims=keepdims))
    m = np.max(x, axis=axes, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    out = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axes)


REDUCE = {
    "reduce_sum": ("ReduceSum", 13, lambda x, a, k: np.sum(x, axis=a, keepdims=k)),
    "reduce_mean": ("ReduceMean", 18, lambda x, a, k: np.mean(x, axis=a, keepdims=k)),
    "reduce_max": ("ReduceMax", 18, lambda x, a, k: _extreme(np.max, x, a, k, True)),
    "reduce_min": ("ReduceMin", 18, lambda x, a, k: _extreme(np.min, x, a, k, False)),
    "reduce_prod": ("ReduceProd", 18, lambda x, a, k: np.prod(x, axis=a, keepdims=k)),
    "reduce_l1": ("ReduceL1", 18, lambda x, a, k: np.sum(np.abs(x), axis=a, keepdims=k)),
    "reduce_l2": ("ReduceL2", 18,
                  lambda x, a, k: np.sqrt(np.sum(np.square(x), axis=a, keepdims=k))),
    "reduce_log_sum": ("ReduceLogSum", 18,
                       lambda x, a, k: np.log(np.sum(x, axis=a, keepdims=k))),
    "reduce_log_sum_exp": ("ReduceLogSumExp", 18, _logsumexp),
    "reduce_sum_square": ("ReduceSumSquare", 18,
                          lambda x, a, k: np.sum(np.square(x), axis=a, keepdims=k)),
}


def _reduce_ref(fn):
    def reference(node, x):
        with np.errstate(all="ignore"):
            out = fn(x, node.attr("axes"), bool(node.attr("keepdims")))
        return np.asarray(out).astype(x.dtype, copy=False)
    return reference


for _name, (_onnx, _since, _fn) in REDUCE.items():
    define(_name, FAMILY, "reduce", _infer_reduce, _reduce_ref(_fn))


def _infer_arg(node, types):
    t = types[0]
    return [tt("i64", _reduced_shape(t.shape, (node.attr("axis"),), node.attr("keepdims")))]


def _arg_ref(fn):
    def reference(node, x):
        ax = node.attr("axis")
        if node.attr("select_last_index"):
            flipped = np.flip(x, axis=ax)
            out = x.shape[ax] - 1 - fn(flipped, axis=ax)
        else:
            out = fn(x, axis=ax)
        if node.attr("keepdims"):
            out = np.expand_dims(out, ax)
        return np.asarray(out, dtype=np.int64)
    return reference


define("argmax", FAMILY, "reduce", _infer_arg, _arg_ref(np.argmax))
define("argmin", FAMILY, "reduce", _infer_arg, _arg_ref(np.argmin))


def _scan_ref(fn):
    def reference(node, x):
        ax = node.attr("axis")
        y = np.flip(x, ax) if node.attr("reverse") else x
        out = fn(y, axis=ax, dtype=x.dtype)
        if node.attr("exclusive"):
            ident = 0 if fn is np.cumsum else 1
            pad = [(0, 0)] * x.ndim
            pad[ax] = (1, 0)
            out = np.pad(out, pad, constant_values=ident)
            out = np.take(out, range(x.shape[ax]), axis=ax)
        return np.flip(out, ax) if node.attr("reverse") else out
    return reference


define("cumsum", FAMILY, "library", lambda n, t: [t[0]], _scan_ref(np.cumsum))
define("cumprod", FAMILY, "library", lambda n, t: [t[0]], _scan_ref(np.cumprod))


def _softmax(x, ax):
    m = np.max(x, axis=ax, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=ax, keepdims=True)


def _log_softmax(x, ax):
    m = np.max(x, axis=ax, keepdims=True)
    s = x - m
    return s - np.log(np.sum(np.exp(s), axis=ax, keepdims=True))


def _hardmax(x, ax):
    idx = np.expand_dims(np.argmax(x, axis=ax), ax)
    out = np.zeros_like(x)
    np.put_along_axis(out, idx, 1, axis=ax)
    return out


SOFTMAX = {"softmax": ("Softmax", _softmax), "log_softmax": ("LogSoftmax", _log_softmax),
           "hardmax": ("Hardmax", _hardmax)}


def _softmax_ref(fn):
    def reference(node, x):
        if x.size == 0:
            return x.copy()
        with np.errstate(all="ignore"):
            return fn(x, node.attr("axis")).astype(x.dtype, copy=False)
    return reference


for _name, (_onnx, _fn) in SOFTMAX.items():
    define(_name, FAMILY, "softmax", lambda n, t: [t[0]], _softmax_ref(_fn))
