"""Parsing and validation of the ``conv`` and ``pool`` bodies (spec/executables.md 6.5, 6.6).

Called by ``executable_format`` with its checker and size parser. Everything that does not
depend on push constants is checked here (binding kinds, types, ranks, list lengths,
epilogue steps); shape consistency, which may depend on push constants, is checked at
dispatch by ``spatial_layout``. Pure Python: never imports numba.
"""

from __future__ import annotations

import math

from . import ir
from .expr import binding_ref

CONV_ACTIVATIONS = {"relu": (), "sigmoid": (), "clip": ("min", "max"),
                    "leaky_relu": ("alpha",)}
CONV_CHANNEL_OPS = ("channel_add", "channel_mul", "channel_sub")
CONV_TENSOR_OPS = ("add", "mul")
EPILOGUE_OPS = tuple(CONV_ACTIVATIONS) + CONV_CHANNEL_OPS + CONV_TENSOR_OPS
MAX_EPILOGUE = 16
POOL_OPS = ("max", "average", "lp")
MAX_SPATIAL = 3


def _ref(chk, raw, path, bindings, *, read=False, write=False) -> ir.Binding:
    b = binding_ref(chk, raw, path, bindings, read=read, write=write)
    if b.strides is not None:
        chk.fail(path, f"binding {b.index}: conv and pool operands are dense row-major and "
                       "take no strides")
    return b


def _float_type(chk, path, first: ir.Binding, *others: ir.Binding):
    if not first.type.is_float:
        chk.fail(path, f"binding {first.index} is {first.type.name}; conv and pool need "
                       "f32 or f64")
    for b in others:
        if b.type != first.type:
            chk.fail(path, f"type mismatch: binding {first.index} is {first.type.name}, "
                           f"binding {b.index} is {b.type.name}")


def _spatial_rank(chk, path, b: ir.Binding) -> int:
    nd = len(b.shape) - 2
    if not 1 <= nd <= MAX_SPATIAL:
        chk.fail(path, f"binding {b.index} has rank {len(b.shape)}; expected 3..5 "
                       "(N, C and 1..3 spatial dims)")
    return nd


def _window(chk, sizes, raw, path, nd, names) -> dict:
    out = {}
    for key, count, default in (("strides", nd, 1), ("dilations", nd, 1),
                                ("pads", 2 * nd, 0)):
        if key not in names:
            continue
        value = raw.get(key)
        if value is None:
            out[key] = tuple(ir.SizeExpr("int", default) for _ in range(count))
            continue
        if not isinstance(value, list) or len(value) != count:
            chk.fail(f"{path}.{key}", f"expected a list of {count} sizes")
        out[key] = tuple(sizes.expr(v, f"{path}.{key}[{k}]") for k, v in enumerate(value))
        if key != "pads":
            for k, e in enumerate(out[key]):
                if e.static() == 0:
                    chk.fail(f"{path}.{key}[{k}]", "must be at least 1")
    return out


def parse_conv(chk, sizes, raw, path, bindings) -> ir.Conv:
    chk.obj(raw, path, ("kind", "input", "weights", "output"),
            ("group", "strides", "dilations", "pads", "epilogue", "channel_block"))
    x = _ref(chk, raw["input"], path + ".input", bindings, read=True)
    w = _ref(chk, raw["weights"], path + ".weights", bindings, read=True)
    out = _ref(chk, raw["output"], path + ".output", bindings, write=True)
    _float_type(chk, path + ".input", x, w, out)
    nd = _spatial_rank(chk, path + ".input", x)
    for name, b in (("weights", w), ("output", out)):
        if len(b.shape) != nd + 2:
            chk.fail(f"{path}.{name}", f"binding {b.index} has rank {len(b.shape)}, the "
                                       f"input has rank {nd + 2}")
    group = sizes.expr(raw.get("group", 1), path + ".group")
    if group.static() == 0:
        chk.fail(path + ".group", "must be at least 1")
    window = _window(chk, sizes, raw, path, nd, ("strides", "dilations", "pads"))
    block = None
    if "channel_block" in raw:
        block = sizes.expr(raw["channel_block"], path + ".channel_block")
        if block.static() == 0:
            chk.fail(path + ".channel_block", "must be at least 1")
    steps_raw = raw.get("epilogue", [])
    if not isinstance(steps_raw, list) or len(steps_raw) > MAX_EPILOGUE:
        chk.fail(path + ".epilogue", f"expected a list of at most {MAX_EPILOGUE} steps")
    steps = tuple(_step(chk, s, f"{path}.epilogue[{k}]", bindings, out)
                  for k, s in enumerate(steps_raw))
    return ir.Conv(x.index, w.index, out.index, group, window["strides"],
                   window["dilations"], window["pads"], steps, block)


def parse_epilogue(chk, raw, path, bindings, out: ir.Binding) -> tuple:
    """The steps of an ``epilogue`` list (conv, and matmul whose channel is a column)."""
    if not isinstance(raw, list) or len(raw) > MAX_EPILOGUE:
        chk.fail(path, f"expected a list of at most {MAX_EPILOGUE} steps")
    return tuple(_step(chk, s, f"{path}[{k}]", bindings, out) for k, s in enumerate(raw))


def _step(chk, raw, path, bindings, out: ir.Binding) -> ir.EpilogueStep:
    op = chk.choice(raw.get("op") if isinstance(raw, dict) else None, path + ".op",
                    EPILOGUE_OPS, "epilogue op")
    if op in CONV_ACTIVATIONS:
        names = CONV_ACTIVATIONS[op]
        chk.obj(raw, path, ("op", *names))
        params = []
        for name in names:
            v = chk.number(raw[name], f"{path}.{name}")
            if math.isnan(v) or (op == "leaky_relu" and not math.isfinite(v)):
                chk.fail(f"{path}.{name}", "must be a number" if math.isnan(v) else
                         "must be finite")
            params.append(float(v))
        if op == "clip" and params[0] > params[1]:
            chk.fail(path + ".min", f"min {params[0]} > max {params[1]}")
        return ir.EpilogueStep(op, -1, tuple(params))
    chk.obj(raw, path, ("op", "binding"))
    b = _ref(chk, raw["binding"], path + ".binding", bindings, read=True)
    _float_type(chk, path + ".binding", out, b)
    if op in CONV_CHANNEL_OPS and len(b.shape) != 1:
        chk.fail(path + ".binding", f"binding {b.index} has rank {len(b.shape)}; a "
                                    "per-channel operand has rank 1 ([M] or [1])")
    if op in CONV_TENSOR_OPS and len(b.shape) != len(out.shape):
        chk.fail(path + ".binding", f"binding {b.index} has rank {len(b.shape)}; a tensor "
                                    f"operand has the output's shape (rank {len(out.shape)})")
    return ir.EpilogueStep(op, b.index)


def parse_pool(chk, sizes, raw, path, bindings) -> ir.Pool:
    chk.obj(raw, path, ("kind", "op", "input", "output", "kernel"),
            ("strides", "dilations", "pads", "count_include_pad", "p", "whole_planes"))
    op = chk.choice(raw["op"], path + ".op", POOL_OPS, "pool op")
    x = _ref(chk, raw["input"], path + ".input", bindings, read=True)
    out = _ref(chk, raw["output"], path + ".output", bindings, write=True)
    _float_type(chk, path + ".input", x, out)
    nd = _spatial_rank(chk, path + ".input", x)
    if len(out.shape) != nd + 2:
        chk.fail(path + ".output", f"binding {out.index} has rank {len(out.shape)}, the "
                                   f"input has rank {nd + 2}")
    kernel = raw["kernel"]
    if not isinstance(kernel, list) or len(kernel) != nd:
        chk.fail(path + ".kernel", f"expected a list of {nd} sizes")
    kernel = tuple(sizes.expr(v, f"{path}.kernel[{k}]") for k, v in enumerate(kernel))
    for k, e in enumerate(kernel):
        if e.static() == 0:
            chk.fail(f"{path}.kernel[{k}]", "must be at least 1")
    window = _window(chk, sizes, raw, path, nd, ("strides", "dilations", "pads"))
    if "count_include_pad" in raw and op != "average":
        chk.fail(path + ".count_include_pad", "only an average pool takes count_include_pad")
    if "p" in raw and op != "lp":
        chk.fail(path + ".p", "only an lp pool takes p")
    cip = chk.bool_(raw.get("count_include_pad", False), path + ".count_include_pad")
    p = chk.number(raw.get("p", 2), path + ".p")
    if not (math.isfinite(p) and p > 0):
        chk.fail(path + ".p", f"must be a finite number > 0, got {p}")
    planes = chk.bool_(raw.get("whole_planes", False), path + ".whole_planes")
    if planes:
        _whole_planes(chk, path + ".whole_planes", nd, kernel, window)
    return ir.Pool(op, x.index, out.index, kernel, window["strides"], window["dilations"],
                   window["pads"], cip, float(p), planes)


def _whole_planes(chk, path, nd, kernel, window):
    """``whole_planes`` promises a 2-D stride-1, dilation-1 pool whose output plane has the
    input's shape: what is static must agree (push constants are checked by the kernel,
    which runs the row passes when they disagree)."""
    if nd != 2:
        chk.fail(path, f"only a 2-D pool takes whole_planes; this one has {nd} spatial dims")
    for key in ("strides", "dilations"):
        for k, e in enumerate(window[key]):
            if e.static() not in (None, 1):
                chk.fail(path, f"needs {key} of 1; {key}[{k}] is {e.static()}")
    pads = window["pads"]
    for k in range(nd):
        sizes = (kernel[k].static(), pads[k].static(), pads[k + nd].static())
        if None not in sizes and sizes[1] + sizes[2] != sizes[0] - 1:
            chk.fail(path, f"needs pads summing to the kernel minus one (an output of the "
                           f"input's shape); axis {k}: kernel {sizes[0]}, pads {sizes[1]} "
                           f"and {sizes[2]}")
