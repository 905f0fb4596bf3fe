"""Data movement: concat, slice (and Split), pad, tile, one-hot, top-k, trilu, bitcast,
reverse-sequence, and the ops whose output shape depends on data (Range, NonZero, Compress,
Unique), which compile only when their operands are constants (then they fold).

``slice`` carries one normalized (start, stop, step) triple per dimension; ``stop`` is
``None`` when a negative step runs past the first element.
"""

from __future__ import annotations

import numpy as np
from pyree.compiler.ops.common import axis as norm_axis
from pyree.compiler.ops.common import np_dtype
from pyree.compiler.ops.registry import define, hosted, onnx_rule

FAMILY = "data"


define("concat", FAMILY, "data", *hosted("concat"))


@onnx_rule(FAMILY, "Concat")
def _concat_rule(ctx):
    ctx.forward("concat", axis=norm_axis(ctx, ctx.attr("axis", 0), ctx.type(0).rank))


define("slice", FAMILY, "data", *hosted("slice"))


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


define("pad", FAMILY, "data", *hosted("pad"))


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


define("tile", FAMILY, "data", *hosted("tile"))


@onnx_rule(FAMILY, "Tile")
def _tile_rule(ctx):
    ctx.forward("tile", [ctx.input(0)], repeats=ctx.ints(1, "repeats"))


# -- one-hot, top-k, trilu -----------------------------------------------------------------


define("one_hot", FAMILY, "data", *hosted("one_hot"))


@onnx_rule(FAMILY, "OneHot")
def _one_hot_rule(ctx):
    depth = int(np.asarray(ctx.require_const(1, "depth")).reshape(-1)[0])
    rank = ctx.type(0).rank + 1
    ctx.forward("one_hot", [ctx.input(0), ctx.input(2)], depth=depth,
                axis=norm_axis(ctx, ctx.attr("axis", -1), rank))


define("top_k", FAMILY, "library", *hosted("top_k"))


@onnx_rule(FAMILY, "TopK")
def _top_k_rule(ctx):
    t = ctx.type(0)
    k = ctx.ints(1, "k")[0] if ctx.opset >= 10 else ctx.attr("k")
    ax = norm_axis(ctx, ctx.attr("axis", -1), t.rank)
    if not 0 <= k <= t.shape[ax]:
        ctx.invalid(f"k {k} is out of range for {t}")
    ctx.forward("top_k", [ctx.input(0)], k=k, axis=ax, largest=ctx.attr("largest", 1))


# The diagonal offset k is a runtime scalar operand: it selects elements, not shapes.
define("trilu", FAMILY, "library", *hosted("trilu"))


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
define("bitcast", FAMILY, "view", *hosted("bitcast"))


@onnx_rule(FAMILY, "BitCast")
def _bitcast_rule(ctx):
    from pyree.compiler import dtypes

    t = ctx.type(0)
    to = dtypes.from_onnx(ctx.attr("to"))
    if dtypes.itemsize(to) != dtypes.itemsize(t.dtype) or np_dtype(to).itemsize == 0:
        ctx.fail(f"bitcast between {t.dtype} and {to} of different widths is not supported")
    ctx.forward("bitcast", to=to)


define("reverse_sequence", FAMILY, "data", *hosted("reverse_sequence"))


@onnx_rule(FAMILY, "ReverseSequence")
def _reverse_sequence_rule(ctx):
    ctx.forward("reverse_sequence", batch_axis=ctx.attr("batch_axis", 1),
                time_axis=ctx.attr("time_axis", 0))
