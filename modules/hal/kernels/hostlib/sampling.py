"""GridSample: sampling an N-d image at the normalized coordinates of a grid.

The grid's last axis holds coordinates in reverse dimension order (x before y) in
[-1, 1]; they are denormalized (``align_corners`` or not), moved inside the image by
the padding mode (``zeros``, ``border``, ``reflection``) and interpolated separably with
nearest (round half to even), linear or cubic (a = -0.75) taps, as PyTorch does.

The host library's rows for these ops (shape/type inference and numpy semantics):
host-library ``op`` bodies execute them, and ``compiler/ops/sampling.py`` (which keeps the
ONNX import rules) takes its ``infer``/``reference`` from here through
``registry.hosted``; the compiler depends on the HAL, never the reverse.
"""

from __future__ import annotations

import itertools

import numpy as np

from .common import is_float, tt
from .registry import define

FAMILY = "nn"


def _reflect(x, lo, hi):
    span = hi - lo
    if span <= 0:
        return np.full_like(x, lo)
    below, above = x < lo, x > hi
    d = np.where(below, lo - x, x - hi)
    n = np.floor(d / span)
    r = d - n * span
    even = n % 2 == 0
    low_side = np.where(even, lo + r, hi - r)
    high_side = np.where(even, hi - r, lo + r)
    return np.where(below, low_side, np.where(above, high_side, x))


def _cubic(t, a=-0.75):
    def near(x):
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], axis=-1)


def _taps(x, mode):
    if mode == "nearest":
        return x.astype(np.int64)[..., None], np.ones(x.shape + (1,), x.dtype)
    base = np.floor(x)
    t = x - base
    base = base.astype(np.int64)
    if mode == "linear":
        return np.stack([base, base + 1], -1), np.stack([1 - t, t], -1)
    return base[..., None] + np.arange(-1, 3), _cubic(t)


def _grid_sample(node, image, grid):
    mode, padding = node.attr("mode"), node.attr("padding_mode")
    align = node.attr("align_corners")
    dims = image.shape[2:]
    nd = len(dims)
    work = np.float32 if image.dtype.itemsize <= 4 else np.float64
    per_dim = []
    for i, length in enumerate(dims):
        g = grid[..., nd - 1 - i].astype(work)
        x = (g + 1) / 2 * (length - 1) if align else ((g + 1) * length - 1) / 2
        if mode == "nearest":
            x = np.rint(x)
        lo, hi = (0.0, length - 1.0) if align else (-0.5, length - 0.5)
        outside = (x < lo) | (x > hi)
        if padding == "border":
            x = np.where(outside, np.clip(x, 0, length - 1), x)
        elif padding == "reflection":
            x = np.where(outside, _reflect(x, lo, hi), x)
        idx, w = _taps(x, mode)
        if padding == "zeros":
            w = np.where((idx >= 0) & (idx < length), w, 0)
        elif padding == "reflection":
            idx = np.trunc(_reflect(idx.astype(work), lo, hi)).astype(np.int64)
        per_dim.append((np.clip(idx, 0, length - 1), w))
    batch = np.arange(image.shape[0]).reshape((-1,) + (1,) * (grid.ndim - 2))
    out = np.zeros(grid.shape[:-1] + (image.shape[1],), np.float64)
    for combo in itertools.product(*(range(w.shape[-1]) for _, w in per_dim)):
        weight = np.ones(grid.shape[:-1], np.float64)
        index = [batch, slice(None)]
        for (idx, w), k in zip(per_dim, combo):
            weight = weight * w[..., k]
            index.append(idx[..., k])
        out += image[tuple(index)] * weight[..., None]
    out = np.moveaxis(out, -1, 1)
    if not is_float(image.dtype):
        out = np.round(out)
    return out.astype(image.dtype)


def _infer(node, types):
    x, g = types
    return [tt(x.dtype, x.shape[:2] + g.shape[1:-1])]


define("grid_sample", FAMILY, "library", _infer, _grid_sample)
