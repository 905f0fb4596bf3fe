"""Resize (and Upsample): separable interpolation as one constant matrix per axis.

Interpolation is linear in the data and separable, so the import rule computes, for each
resized axis, an ``[out, in]`` weight matrix (nearest, linear or cubic taps with the
coordinate transformation, edge clamping, ``exclude_outside`` and antialiasing folded
in) and a per-row bias (``tf_crop_and_resize`` extrapolation). The IR op
``interpolate`` contracts one axis with such a matrix - a matmul against a constant,
which is how it will lower. Results are rounded and saturated to integer types as
ONNX specifies.
"""

from __future__ import annotations

import numpy as np
from pyree.compiler.ops.registry import define, hosted, onnx_rule

FAMILY = "nn"


define("interpolate", FAMILY, "library", *hosted("interpolate"))


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


def axis_matrix(ctx, length, out_int, scale, roi, coeffs):
    """([out, in] weights, [out] bias) of one resized axis."""
    y = np.arange(out_int, dtype=np.float64)
    mode = ctx.attr("coordinate_transformation_mode", "half_pixel")
    x, extrapolated = _source_coords(mode, y, scale, length, scale * length, out_int, roi)
    if x is None:
        ctx.fail(f"coordinate_transformation_mode '{mode}' is not supported")
    base = np.floor(x).astype(np.int64)
    ratios = np.where(x == base, 1.0, x - base)
    taps = [np.asarray(coeffs(float(r), scale), np.float64) for r in ratios]
    n = len(taps[0]) if taps else 1
    pad = int(np.ceil(n / 2))
    xp = x + pad
    p = np.floor(xp).astype(np.int64)
    frac = xp - p
    if n % 2 == 0:
        offset = np.where(frac == 0, -(n // 2), -(n // 2) + 1)
    else:
        offset = np.where(frac <= 0.5, -((n - 1) // 2), -((n - 1) // 2) + 1)
    idx = (p + offset)[:, None] + np.arange(n)[None, :] - pad
    c = np.array(taps).reshape(out_int, n)
    if ctx.attr("exclude_outside", 0):
        c = np.where((idx < 0) | (idx >= length), 0.0, c)
        total = c.sum(axis=-1, keepdims=True)
        c = c / np.where(total == 0, 1.0, total)
    w = np.zeros((out_int, length))
    np.add.at(w, (np.repeat(np.arange(out_int), n), np.clip(idx, 0, length - 1).ravel()),
              c.ravel())
    bias = np.zeros(out_int)
    if extrapolated is not None:
        w[extrapolated] = 0.0
        bias[extrapolated] = ctx.attr("extrapolation_value", 0.0)
    return w, bias


_ATTRIBUTES = ("antialias", "axes", "coordinate_transformation_mode", "cubic_coeff_a",
               "exclude_outside", "extrapolation_value", "keep_aspect_ratio_policy", "mode",
               "nearest_mode")


def _emit_resize(ctx, scales, sizes, roi):
    for key in _ATTRIBUTES:  # each is honoured where its mode uses it, ignored elsewhere
        ctx.attr(key)
    x = ctx.type(0)
    r = x.rank
    axes = [a % r for a in ctx.attr("axes", ())] or list(range(r))
    policy = ctx.attr("keep_aspect_ratio_policy", "stretch")
    if sizes is not None:
        full = list(x.shape)
        for a, s in zip(axes, sizes):
            full[a] = int(s)
        scale = [full[i] / x.shape[i] if x.shape[i] else 1.0 for i in range(r)]
        if policy != "stretch":
            pick = min if policy == "not_larger" else max
            s = pick(scale[a] for a in axes)
            scale = [s if i in axes else 1.0 for i in range(r)]
            full = [int(s * x.shape[i] + 0.5) if i in axes else x.shape[i] for i in range(r)]
    else:
        scale = [1.0] * r
        for a, s in zip(axes, scales):
            scale[a] = float(s)
        full = [int(scale[i] * x.shape[i]) for i in range(r)]
    full_roi = [0.0] * r + [1.0] * r
    if roi is not None and roi.size:
        for j, a in enumerate(axes):
            full_roi[a], full_roi[a + r] = float(roi[j]), float(roi[j + len(axes)])
    mode = ctx.attr("mode", "nearest")
    antialias = ctx.attr("antialias", 0)
    if mode == "nearest":
        nearest_mode = ctx.attr("nearest_mode", "round_prefer_floor")
        coeffs = lambda ratio, s: _nearest(ratio, nearest_mode)
    elif mode == "linear":
        coeffs = lambda ratio, s: _linear(ratio, s, antialias)
    elif mode == "cubic":
        coeff_a = ctx.attr("cubic_coeff_a", -0.75)
        coeffs = lambda ratio, s: _cubic(ratio, s, coeff_a, antialias)
    else:
        ctx.fail(f"mode '{mode}' is not supported")
    value = ctx.input(0)
    for a in range(r):
        same_roi = full_roi[a] == 0.0 and full_roi[a + r] == 1.0
        if np.isclose(scale[a], 1.0) and full[a] == x.shape[a] and same_roi:
            continue
        if x.shape[a] == 0:
            ctx.fail("resizing an empty axis is not supported")
        w, bias = axis_matrix(ctx, x.shape[a], full[a], scale[a],
                              (full_roi[a], full_roi[a + r]), coeffs)
        value = ctx.emit("interpolate", [value, ctx.constant(w, "weights"),
                                         ctx.constant(bias, "bias")], axis=a)
    if value == ctx.input(0):
        value = ctx.emit("identity", [value])
    ctx.set_output(0, value)


@onnx_rule(FAMILY, "Resize", since=11)
def _resize_rule(ctx):
    roi = ctx.require_const(1, "roi") if ctx.has_input(1) else None
    scales = ctx.require_const(2, "scales") if ctx.has_input(2) else None
    sizes = ctx.require_const(3, "sizes") if ctx.has_input(3) else None
    if scales is not None and scales.size == 0:
        scales = None
    if scales is None and sizes is None:
        ctx.fail("one of scales or sizes must be given")
    _emit_resize(ctx, None if scales is None else scales.tolist(),
                 None if sizes is None else sizes.tolist(), roi)


@onnx_rule(FAMILY, "Upsample")
def _upsample_rule(ctx):
    scales = ctx.attr("scales") if ctx.opset < 9 else ctx.require_const(1, "scales").tolist()
    proxy = _Legacy(ctx)
    _emit_resize(proxy, scales, None, None)


class _Legacy:
    """Upsample (and opset-10 Resize): asymmetric coordinates, nearest rounds down."""

    def __init__(self, ctx):
        self._ctx = ctx

    def attr(self, key, default=None):
        if key == "coordinate_transformation_mode":
            return "asymmetric"
        if key == "nearest_mode":
            return "floor"
        return self._ctx.attr(key, default)

    def __getattr__(self, name):
        return getattr(self._ctx, name)
