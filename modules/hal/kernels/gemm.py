"""pyree's own GEMM: ``C = A @ B`` for the kernels' products (matmul, conv), on one
thread (a dispatch's workgroups are its parallelism), numba only.

``gemm(m, n, k, a, ao, sai, sak, b, bo, sbk, sbj, c, co, ldc)`` takes flat float32 or
float64 arrays: ``A[i, p]`` is ``a[ao + i*sai + p*sak]``, ``B[p, j]`` is ``b[bo + p*sbk +
j*sbj]`` (a transposed operand swaps its strides) and ``C[i, j]`` is ``c[co + i*ldc + j]``;
C is overwritten. The caller has proven every element it names in range; nothing here
reads or writes outside them.

Structure (GotoBLAS's loops around a BLIS-style micro-kernel, ``gemm_ir.micro``): N is
cut into blocks of ``NC_BYTES // itemsize`` columns, K into equal blocks of at most ``KC``
(``kstep``: 576 is 288 + 288, not 256 + 256 + 64, one pass over C fewer), M into
blocks of ``MC_BYTES // itemsize`` rows (the block of A stays in L2). Each (N block, K
block) of B is copied row by row into a scratch of panels of ``nr`` columns, the last
zero-padded (sequential reads in the kernel, no masking for N tails, no cache-set
conflicts from a long row stride), and a micro-kernel runs ``kc`` fused multiply-adds per
element of a tile with A's values broadcast from their rows as they lie. The vectors are
32 bytes (AVX2) or 64 (AVX-512; ``config.gemm_vector_bytes``). Panels are 64 bytes of
columns (16 f32), the prepacked layout's, on every CPU; with 32-byte vectors tiles are 6
rows of two vectors; with 64-byte ones a prepacked B runs its full panels two at a time,
in tiles of ``PAIR`` = 8 rows of two vectors (one from each panel), and any other panel in
tiles of up to ``MR`` = 12 rows of one vector, and the GEMM's own panels are two panels
wide (``OWN_BYTES``), in tiles of 6 rows of two vectors. A C tile past N goes through a
scratch tile, computed by the narrowest kernel covering its columns (half a panel: a 7x7
plane's 49 positions cost 3.5 panels' work, not 4); rows past a multiple of the tile use
the kernel for fewer rows, each row count its own. Some shapes skip the panels, whose copy
would cost as much as the product: a product of at most ``MR`` rows, or whose K block of A fits in
``INPLACE_A_BYTES`` (it stays in L1 with the panel's rows of B), reads B's rows in place
(the grouped 1x1 convs and short-K products: 1.05-1.8x on one core), and with A and B
both contiguous along K, a product of fewer than
``DOT_COLUMNS`` columns (a fully connected layer at batch 1, computed as ``[N, K] @ [K,
1]``) or of at most ``DOT_ROWS`` rows (the same layer as ``[1, K] @ [N, K]^T``) is a dot
product per element (``gemm_ir.dot``, four at a time). A transposed B is packed column by
column, along its contiguous dimension. ``gemm_packed`` takes a B already in panels
(``panels.py``: a constant weight the compiler packed once) and runs the same panel loop
(``_panels``) without the copy.

Every element of C is computed alike: its K blocks' fma chains, over k in order, added to
C in order (or one dot product). Two output rows or columns with equal inputs are
therefore equal to the bit, wherever they fall in the tiling, which OpenBLAS's sgemm does
not promise (spec/executables.md: a classifier's tied logits stay tied). On a core with
AVX2 and FMA the micro-kernel runs near peak: 80-90 GFLOPS on one Zen 3 core for the
MLP's and squeezenet's products, against 50-90 for OpenBLAS 0.3.31's single-threaded
sgemm; on a Zen 5 core 113-116 GFLOPS with 32-byte vectors and 155-188 with 64-byte ones
(tests/hal/test_gemm.py pins the results, the same bits for both widths;
benchmarks/README.md the figures).
"""

from __future__ import annotations

import numpy as np

from . import config

numba = config.import_numba()

from . import panels  # noqa: E402
from .gemm_ir import PANEL_BYTES, VECTOR_BYTES, dot, micro  # noqa: E402

# the micro-kernel's width is the prepacked operand's panel width
assert PANEL_BYTES == panels.PANEL_BYTES
HALF_BYTES = PANEL_BYTES // 2   # a last panel of at most this many bytes of columns

SUB = 6         # rows of the small micro-kernels (_m1.._m6, _h1.._h6)
# rows of the micro-kernel: 6 rows of two ymm vectors (12 accumulators + 2 B vectors + 1
# broadcast of 16), or on AVX-512 12 rows of one zmm vector (12 + 1 + 1 of 32 registers;
# 215 GFLOPS on one Zen 5 core where 6 zmm rows ran at 184: 6 chains of a 4-cycle fma
# cannot keep two fma pipes busy).
MR = 12 if VECTOR_BYTES == 64 else SUB
KC = 320        # K block at most: a panel of B is KC*NR elements (20 KiB), in L1
MC_BYTES = 1152  # M block: 1152 // itemsize rows (288 f32, 144 f64) by KC of A, in L2
NC_BYTES = 4096  # N block: 4096 // itemsize columns by KC of B (1 MiB), packed at once
DOT_COLUMNS = 4  # fewer columns than this, A and B contiguous along K: dot products
DOT_ROWS = 1     # at most this many rows, A and B contiguous along K: dot products too
INPLACE_A_BYTES = 49152  # a K block of A at most this big reads B's rows in place

_m1, _m2, _m3, _m4, _m5, _m6 = (micro(mr) for mr in range(1, SUB + 1))
# half a panel wide: a last panel of at most half a panel's columns (49 positions of a
# 7x7 plane are 3 panels and 1 column) costs half a panel
_h1, _h2, _h3, _h4, _h5, _h6 = (micro(mr, HALF_BYTES) for mr in range(1, SUB + 1))
# 7-12 rows on AVX-512: one zmm accumulator per row (a 6-row tile and a 2-row rest ran
# 8 rows at 2/3 of the 8-row kernel's speed)
_m7, _m8, _m9, _m10, _m11, _m12 = ((micro(mr) for mr in range(SUB + 1, 2 * SUB + 1))
                                   if MR > SUB else (_m6,) * SUB)
_h7, _h8, _h9, _h10, _h11, _h12 = ((micro(mr, HALF_BYTES) for mr in range(SUB + 1, 2 * SUB + 1))
                                   if MR > SUB else (_h6,) * SUB)
# The GEMM's own panels (B packed per call, not the prepacked layout): on AVX-512 two
# panels wide, 6 rows of two zmm vectors (12 accumulators, half the broadcasts per fma of
# 12 rows of one: 255 against 215 GFLOPS on one Zen 5 core); else a panel
OWN_BYTES = 2 * PANEL_BYTES if VECTOR_BYTES == 64 else PANEL_BYTES
_o1, _o2, _o3, _o4, _o5, _o6 = ((micro(mr, OWN_BYTES) for mr in range(1, SUB + 1))
                                if OWN_BYTES > PANEL_BYTES else (_m1, _m2, _m3, _m4, _m5, _m6))
# Two panels of a prepacked B at once on AVX-512: 8 rows of two zmm vectors, one from each
# panel (16 accumulators; one broadcast of A per two fmas, as the own panels' kernel: 267
# against 233 GFLOPS for 12 rows of one panel, on one Zen 5 core)
# (with 32-byte vectors such a tile would need 32 accumulators of 16 registers: unused)
PAIRED = VECTOR_BYTES == 64
PAIR = 8
_p8 = micro(PAIR, 2 * PANEL_BYTES, apart=True)
_d1, _d2, _d3, _d4 = (dot(rows) for rows in range(1, 5))
WIDE = 4        # a single row in place takes WIDE panels per call (4x the fma chains)
_w1 = micro(1, WIDE * PANEL_BYTES)


@numba.njit(cache=config.CACHE, nogil=True, boundscheck=False)
def _rows(mr, kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add):
    """``mr`` (1..MR) rows of a panel, each row count its own kernel."""
    if mr > SUB and MR > SUB:
        if mr == 12:
            _m12(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)
        elif mr == 11:
            _m11(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)
        elif mr == 10:
            _m10(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)
        elif mr == 9:
            _m9(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)
        elif mr == 8:
            _m8(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)
        else:
            _m7(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)
        return
    if mr == 6:
        _m6(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)
    elif mr == 5:
        _m5(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)
    elif mr == 4:
        _m4(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)
    elif mr == 3:
        _m3(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)
    elif mr == 2:
        _m2(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)
    else:
        _m1(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)


@numba.njit(cache=config.CACHE, nogil=True, boundscheck=False)
def _rows_half(mr, kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add):
    """:func:`_rows` over the first half of a panel's columns only."""
    if mr > SUB and MR > SUB:
        if mr == 12:
            _h12(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)
        elif mr == 11:
            _h11(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)
        elif mr == 10:
            _h10(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)
        elif mr == 9:
            _h9(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)
        elif mr == 8:
            _h8(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)
        else:
            _h7(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)
        return
    if mr == 6:
        _h6(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)
    elif mr == 5:
        _h5(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)
    elif mr == 4:
        _h4(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)
    elif mr == 3:
        _h3(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)
    elif mr == 2:
        _h2(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)
    else:
        _h1(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)


@numba.njit(cache=config.CACHE, nogil=True, boundscheck=False)
def _rows_own(mr, kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add):
    """``mr`` (1..6) rows of one of the GEMM's own panels (``OWN_BYTES`` of columns)."""
    if mr == 6:
        _o6(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)
    elif mr == 5:
        _o5(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)
    elif mr == 4:
        _o4(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)
    elif mr == 3:
        _o3(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)
    elif mr == 2:
        _o2(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)
    else:
        _o1(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)


@numba.njit(cache=config.CACHE, nogil=True, boundscheck=False)
def _dots(m, k, a, ao, sai, x, xo, c, co, ldc):
    """``C[i, 0] = A[i, :] . x`` for ``i < m`` (A's rows and x contiguous), four rows at a
    time."""
    i = 0
    while i + 4 <= m:
        _d4(k, a, ao + i * sai, sai, x, xo, c, co + i * ldc, ldc)
        i += 4
    r = m - i
    if r == 3:
        _d3(k, a, ao + i * sai, sai, x, xo, c, co + i * ldc, ldc)
    elif r == 2:
        _d2(k, a, ao + i * sai, sai, x, xo, c, co + i * ldc, ldc)
    elif r == 1:
        _d1(k, a, ao + i * sai, sai, x, xo, c, co + i * ldc, ldc)


@numba.njit(cache=config.CACHE, nogil=True, boundscheck=False)
def _pack(b, bo, sbk, sbj, kc, width, nr, block):
    """``B[0:kc, 0:width]`` (``B[p, j] = b[bo + p*sbk + j*sbj]``) into ``block`` as panels
    of ``nr`` columns, the last zero-padded: element (p, j) of panel q at
    ``block[q*kc*nr + p*nr + j]``. Read along B's contiguous dimension: row by row, or
    column by column for a transposed B (a row-wise copy of one would touch ``width``
    cache lines per row)."""
    panels = -(-width // nr)
    if sbk == 1 and sbj != 1:
        for q in range(panels):
            for j in range(nr):
                dst = q * kc * nr + j
                if q * nr + j >= width:
                    for p in range(kc):
                        block[np.uint64(dst + p * nr)] = 0
                    continue
                src = bo + (q * nr + j) * sbj
                for p in range(kc):
                    block[np.uint64(dst + p * nr)] = b[np.uint64(src + p)]
        return
    full = width // nr
    for p in range(kc):
        src = bo + p * sbk
        for q in range(full):
            dst = q * kc * nr + p * nr
            if sbj == 1:
                for j in range(nr):
                    block[np.uint64(dst + j)] = b[np.uint64(src + q * nr + j)]
            else:
                for j in range(nr):
                    block[np.uint64(dst + j)] = b[np.uint64(src + (q * nr + j) * sbj)]
        if full < panels:
            dst = full * kc * nr + p * nr
            for j in range(width - full * nr):
                block[np.uint64(dst + j)] = b[np.uint64(src + (full * nr + j) * sbj)]
            for j in range(width - full * nr, nr):
                block[np.uint64(dst + j)] = 0


@numba.njit(cache=config.CACHE, nogil=True, boundscheck=False)
def kstep(k):
    """The K block of a product of ``k`` terms: ``ceil(k / KC)`` equal blocks (the last
    may be shorter by less than their count), each at most ``KC``. Every path of
    :func:`gemm` and :func:`gemm_packed` sums an element's K blocks with it, in order."""
    return -(-k // -(-k // KC))


@numba.njit(cache=config.CACHE, nogil=True, boundscheck=False)
def _empty(m, n, k, c, co, ldc):
    """Whether the product has nothing to compute: no element, or an empty sum (C is
    then zeroed)."""
    if m <= 0 or n <= 0:
        return True
    if k <= 0:
        for i in range(m):
            for j in range(n):
                c[np.uint64(co + i * ldc + j)] = 0
        return True
    return False


@numba.njit(cache=config.CACHE, nogil=True, boundscheck=False)
def gemm(m, n, k, a, ao, sai, sak, b, bo, sbk, sbj, c, co, ldc):
    """``C[m, n] = A[m, k] @ B[k, n]`` with ``A[i, p] = a[ao + i*sai + p*sak]``,
    ``B[p, j] = b[bo + p*sbk + j*sbj]`` and ``C[i, j] = c[co + i*ldc + j]`` (a transposed
    operand is a pair of swapped strides); C is overwritten."""
    if _empty(m, n, k, c, co, ldc):
        return
    if sak == 1 and sbk == 1:
        if n < DOT_COLUMNS:
            for j in range(n):
                _dots(m, k, a, ao, sai, b, bo + j * sbj, c, co + j, ldc)
            return
        if m <= DOT_ROWS:   # B's columns are A's rows: C[i, :] = B^T @ A[i, :]
            for i in range(m):
                _dots(n, k, b, bo, sbj, a, ao + i * sai, c, co + i * ldc, 1)
            return
    nr = OWN_BYTES // a.itemsize
    own = OWN_BYTES > PANEL_BYTES
    step = SUB if own else MR
    wide = WIDE * PANEL_BYTES // a.itemsize
    nc_max = NC_BYTES // a.itemsize
    # B read in place (no panels) when each row of it is used once, or when the block of
    # A is small enough to stay in L1 next to the panel rows it is multiplied with
    direct = sbj == 1 and (m <= MR or m * min(k, KC) * a.itemsize <= INPLACE_A_BYTES)
    block = np.empty(KC * min(nc_max, n + nr), a.dtype)
    ks = kstep(k)
    tile = np.empty(MR * nr, a.dtype)
    for j1 in range(0, n, nc_max):
        nc = min(nc_max, n - j1)
        for p0 in range(0, k, ks):
            kc = min(ks, k - p0)
            add = 1 if p0 > 0 else 0
            first = j1
            if direct:
                if m == 1:
                    first = j1 + nc - nc % wide
                    for j0 in range(j1, first, wide):
                        _w1(kc, a, ao + p0 * sak, sai, sak, b, bo + p0 * sbk + j0, sbk,
                            c, co + j0, ldc, add)
                for j0 in range(first, j1 + nc - nc % nr, nr):
                    for i0 in range(0, m, step):
                        if own:
                            _rows_own(min(step, m - i0), kc, a, ao + i0 * sai + p0 * sak,
                                      sai, sak, b, bo + p0 * sbk + j0, sbk, c,
                                      co + i0 * ldc + j0, ldc, add)
                        else:
                            _rows(min(step, m - i0), kc, a, ao + i0 * sai + p0 * sak, sai,
                                  sak, b, bo + p0 * sbk + j0, sbk, c, co + i0 * ldc + j0,
                                  ldc, add)
                first = j1 + nc - nc % nr
            # B[p0:p0+kc, first:j1+nc] as panels of nr columns (the last zero-padded):
            # element (kk, j) of panel q at block[q*kc*nr + kk*nr + j]
            width = j1 + nc - first
            if width <= 0:
                continue
            _pack(b, bo + p0 * sbk + first * sbj, sbk, sbj, kc, width, nr, block)
            _panels(m, kc, a, ao + p0 * sak, sai, sak, block, 0, kc * nr, nr, width, c,
                    co + first, ldc, add, tile)


@numba.njit(cache=config.CACHE, nogil=True, boundscheck=False)
def _panels(m, kc, a, ao, sai, sak, bp, bpo, pstride, nr, width, c, co, ldc, add, tile):
    """``C[0:m, 0:width] (+)= A[0:m, 0:kc] @ P`` where P's columns are panels of ``nr``:
    element (kk, j) of panel q at ``bp[bpo + q*pstride + kk*nr + j]`` (the last panel
    zero-padded to ``nr`` columns). ``nr`` is a panel (``PANEL_BYTES``, ``MR`` rows at a
    time; with 64-byte vectors the full panels two at a time, ``PAIR`` rows at a time, a
    last block of fewer rows a panel at a time) or the GEMM's own wider panel
    (``OWN_BYTES``, 6 rows at a time). A tile past
    ``width`` goes through ``tile`` (``MR * nr`` elements), computed by the narrowest
    kernel that covers its columns: half a panel, a panel or an own panel."""
    mc_max = MC_BYTES // a.itemsize
    panels = -(-width // nr)
    own = nr * a.itemsize > PANEL_BYTES
    step = SUB if own else MR
    pairs = (width // nr) // 2 if PAIRED and not own else 0   # full panels, two at a time
    for i1 in range(0, m, mc_max):
        mc = min(mc_max, m - i1)
        for q2 in range(pairs):
            q = 2 * q2
            for i0 in range(i1, i1 + mc, PAIR):
                mr = min(PAIR, i1 + mc - i0)
                aoff = ao + i0 * sai
                coff = co + i0 * ldc + q * nr
                boff = bpo + q * pstride
                if mr == PAIR:
                    _p8(kc, a, aoff, sai, sak, bp, boff, nr, pstride, c, coff, ldc, add)
                else:
                    _rows(mr, kc, a, aoff, sai, sak, bp, boff, nr, c, coff, ldc, add)
                    _rows(mr, kc, a, aoff, sai, sak, bp, boff + pstride, nr, c, coff + nr,
                          ldc, add)
        for q in range(2 * pairs, panels):
            j0 = q * nr
            w = min(nr, width - j0)
            for i0 in range(i1, i1 + mc, step):
                mr = min(step, i1 + mc - i0)
                aoff = ao + i0 * sai
                coff = co + i0 * ldc + j0
                if w == nr:
                    if own:
                        _rows_own(mr, kc, a, aoff, sai, sak, bp, bpo + q * pstride, nr, c,
                                  coff, ldc, add)
                    else:
                        _rows(mr, kc, a, aoff, sai, sak, bp, bpo + q * pstride, nr, c, coff,
                              ldc, add)
                    continue
                # a tile past N: computed in a scratch tile, its w columns copied
                if add:
                    for i in range(mr):
                        for j in range(w):
                            tile[np.uint64(i * nr + j)] = c[np.uint64(coff + i * ldc + j)]
                if w * a.itemsize <= HALF_BYTES:
                    _rows_half(mr, kc, a, aoff, sai, sak, bp, bpo + q * pstride, nr, tile,
                               0, nr, add)
                elif w * a.itemsize <= PANEL_BYTES:
                    _rows(mr, kc, a, aoff, sai, sak, bp, bpo + q * pstride, nr, tile, 0,
                          nr, add)
                else:
                    _rows_own(mr, kc, a, aoff, sai, sak, bp, bpo + q * pstride, nr, tile,
                              0, nr, add)
                for i in range(mr):
                    for j in range(w):
                        c[np.uint64(coff + i * ldc + j)] = tile[np.uint64(i * nr + j)]


@numba.njit(cache=config.CACHE, nogil=True, boundscheck=False)
def gemm_packed(m, n, k, a, ao, sai, sak, bp, bpo, c, co, ldc):
    """``C[m, n] = A[m, k] @ B[k, n]`` with B prepacked (``panels.pack``): element
    (p, j) of B at ``bp[bpo + (j // nr)*k*nr + p*nr + j % nr]``, ``nr`` the panel width
    (``panels.width``), the last panel zero-padded. The loops, micro-kernels and order
    of operations of :func:`gemm`'s panel path (so the bits :func:`gemm` gives unless it
    takes its dot products), without the per-call copy of B into panels."""
    if _empty(m, n, k, c, co, ldc):
        return
    nr = PANEL_BYTES // a.itemsize
    nc_max = NC_BYTES // a.itemsize
    tile = np.empty(MR * nr, a.dtype)
    ks = kstep(k)
    for j1 in range(0, n, nc_max):
        nc = min(nc_max, n - j1)
        for p0 in range(0, k, ks):
            kc = min(ks, k - p0)
            _panels(m, kc, a, ao + p0 * sak, sai, sak, bp, bpo + j1 * k + p0 * nr, k * nr,
                    nr, nc, c, co + j1, ldc, 1 if p0 > 0 else 0, tile)


# their cached code holds gemm_ir's kernels
for _fn in (_rows, _rows_half, _rows_own, _dots, _panels, kstep, gemm, gemm_packed):
    config.cache_depends_on(_fn, "gemm_ir.py")
