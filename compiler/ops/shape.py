"""Shape and layout ops: identity, reshape (and Flatten/Squeeze/Unsqueeze), transpose,
broadcast (Expand), shape/size (shape arithmetic, always folded), constants and fills,
depth/space rearrangements.

``reshape`` and ``identity`` are views: a dense buffer is reinterpreted, never copied.
``broadcast_to`` is elementwise (a broadcasting load) and fuses like one. ``fill``
produces splats; folded, they are zero-memory ``np.broadcast_to`` views.
"""

from __future__ import annotations

import math

import numpy as np
from pyree.compiler import dtypes
from pyree.compiler.ops.common import axes as norm_axes
from pyree.compiler.ops.common import broadcast_shape, np_dtype
from pyree.compiler.ops.registry import define, hosted, onnx_rule

FAMILY = "shape"

define("identity", FAMILY, "view", *hosted("identity"))


define("reshape", FAMILY, "view", *hosted("reshape"))


define("transpose", FAMILY, "transpose", *hosted("transpose"))


define("broadcast_to", FAMILY, "elementwise", *hosted("broadcast_to"))


def _shape_fold(node, types):
    shape = types[0].shape
    return [np.array(shape[node.attr("start"):node.attr("end")], dtype=np.int64)]


define("shape", FAMILY, "data", *hosted("shape"), fold_types=_shape_fold)
define("size", FAMILY, "data", *hosted("size"), fold_types=lambda n, t: [np.array(t[0].size, np.int64)])


define("fill", FAMILY, "data", *hosted("fill"))


# -- ONNX import rules ---------------------------------------------------------------------
def _resolve_reshape(ctx, in_shape, target, allowzero):
    out, infer_at = [], None
    for i, d in enumerate(target):
        if d == 0 and not allowzero:
            if i >= len(in_shape):
                ctx.invalid(f"shape entry {i} is 0 but the input has rank {len(in_shape)}")
            out.append(in_shape[i])
        elif d == -1:
            if infer_at is not None:
                ctx.invalid(f"shape {list(target)} has more than one -1")
            infer_at = len(out)
            out.append(1)
        elif d < -1:
            ctx.invalid(f"shape {list(target)} has a negative entry")
        else:
            out.append(int(d))
    if infer_at is not None:
        known = math.prod(out)
        total = math.prod(in_shape)
        if known == 0 or total % known:
            ctx.invalid(f"cannot reshape {list(in_shape)} to {list(target)}")
        out[infer_at] = total // known
    return tuple(out)


@onnx_rule(FAMILY, "Reshape")
def _reshape_rule(ctx):
    target = ctx.ints(1, "shape") if ctx.opset >= 5 else tuple(ctx.attr("shape"))
    shape = _resolve_reshape(ctx, ctx.type(0).shape, target, ctx.attr("allowzero", 0))
    ctx.forward("reshape", [ctx.input(0)], shape=shape)


@onnx_rule(FAMILY, "Flatten")
def _flatten_rule(ctx):
    t = ctx.type(0)
    ax = ctx.attr("axis", 1)
    ax = ax + t.rank if ax < 0 else ax
    if not 0 <= ax <= t.rank:
        ctx.invalid(f"axis {ax} is out of range for rank {t.rank}")
    ctx.forward("reshape", shape=(math.prod(t.shape[:ax]), math.prod(t.shape[ax:])))


@onnx_rule(FAMILY, "Squeeze")
def _squeeze_rule(ctx):
    t = ctx.type(0)
    if ctx.opset >= 13:
        axes = ctx.ints(1, "axes") if ctx.has_input(1) else None
    else:
        axes = ctx.attr("axes")
    if axes is None:
        axes = tuple(i for i, d in enumerate(t.shape) if d == 1)
    axes = norm_axes(ctx, axes, t.rank)
    for a in axes:
        if t.shape[a] != 1:
            ctx.invalid(f"cannot squeeze axis {a} of size {t.shape[a]}")
    ctx.forward("reshape", [ctx.input(0)],
                shape=tuple(d for i, d in enumerate(t.shape) if i not in axes))


@onnx_rule(FAMILY, "Unsqueeze")
def _unsqueeze_rule(ctx):
    t = ctx.type(0)
    axes = ctx.ints(1, "axes") if ctx.opset >= 13 else ctx.attr("axes")
    rank = t.rank + len(axes)
    axes = norm_axes(ctx, axes, rank)
    dims = iter(t.shape)
    ctx.forward("reshape", [ctx.input(0)],
                shape=tuple(1 if i in axes else next(dims) for i in range(rank)))


@onnx_rule(FAMILY, "Identity", "Dropout")
def _identity_rule(ctx):
    if ctx.op_type == "Dropout":
        if ctx.has_input(2) and bool(np.asarray(ctx.require_const(2, "training_mode"))):
            ctx.fail("training mode (random masks) is not supported")
        if len(ctx.outputs) > 1 and ctx.outputs[1]:
            mask = np.broadcast_to(np.array(True), ctx.type(0).shape)
            ctx.set_output(1, ctx.constant(mask, "mask"))
    ctx.set_output(0, ctx.emit("identity", [ctx.input(0)]))


@onnx_rule(FAMILY, "Transpose")
def _transpose_rule(ctx):
    rank = ctx.type(0).rank
    perm = ctx.attr("perm") or tuple(reversed(range(rank)))
    ctx.forward("transpose", perm=tuple(p % rank if rank else 0 for p in perm))


@onnx_rule(FAMILY, "Expand")
def _expand_rule(ctx):
    t = ctx.type(0)
    shape = broadcast_shape(ctx, [t.shape, ctx.ints(1, "shape")])
    ctx.forward("broadcast_to", [ctx.input(0)], shape=shape)


@onnx_rule(FAMILY, "Shape")
def _shape_rule(ctx):
    rank = ctx.type(0).rank

    def clamp(v):
        v = v + rank if v < 0 else v
        return min(max(v, 0), rank)
    start = clamp(ctx.attr("start", 0))
    end = clamp(ctx.attr("end", rank))
    ctx.forward("shape", start=start, end=max(end, start))


@onnx_rule(FAMILY, "Size")
def _size_rule(ctx):
    ctx.forward("size")


@onnx_rule(FAMILY, "ConstantOfShape")
def _constant_of_shape_rule(ctx):
    shape = ctx.ints(0, "shape")
    value = ctx.attr("value")
    value = np.zeros(1, np.float32) if value is None else value
    ctx.forward("fill", [], shape=shape, value=value.reshape(-1)[0].item(),
                dtype=dtypes.from_numpy(value.dtype))


@onnx_rule(FAMILY, "Constant")
def _constant_rule(ctx):
    for key, dtype in (("value", None), ("value_float", np.float32),
                       ("value_floats", np.float32), ("value_int", np.int64),
                       ("value_ints", np.int64)):
        if ctx.has_attr(key):
            ctx.set_output(0, ctx.constant(np.asarray(ctx.attr(key), dtype), "value"))
            return
    ctx.fail("only numeric 'value*' attributes are supported")


def _space_depth(ctx, to_depth):
    t = ctx.type(0)
    if t.rank != 4:
        ctx.fail(f"needs a 4-D input, got {t}")
    b = ctx.attr("blocksize")
    n, c, h, w = t.shape
    x = ctx.input(0)
    if to_depth:
        x = ctx.emit("reshape", [x], shape=(n, c, h // b, b, w // b, b))
        perm = (0, 1, 3, 5, 2, 4) if ctx.attr("mode", "DCR") == "CRD" else (0, 3, 5, 1, 2, 4)
        x = ctx.emit("transpose", [x], perm=perm)
        ctx.set_output(0, ctx.emit("reshape", [x], shape=(n, c * b * b, h // b, w // b)))
        return
    if ctx.attr("mode", "DCR") == "DCR":
        x = ctx.emit("reshape", [x], shape=(n, b, b, c // (b * b), h, w))
        x = ctx.emit("transpose", [x], perm=(0, 3, 4, 1, 5, 2))
    else:
        x = ctx.emit("reshape", [x], shape=(n, c // (b * b), b, b, h, w))
        x = ctx.emit("transpose", [x], perm=(0, 1, 4, 2, 5, 3))
    ctx.set_output(0, ctx.emit("reshape", [x], shape=(n, c // (b * b), h * b, w * b)))


onnx_rule(FAMILY, "SpaceToDepth")(lambda ctx: _space_depth(ctx, True))
onnx_rule(FAMILY, "DepthToSpace")(lambda ctx: _space_depth(ctx, False))


@onnx_rule(FAMILY, "EyeLike")
def _eye_like_rule(ctx):
    t = ctx.type(0)
    dtype = dtypes.from_onnx(ctx.attr("dtype")) if ctx.has_attr("dtype") else t.dtype
    if t.rank != 2:
        ctx.invalid(f"needs a 2-D input, got {t}")
    eye = np.eye(t.shape[0], t.shape[1], k=ctx.attr("k", 0), dtype=np_dtype(dtype))
    ctx.set_output(0, ctx.constant(eye, "eye"))

