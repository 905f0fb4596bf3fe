"""Matmul: ``out = alpha * op(lhs) @ op(rhs) + beta * out`` through numba's ``np.dot``
(BLAS), batched over an optional leading dim (a batch of 1 broadcasts).

The iteration space is the rows of ``out`` flattened over (batch, m): items ``B*M``.
A workgroup computes its rows batch by batch: one ``np.dot`` of the row block of ``lhs``
with the whole ``rhs`` matrix. Parameters: n, nwg, per, M, N, K, then the element offset and
batch stride (0 when broadcast) of lhs, rhs and out. ``beta == 0`` never reads ``out``.
"""

from __future__ import annotations

from ..ir import Function
from . import skeleton


def emit(fn: Function) -> tuple[list[str], tuple]:
    body = fn.body
    etype = fn.bindings[body.out].type
    a, b, c = f"b{body.lhs}", f"b{body.rhs}", f"b{body.out}"
    if body.transpose_lhs:
        lhs = f"np.ascontiguousarray({a}[ab:ab + K * M].reshape((K, M))[:, m0:m1].T)"
    else:
        lhs = f"{a}[ab + m0 * K:ab + m1 * K].reshape((m1 - m0, K))"
    if body.transpose_rhs:
        rhs = f"{b}[bb:bb + N * K].reshape((N, K)).T"
    else:
        rhs = f"{b}[bb:bb + K * N].reshape((K, N))"
    prod = "t" if body.alpha == 1.0 else "alpha * t"
    update = prod if body.beta == 0.0 else f"{prod} + beta * blk"
    params = ", ".join([f"b{x.index}" for x in fn.bindings] + ["p", "fp"])
    lines = skeleton.header()
    lines[-1:-1] = [f"alpha = {skeleton.number(body.alpha, etype)}",
                    f"beta = {skeleton.number(body.beta, etype)}", "", ""]
    lines += [f"def kernel({params}):",
              "    n = p[0]", "    nwg = p[1]", "    per = p[2]",
              "    M = p[3]", "    N = p[4]", "    K = p[5]",
              "    ol = p[6]", "    sl = p[7]", "    orr = p[8]", "    sr = p[9]",
              "    oo = p[10]", "    so = p[11]",
              "    for w in prange(nwg):",
              "        start = w * per",
              "        end = min(start + per, n)",
              "        row = start",
              "        while row < end:",
              "            bi = row // M",
              "            m0 = row - bi * M",
              "            m1 = min(M, m0 + (end - row))",
              "            ab = ol + bi * sl",
              "            bb = orr + bi * sr",
              "            cb = oo + bi * so",
              f"            t = np.dot({lhs}, {rhs})",
              f"            blk = {c}[cb + m0 * N:cb + m1 * N].reshape((m1 - m0, N))",
              f"            blk[:, :] = {update}",
              "            row += m1 - m0"]
    return lines, ()
