"""The product of one conv segment, shared by every generated conv kernel
(imported only by generated sources, like ``runtime``).

``conv_tile`` computes output positions ``[r0*OW, r1*OW)`` (rows of one ``(n, g)``) of
the ``Mg`` output channels of one group, before the epilogue, in the input's type, and
writes them to ``dst[do + m*ldd + q]`` (``m < Mg``, ``q < npos``): ``dst`` is the output
binding itself (``do`` the segment's first output element, ``ldd`` the output's channel
stride) or a workgroup scratch. ``x`` is the input binding, ``xb`` the element index of
the group's first input channel of image n, ``w`` the touched groups' weights (same type)
and ``wb`` the group's first weight; ``cols`` is the workgroup's patch-matrix scratch (at
least ``Cg*KK*npos`` elements when the im2col path copies). See ``library/conv.py`` for
the strategies. Every index it forms, and every element the product touches (``gemm.gemm``:
rows ``[0, M)`` of A with stride ``lda``, ...), is inside the ``(n, g)`` input block, the
group's weight block and the segment's output positions, which the dispatch layout
proved in range.

Being one function compiled once per input type (and cached on disk) rather than part of
every generated kernel, it keeps each epilogue variant's compile small.
"""

from __future__ import annotations

import numpy as np

from . import config
from .gemm import gemm

numba = config.import_numba()
_OPTS = {k: v for k, v in config.njit_options().items() if k != "parallel"}


@numba.njit(**_OPTS)
def pointwise(ID, IH, IW, OD, OH, OW, KD, KH, KW, SD, SH, SW, PD, PH, PW):
    """A 1x1 stride-1 unpadded conv: output position ``p`` of a channel reads input
    position ``p`` (same spatial dims, so rows ``r`` map to ``r*OW``)."""
    return KD * KH * KW == 1 and SD == 1 and SH == 1 and SW == 1 and PD == 0 and \
        PH == 0 and PW == 0 and ID == OD and IH == OH and IW == OW


@numba.njit(inline="always", **_OPTS)
def _gather(cols, dst, x, src, lo, hi, stride):
    """``cols[dst + j] = x[src + j * stride]`` for ``j`` in ``[lo, hi)`` (a contiguous loop
    for stride 1): a row of patches gathered from a row of the input."""
    if stride == 1:
        for j in range(lo, hi):
            cols[np.uint64(dst + j)] = x[np.uint64(src + j)]
    else:
        for j in range(lo, hi):
            cols[np.uint64(dst + j)] = x[np.uint64(src + j * stride)]


@numba.njit(**_OPTS)
def _runs(x, xb, r0, r1, Cg, IH, IW, OW, KH, KW, SH, DH, PH, PW, cols):
    """The patch matrix of a 2-D conv whose output rows are runs of the input (width
    stride and dilation 1 and ``SH * IW == OW``: a stride-1 "same" conv, 3x3 with pads 1):
    element ``j = (rr - r0) * OW + ow`` of row ``(c, kh, kw)`` reads the input at ``j``
    plus a constant, so each row is one copy over its rows inside the input (from its
    first tap in range to its last: every index between lies in channel c's plane), then
    the ``lo`` first and ``OW - hi`` last columns of each row, whose taps fall into the
    padding, are zeroed, and so are rows whose input row is padding. 2-2.9x the
    row-by-row copy on 7x7 to 56x56 planes (one thread, 64-192 channels)."""
    IS = IH * IW
    npos = (r1 - r0) * OW
    for c in range(Cg):
        for kh in range(KH):
            # rows [ra, rb) read input rows ih = rr*SH - PH + kh*DH inside [0, IH)
            t = PH - kh * DH
            ra = max(r0, -(-t // SH)) if t > 0 else r0
            rb = max(ra, min(r1, (IH - 1 + t) // SH + 1))
            for kw in range(KW):
                crow = (c * KH * KW + kh * KW + kw) * npos
                iw0 = kw - PW
                lo = 0 if iw0 >= 0 else min(OW, -iw0)
                hi = max(lo, 0 if IW - 1 - iw0 < 0 else min(OW, IW - iw0))
                for j in range((ra - r0) * OW):
                    cols[np.uint64(crow + j)] = 0
                for j in range((rb - r0) * OW, npos):
                    cols[np.uint64(crow + j)] = 0
                if ra == rb:
                    continue
                j0 = (ra - r0) * OW + lo
                j1 = (rb - 1 - r0) * OW + hi
                if lo < hi:     # the first and last elements copied are taps inside
                    src = xb + c * IS + (ra * SH - PH + kh * DH) * IW + iw0 + lo - j0
                    for j in range(j0, j1):
                        cols[np.uint64(crow + j)] = x[np.uint64(src + j)]
                if lo > 0 or hi < OW:
                    for rr in range(ra, rb):
                        q = crow + (rr - r0) * OW
                        for ow in range(lo):
                            cols[np.uint64(q + ow)] = 0
                        for ow in range(hi, OW):
                            cols[np.uint64(q + ow)] = 0


@numba.njit(**_OPTS)
def _patches(x, xb, r0, r1, Cg, ID, IH, IW, OH, OW, KD, KH, KW, SD, SH, SW, DD, DH, DW, PD,
             PH, PW, cols):
    """The patch matrix ``[Cg*KK, npos]`` of any conv, row by row of each tap: zeros for
    taps in padding."""
    IS = ID * IH * IW
    npos = (r1 - r0) * OW
    od0 = r0 // OH
    oh0 = r0 - od0 * OH
    for c in range(Cg):
        for kd in range(KD):
            for kh in range(KH):
                for kw in range(KW):
                    crow = (((c * KD + kd) * KH + kh) * KW + kw) * npos
                    iw0 = kw * DW - PW
                    lo = 0 if iw0 >= 0 else min(OW, (SW - 1 - iw0) // SW)
                    hi = 0 if IW - 1 - iw0 < 0 else min(OW, (IW - 1 - iw0) // SW + 1)
                    hi = max(hi, lo)
                    # (od, oh) of row rr advance without a division per row (one per
                    # row was a sixth of the copy's time on 14x14 planes)
                    od = od0
                    oh = oh0
                    q = crow
                    for _ in range(r0, r1):
                        id_ = od * SD - PD + kd * DD
                        ih = oh * SH - PH + kh * DH
                        if id_ < 0 or id_ >= ID or ih < 0 or ih >= IH:
                            for ow in range(OW):
                                cols[np.uint64(q + ow)] = 0
                        else:
                            base = xb + c * IS + (id_ * IH + ih) * IW + iw0
                            for ow in range(lo):
                                cols[np.uint64(q + ow)] = 0
                            _gather(cols, q, x, base, lo, hi, SW)
                            for ow in range(hi, OW):
                                cols[np.uint64(q + ow)] = 0
                        q += OW
                        oh += 1
                        if oh == OH:
                            oh = 0
                            od += 1


@numba.njit(**_OPTS)
def conv_tile(x, w, xb, wb, r0, r1, Cg, Mg, ID, IH, IW, OD, OH, OW, KD, KH, KW, SD, SH, SW,
              DD, DH, DW, PD, PH, PW, direct, cols, dst, do, ldd):
    IS = ID * IH * IW
    KK = KD * KH * KW
    CK = Cg * KK
    npos = (r1 - r0) * OW
    if direct == 0:
        if pointwise(ID, IH, IW, OD, OH, OW, KD, KH, KW, SD, SH, SW, PD, PH, PW):
            # The channel block is the B matrix as it lies: [Cg, npos] with row stride IS.
            gemm(Mg, npos, Cg, w, wb, CK, 1, x, xb + r0 * OW, IS, 1, dst, do, ldd)
            return
        if KD == 1 and ID == 1 and OD == 1 and PD == 0 and SW == 1 and DW == 1 and \
                SH * IW == OW:
            _runs(x, xb, r0, r1, Cg, IH, IW, OW, KH, KW, SH, DH, PH, PW, cols)
        else:
            _patches(x, xb, r0, r1, Cg, ID, IH, IW, OH, OW, KD, KH, KW, SD, SH, SW, DD, DH,
                     DW, PD, PH, PW, cols)
        gemm(Mg, npos, CK, w, wb, CK, 1, cols, 0, npos, 1, dst, do, ldd)
        return
    if direct == 2:
        _plane(x, w, xb, wb, r0, r1, Cg, Mg, IH, IW, OH, OW, KH, KW, SH, SW, DH, DW, PH, PW,
               IS, cols, dst, do, ldd)
        return
    # Direct: one output row at a time (it stays in L1), every tap accumulated over its
    # in-range columns [lo, hi) (contiguous for stride 1, so the loop vectorizes).
    for m in range(Mg):
        for rr in range(r0, r1):
            od = rr // OH
            oh = rr - od * OH
            orow = do + m * ldd + (rr - r0) * OW
            for ow in range(OW):
                dst[np.uint64(orow + ow)] = 0
            for c in range(Cg):
                for kd in range(KD):
                    id_ = od * SD - PD + kd * DD
                    if id_ < 0 or id_ >= ID:
                        continue
                    for kh in range(KH):
                        ih = oh * SH - PH + kh * DH
                        if ih < 0 or ih >= IH:
                            continue
                        wrow = wb + ((m * Cg + c) * KD + kd) * KH * KW + kh * KW
                        xrow = xb + c * IS + (id_ * IH + ih) * IW
                        for kw in range(KW):
                            wv = w[np.uint64(wrow + kw)]
                            iw0 = kw * DW - PW
                            lo = 0 if iw0 >= 0 else min(OW, (SW - 1 - iw0) // SW)
                            hi = 0 if IW - 1 - iw0 < 0 else min(OW, (IW - 1 - iw0) // SW + 1)
                            base = xrow + iw0
                            if SW == 1:
                                for ow in range(lo, hi):
                                    dst[np.uint64(orow + ow)] += wv * x[np.uint64(base + ow)]
                            else:
                                for ow in range(lo, hi):
                                    dst[np.uint64(orow + ow)] += \
                                        wv * x[np.uint64(base + ow * SW)]


config.cache_depends_on(conv_tile, "gemm.py", "gemm_ir.py")


@numba.njit(**_OPTS)
def plane_len(Mg, srows, OW, KH, KW, SH, SW, DH, DW):
    """Scratch elements of the ``direct == 2`` path for sub-segments of up to ``srows``
    rows: ``SH*SW`` phase planes of the zero-padded input (``[HQ, WQ]`` plus ``QW``
    zeros of slack each) and the ``Mg`` accumulators (``srows`` rows of ``WQ``)."""
    QH = (KH - 1) * DH // SH
    QW = (KW - 1) * DW // SW
    WQ = OW + QW
    return SH * SW * ((srows + QH) * WQ + QW) + Mg * srows * WQ


@numba.njit(**_OPTS)
def _step(r, q, d, s):
    """``(r, q)`` of ``k*d == q*s + r`` (``0 <= r < s``) for the next ``k``."""
    r += d
    while r >= s:
        r -= s
        q += 1
    return r, q


@numba.njit(**_OPTS)
def _plane(x, w, xb, wb, r0, r1, Cg, Mg, IH, IW, OH, OW, KH, KW, SH, SW, DH, DW, PH, PW,
           IS, cols, dst, do, ldd):
    """Direct conv of a trivial depth dim (KD == SD == 1, PD == 0: input plane ``od``
    feeds output plane ``od``), one plane's rows at a time. Each input channel's rows are
    copied once, zero-padded, into ``SH*SW`` phase planes at the front of ``cols``: phase
    ``(ph, pw)`` holds padded rows ``ph, ph+SH, ...`` and columns ``pw, pw+SW, ...``, so
    tap ``(kh, kw)`` reads phase ``(kh*DH % SH, kw*DW % SW)`` shifted by
    ``(kh*DH // SH, kw*DW // SW)`` and is one contiguous bounds-free loop of ``sr*WQ``
    values over all the rows (the columns past ``OW`` of each row are discarded). The
    ``Mg`` accumulators follow the phase planes in ``cols``.

    Depthwise convs call this once per channel on small planes, so its fixed costs are
    kept out of the loops: the phase planes are zeroed in one pass before the rows are
    copied in, each phase column's range is computed once per call, and the taps' phase
    offsets are stepped without dividing; a pass over the accumulators adds three taps."""
    QH = (KH - 1) * DH // SH
    QW = (KW - 1) * DW // SW
    WQ = OW + QW
    KK = KH * KW
    rr = r0
    while rr < r1:
        od = rr // OH
        a = rr - od * OH
        sr = min(OH, a + (r1 - rr)) - a
        HQ = sr + QH
        PL = HQ * WQ + QW
        acc0 = SH * SW * PL
        alen = sr * WQ
        for i in range(acc0, acc0 + Mg * alen):
            cols[np.uint64(i)] = 0
        ih0 = a * SH - PH
        for c in range(Cg):
            cb = xb + c * IS + od * IH * IW - PW
            for i in range(acc0):
                cols[np.uint64(i)] = 0
            for pw in range(SW):
                # phase column j holds input column pw + j*SW - PW: those in [clo, chi)
                clo = max(0, min(WQ, -((pw - PW) // SW)))
                chi = 0 if IW - 1 + PW - pw < 0 else min(WQ, (IW - 1 + PW - pw) // SW + 1)
                for ph in range(SH):
                    pb = (ph * SW + pw) * PL
                    for rq in range(HQ):
                        ih = ih0 + rq * SH + ph
                        if ih < 0 or ih >= IH:
                            continue
                        prow = pb + rq * WQ
                        src = cb + ih * IW + pw
                        _gather(cols, prow, x, src, clo, chi, SW)
            for m in range(Mg):
                ab = acc0 + m * alen
                wrow = wb + (m * Cg + c) * KK
                qh = 0          # kh*DH == qh*SH + rh
                rh = 0
                for kh in range(KH):
                    row = rh * SW * PL + qh * WQ
                    wk = wrow + kh * KW
                    qw = 0      # kw*DW == qw*SW + rw
                    rw = 0
                    kw = 0
                    while kw < KW:  # three taps per pass over the accumulators
                        o0 = row + rw * PL + qw
                        rw, qw = _step(rw, qw, DW, SW)
                        w0 = w[np.uint64(wk + kw)]
                        if kw + 3 > KW:
                            for i in range(alen):
                                cols[np.uint64(ab + i)] += w0 * cols[np.uint64(o0 + i)]
                            kw += 1
                            continue
                        o1 = row + rw * PL + qw
                        rw, qw = _step(rw, qw, DW, SW)
                        o2 = row + rw * PL + qw
                        rw, qw = _step(rw, qw, DW, SW)
                        w1 = w[np.uint64(wk + kw + 1)]
                        w2 = w[np.uint64(wk + kw + 2)]
                        for i in range(alen):   # the same sums, in the same order
                            cols[np.uint64(ab + i)] = \
                                ((cols[np.uint64(ab + i)] + w0 * cols[np.uint64(o0 + i)]) +
                                 w1 * cols[np.uint64(o1 + i)]) + w2 * cols[np.uint64(o2 + i)]
                        kw += 3
                    rh += DH
                    while rh >= SH:
                        rh -= SH
                        qh += 1
        for m in range(Mg):
            for r in range(sr):
                ao = acc0 + m * alen + r * WQ
                orow = do + m * ldd + (rr - r0 + r) * OW
                for ow in range(OW):
                    dst[np.uint64(orow + ow)] = cols[np.uint64(ao + ow)]
        rr += sr
