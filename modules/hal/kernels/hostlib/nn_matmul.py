"""Matrix products: ``matmul`` (numpy semantics, optional transposed operands), Gemm
(matmul + alpha/beta/bias epilogue) and Einsum.

``matmul`` with ``transpose_a``/``transpose_b`` swaps an operand's last two dims, as the
executable format's ``transpose_lhs``/``transpose_rhs`` do, so Gemm's transposes cost no
copy. Gemm's ``alpha * (A @ B) + beta * C`` becomes ``mul``/``add`` nodes that
partitioning attaches to the matmul region as its epilogue.

The host library's rows for these ops (shape/type inference and numpy semantics):
host-library ``op`` bodies execute them, and ``compiler/ops/nn_matmul.py`` (which keeps the
ONNX import rules) takes its ``infer``/``reference`` from here through
``registry.hosted``; the compiler depends on the HAL, never the reverse.
"""

from __future__ import annotations

import numpy as np

from .common import bad, broadcast_shape, is_float, same_dtype, tt
from .registry import define

FAMILY = "nn"


def _operands(node, a, b):
    if node.attr("transpose_a", 0):
        a = np.swapaxes(a, -1, -2)
    if node.attr("transpose_b", 0):
        b = np.swapaxes(b, -1, -2)
    return a, b


def _infer_matmul(node, types):
    dtype = same_dtype(node, types)
    a, b = list(types[0].shape), list(types[1].shape)
    if node.attr("transpose_a", 0):
        a[-2:] = a[-2:][::-1]
    if node.attr("transpose_b", 0):
        b[-2:] = b[-2:][::-1]
    if not a or not b:
        bad(node, "matmul operands must have rank >= 1")
    squeeze_a, squeeze_b = len(a) == 1, len(b) == 1
    a = [1] + a if squeeze_a else a
    b = b + [1] if squeeze_b else b
    if a[-1] != b[-2]:
        bad(node, f"contraction dims differ: {types[0]} @ {types[1]}")
    batch = broadcast_shape(node, [tuple(a[:-2]), tuple(b[:-2])])
    out = list(batch) + ([] if squeeze_a else [a[-2]]) + ([] if squeeze_b else [b[-1]])
    return [tt(dtype, out)]


def _matmul(node, a, b):
    dtype = a.dtype
    a, b = _operands(node, a, b)
    if is_float(dtype) and dtype.itemsize <= 4:  # accumulate in f64 (see nn_conv._wide)
        a, b = a.astype(np.float64), b.astype(np.float64)
    return np.matmul(a, b).astype(dtype, copy=False)


define("matmul", FAMILY, "matmul", _infer_matmul, _matmul)


def _infer_einsum(node, types):
    dtype = same_dtype(node, types)
    probe = [np.empty(t.shape, dtype=np.int8) for t in types]
    try:
        out = np.einsum(node.attr("equation"), *probe)
    except ValueError as exc:
        bad(node, f"einsum '{node.attr('equation')}': {exc}")
    return [tt(dtype, np.shape(out))]


def _einsum(node, *xs):
    wide = [x.astype(np.float64) if is_float(x.dtype) else x for x in xs]
    return np.asarray(np.einsum(node.attr("equation"), *wide)).astype(xs[0].dtype)


define("einsum", FAMILY, "library", _infer_einsum, _einsum)
define("det", FAMILY, "library", lambda n, t: [tt(t[0].dtype, t[0].shape[:-2])],
       lambda n, x: np.asarray(np.linalg.det(x.astype(np.float64))).astype(x.dtype))
