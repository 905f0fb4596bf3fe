"""Pooling (spec/executables.md 6.6): max / average / lp over N-D windows, generated as a
3-D kernel (1-D and 2-D pools run with leading unit spatial dims).

Items are output rows ``(plane, od, oh)`` with ``plane = n * C + c`` (C order; a row is
``OW`` outputs). A row is computed in two passes over a workgroup scratch row ``r`` whose
column ``c`` is the input column ``c - PW``: the width padding is part of it, filled with
the reduction's identity (-inf for max, 0 for the sums), so that every output reads its
``KW`` taps without a bounds check.

* vertical: ``r`` = the reduction, over the row's window rows inside the input (its
  ``(kd, kh)`` taps, ``nv`` of them), of each input column: contiguous loops, one loop for
  1, 2 or 3 rows (3x3 and 2x2 pools), else a copy and one pass per further row. With
  width stride 2, ``r`` holds the even columns, then the odd ones (``HP`` each), so that
  the second pass reads it contiguously;
* horizontal: each output reduces its taps of ``r``: one loop for 2 or 3 taps with width
  stride 1 or 2, else a pass per tap into the float scratch ``acc``; a row of one output
  (global pooling) runs its taps as one scalar loop.

The loops vectorize, and their short remainders (rows of 13-111 columns) are what is
left, so both passes round their length up to a multiple of ``V`` when that stays inside
the arrays: the vertical pass reads past the row's end (inside the input binding's array)
into the scratch, whose right padding is filled afterwards, and the horizontal pass writes
past the row into later outputs of the same workgroup, which it overwrites afterwards
(never past the workgroup's last output). max reduces in the element type (exact) with
``np.maximum``, which propagates NaN and vectorizes, and gives -inf for a window with no
input tap; average and lp sum in float64, a column's window rows first, then the columns.
average multiplies by the reciprocal of the taps inside the input, or (``cip``) inside the
padded extent ``[-pad_begin, size + pad_end)``, at least 1: the counts per output depth,
height and width are computed once per workgroup, and the reciprocal rows of a row's count
``nD * nH`` are kept in 32 slots (one per count for windows of fewer than 32 rows); lp
computes ``(sum |x|**p) ** (1/p)``. Every
index formed is inside the input plane, which ``spatial_layout`` has proven inside the
input binding, except the rounded-up reads, which the kernel checks against the array.

A body with ``whole_planes`` (the compiler sets it for a 2-D stride-1, dilation-1 pool
whose output plane has the input's shape: 3x3 with pads 1, inception's pools) also gets a
plane pass (``_plane``), which runs a workgroup's whole planes: the width taps of every
input row as one loop over the plane, the rows' first ``PW`` and last ``EW`` columns again
with checked taps, then the ``KH`` rows of those as one loop over the plane; rows 7-28 wide
made the row passes' per-row work dominate (inception_v2's 1024x7x7 pool: 280 -> 95 us on
one thread). The rows of partial planes still run the row passes, and so does every row
when the push constants do not make the pool flat (``flat``, checked per dispatch: the
plane pass's indices rely on it). The plane code is emitted only then: its mere presence
made numba's code for the row passes of other pools 10-40% slower. A row's outputs are
found without a division: ``(plane, oD, oH)`` advance from row to row.
"""

from __future__ import annotations

from ..ir import Function
from . import skeleton

NAMES = ("n", "nwg", "per", "ID", "IH", "IW", "OD", "OH", "OW", "KD", "KH", "KW", "SD", "SH",
         "SW", "DD", "DH", "DW", "PD", "PH", "PW", "ED", "EH", "EW", "xo", "oo", "cip")
V = 16      # loop lengths are rounded up to a multiple of this where that stays inside


def _literals(body) -> dict:
    """The parameters known when the kernel is generated, emitted as literals (numba then
    folds the branches and loops on them): the leading unit axes of a 1-D or 2-D pool, and
    each window size (kernel, stride, dilation, pad) that is literal in the description.
    ``spatial_layout`` puts the same values in ``p``."""
    nd = len(body.kernel)
    out = {}
    for a in "DHW"[:3 - nd]:
        out.update({f"I{a}": 1, f"O{a}": 1, f"K{a}": 1, f"S{a}": 1, f"D{a}": 1, f"P{a}": 0,
                    f"E{a}": 0})
    for j, a in enumerate("DHW"[3 - nd:]):
        for name, e in (("K", body.kernel[j]), ("S", body.strides[j]),
                        ("D", body.dilations[j]), ("P", body.pads[j]),
                        ("E", body.pads[nd + j])):
            if e.static() is not None:
                out[name + a] = e.static()
    return out


def _count(axis: str, coord: str, indent: str) -> list[str]:
    """Lines computing ``n{axis}``: taps of the window along one axis inside the counted
    extent (the input, or the padded input when ``cip``)."""
    a = axis
    return [f"{indent}n{a} = 0",
            f"{indent}for k in range(K{a}):",
            f"{indent}    i = {coord} * S{a} - P{a} + k * D{a}",
            (f"{indent}    if (i >= 0 and i < I{a}) or (cip != 0 and i >= -P{a} and "
             f"i < I{a} + E{a}):"),
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
        return f"{T}(({v}) * {cnt})" if op == "average" else f"{T}(math.pow({v}, 1.0 / pw))"

    init = "-np.inf" if op == "max" else "0.0"
    return combine, read, init, (f"{x}.dtype" if op == "max" else "np.float64"), finish


def _reduce(combine, terms: list[str]) -> str:
    out = terms[0]
    for t in terms[1:]:
        out = combine(out, t)
    return out


def _vertical(combine, read, indent: str) -> list[str]:
    """The vertical pass: ``r`` = the reduction of the ``nv`` rows ``tr[:nv]`` over
    ``m`` columns (width stride 2: ``m`` pairs, the even one to ``r[de + j]``, the odd one
    to ``r[do + j]``; else to ``r[PW + j]``), in one loop for 1-3 rows."""
    def stores(rows, stride2, dst_old=False):
        pairs = (("de", "2 * j"), ("do", "2 * j + 1")) if stride2 else (("PW", "j"),)
        out = []
        for base, col in pairs:
            dst = f"r[np.uint64({base} + j)]"
            terms = ([dst] if dst_old else []) + [read(f"{a} + {col}") for a in rows]
            out.append(f"{dst} = {_reduce(combine, terms)}")
        return out

    lines = []
    for stride2 in (True, False):
        i = indent + "    "
        lines.append(indent + ("if SW == 2:" if stride2 else "else:"))
        for k, rows in enumerate((["a0", "a1", "a2"], ["a0", "a1"], ["a0"])):
            head = ("if nv == 3:", "elif nv == 2:", "else:")[k]
            lines += [i + head,
                      *[i + f"    a{t} = tr[{t}]" for t in range(len(rows))],
                      i + "    for j in range(m):",
                      *[i + "        " + st for st in stores(rows, stride2)]]
        lines += [i + "    for t in range(1, nv):",
                  i + "        a0 = tr[t]",
                  i + "        for j in range(m):",
                  *[i + "            " + st for st in stores(["a0"], stride2, True)]]
    return lines


def _horizontal(combine, finish, y: str, div: str, indent: str) -> list[str]:
    """The horizontal pass over outputs ``[0, ni)`` of the row (at ``ob``): one loop for
    2 or 3 taps (``s0``-``s2``, width stride 1 or 2), else a pass per tap into ``acc``."""
    terms = [f"r[np.uint64(s{k} + j)]" for k in range(3)]
    i = indent
    lines = [i + "if SW <= 2 and KW == 3:",
             i + "    for j in range(ni):",
             i + f"        {y}[np.uint64(ob + j)] = {finish(_reduce(combine, terms), div)}",
             i + "elif SW <= 2 and KW == 2:",
             i + "    for j in range(ni):",
             i + f"        {y}[np.uint64(ob + j)] = "
                 f"{finish(_reduce(combine, terms[:2]), div)}",
             i + "else:   # a pass per tap: copy the first, combine the others",
             i + "    for kw in range(KW):",
             i + "        c = kw * DW"]
    for head, index in (("if SW == 2:", "(c % 2) * HP + c // 2 + j"),
                        ("elif SW == 1:", "c + j"), ("else:", "c + SW * j")):
        v = f"r[np.uint64({index})]"
        lines += [i + "        " + head,
                  i + "            if kw == 0:",
                  i + "                for j in range(ni):",
                  i + f"                    acc[np.uint64(j)] = {v}",
                  i + "            else:",
                  i + "                for j in range(ni):",
                  i + f"                    acc[np.uint64(j)] = "
                      f"{combine('acc[np.uint64(j)]', v)}"]
    return lines + [i + "    for j in range(ni):",
                    i + f"        {y}[np.uint64(ob + j)] = "
                        f"{finish('acc[np.uint64(j)]', div)}"]


def _row_loop(lo: str, hi: str, i: str) -> list[str]:
    """The loop over rows ``[lo, hi)`` (its body is indented 12)."""
    return [i + "# (plane, oD, oH) of the next row, advanced without a division per row",
            i + f"nP = {lo} // rows",
            i + f"nH_ = {lo} - nP * rows",
            i + "nD_ = nH_ // OH",
            i + "nH_ -= nD_ * OH",
            i + f"for row in range({lo}, {hi}):"]


def _plane_setup() -> list[str]:
    """``flat``: the dispatch is a 2-D stride-1, dilation-1 pool whose output plane has
    the input's shape, which ``whole_planes`` promises and the push constants must agree
    with (else every row runs the row passes); rows ``[start, fs)`` and ``[fe, end)`` run
    the row passes, the whole planes in ``[fs, fe)`` the plane pass (after them)."""
    i = " " * 8
    return [
        i + "flat = (ID == 1 and OD == 1 and KD == 1 and PD == 0 and SH == 1 and SW == 1",
        i + "        and DH == 1 and DW == 1 and OH == IH and OW == IW",
        i + "        and PH + EH == KH - 1 and PW + EW == KW - 1)",
        i + "fs = end",
        i + "fe = end",
        i + "if flat and -(-start // rows) < end // rows:",
        i + "    fs = -(-start // rows) * rows",
        i + "    fe = (end // rows) * rows",
        i + "for seg in range(2):",
        i + "  lo = start if seg == 0 else fe",
        i + "  hi = fs if seg == 0 else end"]


def _plane_scratch(init: str, acc_type: str, avg: bool) -> list[str]:
    """The plane pass's scratch, made only by a workgroup with whole planes of a flat
    pool (made for every workgroup, it slowed the row passes of other pools by 10-40%):
    ``H`` (``KH - 1`` rows of the identity around the input's ``IH`` rows of ``IW``
    columns), ``pa`` and, for average, the reciprocal counts ``rp`` of a plane's outputs."""
    i = " " * 12
    return [
        i + "HN = (IH + KH - 1) * IW",
        i + f"H = np.empty(HN, dtype={acc_type})",
        i + f"pa = np.empty(IS, dtype={acc_type})",
        i + "for t in range(PH * IW):",
        i + f"    H[np.uint64(t)] = {init}",
        i + "for t in range((PH + IH) * IW, HN):",
        i + f"    H[np.uint64(t)] = {init}",
        *([i + "rp = np.empty(IS, dtype=np.float64)",
           i + "for oh in range(OH):",
           i + "    fq = np.float64(cD[0] * cH[oh])",
           i + "    for ow in range(OW):",
           i + "        rp[np.uint64(oh * OW + ow)] = 1.0 / max(fq * cw[ow], 1.0)"]
          if avg else [])]


def _plane(combine, read, init: str, finish, y: str, indent: str) -> list[str]:
    """The plane pass of a ``flat`` pool (``OW == IW``, so ``PW + EW == KW - 1``): each
    input row's width taps into ``H`` as one loop over the plane (an output column whose
    taps all lie in its row reads its neighbours in the flat plane), then the ``PW`` first
    and ``EW`` last columns of each row again with their taps checked against the row;
    then each output the reduction of its ``KH`` rows of ``H``, as one loop over the
    plane. Indices: ``x[xb + t - PW + kw]`` for ``t`` in ``[PW, IS - EW)`` stays inside the
    plane; ``H[o + kh * IW]`` for ``o < IS``, ``kh < KH`` inside ``HN``."""
    i = indent
    dv = "rp[np.uint64(o)]"
    hw = "H[np.uint64(PH * IW + t)]"
    taps = [read(f"xb + t - PW + {k}") for k in range(3)]
    vt = [f"H[np.uint64(o + {k} * IW)]" for k in range(3)]
    return [
        i + "EWr = EW",
        i + "if KW == 3:",
        i + "    for t in range(PW, IS - EWr):",
        i + f"        {hw} = {_reduce(combine, taps)}",
        i + "else:",
        i + "    for t in range(PW, IS - EWr):",
        i + f"        {hw} = {read('xb + t - PW')}",
        i + "    for kw in range(1, KW):",
        i + "        for t in range(PW, IS - EWr):",
        i + f"            {hw} = {combine(hw, read('xb + t - PW + kw'))}",
        i + "for ih in range(IH):   # the edge columns, taps checked against the row",
        i + "    for e in range(2):",
        i + "        for ow in range(max(PW, IW - EWr) if e else 0, IW if e else min(PW, IW)):",
        i + f"            ea = {init}",
        i + "            for kw in range(KW):",
        i + "                c = ow - PW + kw",
        i + "                if c >= 0 and c < IW:",
        i + f"                    ea = {combine('ea', read('xb + ih * IW + c'))}",
        i + "            H[np.uint64((PH + ih) * IW + ow)] = ea",
        i + "if KH == 3:",
        i + "    for o in range(IS):",
        i + f"        {y}[np.uint64(ob + o)] = {finish(_reduce(combine, vt), dv)}",
        i + "else:",
        i + "    for o in range(IS):",
        i + "        pa[np.uint64(o)] = H[np.uint64(o)]",
        i + "    for kh in range(1, KH):",
        i + "        for o in range(IS):",
        i + "            pa[np.uint64(o)] = "
            f"{combine('pa[np.uint64(o)]', 'H[np.uint64(o + kh * IW)]')}",
        i + "    for o in range(IS):",
        i + f"        {y}[np.uint64(ob + o)] = {finish('pa[np.uint64(o)]', dv)}"]


def emit(fn: Function) -> tuple[list[str], tuple]:
    body = fn.body
    T = fn.bindings[body.output].type.ctor
    x, y = f"b{body.input}", f"b{body.output}"
    combine, read, init, acc_type, finish = _ops(body.op, x, T)
    avg = body.op == "average"
    planes = body.whole_planes
    div = "rc[np.uint64(qb + j)]" if avg else ""     # 1 / output j's tap count
    params = ", ".join([f"b{b.index}" for b in fn.bindings] + ["p", "fp"])
    lines = skeleton.header()
    lines.append(f"def kernel({params}):")
    known = _literals(body)
    lines += [f"    {name} = {known[name]}" if name in known else f"    {name} = p[{k}]"
              for k, name in enumerate(NAMES)]
    col = "(c % 2) * HP + c // 2 if SW == 2 else c"      # column c's place in r
    lines += [
        "    pw = fp[0]",
        "    IS = ID * IH * IW",
        "    rows = OD * OH",
        f"    V = {V}",
        f"    XN = {x}.size",
        "    CW = (OW - 1) * SW + (KW - 1) * DW + 1    # the columns the outputs read",
        "    L = PW + IW + 2 * V + 2 + (OW + V) * SW + KW * DW   # r's columns, rounding too",
        "    HP = (L + 1) // 2      # a phase of r (width stride 2)",
        "    de = (PW % 2) * HP + PW // 2      # input column 2j: r[de + j] (stride 2)",
        "    do = ((PW + 1) % 2) * HP + (PW + 1) // 2",
        "    # r offsets of the first three taps of output 0",
        "    s0 = 0",
        "    s1 = 0",
        "    s2 = 0",
        "    for kw in range(min(KW, 3)):",
        "        c = kw * DW",
        f"        s = {col}",
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
        f"        r = np.empty(2 * HP, dtype={acc_type})",
        "        for c in range(PW):      # the left padding: never written again",
        f"            r[np.uint64({col})] = {init}",
        f"        acc = np.empty(OW + V, dtype={acc_type})",
        "        tr = np.empty(KD * KH, dtype=np.int64)",
        *(["        cw = np.ones(OW + V, dtype=np.float64)   # taps counted per column",
           "        for ow in range(OW):",
           *_count("W", "ow", " " * 12),
           "            cw[ow] = nW",
           "        cD = np.empty(OD, dtype=np.int64)   # taps counted per depth, height",
           "        for oD in range(OD):",
           *_count("D", "oD", " " * 12),
           "            cD[oD] = nD",
           "        cH = np.empty(OH, dtype=np.int64)",
           "        for oH in range(OH):",
           *_count("H", "oH", " " * 12),
           "            cH[oH] = nH",
           "        # reciprocal rows 1 / max(q * cw, 1) of the rows' counts q = nD * nH, kept",
           "        # in 32 slots (slot q & 31, tag qt): one per count for windows of < 32 rows",
           "        rc = np.empty(32 * (OW + V), dtype=np.float64)",
           "        qt = np.full(32, -1, dtype=np.int64)"] if avg else []),
        *(_plane_setup() + _row_loop("lo", "hi", " " * 10) if planes else
          _row_loop("start", "end", " " * 8)),
        "            plane = nP",
        "            oD = nD_",
        "            oH = nH_",
        "            nH_ += 1",
        "            if nH_ == OH:",
        "                nH_ = 0",
        "                nD_ += 1",
        "                if nD_ == OD:",
        "                    nD_ = 0",
        "                    nP += 1",
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
        lines += [ind + "q = cD[oD] * cH[oH]",
                  ind + "slot = q & 31",
                  ind + "qb = slot * (OW + V)",
                  ind + "if qt[slot] != q:",
                  ind + "    qt[slot] = q",
                  ind + "    fq = np.float64(q)",
                  ind + "    for j in range(OW + V):",
                  ind + "        rc[np.uint64(qb + j)] = 1.0 / max(fq * cw[np.uint64(j)], 1.0)"]
    lines += [
        ind + "if nv == 0:",
        ind + "    for j in range(OW):",
        ind + f"        {y}[np.uint64(ob + j)] = {finish(init, div)}",
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
        ind + "    r[np.uint64(de + m)] = a",
        ind + "for c in range(PW + IW, CW):   # the right padding",
        ind + f"    r[np.uint64({col})] = {init}",
        ind + "if OW == 1:   # one output (global pooling): its taps in a row",
        ind + "    a = r[np.uint64(s0)]",
        ind + "    for kw in range(1, KW):",
        ind + "        c = kw * DW",
        ind + f"        a = {combine('a', f'r[np.uint64({col})]')}",
        ind + "    j = 0",
        ind + f"    {y}[np.uint64(ob)] = {finish('a', div)}",
        ind + "    continue",
        ind + "# outputs rounded up inside the workgroup's outputs",
        ind + "ni = -(-OW // V) * V",
        ind + "if SW > 2 or ob + ni > wend:",
        ind + "    ni = OW"]
    lines += _horizontal(combine, finish, y, div, ind)
    if planes:
        lines += ["        if fe > fs:   # whole planes of a flat pool",
                  *_plane_scratch(init, acc_type, avg),
                  "            for plane in range(fs // rows, fe // rows):",
                  "                xb = xo + plane * IS",
                  "                ob = oo + plane * rows * OW",
                  *_plane(combine, read, init, finish, y, " " * 16)]
    return lines, ()
