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
the strategies. Every index it forms, and every element the BLAS call touches (``gemm``:
rows ``[0, M)`` of A with stride ``lda``, ...), is inside the ``(n, g)`` input block, the
group's weight block and the segment's output positions, which the dispatch layout
proved in range.

Being one function compiled once per input type (and cached on disk) rather than part of
every generated kernel, it keeps each epilogue variant's compile small.
"""

from __future__ import annotations

import numpy as np

from . import config

numba = config.import_numba()
_OPTS = {k: v for k, v in config.njit_options().items() if k != "parallel"}


def gemm(m, n, k, a, ao, lda, b, bo, ldb, c, co, ldc):
    """Row-major ``C[m, n] = A[m, k] @ B[k, n]`` on flat arrays: ``A[i, j]`` is
    ``a[ao + i*lda + j]``, likewise B and C (numba only: BLAS ``xgemm`` in the arrays'
    type, through numba's own binding, the one ``np.dot`` uses; C is overwritten)."""
    raise NotImplementedError("gemm runs inside numba kernels only")


@numba.extending.overload(gemm)
def _gemm(m, n, k, a, ao, lda, b, bo, ldb, c, co, ldc):
    from numba.np.linalg import _BLAS

    dtype = a.dtype
    xxgemm = _BLAS().numba_xxgemm(dtype)
    kind = ord("s" if dtype == numba.types.float32 else "d")
    npdt = np.float32 if dtype == numba.types.float32 else np.float64
    notrans = ord("n")

    def impl(m, n, k, a, ao, lda, b, bo, ldb, c, co, ldc):
        ab = np.empty(2, npdt)
        ab[0] = 1
        ab[1] = 0
        # Column-major BLAS sees row-major matrices transposed: C^T = B^T @ A^T.
        xxgemm(kind, notrans, notrans, n, m, k, ab[0:].ctypes, b[bo:].ctypes, ldb,
               a[ao:].ctypes, lda, ab[1:].ctypes, c[co:].ctypes, ldc)
    return impl


@numba.njit(**_OPTS)
def pointwise(ID, IH, IW, OD, OH, OW, KD, KH, KW, SD, SH, SW, PD, PH, PW):
    """A 1x1 stride-1 unpadded conv: output position ``p`` of a channel reads input
    position ``p`` (same spatial dims, so rows ``r`` map to ``r*OW``)."""
    return KD * KH * KW == 1 and SD == 1 and SH == 1 and SW == 1 and PD == 0 and \
        PH == 0 and PW == 0 and ID == OD and IH == OH and IW == OW


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
            gemm(Mg, npos, Cg, w, wb, CK, x, xb + r0 * OW, IS, dst, do, ldd)
            return
        for c in range(Cg):
            for kd in range(KD):
                for kh in range(KH):
                    for kw in range(KW):
                        crow = (((c * KD + kd) * KH + kh) * KW + kw) * npos
                        iw0 = kw * DW - PW
                        lo = 0 if iw0 >= 0 else min(OW, (SW - 1 - iw0) // SW)
                        hi = 0 if IW - 1 - iw0 < 0 else min(OW, (IW - 1 - iw0) // SW + 1)
                        hi = max(hi, lo)
                        for rr in range(r0, r1):
                            od = rr // OH
                            oh = rr - od * OH
                            id_ = od * SD - PD + kd * DD
                            ih = oh * SH - PH + kh * DH
                            q = crow + (rr - r0) * OW
                            if id_ < 0 or id_ >= ID or ih < 0 or ih >= IH:
                                for ow in range(OW):
                                    cols[np.uint64(q + ow)] = 0
                                continue
                            base = xb + c * IS + (id_ * IH + ih) * IW + iw0
                            for ow in range(lo):
                                cols[np.uint64(q + ow)] = 0
                            if SW == 1:
                                for ow in range(lo, hi):
                                    cols[np.uint64(q + ow)] = x[np.uint64(base + ow)]
                            else:
                                for ow in range(lo, hi):
                                    cols[np.uint64(q + ow)] = x[np.uint64(base + ow * SW)]
                            for ow in range(hi, OW):
                                cols[np.uint64(q + ow)] = 0
        gemm(Mg, npos, CK, w, wb, CK, cols, 0, npos, dst, do, ldd)
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


@numba.njit(**_OPTS)
def plane_len(Mg, srows, OW, KH, KW, SH, SW, DH, DW):
    """Scratch elements of the ``direct == 2`` path for sub-segments of up to ``srows``
    rows: the zero-padded input block (plus ``(KW-1)*DW`` zeros of slack) and the
    ``Mg`` accumulators, rows of ``WP`` (the padded width)."""
    WP = (OW - 1) * SW + (KW - 1) * DW + 1
    HP = (srows - 1) * SH + (KH - 1) * DH + 1
    return HP * WP + (KW - 1) * DW + Mg * srows * WP


@numba.njit(**_OPTS)
def _plane(x, w, xb, wb, r0, r1, Cg, Mg, IH, IW, OH, OW, KH, KW, SH, SW, DH, DW, PH, PW,
           IS, cols, dst, do, ldd):
    """Direct conv of a trivial depth dim (KD == SD == 1, PD == 0: input plane ``od``
    feeds output plane ``od``), one plane's rows at a time: each input channel's rows
    are copied once into a zero-padded block ``[HP, WP]`` at the front of ``cols`` so
    every tap is a loop without bounds over all the rows (stride 1: one contiguous run
    of ``sr*WP`` values, the columns past ``OW`` of each row are discarded); the ``Mg``
    accumulators follow it in ``cols``."""
    WP = (OW - 1) * SW + (KW - 1) * DW + 1
    KK = KH * KW
    rr = r0
    while rr < r1:
        od = rr // OH
        a = rr - od * OH
        sr = min(OH, a + (r1 - rr)) - a
        HP = (sr - 1) * SH + (KH - 1) * DH + 1
        acc0 = HP * WP + (KW - 1) * DW
        alen = sr * WP
        for i in range(acc0 - (KW - 1) * DW, acc0 + Mg * alen):
            cols[np.uint64(i)] = 0
        ih0 = a * SH - PH
        jlo = min(WP, PW)
        jhi = max(jlo, min(WP, PW + IW))
        for c in range(Cg):
            cb = xb + c * IS + od * IH * IW - PW
            for hp in range(HP):
                ih = ih0 + hp
                prow = hp * WP
                if ih < 0 or ih >= IH:
                    for j in range(WP):
                        cols[np.uint64(prow + j)] = 0
                    continue
                src = cb + ih * IW
                for j in range(jlo):
                    cols[np.uint64(prow + j)] = 0
                for j in range(jlo, jhi):
                    cols[np.uint64(prow + j)] = x[np.uint64(src + j)]
                for j in range(jhi, WP):
                    cols[np.uint64(prow + j)] = 0
            for m in range(Mg):
                ab = acc0 + m * alen
                wrow = wb + (m * Cg + c) * KK
                for kh in range(KH):
                    for kw in range(KW):
                        wv = w[np.uint64(wrow + kh * KW + kw)]
                        if SH == 1 and SW == 1:
                            off = kh * DH * WP + kw * DW
                            for i in range(alen):
                                cols[np.uint64(ab + i)] += wv * cols[np.uint64(off + i)]
                        else:
                            for r in range(sr):
                                xo = (r * SH + kh * DH) * WP + kw * DW
                                ao = ab + r * WP
                                for ow in range(OW):
                                    cols[np.uint64(ao + ow)] += \
                                        wv * cols[np.uint64(xo + ow * SW)]
        for m in range(Mg):
            for r in range(sr):
                ao = acc0 + m * alen + r * WP
                orow = do + m * ldd + (rr - r0 + r) * OW
                for ow in range(OW):
                    dst[np.uint64(orow + ow)] = cols[np.uint64(ao + ow)]
        rr += sr
