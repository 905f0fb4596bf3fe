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


def _nearest(ratio, mode):
    if ratio == int(ratio):
        return np.array([0.0, 1.0])
    if mode == "round_prefer_floor":
        return np.array([ratio <= 0.5, ratio > 0.5], float)
    if mode == "round_prefer_ceil":
        return np.array([ratio < 0.5, ratio >= 0.5], float)
    return np.array([1.0, 0.0]) if mode == "floor" else np.array([0.0, 1.0])


def _cubic(ratio, scale, a, antialias):
    def k(x):
        x = abs(x)
        if x <= 1:
            return (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1
        return a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a if x < 2 else 0.0
    if not antialias:
        return np.array([k(ratio + 1), k(ratio), k(1 - ratio), k(2 - ratio)])
    scale = min(scale, 1.0)
    start = int(np.floor(-2 / scale) + 1)
    c = np.array([k(scale * (i - ratio)) for i in range(start, 2 - start)])
    return c / c.sum()


def _linear(ratio, scale, antialias):
    if not antialias:
        return np.array([1 - ratio, ratio])
    scale = min(scale, 1.0)
    start = int(np.floor(-1 / scale) + 1)
    c = np.clip(1 - np.abs((np.arange(start, 2 - start) - ratio) * scale), 0, 1)
    return c / c.sum()


def _source_coords(mode, y, scale, length, out_float, out_int, roi):
    extrapolated = None
    if mode == "align_corners":
        x = np.zeros(out_int) if out_float == 1 else y * (length - 1) / (out_float - 1)
    elif mode == "asymmetric":
        x = y / scale
    elif mode == "tf_crop_and_resize":
        if out_float == 1:
            x = np.full(out_int, (roi[1] - roi[0]) * (length - 1) / 2)
        else:
            x = y * (roi[1] - roi[0]) * (length - 1) / (out_float - 1)
        x = x + roi[0] * (length - 1)
        extrapolated = (x < 0) | (x > length - 1)
    elif mode == "pytorch_half_pixel":
        x = np.full(out_int, -0.5) if out_float == 1 else (y + 0.5) / scale - 0.5
    elif mode == "half_pixel":
        x = (y + 0.5) / scale - 0.5
    elif mode == "half_pixel_symmetric":
        offset = length / 2 * (1 - out_int / out_float)
        x = offset + (y + 0.5) / scale - 0.5
    else:
        return None, None
    return x, extrapolated


_ATTRIBUTES = ("antialias", "axes", "coordinate_transformation_mode", "cubic_coeff_a",
               "exclude_outside", "extrapolation_value", "keep_aspect_ratio_policy", "mode",
               "nearest_mode")
