"""pyree's GEMM (modules/hal/kernels/gemm.py) against the BLAS it replaced: OpenBLAS
through numba's ``np.dot`` with one thread (scipy's OpenBLAS, as the kernels loaded it),
on one core, for the products the benchmarked models run (benchmarks/README.md "GEMM").

Each row is the best of ``--repeat`` interleaved rounds (every round times each column
once), after a warm-up call that compiles; GFLOPS count 2*M*N*K. "prepacked" is
``gemm_packed`` on B already in panels (``panels.pack``), as a compiled model runs a
product against a constant weight of at least 4 columns with at least 8 rows ("-" for the
shapes the compiler does not pack).

    python benchmarks/gemm_bench.py [--repeat 50] [--f64]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")     # before numpy / scipy load BLAS

import numpy as np  # noqa: E402

# (M, K, N, where it comes from)
SHAPES = [
    (64, 784, 128, "MLP batch 64, first Gemm"),
    (32, 784, 128, "the same, one of its 2 workgroups"),
    (1, 784, 128, "MLP batch 1, first Gemm"),
    (64, 128, 10, "MLP batch 64, second Gemm"),
    (1000, 512, 169, "squeezenet classifier conv, whole 13x13 plane"),
    (1000, 512, 13, "the same, one row (the old split)"),
    (1000, 2048, 1, "resnet50 fc at batch 1 ([N, K] @ [K, 1])"),
    (64, 576, 3136, "a 3x3 conv over 56x56, 64 channels"),
    (512, 4608, 196, "a 3x3 conv over 14x14, 512 channels"),
    (128, 1152, 784, "a 3x3 conv over 28x28, 128 channels"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--f64", action="store_true", help="float64 instead of float32")
    args = parser.parse_args()

    from pyree.modules.hal.kernels import config
    numba = config.import_numba()
    import scipy.linalg.cython_blas  # noqa: F401  (numba's np.dot binds scipy's BLAS)
    from pyree.compiler.emit.lower_v1_matmul import PACK_MIN_COLUMNS, PACK_MIN_ROWS
    from pyree.modules.hal.kernels import panels
    from pyree.modules.hal.kernels.gemm import gemm, gemm_packed

    @numba.njit(nogil=True)
    def blas(m, n, k, a, b, c):
        np.dot(a.reshape((m, k)), b.reshape((k, n)), c.reshape((m, n)))

    dtype = np.float64 if args.f64 else np.float32
    rng = np.random.default_rng(0)
    print(f"{np.dtype(dtype).name}, one thread, best of {args.repeat} interleaved rounds")
    print("| M x K x N | what | pyree us | GFLOPS | prepacked us | GFLOPS | OpenBLAS us | "
          "GFLOPS | OpenBLAS / pyree |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for m, k, n, what in SHAPES:
        a = rng.standard_normal(m * k).astype(dtype)
        b = rng.standard_normal(k * n).astype(dtype)
        c1 = np.empty(m * n, dtype)
        c2 = np.empty(m * n, dtype)
        ours = lambda: gemm(m, n, k, a, 0, k, 1, b, 0, n, 1, c1, 0, n)  # noqa: E731
        theirs = lambda: blas(m, n, k, a, b, c2)  # noqa: E731
        packed = panels.pack(b.reshape(k, n)).ravel()
        c3 = np.empty(m * n, dtype)
        prepacked = lambda: gemm_packed(m, n, k, a, 0, k, 1, packed, 0, c3, 0, n)  # noqa: E731
        runs = [ours, theirs] + ([prepacked] if m >= PACK_MIN_ROWS and n >= PACK_MIN_COLUMNS
                                 else [])
        for fn in runs:
            fn()
        tol = 1e-3 if dtype == np.float32 else 1e-10
        assert np.allclose(c1, c2, rtol=tol, atol=tol * np.abs(c2).max()), (m, k, n)
        if len(runs) > 2:
            assert np.array_equal(c1, c3), (m, k, n)       # the same bits
        best = [float("inf")] * 3
        reps = max(3, args.repeat // 10) if m * n * k > 1e8 else args.repeat
        for _ in range(reps):
            for i, fn in enumerate(runs):
                start = time.perf_counter()
                fn()
                best[i] = min(best[i], time.perf_counter() - start)
        flop = 2 * m * n * k
        pre = (f"{best[2] * 1e6:.1f} | {flop / best[2] / 1e9:.1f}" if len(runs) > 2
               else "- | -")
        print(f"| {m}x{k}x{n} | {what} | {best[0] * 1e6:.1f} | {flop / best[0] / 1e9:.1f} | "
              f"{pre} | {best[1] * 1e6:.1f} | {flop / best[1] / 1e9:.1f} | "
              f"{best[1] / best[0]:.2f}x |")


if __name__ == "__main__":
    main()
