"""pyree's GEMM (modules/hal/kernels/gemm.py): products against numpy in float64, every
stride form (transposed operands), every path (panels, B in place for a few rows, a wide
single row, dot products for a few columns), tails of the micro-kernel and of the K and M
blocks, nothing written outside C's elements, and equal rows / columns computed bit for
bit alike. A prepacked B (``gemm_packed``, ``panels.pack``) gives the bits of the
unpacked product.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyree.modules.hal.kernels import panels
from pyree.modules.hal.kernels.gemm import INPLACE_A_BYTES, NC_BYTES, gemm, gemm_packed

DTYPES = (np.float32, np.float64)


def _run(A, B, transpose_a=False, transpose_b=False, ldc_pad=0, offset=0):
    """C = A @ B through gemm with the operands laid out as asked, C inside a NaN-filled
    array with ``ldc_pad`` extra columns and ``offset`` leading elements; returns
    (C, the whole output array)."""
    m, k = A.shape
    n = B.shape[1]
    dt = A.dtype
    a_store = np.ascontiguousarray(A.T if transpose_a else A)
    b_store = np.ascontiguousarray(B.T if transpose_b else B)
    a = np.concatenate([np.full(offset, np.nan, dt), a_store.ravel()])
    b = np.concatenate([np.full(offset, np.nan, dt), b_store.ravel()])
    sai, sak = (1, m) if transpose_a else (k, 1)
    sbk, sbj = (1, k) if transpose_b else (n, 1)
    ldc = n + ldc_pad
    out = np.full(offset + m * ldc + 3, np.nan, dt)
    gemm(m, n, k, a, offset, sai, sak, b, offset, sbk, sbj, out, offset, ldc)
    c = out[offset:offset + m * ldc].reshape(m, ldc)[:, :n] if m else np.empty((0, n), dt)
    return c, out


def _run_packed(A, B, ldc_pad=0, offset=0, column=0):
    """C = A @ B[:, column:] through gemm_packed on ``panels.pack(B)`` (``column`` a
    multiple of the panel width, as a column block starts), laid out as ``_run`` does."""
    m, k = A.shape
    dt = A.dtype
    n = B.shape[1] - column
    packed = panels.pack(B).ravel()
    a = np.concatenate([np.full(offset, np.nan, dt), A.ravel()])
    bp = np.concatenate([np.full(offset, np.nan, dt), packed])
    ldc = n + ldc_pad
    out = np.full(offset + m * ldc + 3, np.nan, dt)
    gemm_packed(m, n, k, a, offset, k, 1, bp, offset + column * k, out, offset, ldc)
    c = out[offset:offset + m * ldc].reshape(m, ldc)[:, :n] if m else np.empty((0, n), dt)
    return c, out


def _check_product(A, B, c):
    exact = A.astype(np.float64) @ B.astype(np.float64)
    bound = np.abs(A.astype(np.float64)) @ np.abs(B.astype(np.float64))
    eps = np.finfo(A.dtype).eps
    assert np.all(np.abs(c - exact) <= 2 * A.shape[1] * eps * bound + 1e-30)


@pytest.fixture(scope="module", autouse=True)
def _compiled():
    """Compile every signature the tests use before any hypothesis deadline runs."""
    for dt in DTYPES:
        _run(np.ones((7, 3), dt), np.ones((3, 17), dt))
        _run_packed(np.ones((7, 3), dt), np.ones((3, 17), dt))


@settings(max_examples=60, deadline=None)
@given(m=st.integers(0, 20), n=st.integers(0, 80), k=st.integers(0, 20),
       dtype=st.sampled_from(DTYPES), transpose_a=st.booleans(), transpose_b=st.booleans(),
       ldc_pad=st.integers(0, 3), offset=st.integers(0, 5), seed=st.integers(0, 2**32 - 1))
def test_products_match_numpy_in_every_layout(m, n, k, dtype, transpose_a, transpose_b,
                                              ldc_pad, offset, seed):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, k)).astype(dtype)
    B = rng.standard_normal((k, n)).astype(dtype)
    c, out = _run(A, B, transpose_a, transpose_b, ldc_pad, offset)
    _check_product(A, B, c)
    # nothing outside C's m x n elements was written
    ldc = n + ldc_pad
    touched = np.zeros(out.shape, bool)
    for i in range(m):
        touched[offset + i * ldc:offset + i * ldc + n] = True
    assert np.isnan(out[~touched]).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m, n, k", [
    (300, 37, 600),     # past one M block (288 f32 / 144 f64 rows) and two K blocks
    (13, 129, 321),     # one element past a K block (two of 161 and 160), a column tail
    (1, 784, 1),        # a dot product
    (1, 200, 300),      # one row in place: wide calls, then panels, then a tail
                        # (transposed B: dot products along its rows)
    (5, 300, 700),      # a transposed B packed column by column, two K blocks
    (4, 77, 600),       # a few rows in place, two K blocks
    (301, 2, 530),      # dot products, rows past a multiple of 4
])
def test_large_products_cross_every_block_boundary(dtype, m, n, k):
    rng = np.random.default_rng(m * n + k)
    A = rng.standard_normal((m, k)).astype(dtype)
    B = rng.standard_normal((k, n)).astype(dtype)
    for ta in (False, True):
        for tb in (False, True):
            c, _ = _run(A, B, ta, tb)
            _check_product(A, B, c)


@pytest.mark.parametrize("dtype", DTYPES)
def test_equal_rows_and_equal_columns_come_out_bit_for_bit_equal(dtype):
    """Every element is the same fma chain, wherever it falls in the tiling (first or
    last row of a micro-kernel, a row tail, an M block past the first, a column tail):
    a classifier's logits with equal weights stay equal (spec/executables.md)."""
    rng = np.random.default_rng(7)
    m, n, k = 301, 45, 530
    A = np.repeat(rng.standard_normal((1, k)), m, axis=0).astype(dtype)
    B = rng.standard_normal((k, n)).astype(dtype) * 1e3
    c, _ = _run(A, B)
    assert (c == c[0]).all()
    A = rng.standard_normal((m, k)).astype(dtype)
    B = np.repeat(rng.standard_normal((k, 1)), n, axis=1).astype(dtype) * 1e3
    c, _ = _run(A, B)
    assert (c == c[:, :1]).all()
    # the dot-product path (a column of B, A's rows contiguous) too
    tied = np.repeat(rng.standard_normal((1, k)), 13, axis=0).astype(dtype)
    c, _ = _run(tied, rng.standard_normal((k, 1)).astype(dtype))
    assert (c == c[0]).all()
    # one row against a transposed B ([1, K] @ [N, K]^T, dot products along B's rows)
    # gives each column the value [N, K] @ [K, 1] gives the same row
    x = rng.standard_normal((1, k)).astype(dtype)
    W = rng.standard_normal((n, k)).astype(dtype)
    row, _ = _run(x, W.T, transpose_b=True)
    col, _ = _run(W, x.T)
    np.testing.assert_array_equal(row[0], col[:, 0])
    # and a split of the rows gives each row the value the whole product gives it
    whole, _ = _run(A, B[:, :7])
    for lo, hi in ((0, 5), (5, 6), (6, 150), (150, 301)):
        part, _ = _run(A[lo:hi], B[:, :7])
        np.testing.assert_array_equal(part, whole[lo:hi])


@pytest.mark.parametrize("dtype", DTYPES)
def test_column_tails_of_every_width_are_the_bits_of_full_panels(dtype):
    """A last panel of at most one vector's columns runs the one-vector micro-kernel,
    a wider one the full kernel, both into the scratch tile: every tail width gives each
    column the bits a full panel gives it, through the panels (big A), with B in place
    (small A) and prepacked, over two K blocks."""
    rng = np.random.default_rng(12)
    nr = panels.width(np.dtype(dtype).itemsize)
    k = 700
    for m in (INPLACE_A_BYTES // (320 * np.dtype(dtype).itemsize) + 7, 13):
        A = rng.standard_normal((m, k)).astype(dtype)
        B = rng.standard_normal((k, 3 * nr)).astype(dtype)
        whole, _ = _run(A, B)
        _check_product(A, B, whole)
        for n in range(2 * nr + 1, 3 * nr):
            part, out = _run(A, B[:, :n], ldc_pad=1)
            np.testing.assert_array_equal(part, whole[:, :n])
            assert np.isnan(out[n::n + 1][:m]).all()       # the padding column untouched
            packed, _ = _run_packed(A, B[:, :n])
            np.testing.assert_array_equal(packed, whole[:, :n])


@pytest.mark.parametrize("dtype", DTYPES)
def test_b_in_place_and_b_in_panels_give_the_same_bits(dtype):
    """A small block of A reads B's rows in place (``INPLACE_A_BYTES``), a big one packs
    B into panels: rows computed either way, or by the few-rows path, are the same bits."""
    rng = np.random.default_rng(11)
    k, n = 20, 37
    m = INPLACE_A_BYTES // (k * np.dtype(dtype).itemsize) + 50     # the whole: panels
    A = rng.standard_normal((m, k)).astype(dtype)
    B = rng.standard_normal((k, n)).astype(dtype)
    whole, _ = _run(A, B)
    _check_product(A, B, whole)
    for lo, hi in ((0, 5), (5, 100), (100, m)):      # few rows, in place, panels again
        part, _ = _run(A[lo:hi], B)
        np.testing.assert_array_equal(part, whole[lo:hi])


def test_k_blocks_are_equal_and_at_most_kc():
    from pyree.modules.hal.kernels.gemm import KC, kstep

    for k in (1, KC - 1, KC, KC + 1, 576, 700, 4608):
        ks = kstep(k)
        blocks = -(-k // ks)
        assert ks <= KC and blocks == -(-k // KC) and 0 <= blocks * ks - k < blocks
    assert kstep(576) == 288


def test_an_empty_sum_is_zero():
    c, _ = _run(np.ones((4, 0), np.float32), np.ones((0, 9), np.float32))
    assert (c == 0).all()


def test_conv_tiles_cached_code_goes_stale_with_the_gemm_source():
    """numba stamps conv_tile's cached code with conv_tile.py alone, yet that code holds
    the GEMM compiled into it: the stamp also names gemm.py's digest, so an edited GEMM
    recompiles conv_tile instead of loading the stale code."""
    from pyree.modules.hal.kernels import config, conv_tile

    stamp = conv_tile.conv_tile._cache._cache_file._source_stamp
    assert stamp[1] == config.source_digest("gemm.py", "gemm_ir.py")
    assert conv_tile.pointwise._cache._cache_file._source_stamp != stamp


def test_panels_layout():
    B = np.arange(3 * 20, dtype=np.float32).reshape(3, 20)
    P = panels.pack(B)
    assert P.shape == (2, 3, 16) and P.flags.c_contiguous
    np.testing.assert_array_equal(P[0], B[:, :16])
    np.testing.assert_array_equal(P[1, :, :4], B[:, 16:])
    assert not P[1, :, 4:].any()                # the last panel is zero-padded
    assert panels.pack(B.astype(np.float64)).shape == (3, 3, 8)
    W = np.arange(20 * 35, dtype=np.float32).reshape(35, 20)     # a transposed view
    np.testing.assert_array_equal(panels.pack(W.T), panels.pack(np.ascontiguousarray(W.T)))
    assert panels.pack(W.T)[2, 5, 2] == W.T[5, 34]
    assert (panels.width(4), panels.width(8), panels.count(17, 4)) == (16, 8, 2)


@settings(max_examples=60, deadline=None)
@given(m=st.integers(0, 20), n=st.integers(2, 80), k=st.integers(0, 20),
       dtype=st.sampled_from(DTYPES), ldc_pad=st.integers(0, 3), offset=st.integers(0, 5),
       column_panels=st.integers(0, 2), seed=st.integers(0, 2**32 - 1))
def test_prepacked_products_are_the_unpacked_bits(m, n, k, dtype, ldc_pad, offset,
                                                  column_panels, seed):
    """Whatever the path the unpacked product takes (panels, B in place, a wide row;
    not the dot products of a one-column B, which sum in another order: at least 2
    columns from ``column``), the packed one gives every element the same bits, from any
    panel-aligned column, and writes nothing outside C."""
    rng = np.random.default_rng(seed)
    column = min(column_panels * panels.width(np.dtype(dtype).itemsize), n - 2)
    column -= column % panels.width(np.dtype(dtype).itemsize)
    A = rng.standard_normal((m, k)).astype(dtype)
    B = rng.standard_normal((k, n)).astype(dtype)
    c, out = _run_packed(A, B, ldc_pad, offset, column)
    want, _ = _run(A, B[:, column:])
    np.testing.assert_array_equal(c, want)
    width = n - column
    touched = np.zeros(out.shape, bool)
    for i in range(m):
        touched[offset + i * (width + ldc_pad):offset + i * (width + ldc_pad) + width] = True
    assert np.isnan(out[~touched]).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m, n, k", [
    (64, 128, 784),     # the MLP's first Gemm: K blocks with a tail
    (300, 37, 600),     # past one M block, a column tail
    (20, None, 300),    # past one N block (NC_BYTES of columns) and one K block
])
def test_large_prepacked_products_are_the_unpacked_bits(dtype, m, n, k):
    n = n or NC_BYTES // np.dtype(dtype).itemsize + 21
    rng = np.random.default_rng(m + k)
    A = rng.standard_normal((m, k)).astype(dtype)
    B = rng.standard_normal((k, n)).astype(dtype)
    c, _ = _run_packed(A, B)
    np.testing.assert_array_equal(c, _run(A, B)[0])
    _check_product(A, B, c)


_WIDTH_SCRIPT = r"""
import sys
import numpy as np
from pyree.modules.hal.kernels import gemm, gemm_ir, panels

assert gemm_ir.VECTOR_BYTES == int(sys.argv[2])
assert gemm.MR == (12 if gemm_ir.VECTOR_BYTES == 64 else 6)
out = {}
rng = np.random.default_rng(7)
for dt in (np.float32, np.float64):
    for m, n, k in [(1, 300, 7), (5, 17, 9), (7, 49, 33), (11, 8, 577), (12, 33, 320),
                    (13, 9, 5), (25, 16, 41), (30, 70, 650), (300, 23, 3), (8, 40, 19),
                    (9, 17, 64), (10, 33, 100)]:
        A = rng.standard_normal((m, k)).astype(dt)
        B = rng.standard_normal((k, n)).astype(dt)
        for tb in (False, True):
            b = np.ascontiguousarray(B.T if tb else B).ravel()
            sbk, sbj = (1, k) if tb else (n, 1)
            c = np.full(m * n, np.nan, dt)
            gemm.gemm(m, n, k, A.ravel(), 0, k, 1, b, 0, sbk, sbj, c, 0, n)
            out[f"{dt.__name__}-{m}-{n}-{k}-{tb}"] = c
        c = np.full(m * n, np.nan, dt)
        gemm.gemm_packed(m, n, k, A.ravel(), 0, k, 1, panels.pack(B).ravel(), 0, c, 0, n)
        out[f"{dt.__name__}-{m}-{n}-{k}-packed"] = c
np.savez(sys.argv[1], **out)
"""


def test_both_vector_widths_give_the_same_bits(tmp_path):
    """The micro-kernels on 32-byte (AVX2) and 64-byte (AVX-512) vectors, with their
    different row counts (tiles of up to 6 and up to 12 rows), compute every
    element as the same fma chain: the bits agree on every path (panels, B in place,
    transposed B, dot products, prepacked panels) and tail. Either width runs on any
    x86-64 CPU (LLVM splits vectors wider than the registers), so both run here."""
    import os
    import subprocess
    import sys

    results = []
    for width in (32, 64):
        path = tmp_path / f"w{width}.npz"
        env = dict(os.environ, PYREE_GEMM_VECTOR_BYTES=str(width))
        subprocess.run([sys.executable, "-c", _WIDTH_SCRIPT, str(path), str(width)],
                       env=env, check=True, timeout=600)
        results.append(np.load(path))
    narrow, wide = results
    assert sorted(narrow.files) == sorted(wide.files) and len(narrow.files) == 72
    for name in narrow.files:
        assert not np.isnan(narrow[name]).any(), name
        np.testing.assert_array_equal(narrow[name].view(np.uint8), wide[name].view(np.uint8),
                                      err_msg=name)
