"""The product of one conv segment, shared by every generated conv kernel
(imported only by generated sources, like ``runtime``).

``conv_tile`` computes output positions ``[r0*OW, r1*OW)`` (rows of one ``(n, g)``) of
the ``Mg`` output channels of one group, before the epilogue, as a ``[Mg, npos]`` array
of the input's type (see ``library/conv.py`` for the two strategies). ``x`` is the input binding,
``xb`` the element index of the group's first input channel of image n, ``w64`` the
touched groups' weights (same type) and ``wb`` the group's first weight. Every index it
forms is inside the ``(n, g)`` input block and the group's weight block, which the
dispatch layout proved in range.

Being one function compiled once per input type (and cached on disk) rather than part of
every generated kernel, it keeps each epilogue variant's compile small.
"""

from __future__ import annotations

import numpy as np

from . import config

numba = config.import_numba()
_OPTS = {k: v for k, v in config.njit_options().items() if k != "parallel"}


@numba.njit(**_OPTS)
def conv_tile(x, w64, xb, wb, r0, r1, Cg, Mg, ID, IH, IW, OH, OW, KD, KH, KW, SD, SH, SW,
              DD, DH, DW, PD, PH, PW, direct):
    IS = ID * IH * IW
    KK = KD * KH * KW
    CK = Cg * KK
    npos = (r1 - r0) * OW
    if direct == 0:
        cols = np.empty((CK, npos), dtype=x.dtype)
        if KK == 1 and SD == 1 and SH == 1 and SW == 1 and PD == 0 and PH == 0 and PW == 0 \
                and IH == OH and IW == OW:
            # 1x1 stride 1 unpadded: the segment's positions are contiguous in each channel
            p0 = xb + r0 * OW
            for c in range(Cg):
                crow = cols[c]
                src = p0 + c * IS
                for q in range(npos):
                    crow[np.uint64(q)] = x[np.uint64(src + q)]
            return np.dot(w64[wb:wb + Mg * CK].reshape((Mg, CK)), cols)
        for c in range(Cg):
            for kd in range(KD):
                for kh in range(KH):
                    for kw in range(KW):
                        crow = cols[((c * KD + kd) * KH + kh) * KW + kw]
                        iw0 = kw * DW - PW
                        lo = 0 if iw0 >= 0 else min(OW, (SW - 1 - iw0) // SW)
                        hi = 0 if IW - 1 - iw0 < 0 else min(OW, (IW - 1 - iw0) // SW + 1)
                        hi = max(hi, lo)
                        for rr in range(r0, r1):
                            od = rr // OH
                            oh = rr - od * OH
                            id_ = od * SD - PD + kd * DD
                            ih = oh * SH - PH + kh * DH
                            q = (rr - r0) * OW
                            if id_ < 0 or id_ >= ID or ih < 0 or ih >= IH:
                                for ow in range(OW):
                                    crow[np.uint64(q + ow)] = 0
                                continue
                            base = xb + c * IS + (id_ * IH + ih) * IW + iw0
                            for ow in range(lo):
                                crow[np.uint64(q + ow)] = 0
                            if SW == 1:
                                for ow in range(lo, hi):
                                    crow[np.uint64(q + ow)] = x[np.uint64(base + ow)]
                            else:
                                for ow in range(lo, hi):
                                    crow[np.uint64(q + ow)] = x[np.uint64(base + ow * SW)]
                            for ow in range(hi, OW):
                                crow[np.uint64(q + ow)] = 0
        return np.dot(w64[wb:wb + Mg * CK].reshape((Mg, CK)), cols)
    t = np.zeros((Mg, npos), dtype=x.dtype)
    for m in range(Mg):
        arow = t[m]
        for c in range(Cg):
            for kd in range(KD):
                for kh in range(KH):
                    for kw in range(KW):
                        wv = w64[np.uint64(wb + (m * Cg + c) * KK + (kd * KH + kh) * KW + kw)]
                        iw0 = kw * DW - PW
                        lo = 0 if iw0 >= 0 else min(OW, (SW - 1 - iw0) // SW)
                        hi = 0 if IW - 1 - iw0 < 0 else min(OW, (IW - 1 - iw0) // SW + 1)
                        for rr in range(r0, r1):
                            od = rr // OH
                            oh = rr - od * OH
                            id_ = od * SD - PD + kd * DD
                            ih = oh * SH - PH + kh * DH
                            if id_ < 0 or id_ >= ID or ih < 0 or ih >= IH:
                                continue
                            q = (rr - r0) * OW
                            base = xb + c * IS + (id_ * IH + ih) * IW + iw0
                            if SW == 1:
                                for ow in range(lo, hi):
                                    arow[np.uint64(q + ow)] += wv * x[np.uint64(base + ow)]
                            else:
                                for ow in range(lo, hi):
                                    arow[np.uint64(q + ow)] += wv * x[np.uint64(base + ow * SW)]
    return t
