"""The GEMM's inner kernels (``gemm.py``), emitted as LLVM IR through numba intrinsics:
vectors of the element type and ``llvm.fma``, so that every product is a fused
multiply-add and the compiler keeps the accumulators in registers. Every output element
of a kernel is computed by the same sequence of operations, whichever row, column or
lane it falls in (the GEMM's guarantee), so the vector width does not change the bits.

* ``micro(mr, columns)``: ``C[i, j] (+)= sum_k A[i, k] * B[k, j]`` for ``i < mr`` (1..12)
  and ``j`` in ``columns`` bytes of elements (``PANEL_BYTES``, a panel, by default), as
  one fma chain per element over k in order; A's values are broadcast from their rows
  (any strides), B's rows are vector loads. The vectors are ``VECTOR_BYTES`` wide
  (``config.gemm_vector_bytes``: 64 bytes, one zmm register per row of a panel, on
  AVX-512 cores, which runs the 6x16 f32 kernel at 184 GFLOPS on one Zen 5 core where
  two ymm registers per row ran at 127), or ``columns`` if that is less.
* ``dot(rows)``: ``C[i] = sum_k A[i, k] * x[k]`` for ``i < rows`` (1..4), A's rows and x
  contiguous along k: one 32-byte vector of partial sums per row (k in steps of its
  ``lanes``), the lanes added in order, then the last ``k % lanes`` terms as scalar fmas.
"""

from __future__ import annotations

from . import config

numba = config.import_numba()

from llvmlite import ir  # noqa: E402  (numba, hence llvmlite, imported by config above)
from numba.core import cgutils, types  # noqa: E402

PANEL_BYTES = 64    # a micro-kernel's columns by default: a panel (``panels.width``)
VECTOR_BYTES = config.gemm_vector_bytes()   # 32 (AVX2) or 64 (AVX-512)
DOT_BYTES = 32      # dot products' vectors: their lanes decide the order of their sums
SIZES = {types.float32: 4, types.float64: 8}
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)


def _arrays_ok(*arrays) -> bool:
    a = arrays[0]
    return a.dtype in SIZES and all(isinstance(x, types.Array) and x.ndim == 1 and
                                    x.dtype == a.dtype for x in arrays)


class _Emitter:
    """IR helpers bound to one intrinsic's codegen call."""

    def __init__(self, context, builder, signature, args, vector_bytes: int):
        self.builder, self.args, self.sig = builder, args, signature
        self.context = context
        dtype = signature.args[1].dtype
        self.elt = context.get_data_type(dtype)
        self.lanes = vector_bytes // SIZES[dtype]
        self.align = dtype.bitwidth // 8
        self.vec = ir.VectorType(self.elt, self.lanes)
        bits = 32 if dtype == types.float32 else 64
        module = builder.module
        self.vfma = cgutils.get_or_insert_function(
            module, ir.FunctionType(self.vec, [self.vec] * 3), f"llvm.fma.v{self.lanes}f{bits}")
        self.sfma = cgutils.get_or_insert_function(
            module, ir.FunctionType(self.elt, [self.elt] * 3), f"llvm.fma.f{bits}")
        self.zero = ir.Constant(self.vec, [0.0] * self.lanes)

    def data(self, index: int, offset):
        """Pointer to element ``offset`` of array argument ``index``."""
        proxy = cgutils.create_struct_proxy(self.sig.args[index])
        base = proxy(self.context, self.builder, value=self.args[index]).data
        return self.builder.gep(base, [offset])

    def at(self, ptr, index):
        return self.builder.gep(ptr, [index])

    def vload(self, ptr):
        return self.builder.load(self.builder.bitcast(ptr, self.vec.as_pointer()),
                                 align=self.align)

    def vstore(self, value, ptr):
        self.builder.store(value, self.builder.bitcast(ptr, self.vec.as_pointer()),
                           align=self.align)

    def splat(self, scalar):
        undef = ir.Constant(self.vec, ir.Undefined)
        one = self.builder.insert_element(undef, scalar, ir.Constant(_I32, 0))
        return self.builder.shuffle_vector(
            one, undef, ir.Constant(ir.VectorType(_I32, self.lanes), [0] * self.lanes))

    def loop(self, name, start, stop, step, carried):
        """A counted loop ``for k in range(start, stop, step)`` carrying the values
        ``carried``; returns (k, the carried phis, finish) where ``finish(new)`` closes the
        body with the carried values' next values and leaves the builder after the loop."""
        b = self.builder
        entry = b.block
        head = b.append_basic_block(name + ".head")
        body = b.append_basic_block(name + ".body")
        done = b.append_basic_block(name + ".done")
        b.branch(head)
        b.position_at_end(head)
        k = b.phi(_I64)
        k.add_incoming(start, entry)
        phis = []
        for value in carried:
            phi = b.phi(value.type)
            phi.add_incoming(value, entry)
            phis.append(phi)
        b.cbranch(b.icmp_signed("<", k, stop), body, done)
        b.position_at_end(body)

        def finish(new):
            k.add_incoming(b.add(k, step), b.block)
            for phi, value in zip(phis, new):
                phi.add_incoming(value, b.block)
            b.branch(head)
            b.position_at_end(done)

        return k, phis, finish


def micro(mr: int, columns: int = PANEL_BYTES, apart: bool = False):
    """``micro(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add)`` over ``columns`` bytes
    of columns (a multiple of 32; more hide the fma latency of a single row): ``A[i, k]``
    is ``a[ao + i*sai + k*sak]``, ``B[k, j]`` is ``b[bo + k*ldb + j]``, ``C[i, j]`` is
    ``c[co + i*ldc + j]``; ``add == 0`` stores the chains, else adds them to C.
    ``apart``: the columns are two panels that lie apart in ``b`` (two panels of a
    prepacked B), taking an extra argument ``ps`` after ``ldb``: ``B[k, j]`` is
    ``b[bo + (j // nr)*ps + k*ldb + j % nr]`` for a panel of ``nr`` columns."""
    width = min(VECTOR_BYTES, columns // 2 if apart else columns)
    vectors = columns // width

    def codegen(context, builder, signature, args):
        e = _Emitter(context, builder, signature, args, width)
        if apart:
            kc_, _, ao_, sai_, sak_, _, bo_, ldb_, ps_, _, co_, ldc_, add_ = args
        else:
            (kc_, _, ao_, sai_, sak_, _, bo_, ldb_, _, co_, ldc_, add_), ps_ = args, None
        pa, pb, pc = e.data(1, ao_), e.data(5, bo_), e.data(len(args) - 4, co_)
        # the first element of each vector of B's row 0: one run, or two panels ps apart
        starts = [ir.Constant(_I64, v * e.lanes) for v in range(vectors)]
        if apart:
            half = vectors // 2
            starts = [starts[v] if v < half else builder.add(ps_, starts[v - half])
                      for v in range(vectors)]
        rows = [e.at(pa, builder.mul(sai_, ir.Constant(_I64, i))) for i in range(mr)]
        k, accs, finish = e.loop("gemm.k", ir.Constant(_I64, 0), kc_,
                                 ir.Constant(_I64, 1), [e.zero] * (mr * vectors))
        brow = e.at(pb, builder.mul(k, ldb_))
        bv = [e.vload(e.at(brow, start)) for start in starts]
        ka = builder.mul(k, sak_)
        new = []
        for i in range(mr):
            s = e.splat(builder.load(e.at(rows[i], ka)))
            new += [builder.call(e.vfma, [s, bv[v], accs[i * vectors + v]])
                    for v in range(vectors)]
        finish(new)
        ptrs = [e.at(pc, builder.add(builder.mul(ldc_, ir.Constant(_I64, i)),
                                     ir.Constant(_I64, v * e.lanes)))
                for i in range(mr) for v in range(vectors)]
        adding = builder.icmp_signed("!=", add_, ir.Constant(add_.type, 0))
        with builder.if_else(adding) as (then, otherwise):
            with then:
                for p, acc in zip(ptrs, accs):
                    e.vstore(builder.fadd(e.vload(p), acc), p)
            with otherwise:
                for p, acc in zip(ptrs, accs):
                    e.vstore(acc, p)
        return context.get_dummy_value()

    if apart:
        @numba.extending.intrinsic
        def kernel(typingctx, kc, a, ao, sai, sak, b, bo, ldb, ps, c, co, ldc, add):
            if not _arrays_ok(a, b, c):
                return None
            return types.void(kc, a, ao, sai, sak, b, bo, ldb, ps, c, co, ldc, add), codegen
    else:
        @numba.extending.intrinsic
        def kernel(typingctx, kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add):
            if not _arrays_ok(a, b, c):
                return None
            return types.void(kc, a, ao, sai, sak, b, bo, ldb, c, co, ldc, add), codegen

    return kernel


def dot(rows: int):
    """``dot(k, a, ao, sai, x, xo, c, co, ldc)``: ``c[co + i*ldc] = sum_p a[ao + i*sai + p]
    * x[xo + p]`` for ``i < rows``."""

    @numba.extending.intrinsic
    def kernel(typingctx, k, a, ao, sai, x, xo, c, co, ldc):
        if not _arrays_ok(a, x, c):
            return None

        def codegen(context, builder, signature, args):
            e = _Emitter(context, builder, signature, args, DOT_BYTES)
            k_, _, ao_, sai_, _, xo_, _, co_, ldc_ = args
            pa, px, pc = e.data(1, ao_), e.data(4, xo_), e.data(6, co_)
            row = [e.at(pa, builder.mul(sai_, ir.Constant(_I64, i))) for i in range(rows)]
            lanes = ir.Constant(_I64, e.lanes)
            kv = builder.sub(k_, builder.srem(k_, lanes))
            p, accs, finish = e.loop("dot.v", ir.Constant(_I64, 0), kv, lanes,
                                     [e.zero] * rows)
            xv = e.vload(e.at(px, p))
            finish([builder.call(e.vfma, [e.vload(e.at(row[i], p)), xv, accs[i]])
                    for i in range(rows)])
            sums = []
            for acc in accs:
                s = builder.extract_element(acc, ir.Constant(_I32, 0))
                for lane in range(1, e.lanes):
                    s = builder.fadd(s, builder.extract_element(acc, ir.Constant(_I32, lane)))
                sums.append(s)
            p, sums, finish = e.loop("dot.s", kv, k_, ir.Constant(_I64, 1), sums)
            xs = builder.load(e.at(px, p))
            finish([builder.call(e.sfma, [builder.load(e.at(row[i], p)), xs, sums[i]])
                    for i in range(rows)])
            for i in range(rows):
                builder.store(sums[i], e.at(pc, builder.mul(ldc_, ir.Constant(_I64, i))))
            return context.get_dummy_value()

        return types.void(k, a, ao, sai, x, xo, c, co, ldc), codegen

    return kernel
