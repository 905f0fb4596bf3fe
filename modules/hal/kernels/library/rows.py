"""Row kernels: ``reduce`` and ``softmax`` along one axis.

The iteration space is the source shape without the reduced axis (C order); each item is a
row along the axis. Operand 0 is the source, operand 1 the target (both with the axis
removed from their strides). Extras after the operands: the axis length ``L``, the source
axis stride ``sa`` and (softmax) the target axis stride ``ta``.

Reductions accumulate in the element type, sequentially along the axis (integers wrap).
softmax takes each element's exponential once: stored in the target, summed, then divided
in place (the source is not read again, so a target sharing the source's bytes is fine).
The empty reduction yields the identity: 0 (sum), 1 (prod), the type's lowest (max) or
highest (min) value (-inf / +inf for floats), NaN (mean). max/min propagate NaN.
"""

from __future__ import annotations

from ..ir import Function, Reduce
from . import skeleton


def kernel_rank(fn: Function) -> int:
    return max(1, len(fn.bindings[fn.body.source].shape) - 1)


def _extras(fn: Function) -> list[str]:
    base = skeleton.operand_params(kernel_rank(fn), 2)
    names = ["L", "sa", "ta"] if not isinstance(fn.body, Reduce) else ["L", "sa"]
    return [f"{name} = p[{base + k}]" for k, name in enumerate(names)]


def emit(fn: Function) -> tuple[list[str], tuple]:
    body = fn.body
    src = fn.bindings[body.source]
    etype = src.type
    T = etype.ctor
    s, t = f"b{body.source}", f"b{body.target}"
    if isinstance(body, Reduce):
        lo, hi = etype.bounds()
        init, combine = {
            "sum": ("0", "{T}(acc + v)"), "mean": ("0", "{T}(acc + v)"),
            "prod": ("1", "{T}(acc * v)"),
            "max": (lo, "fmax(acc, v)" if etype.is_float else "{T}(max(acc, v))"),
            "min": (hi, "fmin(acc, v)" if etype.is_float else "{T}(min(acc, v))"),
        }[body.op]
        lines = [f"acc = {skeleton.number(init, etype)}",
                 "xs = x0",
                 "for k in range(L):",
                 f"    v = {s}[np.uint64(xs)]",
                 "    acc = " + combine.format(T=T),
                 "    xs += sa"]
        result = f"acc / {T}(L)" if body.op == "mean" else "acc"
        lines.append(f"{t}[np.uint64(x1)] = {result}")
    else:
        lines = [f"m = {skeleton.number(float('-inf'), etype)}",
                 "xs = x0",
                 "for k in range(L):",
                 f"    m = fmax(m, {s}[np.uint64(xs)])",
                 "    xs += sa",
                 f"acc = {T}(0)",
                 "xs = x0",
                 "xt = x1",
                 "for k in range(L):",
                 f"    e = {T}(np.exp({s}[np.uint64(xs)] - m))",
                 f"    {t}[np.uint64(xt)] = e",
                 "    acc = acc + e",
                 "    xs += sa",
                 "    xt += ta",
                 "xt = x1",
                 "for k in range(L):",
                 f"    {t}[np.uint64(xt)] = {t}[np.uint64(xt)] / acc",
                 "    xt += ta"]
    params = ", ".join([f"b{b.index}" for b in fn.bindings] + ["p", "fp"])
    source = skeleton.header(("fmin", "fmax"))
    source.append(f"def kernel({params}):")
    source += skeleton.items_loop(kernel_rank(fn), 2, lines, _extras(fn))
    return source, ()


