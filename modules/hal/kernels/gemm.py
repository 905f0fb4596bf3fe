"""pyree's own GEMM: ``C = A @ B`` for the kernels' products (matmul, conv), on one
thread (a dispatch's workgroups are its parallelism), numba only.

``gemm(m, n, k, a, ao, lda, b, bo, ldb, c, co, ldc)`` takes flat row-major float32 or
float64 arrays: ``A[i, j]`` is ``a[ao + i*lda + j]``, likewise B and C; C is overwritten.
The caller has proven every element it names in range (rows ``[0, m)`` of A with stride
``lda``, ...); nothing here reads or writes outside them.

Structure (GotoBLAS's loops, a BLIS-style micro-kernel): K is cut into blocks of ``KC``,
M into blocks of ``MC`` rows (the block of A stays in L2), N into panels of ``NR``
columns. Each ``KC x NR`` panel of B is copied into a zero-padded scratch (sequential
reads in the kernel; N tails need no masking), and an ``MR x NR`` micro-kernel, emitted
as LLVM IR with ``2*MR`` vector accumulators of 256 bits, runs ``kc`` fused multiply-adds
per element with A's ``MR`` row values broadcast from their rows as they lie. A C tile
past N goes through a scratch tile too. Rows past a multiple of ``MR`` use the
micro-kernel for fewer rows.

Every element of C is the same computation: a chain of ``fma`` over k in order within
each K block, the block sums added to C in order. Two output rows or columns with equal
inputs are therefore equal to the bit, wherever they fall in the tiling, which OpenBLAS's
sgemm does not promise (spec/executables.md: a classifier's tied logits stay tied). On a
core with AVX2 and FMA the micro-kernel runs near peak: 84-93 GFLOPS on one core here for
the MLP's and squeezenet's products, against 55 for OpenBLAS 0.3.31's single-threaded
sgemm (benchmarks/kernel_bench.py "GEMM").
"""

from __future__ import annotations

import numpy as np

from . import config

numba = config.import_numba()

from llvmlite import ir  # noqa: E402  (numba, hence llvmlite, imported by config above)
from numba.core import cgutils, types  # noqa: E402

MR = 6          # rows of the micro-kernel: 2*MR accumulators + 2 B vectors + 1 broadcast
VECTORS = 2     # 256-bit vectors per row of the micro-kernel (NR = VECTORS * lanes)
KC = 256        # K block: a panel of B is KC*NR elements (16 KiB), in L1
MC_BYTES = 1152  # M block: 1152 // itemsize rows (288 f32, 144 f64) by KC of A, in L2
_LANES = {types.float32: 8, types.float64: 4}

_I64 = ir.IntType(64)


def _micro(mr: int):
    """The ``mr x NR`` micro-kernel as a numba intrinsic:
    ``micro(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)`` sets (``add == 0``) or adds
    to (``add != 0``) ``C[i, j]`` the chain ``fma(A[i, kc-1], B[kc-1, j], ... fma(A[i, 0],
    B[0, j], 0))`` for ``i < mr`` and ``j < NR``, where ``A[i, k]`` is ``a[ao + i*sai +
    k*sak]``, ``B[k, j]`` is ``b[bo + k*ldb + j]`` and ``C[i, j]`` is ``c[co + i*ldc + j]``."""

    @numba.extending.intrinsic
    def micro(typingctx, kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add):
        if not all(isinstance(x, types.Array) and x.ndim == 1 and x.dtype == a.dtype
                   for x in (a, b, c)) or a.dtype not in _LANES:
            return None
        sig = types.void(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)

        def codegen(context, builder, signature, args):
            kc_, a_, ao_, sai_, sak_, b_, bo_, ldb_, c_, co_, ldc_, add_ = args
            arr = signature.args[1]
            elt = context.get_data_type(arr.dtype)
            lanes = _LANES[arr.dtype]
            align = arr.dtype.bitwidth // 8
            vec = ir.VectorType(elt, lanes)
            suffix = "v%df%d" % (lanes, 32 if arr.dtype == types.float32 else 64)
            fma = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vec, [vec, vec, vec]), "llvm.fma." + suffix)

            def data(index, offset):
                proxy = cgutils.create_struct_proxy(signature.args[index])
                return builder.gep(proxy(context, builder, value=args[index]).data, [offset])

            pa, pb, pc = data(1, ao_), data(5, bo_), data(8, co_)
            rows = [builder.gep(pa, [builder.mul(sai_, ir.Constant(_I64, i))])
                    for i in range(mr)]
            zero = ir.Constant(vec, [0.0] * lanes)
            splat = ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes)
            undef = ir.Constant(vec, ir.Undefined)

            entry = builder.block
            head = builder.append_basic_block("gemm.k")
            body = builder.append_basic_block("gemm.fma")
            done = builder.append_basic_block("gemm.store")
            builder.branch(head)
            builder.position_at_end(head)
            k = builder.phi(_I64)
            k.add_incoming(ir.Constant(_I64, 0), entry)
            accs = []
            for _ in range(mr * VECTORS):
                acc = builder.phi(vec)
                acc.add_incoming(zero, entry)
                accs.append(acc)
            builder.cbranch(builder.icmp_signed("<", k, kc_), body, done)

            builder.position_at_end(body)
            brow = builder.bitcast(builder.gep(pb, [builder.mul(k, ldb_)]), vec.as_pointer())
            bv = [builder.load(builder.gep(brow, [ir.Constant(_I64, v)]), align=align)
                  for v in range(VECTORS)]
            ka = builder.mul(k, sak_)
            new = []
            for i in range(mr):
                s = builder.load(builder.gep(rows[i], [ka]))
                s = builder.shuffle_vector(
                    builder.insert_element(undef, s, ir.Constant(ir.IntType(32), 0)),
                    undef, splat)
                new += [builder.call(fma, [s, bv[v], accs[i * VECTORS + v]])
                        for v in range(VECTORS)]
            k.add_incoming(builder.add(k, ir.Constant(_I64, 1)), builder.block)
            for acc, value in zip(accs, new):
                acc.add_incoming(value, builder.block)
            builder.branch(head)

            builder.position_at_end(done)
            ptrs = []
            for i in range(mr):
                crow = builder.bitcast(builder.gep(pc, [builder.mul(ldc_, ir.Constant(_I64, i))]),
                                       vec.as_pointer())
                ptrs += [builder.gep(crow, [ir.Constant(_I64, v)]) for v in range(VECTORS)]
            adding = builder.icmp_signed("!=", add_, ir.Constant(add_.type, 0))
            with builder.if_else(adding) as (then, otherwise):
                with then:
                    for p, acc in zip(ptrs, accs):
                        builder.store(builder.fadd(builder.load(p, align=align), acc), p,
                                      align=align)
                with otherwise:
                    for p, acc in zip(ptrs, accs):
                        builder.store(acc, p, align=align)
            return context.get_dummy_value()

        return sig, codegen

    return micro


_KERNELS = tuple(_micro(mr) for mr in range(1, MR + 1))
_m1, _m2, _m3, _m4, _m5, _m6 = _KERNELS     # _rows names one per row count


@numba.njit(cache=config.CACHE, nogil=True, boundscheck=False)
def _rows(mr, kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add):
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
def gemm(m, n, k, a, ao, sai, sak, b, bo, sbk, sbj, c, co, ldc):
    """``C[m, n] = A[m, k] @ B[k, n]`` with ``A[i, p] = a[ao + i*sai + p*sak]``,
    ``B[p, j] = b[bo + p*sbk + j*sbj]`` and ``C[i, j] = c[co + i*ldc + j]`` (a transposed
    operand is a pair of swapped strides); C is overwritten."""
    if m <= 0 or n <= 0:
        return
    if k <= 0:
        for i in range(m):
            for j in range(n):
                c[np.uint64(co + i * ldc + j)] = 0
        return
    nr = VECTORS * (32 // a.itemsize)
    mc_max = MC_BYTES // a.itemsize
    panel = np.empty(KC * nr, a.dtype)
    tile = np.empty(MR * nr, a.dtype)
    for p0 in range(0, k, KC):
        kc = min(KC, k - p0)
        add = 1 if p0 > 0 else 0
        for i1 in range(0, m, mc_max):
            mc = min(mc_max, m - i1)
            for j0 in range(0, n, nr):
                w = min(nr, n - j0)
                # the panel B[p0:p0+kc, j0:j0+w], zero-padded to nr columns
                for kk in range(kc):
                    src = bo + (p0 + kk) * sbk + j0 * sbj
                    dst = kk * nr
                    if w == nr and sbj == 1:
                        for j in range(nr):
                            panel[np.uint64(dst + j)] = b[np.uint64(src + j)]
                    else:
                        for j in range(w):
                            panel[np.uint64(dst + j)] = b[np.uint64(src + j * sbj)]
                        for j in range(w, nr):
                            panel[np.uint64(dst + j)] = 0
                for i0 in range(i1, i1 + mc, MR):
                    mr = min(MR, i1 + mc - i0)
                    aoff = ao + i0 * sai + p0 * sak
                    coff = co + i0 * ldc + j0
                    if w == nr:
                        _rows(mr, kc, a, aoff, sai, sak, panel, 0, nr, c, coff, ldc, add)
                        continue
                    # a tile past N: computed in a scratch tile, its w columns copied
                    if add:
                        for i in range(mr):
                            for j in range(w):
                                tile[np.uint64(i * nr + j)] = c[np.uint64(coff + i * ldc + j)]
                    _rows(mr, kc, a, aoff, sai, sak, panel, 0, nr, tile, 0, nr, add)
                    for i in range(mr):
                        for j in range(w):
                            c[np.uint64(coff + i * ldc + j)] = tile[np.uint64(i * nr + j)]
