"""Matmul: ``out = alpha * op(lhs) @ op(rhs) + beta * out`` through pyree's GEMM
(``kernels/gemm.py``), batched over an optional leading dim (a batch of 1 broadcasts).

The iteration space is (column block, row of ``out`` flattened over (batch, m)): items
``nb*B*M``, ``nb`` blocks of ``colb`` columns (``column_block``, default all N; the last may
be shorter). A workgroup computes its items block by block and batch by batch: one
``gemm`` of the row block of ``lhs`` with the block's columns of ``rhs`` (a transposed
operand is a pair of swapped strides). A few rows against many columns split by columns
share ``rhs``'s packing between workgroups instead of repeating all of it in each; a
prepacked ``rhs`` (``rhs_packed``, ``panels.py``) is read as it lies by ``gemm_packed``,
a column block starting at its panel ``c0 / NR`` (element ``c0 * K``).
Parameters: n, nwg, per, M, N, K, the element offset and batch stride (0 when broadcast)
of lhs, rhs and out, then colb and the rows per block ``R = B*M``. ``beta == 0`` never
reads ``out``.

An epilogue (spec/executables.md 6.4; the steps of a conv epilogue, whose channel is the
column of ``out``) then runs in place over the item's rows and columns of ``out``, right after
their product: every binding step adds two parameters (element offset, and for a
per-column step 1 for an ``[N]`` operand / 0 for ``[1]``; a tensor step reads the operand
at the output's own element index relative to ``oo``), ``clip``/``leaky_relu`` their
numbers in ``fp``.
"""

from __future__ import annotations

from .. import config
from ..ir import Function
from . import skeleton

# generated kernels name the GEMM's digest: editing it changes their cache keys
_GEMM_DIGEST = config.source_digest("gemm.py", "gemm_ir.py")


def emit(fn: Function) -> tuple[list[str], tuple]:
    body = fn.body
    etype = fn.bindings[body.out].type
    a, b, c = f"b{body.lhs}", f"b{body.rhs}", f"b{body.out}"
    # (element offset of row m0, row stride, k stride) of lhs; (k stride, column stride)
    # of rhs: element [i, p] of op(lhs) is a[ao + i*sai + p*sak], and so on
    lhs = ("ab + m0", "1", "M") if body.transpose_lhs else ("ab + m0 * K", "K", "1")
    rhs = ("1", "K") if body.transpose_rhs else ("N", "1")
    # alpha 1, beta 0: the product goes straight into the rows of out
    direct = body.alpha == 1.0 and body.beta == 0.0
    dst = (c, "cb + m0 * N + c0", "N") if direct else ("t", "0", "c1 - c0")
    if body.rhs_packed:     # c0 starts a panel: panel c0 // NR at (c0 // NR) * K * NR
        product = (f"            gemm_packed(m1 - m0, c1 - c0, K, {a}, {lhs[0]}, {lhs[1]}, "
                   f"{lhs[2]}, {b}, bb + c0 * K, {dst[0]}, {dst[1]}, {dst[2]})")
    else:
        product = (f"            gemm(m1 - m0, c1 - c0, K, {a}, {lhs[0]}, {lhs[1]}, {lhs[2]}, "
                   f"{b}, bb + c0 * {rhs[1]}, {rhs[0]}, {rhs[1]}, {dst[0]}, {dst[1]}, {dst[2]})")
    prod = "t2" if body.alpha == 1.0 else "alpha * t2"
    update = prod if body.beta == 0.0 else f"{prod} + beta * blk"
    params = ", ".join([f"b{x.index}" for x in fn.bindings] + ["p", "fp"])
    routine = "gemm_packed" if body.rhs_packed else "gemm"
    lines = skeleton.header(("fmin", "fmax") if body.epilogue else (),
                            (f"from pyree.modules.hal.kernels.gemm import {routine}",))
    lines.insert(2, f"# gemm.py, gemm_ir.py sha256 {_GEMM_DIGEST}")
    lines[-1:-1] = [f"alpha = {skeleton.number(body.alpha, etype)}",
                    f"beta = {skeleton.number(body.beta, etype)}", "", ""]
    lines += [f"def kernel({params}):",
              "    n = p[0]", "    nwg = p[1]", "    per = p[2]",
              "    M = p[3]", "    N = p[4]", "    K = p[5]",
              "    ol = p[6]", "    sl = p[7]", "    orr = p[8]", "    sr = p[9]",
              "    oo = p[10]", "    so = p[11]", "    colb = p[12]", "    R = p[13]",
              "    for w in prange(nwg):",
              "        start = w * per",
              "        end = min(start + per, n)",
              "        item = start",
              "        while item < end:",
              "            blk = item // R",
              "            row = item - blk * R",
              "            c0 = blk * colb",
              "            c1 = min(N, c0 + colb)",
              "            bi = row // M",
              "            m0 = row - bi * M",
              "            m1 = min(M, m0 + (end - item))",
              "            ab = ol + bi * sl",
              "            bb = orr + bi * sr",
              "            cb = oo + bi * so",
              *([product] if direct else
                [f"            blk2 = {c}[cb + m0 * N:cb + m1 * N].reshape((m1 - m0, N))",
                 "            t = np.empty((m1 - m0) * (c1 - c0), blk2.dtype)",
                 product,
                 "            t2 = t.reshape((m1 - m0, c1 - c0))",
                 "            blk = blk2[:, c0:c1]",
                 f"            blk[:, :] = {update}"]),
              *_epilogue(fn, etype.ctor),
              "            item += m1 - m0"]
    return lines, ()


def _epilogue(fn: Function, T: str) -> list[str]:
    steps = fn.body.epilogue
    if not steps:
        return []
    c = f"b{fn.body.out}"
    head = skeleton.epilogue_params(steps, T, 14)
    body = skeleton.epilogue_steps(steps, T, "col", "rel + col")
    pad = " " * 16
    return ([" " * 12 + line for line in head] +
            ["            for i in range(m0, m1):",
             "                rel = cb - oo + i * N",
             "                for col in range(c0, c1):",
             f"                    v = {c}[np.uint64(oo + rel + col)]",
             *[pad + "    " + line for line in body],
             f"                    {c}[np.uint64(oo + rel + col)] = v"])
