"""Pooling (spec/executables.md 6.6): max / average / lp over N-D windows, generated as a
3-D kernel (1-D and 2-D pools run with leading unit spatial dims).

Items are output rows ``(plane, od, oh)`` with ``plane = n * C + c`` (C order; a row is
``OW`` outputs). Each output scans its window's taps, skipping those in padding (every
index formed is inside the input plane, which ``spatial_layout`` has proven inside the
input binding). max propagates NaN and gives -inf for a window with no input tap; average
divides the float64 sum by the taps inside the input, or (``cip``) inside the padded
extent ``[-pad_begin, size + pad_end)``, at least 1; lp computes
``(sum |x|**p) ** (1/p)`` in float64.
"""

from __future__ import annotations

from ..ir import Function
from . import skeleton

NAMES = ("n", "nwg", "per", "ID", "IH", "IW", "OD", "OH", "OW", "KD", "KH", "KW", "SD", "SH",
         "SW", "DD", "DH", "DW", "PD", "PH", "PW", "ED", "EH", "EW", "xo", "oo", "cip")


def _count(axis: str, indent: str) -> list[str]:
    """Lines computing ``n{axis}``: taps of the window along one axis inside the counted
    extent (the input, or the padded input when ``cip``)."""
    a = axis
    return [f"{indent}n{a} = 0",
            f"{indent}for k in range(K{a}):",
            f"{indent}    i = o{a} * S{a} - P{a} + k * D{a}",
            f"{indent}    if (i >= 0 and i < I{a}) or (cip != 0 and i >= -P{a} and "
            f"i < I{a} + E{a}):",
            f"{indent}        n{a} += 1"]


def emit(fn: Function) -> tuple[list[str], tuple]:
    body = fn.body
    etype = fn.bindings[body.output].type
    T = etype.ctor
    x, y = f"b{body.input}", f"b{body.output}"
    params = ", ".join([f"b{b.index}" for b in fn.bindings] + ["p", "fp"])
    lines = skeleton.header(("fmax",))
    lines.append(f"def kernel({params}):")
    lines += [f"    {name} = p[{k}]" for k, name in enumerate(NAMES)]
    lines += ["    pw = fp[0]",
              "    IS = ID * IH * IW",
              "    rows = OD * OH",
              "    for w in prange(nwg):",
              "        start = w * per",
              "        end = min(start + per, n)",
              "        for row in range(start, end):",
              "            plane = row // rows",
              "            rr = row - plane * rows",
              "            oD = rr // OH",
              "            oH = rr - oD * OH",
              "            xb = xo + plane * IS",
              "            for oW in range(OW):"]
    ind = "                "
    if body.op == "max":
        lines.append(f"{ind}acc = {skeleton.number(float('-inf'), etype)}")
    else:
        lines.append(f"{ind}acc = 0.0")
    lines += [f"{ind}for kd in range(KD):",
              f"{ind}    id_ = oD * SD - PD + kd * DD",
              f"{ind}    if id_ < 0 or id_ >= ID:",
              f"{ind}        continue",
              f"{ind}    for kh in range(KH):",
              f"{ind}        ih = oH * SH - PH + kh * DH",
              f"{ind}        if ih < 0 or ih >= IH:",
              f"{ind}            continue",
              f"{ind}        for kw in range(KW):",
              f"{ind}            iw = oW * SW - PW + kw * DW",
              f"{ind}            if iw < 0 or iw >= IW:",
              f"{ind}                continue",
              f"{ind}            v = {x}[np.uint64(xb + (id_ * IH + ih) * IW + iw)]"]
    tap = f"{ind}            "
    if body.op == "max":
        lines.append(f"{tap}acc = fmax(acc, v)")
        result = "acc"
    elif body.op == "average":
        lines.append(f"{tap}acc += np.float64(v)")
        for a in "DHW":
            lines += _count(a, ind)
        lines.append(f"{ind}cnt = max(nD * nH * nW, 1)")
        result = f"{T}(acc / cnt)"
    else:
        lines.append(f"{tap}acc += math.pow(abs(np.float64(v)), pw)")
        result = f"{T}(math.pow(acc, 1.0 / pw))"
    lines.append(f"{ind}{y}[np.uint64(oo + row * OW + oW)] = {result}")
    return lines, ()
