"""Resize (and Upsample): separable interpolation as one constant matrix per axis.

Interpolation is linear in the data and separable, so the import rule computes, for each
resized axis, an ``[out, in]`` weight matrix (nearest, linear or cubic taps with the
coordinate transformation, edge clamping, ``exclude_outside`` and antialiasing folded
in) and a per-row bias (``tf_crop_and_resize`` extrapolation). The IR op
``interpolate`` contracts one axis with such a matrix - a matmul against a constant,
which is how it will lower. Results are rounded and saturated to integer types as
ONNX specifies.

The host library's rows for these ops (shape/type inference and numpy semantics):
host-library ``op`` bodies execute them, and ``compiler/ops/resize.py`` (which keeps the
ONNX import rules) takes its ``infer``/``reference`` from here through
``registry.hosted``; the compiler depends on the HAL, never the reverse.
"""

from __future__ import annotations

import numpy as np

from .common import is_float, tt
from .registry import define

FAMILY = "nn"


def _interpolate(node, x, w, bias):
    ax = node.attr("axis")
    wide = x.astype(np.float64)
    y = np.moveaxis(np.tensordot(w, wide, axes=([1], [ax])), 0, ax)
    y = y + bias.reshape((-1,) + (1,) * (x.ndim - ax - 1))
    if not is_float(x.dtype):
        info = np.iinfo(x.dtype) if x.dtype != np.bool_ else None
        y = np.round(y)
        if info is not None:
            y = np.clip(y, info.min, info.max)
    return y.astype(x.dtype)


def _infer_interpolate(node, types):
    x, w = types[0], types[1]
    shape = list(x.shape)
    shape[node.attr("axis")] = w.shape[0]
    return [tt(x.dtype, shape)]


define("interpolate", FAMILY, "library", _infer_interpolate, _interpolate)
