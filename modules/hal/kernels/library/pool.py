"""Pooling (spec/executables.md 6.6): max / average / lp over N-D windows, generated as a
3-D kernel (1-D and 2-D pools run with leading unit spatial dims).

Items are output rows ``(plane, od, oh)`` with ``plane = n * C + c`` (C order; a row is
``OW`` outputs). Each output scans its window's taps, skipping those in padding (every
index formed is inside the input plane, which ``spatial_layout`` has proven inside the
input binding). A row accumulates tap by tap over the run of output positions whose tap
is inside the input: one inner loop per tap, specialised for width strides 1 and 2 so that
it vectorizes. max accumulates in the element type (exact) with ``np.maximum``, which
propagates NaN and vectorizes (a ``v if v > a or v != v else a`` select does not), and
gives -inf for a window with no input tap; average and lp accumulate in float64. A row
of one output (global pooling) runs its taps as one loop over the window's columns
instead (the same order, without a per-tap setup). Each workgroup computes the column
range of every width tap (and, for average, the taps counted per output column) once.
average
divides the float64 sum by the taps inside the input, or (``cip``) inside the padded
extent ``[-pad_begin, size + pad_end)``, at least 1; lp computes
``(sum |x|**p) ** (1/p)`` in float64.
"""

from __future__ import annotations

from ..ir import Function
from . import skeleton

NAMES = ("n", "nwg", "per", "ID", "IH", "IW", "OD", "OH", "OW", "KD", "KH", "KW", "SD", "SH",
         "SW", "DD", "DH", "DW", "PD", "PH", "PW", "ED", "EH", "EW", "xo", "oo", "cip")


def _count(axis: str, coord: str, indent: str) -> list[str]:
    """Lines computing ``n{axis}``: taps of the window along one axis inside the counted
    extent (the input, or the padded input when ``cip``)."""
    a = axis
    return [f"{indent}n{a} = 0",
            f"{indent}for k in range(K{a}):",
            f"{indent}    i = {coord} * S{a} - P{a} + k * D{a}",
            f"{indent}    if (i >= 0 and i < I{a}) or (cip != 0 and i >= -P{a} and "
            f"i < I{a} + E{a}):",
            f"{indent}        n{a} += 1"]


COMBINE = {
    "max": "np.maximum(a, v)",
    "average": "a + v",
    "lp": "a + math.pow(abs(v), pw)",
}


def _tap_loop(op: str, value: str, indent: str) -> list[str]:
    """The inner loop of one tap over output columns ``[lo, hi)``, once per width stride
    case (a constant stride 1 or 2 lets the loop vectorize); ``value`` reads the input at
    ``base + {}``."""
    lines = []
    for k, (test, index) in enumerate((("SW == 1", "ow"), ("SW == 2", "2 * ow"),
                                       (None, "ow * SW"))):
        head = "else:" if test is None else f"{'if' if k == 0 else 'elif'} {test}:"
        lines += [indent + head,
                  indent + "    for ow in range(lo, hi):",
                  indent + f"        v = {value.format(index)}",
                  indent + "        a = acc[np.uint64(ow)]",
                  indent + f"        acc[np.uint64(ow)] = {COMBINE[op]}"]
    return lines


def emit(fn: Function) -> tuple[list[str], tuple]:
    body = fn.body
    etype = fn.bindings[body.output].type
    T = etype.ctor
    x, y = f"b{body.input}", f"b{body.output}"
    params = ", ".join([f"b{b.index}" for b in fn.bindings] + ["p", "fp"])
    lines = skeleton.header()
    lines.append(f"def kernel({params}):")
    lines += [f"    {name} = p[{k}]" for k, name in enumerate(NAMES)]
    read = f"{x}[np.uint64(base + {{}})]"      # the input at base + {}
    if body.op == "max":        # exact in the element type
        init, acc_type, value = "-np.inf", f"{x}.dtype", read
    else:                       # float64 sums
        init, acc_type, value = "0.0", "np.float64", f"np.float64({read})"
    lines += ["    pw = fp[0]",
              "    IS = ID * IH * IW",
              "    rows = OD * OH",
              "    for w in prange(nwg):",
              "        start = w * per",
              "        end = min(start + per, n)",
              f"        acc = np.empty(OW, dtype={acc_type})",
              "        # each tap's run of output columns [lo, hi) inside the input, once",
              "        los = np.empty(KW, dtype=np.int64)",
              "        his = np.empty(KW, dtype=np.int64)",
              "        for kw in range(KW):",
              "            iw0 = kw * DW - PW",
              "            los[kw] = 0 if iw0 >= 0 else min(OW, (SW - 1 - iw0) // SW)",
              "            his[kw] = max(los[kw], 0 if IW - 1 - iw0 < 0 else "
              "min(OW, (IW - 1 - iw0) // SW + 1))",
              *(["        nWs = np.empty(OW, dtype=np.int64)",
                 "        for ow in range(OW):",
                 *_count("W", "ow", " " * 12),
                 "            nWs[ow] = nW"] if body.op == "average" else []),
              "        for row in range(start, end):",
              "            plane = row // rows",
              "            rr = row - plane * rows",
              "            oD = rr // OH",
              "            oH = rr - oD * OH",
              "            xb = xo + plane * IS",
              f"            acc[:] = {init}",
              "            for kd in range(KD):",
              "                id_ = oD * SD - PD + kd * DD",
              "                if id_ < 0 or id_ >= ID:",
              "                    continue",
              "                for kh in range(KH):",
              "                    ih = oH * SH - PH + kh * DH",
              "                    if ih < 0 or ih >= IH:",
              "                        continue",
              "                    if OW == 1:  # one window per row (global pooling)",
              "                        base = xb + (id_ * IH + ih) * IW - PW",
              "                        a = acc[0]",
              "                        for kw in range(KW):",
              "                            iw = kw * DW - PW",
              "                            if iw >= 0 and iw < IW:",
              f"                                v = {value.format('kw * DW')}",
              f"                                a = {COMBINE[body.op]}",
              "                        acc[0] = a",
              "                        continue",
              "                    for kw in range(KW):",
              "                        lo = los[kw]",
              "                        hi = his[kw]",
              "                        base = xb + (id_ * IH + ih) * IW + kw * DW - PW",
              *_tap_loop(body.op, value, " " * 24)]
    ind = "            "
    if body.op == "average":
        lines += _count("D", "oD", ind) + _count("H", "oH", ind)
    lines.append(f"{ind}for ow in range(OW):")
    if body.op == "max":
        result = "acc[ow]"
    elif body.op == "average":
        lines.append(f"{ind}    cnt = max(nD * nH * nWs[ow], 1)")
        result = "acc[ow] / cnt"
    else:
        result = "math.pow(acc[ow], 1.0 / pw)"
    lines.append(f"{ind}    {y}[np.uint64(oo + row * OW + ow)] = {T}({result})")
    return lines, ()
