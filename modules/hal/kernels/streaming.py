"""Non-temporal (streaming) stores for large elementwise outputs (imported only by generated
kernel sources; ``library/elementwise.py`` emits the loop that uses them).

A store that misses the cache first reads the line it writes (read-for-ownership); a
non-temporal store writes whole lines to memory without reading them. LLVM emits one
(``vmovntps``/``vmovntpd`` with AVX) only for a vector store that carries ``!nontemporal``
metadata and is aligned to the vector's size: a scalar ``!nontemporal`` store keeps the
loop from vectorizing, and numba cannot prove an array's alignment. So the generated loop
computes the values the ordinary (auto-vectorized) way into a small scratch buffer on the
stack, then :func:`stream_store` copies it to the 32-byte aligned part of the output, one
32-byte vector at a time (8 x f32, 4 x f64); the few items before the first 32-byte
boundary and after the last full vector use ordinary stores. The values are computed by
the same expressions as the ordinary kernel and only moved bit for bit, so the results are
identical.

Non-temporal stores are weakly ordered: :func:`sfence` after a workgroup's stores makes
them visible before the kernel returns (and so before the HAL signals anything). On a
target other than x86, where the fence intrinsic does not exist, a sequentially consistent
fence is emitted instead.

The generated sources embed a digest of this file, so editing it changes every streaming
kernel's cache key (numba's cache does not track callees).
"""

from __future__ import annotations

from . import config

numba = config.import_numba()

from llvmlite import binding as _llvm  # noqa: E402  (numba imported first, as config wants)
from llvmlite import ir  # noqa: E402
from numba.core import cgutils, types  # noqa: E402
from numba.extending import intrinsic  # noqa: E402

VECTOR_BYTES = 32           # one AVX register; also the output alignment of the vector body
SCRATCH_BYTES = 4096        # values computed per batch (stays in L1 next to the input lines)

_X86 = _llvm.get_process_triple().split("-")[0] in ("x86_64", "i386", "i686")
_FLOATS = (types.float32, types.float64)


def lanes(itemsize: int) -> int:
    """Elements per vector store for an element of ``itemsize`` bytes."""
    return VECTOR_BYTES // itemsize


@intrinsic
def address(typingctx, arr):
    """The address of ``arr``'s first element, as an int64."""
    if not isinstance(arr, types.Array):
        return None

    def codegen(context, builder, signature, args):
        data = context.make_array(arr)(context, builder, args[0]).data
        return builder.ptrtoint(data, ir.IntType(64))

    return types.int64(arr), codegen


@intrinsic
def scratch(typingctx, like):
    """A pointer to ``SCRATCH_BYTES`` of stack, aligned to ``VECTOR_BYTES``, typed as
    ``like``'s type (wrap it with ``numba.carray``). Allocated once in the function's entry
    block, so calling this inside a loop costs nothing. Not zero-filled (``cgutils.alloca_once``
    would store zeros there: a 4 KiB memset on every kernel call, streaming or not): the
    generated loop reads only the elements it has just written."""
    if like not in _FLOATS:
        return None

    def codegen(context, builder, signature, args):
        ety = context.get_value_type(like)
        count = SCRATCH_BYTES * 8 // like.bitwidth
        with builder.goto_entry_block():
            slot = builder.alloca(ir.ArrayType(ety, count))
        slot.align = VECTOR_BYTES
        return builder.bitcast(slot, ety.as_pointer())

    return types.CPointer(like)(like), codegen


@intrinsic
def stream_store(typingctx, dst, di, src, si):
    """Store ``src[si : si + lanes]`` to ``dst[di : di + lanes]`` with one aligned
    non-temporal vector store. ``dst``'s element ``di`` must be ``VECTOR_BYTES``-aligned and
    both ranges inside their arrays: the generated loop guarantees it."""
    if not (isinstance(dst, types.Array) and isinstance(src, types.Array)
            and dst.dtype == src.dtype and dst.dtype in _FLOATS
            and isinstance(di, types.Integer) and isinstance(si, types.Integer)):
        return None
    width = VECTOR_BYTES * 8 // dst.dtype.bitwidth

    def codegen(context, builder, signature, args):
        vty = ir.VectorType(context.get_value_type(dst.dtype), width)
        s = context.make_array(src)(context, builder, args[2])
        d = context.make_array(dst)(context, builder, args[0])
        sptr = builder.bitcast(builder.gep(s.data, [args[3]], inbounds=True), vty.as_pointer())
        vec = builder.load(sptr, align=dst.dtype.bitwidth // 8)
        dptr = builder.bitcast(builder.gep(d.data, [args[1]], inbounds=True), vty.as_pointer())
        store = builder.store(vec, dptr, align=VECTOR_BYTES)
        store.set_metadata("nontemporal",
                           builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)]))
        return context.get_dummy_value()

    return types.none(dst, di, src, si), codegen


@intrinsic
def sfence(typingctx):
    """Order the preceding non-temporal stores before any later store (x86 ``sfence``)."""

    def codegen(context, builder, signature, args):
        if _X86:
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse.sfence")
            builder.call(fn, [])
        else:
            builder.fence("seq_cst")
        return context.get_dummy_value()

    return types.none(), codegen
