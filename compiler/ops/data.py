"""Data movement: concat, slice (and Split), pad, tile, one-hot, top-k, trilu, bitcast,
reverse-sequence, and the ops whose output shape depends on data (Range, NonZero, Compress,
Unique), which compile only when their operands are constants (then they fold).

``slice`` carries one normalized (start, stop, step) triple per dimension; ``stop`` is
``None`` when a negative step runs past the first element.
"""

from __future__ import annotations

import numpy as np
from pyree.compiler.ops.common import axis as norm_axis
from pyree.compiler.ops.common import bad, np_dtype, same_dtype, tt
from pyree.compiler.ops.registry import define, onnx_rule

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


@onnx_rule(FAMILY, "Concat")
def _concat_rule(ctx):
    ctx.forward("concat", axis=norm_axis(ctx, ctx.attr("axis", 0), ctx.type(0).rank))


def _slices(node):
    return tuple(slice(a, b, c) for a, b, c in node.attr("slices"))


def _infer_slice(node, types):
    t = types[0]
    shape = [len(range(*s.indices(d))) for s, d in zip(_slices(node), t.shape)]
    return [tt(t.dtype, shape)]


define("slice", FAMILY, "data", _infer_slice, lambda n, x: x[_slices(n)])


def _normalize(dim, start, end, step):
    if step == 0:
        raise ValueError("step 0")
    start, stop, step = slice(max(min(start, 2**62), -2**62), max(min(end, 2**62), -2**62),
                              step).indices(dim)
    if step < 0 and stop < 0:
        stop = None
    return (start, stop, step)


@onnx_rule(FAMILY, "Slice")
def _slice_rule(ctx):
    t = ctx.type(0)
    if ctx.opset < 10:
        starts, ends = ctx.attr("starts"), ctx.attr("ends")
        axes, steps = ctx.attr("axes", tuple(range(len(starts)))), (1,) * len(starts)
    else:
        starts, ends = ctx.ints(1, "starts"), ctx.ints(2, "ends")
        axes = ctx.ints(3, "axes") if ctx.has_input(3) else tuple(range(len(starts)))
        steps = ctx.ints(4, "steps") if ctx.has_input(4) else (1,) * len(starts)
    triples = [(0, d, 1) for d in t.shape]
    for a, s, e, st in zip(axes, starts, ends, steps):
        a = norm_axis(ctx, a, t.rank)
        if st == 0:
            ctx.invalid("slice step 0")
        triples[a] = _normalize(t.shape[a], s, e, st)
    ctx.forward("slice", [ctx.input(0)], slices=tuple(triples))


@onnx_rule(FAMILY, "Split")
def _split_rule(ctx):
    t = ctx.type(0)
    ax = norm_axis(ctx, ctx.attr("axis", 0), t.rank)
    n = len(ctx.outputs)
    if ctx.opset >= 13 and ctx.has_input(1):
        sizes = ctx.ints(1, "split")
    elif ctx.opset < 13 and ctx.has_attr("split"):
        sizes = ctx.attr("split")
    else:
        n = ctx.attr("num_outputs", n)
        chunk = -(-t.shape[ax] // n)
        sizes = [min(chunk, t.shape[ax] - i * chunk) for i in range(n)]
    if sum(sizes) != t.shape[ax]:
        ctx.invalid(f"split sizes {list(sizes)} do not sum to {t.shape[ax]}")
    start = 0
    for i, size in enumerate(sizes):
        triples = [(0, d, 1) for d in t.shape]
        triples[ax] = (start, start + size, 1)
        start += size
        ctx.set_output(i, ctx.emit("slice", [ctx.input(0)], slices=tuple(triples)))


# -- pad / tile ----------------------------------------------------------------------------
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


@onnx_rule(FAMILY, "Pad")
def _pad_rule(ctx):
    t = ctx.type(0)
    mode = ctx.attr("mode", "constant")
    if mode not in ("constant", "reflect", "edge", "wrap"):
        ctx.fail(f"pad mode '{mode}' is not supported")
    if ctx.opset < 11:
        pads = tuple(ctx.attr("pads"))
        value = ctx.constant(np.array(ctx.attr("value", 0.0), np_dtype(t.dtype)))
    else:
        pads = ctx.ints(1, "pads")
        value = ctx.input(2)
        if ctx.has_input(3):
            axes = [norm_axis(ctx, a, t.rank) for a in ctx.ints(3, "axes")]
            full = [0] * (2 * t.rank)
            for j, a in enumerate(axes):
                full[a], full[a + t.rank] = pads[j], pads[j + len(axes)]
            pads = tuple(full)
    if len(pads) != 2 * t.rank:
        ctx.invalid(f"pads {list(pads)} do not match rank {t.rank}")
    ctx.forward("pad", [ctx.input(0)] + ([value] if value else []), pads=pads, mode=mode)


define("tile", FAMILY, "data",
       lambda n, t: [tt(t[0].dtype, [d * r for d, r in zip(t[0].shape, n.attr("repeats"))])],
       lambda n, x: np.tile(x, n.attr("repeats")))


@onnx_rule(FAMILY, "Tile")
def _tile_rule(ctx):
    ctx.forward("tile", [ctx.input(0)], repeats=ctx.ints(1, "repeats"))


# -- one-hot, top-k, trilu -----------------------------------------------------------------
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


@onnx_rule(FAMILY, "OneHot")
def _one_hot_rule(ctx):
    depth = int(np.asarray(ctx.require_const(1, "depth")).reshape(-1)[0])
    rank = ctx.type(0).rank + 1
    ctx.forward("one_hot", [ctx.input(0), ctx.input(2)], depth=depth,
                axis=norm_axis(ctx, ctx.attr("axis", -1), rank))


def _top_k(node, x):
    k, ax = node.attr("k"), node.attr("axis")
    key = -x if node.attr("largest") else x
    order = np.argsort(key, axis=ax, kind="stable")
    idx = np.take(order, np.arange(k), axis=ax)
    return np.take_along_axis(x, idx, axis=ax), idx.astype(np.int64)


def _infer_top_k(node, types):
    shape = list(types[0].shape)
    shape[node.attr("axis")] = node.attr("k")
    return [tt(types[0].dtype, shape), tt("i64", shape)]


define("top_k", FAMILY, "library", _infer_top_k, _top_k)


@onnx_rule(FAMILY, "TopK")
def _top_k_rule(ctx):
    t = ctx.type(0)
    k = ctx.ints(1, "k")[0] if ctx.opset >= 10 else ctx.attr("k")
    ax = norm_axis(ctx, ctx.attr("axis", -1), t.rank)
    if not 0 <= k <= t.shape[ax]:
        ctx.invalid(f"k {k} is out of range for {t}")
    ctx.forward("top_k", [ctx.input(0)], k=k, axis=ax, largest=ctx.attr("largest", 1))


def _trilu(node, x, k=None):
    offset = 0 if k is None else int(np.asarray(k).reshape(-1)[0])
    return (np.triu if node.attr("upper") else np.tril)(x, offset)


# The diagonal offset k is a runtime scalar operand: it selects elements, not shapes.
define("trilu", FAMILY, "library", lambda n, t: [t[0]], _trilu)


@onnx_rule(FAMILY, "Trilu")
def _trilu_rule(ctx):
    ctx.forward("trilu", [n for n in ctx.inputs[:2] if n], upper=ctx.attr("upper", 1))


# -- data-dependent shapes: constants only -------------------------------------------------
@onnx_rule(FAMILY, "Range")
def _range_rule(ctx):
    start, limit, delta = (ctx.require_const(i, w) for i, w in
                           enumerate(("start", "limit", "delta")))
    out = np.arange(start.item(), limit.item(), delta.item()).astype(start.dtype)
    ctx.set_output(0, ctx.constant(out, "range"))


@onnx_rule(FAMILY, "NonZero")
def _non_zero_rule(ctx):
    x = ctx.require_const(0, "input (its output shape depends on its values)")
    ctx.set_output(0, ctx.constant(np.array(np.nonzero(x), np.int64), "nonzero"))


@onnx_rule(FAMILY, "Compress")
def _compress_rule(ctx):
    cond = np.asarray(ctx.require_const(1, "condition")).astype(bool).reshape(-1)
    t = ctx.type(0)
    x = ctx.input(0)
    ax = ctx.attr("axis")
    if ax is None:
        x, ax = ctx.emit("reshape", [x], shape=(t.size,)), 0
        dim = t.size
    else:
        ax = norm_axis(ctx, ax, t.rank)
        dim = t.shape[ax]
    idx = np.nonzero(cond[:dim])[0].astype(np.int64)
    ctx.forward("gather", [x, ctx.constant(idx, "indices")], axis=ax)


# -- bitcast, reverse_sequence -------------------------------------------------------------
define("bitcast", FAMILY, "view", lambda n, t: [tt(n.attr("to"), t[0].shape)],
       lambda n, x: np.ascontiguousarray(x).view(np_dtype(n.attr("to"))).reshape(x.shape))


@onnx_rule(FAMILY, "BitCast")
def _bitcast_rule(ctx):
    from pyree.compiler import dtypes

    t = ctx.type(0)
    to = dtypes.from_onnx(ctx.attr("to"))
    if dtypes.itemsize(to) != dtypes.itemsize(t.dtype) or np_dtype(to).itemsize == 0:
        ctx.fail(f"bitcast between {t.dtype} and {to} of different widths is not supported")
    ctx.forward("bitcast", to=to)


def _reverse_sequence(node, x, lens):
    b, t = node.attr("batch_axis"), node.attr("time_axis")
    out = np.array(x, copy=True)
    for i, n in enumerate(np.asarray(lens).reshape(-1)):
        index = [slice(None)] * x.ndim
        index[b] = i
        index[t] = slice(0, int(n))
        out[tuple(index)] = np.flip(x[tuple(index)], axis=t - (1 if b < t else 0))
    return out


define("reverse_sequence", FAMILY, "data", lambda n, t: [t[0]], _reverse_sequence)


@onnx_rule(FAMILY, "ReverseSequence")
def _reverse_sequence_rule(ctx):
    ctx.forward("reverse_sequence", batch_axis=ctx.attr("batch_axis", 1),
                time_axis=ctx.attr("time_axis", 0))
