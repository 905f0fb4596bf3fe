"""Pooling (spec/executables.md 6.6): max / average / lp over N-D windows, generated as a
3-D kernel (1-D and 2-D pools run with leading unit spatial dims).

Items are output rows ``(plane, od, oh)`` with ``plane = n * C + c`` (C order; a row is
``OW`` outputs). A row is computed in two passes over a workgroup scratch ``r``:

* vertical: ``r[iw]`` = the reduction, over the row's window rows inside the input (its
  ``(kd, kh)`` taps, ``nv`` of them), of the input column ``iw``: contiguous loops, one
  loop for 1, 2 or 3 rows (3x3 and 2x2 pools: no pass over ``r`` per row), else a copy and
  one pass per further row. With width stride 2 ``r`` holds the even columns, then the
  odd ones (``HP`` each), so that the second pass reads it contiguously;
* horizontal: each interior output (every width tap inside the input, ``[olo, ohi)``)
  reduces its ``KW`` taps of ``r``: one loop for 2 or 3 taps with width stride 1 or 2,
  else a pass per tap into the float scratch ``acc``; the few edge outputs check each tap.

The contiguous loops vectorize, and their short remainders (rows of 13-111 columns) are
the cost that is left, so both passes round their length up to a multiple of ``V`` when
that stays inside the arrays: the vertical pass reads past the row end (into the next
row, inside the input binding's array) into the scratch, and the horizontal pass writes
past the row's interior into later outputs of the same workgroup, which it overwrites
afterwards (never past the workgroup's last output). max reduces in the element type
(exact) with ``np.maximum``, which propagates NaN and vectorizes, and gives -inf for a
window with no input tap; average and lp sum in float64 (column sums over the window's
rows, then over its columns). average divides by the taps inside the input, or
(``cip``) inside the padded extent ``[-pad_begin, size + pad_end)``, at least 1; lp
computes ``(sum |x|**p) ** (1/p)``. Every index formed is inside the input plane, which
``spatial_layout`` has proven inside the input binding, except the padded reads, which
the kernel checks against the array's length.
"""

from __future__ import annotations

from ..ir import Function
from . import skeleton

NAMES = ("n", "nwg", "per", "ID", "IH", "IW", "OD", "OH", "OW", "KD", "KH", "KW", "SD", "SH",
         "SW", "DD", "DH", "DW", "PD", "PH", "PW", "ED", "EH", "EW", "xo", "oo", "cip")
V = 16      # loop lengths are rounded up to a multiple of this where that stays inside


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


def _ops(op: str, x: str, T: str):
    """(combine(a, b), read(index) of the input, the reduction's initial value, its
    scratch dtype, finish(value, count) -> output)."""
    def read(i):
        v = f"{x}[np.uint64({i})]"
        if op == "max":
            return v
        return f"np.float64({v})" if op == "average" else f"math.pow(abs(np.float64({v})), pw)"

    def combine(a, b):
        return f"np.maximum({a}, {b})" if op == "max" else f"{a} + {b}"

    def finish(v, cnt):
        if op == "max":
            return f"{T}({v})"
        return f"{T}(({v}) / {cnt})" if op == "average" else f"{T}(math.pow({v}, 1.0 / pw))"

    init = "-np.inf" if op == "max" else "0.0"
    return combine, read, init, (f"{x}.dtype" if op == "max" else "np.float64"), finish


def _reduce(combine, terms: list[str]) -> str:
    out = terms[0]
    for t in terms[1:]:
        out = combine(out, t)
    return out


def _vertical(combine, read, indent: str) -> list[str]:
    """The vertical pass: ``r`` = the reduction of the ``nv`` rows ``tr[:nv]`` over
    ``[0, m)`` (stride-2 rows: pairs into the two phases), in one loop for 1-3 rows."""
    def stores(rows, j, dst_old=False):
        if stride2:
            pairs = (("0", f"2 * {j}"), ("HP", f"2 * {j} + 1"))
        else:
            pairs = (("0", j),)
        out = []
        for base, col in pairs:
            dst = f"r[np.uint64({base} + {j})]" if base != "0" else f"r[np.uint64({j})]"
            terms = ([dst] if dst_old else []) + [read(f"{a} + {col}") for a in rows]
            out.append(f"{dst} = {_reduce(combine, terms)}")
        return out

    lines = []
    for stride2 in (True, False):
        i = indent + "    "
        lines.append(indent + ("if SW == 2:" if stride2 else "else:"))
        for k, rows in enumerate((["a0", "a1", "a2"], ["a0", "a1"], ["a0"])):
            head = "if nv == 3:" if k == 0 else ("elif nv == 2:" if k == 1 else "else:")
            lines += [i + head,
                      *[i + f"    a{t} = tr[{t}]" for t in range(len(rows))],
                      i + "    for j in range(m):",
                      *[i + "        " + s for s in stores(rows, "j")]]
        lines += [i + "    for t in range(1, nv):",
                  i + "        a0 = tr[t]",
                  i + "        for j in range(m):",
                  *[i + "            " + s for s in stores(["a0"], "j", dst_old=True)]]
    return lines


def emit(fn: Function) -> tuple[list[str], tuple]:
    body = fn.body
    T = fn.bindings[body.output].type.ctor
    x, y = f"b{body.input}", f"b{body.output}"
    combine, read, init, acc_type, finish = _ops(body.op, x, T)
    avg = body.op == "average"
    params = ", ".join([f"b{b.index}" for b in fn.bindings] + ["p", "fp"])
    lines = skeleton.header()
    lines.append(f"def kernel({params}):")
    lines += [f"    {name} = p[{k}]" for k, name in enumerate(NAMES)]
    rd = "r[np.uint64((iw % 2) * HP + iw // 2 if SW == 2 else iw)]"    # column iw of r
    lines += [
        "    pw = fp[0]",
        "    IS = ID * IH * IW",
        "    rows = OD * OH",
        f"    V = {V}",
        f"    XN = {x}.size",
        "    # interior output columns [olo, ohi): every width tap inside the input",
        "    olo = min(OW, (PW + SW - 1) // SW)",
        "    last = IW - 1 + PW - (KW - 1) * DW",
        "    ohi = max(olo, min(OW, last // SW + 1)) if last >= 0 else olo",
        "    HP = -(-((IW + 1) // 2) // V) * V    # a phase of r (width stride 2)",
        "    RL = 2 * HP + SW * (OW + V) + KW * DW + V",
        "    # r offsets of the first three width taps of output olo",
        "    s0 = 0",
        "    s1 = 0",
        "    s2 = 0",
        "    for kw in range(min(KW, 3)):",
        "        t = kw * DW - PW",
        "        s = (t % 2) * HP + t // 2 + olo if SW == 2 else t + SW * olo",
        "        if kw == 0:",
        "            s0 = s",
        "        elif kw == 1:",
        "            s1 = s",
        "        else:",
        "            s2 = s",
        "    for w in prange(nwg):",
        "        start = w * per",
        "        end = min(start + per, n)",
        "        wend = oo + end * OW      # the workgroup's outputs end here",
        f"        r = np.empty(RL, dtype={acc_type})",
        f"        acc = np.empty(OW + V, dtype={acc_type})",
        "        tr = np.empty(KD * KH, dtype=np.int64)",
        *(["        nWs = np.empty(OW, dtype=np.int64)",
           "        for ow in range(OW):",
           *_count("W", "ow", " " * 12),
           "            nWs[ow] = nW"] if avg else []),
        "        for row in range(start, end):",
        "            plane = row // rows",
        "            rr = row - plane * rows",
        "            oD = rr // OH",
        "            oH = rr - oD * OH",
        "            xb = xo + plane * IS",
        "            ob = oo + row * OW",
        "            nv = 0      # the window's rows inside the input",
        "            for kd in range(KD):",
        "                id_ = oD * SD - PD + kd * DD",
        "                if id_ < 0 or id_ >= ID:",
        "                    continue",
        "                for kh in range(KH):",
        "                    ih = oH * SH - PH + kh * DH",
        "                    if ih < 0 or ih >= IH:",
        "                        continue",
        "                    tr[nv] = xb + (id_ * IH + ih) * IW",
        "                    nv += 1"]
    ind = " " * 12
    if avg:
        lines += _count("D", "oD", ind) + _count("H", "oH", ind)
        lines += [ind + "nDH = nD * nH", ind + "cnt = max(nDH * KW, 1)    # an interior output's"]
    empty = finish(init, "max(nDH * nWs[ow], 1)" if avg else "")
    lines += [
        ind + "if nv == 0:",
        ind + "    for ow in range(OW):",
        ind + f"        {y}[np.uint64(ob + ow)] = {empty}",
        ind + "    continue",
        ind + "last = tr[nv - 1]",
        ind + "if SW == 2:",
        ind + "    m = -(-(IW // 2) // V) * V",
        ind + "    if last + 2 * m > XN:",
        ind + "        m = IW // 2",
        ind + "else:",
        ind + "    m = -(-IW // V) * V",
        ind + "    if last + m > XN:",
        ind + "        m = IW"]
    lines += _vertical(combine, read, ind)
    lines += [
        ind + "if SW == 2 and IW % 2 and m == IW // 2:   # the last (even) column",
        ind + "    a = " + read("tr[0] + IW - 1"),
        ind + "    for t in range(1, nv):",
        ind + "        a = " + combine("a", read("tr[t] + IW - 1")),
        ind + "    r[np.uint64(m)] = a",
        ind + "# horizontal: interior outputs, rounded up inside the workgroup's outputs",
        ind + "o0 = ob + olo",
        ind + "ni = ohi - olo",
        ind + "if SW <= 2 and ni > 1 and o0 + -(-ni // V) * V <= wend:",
        ind + "    ni = -(-ni // V) * V"]
    cnt = "cnt" if avg else ""
    edge_cnt = "max(nDH * nWs[ow], 1)" if avg else ""
    terms = [f"r[np.uint64(s{k} + j)]" for k in range(3)]
    generic = []    # a pass per tap into acc: copy the first, combine the others
    for head, index in (("if SW == 2:", "(t % 2) * HP + t // 2 + olo + j"),
                        ("elif SW == 1:", "t + olo + j"), ("else:", "t + SW * (olo + j)")):
        v = f"r[np.uint64({index})]"
        generic += [head,
                    "    if kw == 0:",
                    "        for j in range(ni):",
                    f"            acc[np.uint64(j)] = {v}",
                    "    else:",
                    "        for j in range(ni):",
                    f"            acc[np.uint64(j)] = {combine('acc[np.uint64(j)]', v)}"]
    lines += [
        ind + "if ni == 1:   # one interior output (global pooling): its taps in a row",
        ind + "    a = r[np.uint64(s0)]",
        ind + "    for kw in range(1, KW):",
        ind + "        iw = olo * SW - PW + kw * DW",
        ind + f"        a = {combine('a', rd)}",
        ind + f"    {y}[np.uint64(o0)] = {finish('a', cnt)}",
        ind + "elif SW <= 2 and KW == 3:",
        ind + "    for j in range(ni):",
        ind + f"        {y}[np.uint64(o0 + j)] = {finish(_reduce(combine, terms), cnt)}",
        ind + "elif SW <= 2 and KW == 2:",
        ind + "    for j in range(ni):",
        ind + f"        {y}[np.uint64(o0 + j)] = {finish(_reduce(combine, terms[:2]), cnt)}",
        ind + "elif ni > 0:   # a pass per tap into acc",
        ind + "    for kw in range(KW):",
        ind + "        t = kw * DW - PW",
        *[ind + "        " + g for g in generic],
        ind + "    for j in range(ni):",
        ind + f"        {y}[np.uint64(o0 + j)] = {finish('acc[np.uint64(j)]', cnt)}",
        ind + "# edge outputs (a tap outside the input): check each tap",
        ind + "for e in range(olo + OW - ohi):",
        ind + "    ow = e if e < olo else e - olo + ohi",
        ind + f"    a = {init}",
        ind + "    for kw in range(KW):",
        ind + "        iw = ow * SW - PW + kw * DW",
        ind + "        if iw >= 0 and iw < IW:",
        ind + f"            a = {combine('a', rd)}",
        ind + f"    {y}[np.uint64(ob + ow)] = {finish('a', edge_cnt)}"]
    return lines, ()
