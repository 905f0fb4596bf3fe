"""How matmul lowerings split work into workgroups (compiler/emit/lower_v1_matmul.py):
small products are one workgroup, large ones at most 8 of at least MIN_ROWS rows, a few
rows split by column blocks instead, and a single row against a transposed operand (a
batch-1 fully connected layer) is computed as the transposed product so its N rows can be
shared out - with the same values."""

from __future__ import annotations

import numpy as np
import pytest
from pyree.compiler import compile_model
from pyree.compiler.emit.lower_v1_matmul import (MIN_ROWS, lower_matmul, rows_per_workgroup,
                                                  work_split)
from pyree.compiler.onnx_import import import_model
from pyree.compiler.pipeline import compile_graph

from pyree.runtime import load_module

from .helpers import F32, helper, model


def test_rows_per_workgroup():
    assert rows_per_workgroup(64, 784, 128) == 32         # 6.4M multiply-adds: two
    assert rows_per_workgroup(64, 128, 10) == 64          # 82K: one
    assert rows_per_workgroup(4096, 512, 512) == 512      # 8 workgroups
    assert rows_per_workgroup(100, 4096, 4096) == MIN_ROWS
    assert rows_per_workgroup(1, 10, 10) == 1


def test_work_split():
    assert work_split(64, 784, 128) == (64, 64)       # the MLP: two column blocks
    assert work_split(64, 128, 10) == (64, 10)        # one workgroup
    assert work_split(1, 2048, 4100) == (1, 1040)     # one row: 4 blocks of 1040 columns
    assert work_split(4096, 512, 512) == (512, 512)   # many rows: row workgroups
    assert work_split(100, 64, 40) == (100, 40)       # too little work to split


def gemm(batch, k, n, trans_b):
    rng = np.random.default_rng(batch + n)
    w = rng.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    m = model([helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=int(trans_b))],
              [("x", F32, [batch, k])], [("y", F32, [batch, n])], {"w": w, "b": b})
    return m, w, b


def matmul_dispatch(m):
    compiled = compile_graph(import_model(m))
    (region,) = [r for r in compiled.partition.regions if r.kind == "matmul"]
    return lower_matmul(region, compiled.graph).dispatches[0]


@pytest.mark.parametrize("batch,trans_b", [(1, True), (1, False), (3, True)])
def test_gemm_values(batch, trans_b):
    k, n = 2048, 4100
    m, w, b = gemm(batch, k, n, trans_b)
    x = np.random.default_rng(5).standard_normal((batch, k)).astype(np.float32)
    y = load_module(compile_model(m)).main(x)[0]
    np.testing.assert_allclose(y, x @ (w.T if trans_b else w) + b, rtol=1e-4, atol=1e-3)


def test_batch_one_fully_connected_is_the_transposed_product():
    m, _, _ = gemm(1, 2048, 4100, True)
    d = matmul_dispatch(m)
    assert d.operands[0].value == "w" and d.operands[1].value == "x"
    assert d.constants[:4] == (1, 4100, 2048, 1) and d.workgroups[0] > 1
    assert not d.function["body"]["transpose_lhs"] and not d.function["body"]["transpose_rhs"]
    m, _, _ = gemm(1, 2048, 4100, False)        # [K, N] weights: one row, column blocks
    d = matmul_dispatch(m)
    assert d.operands[0].value == "x" and d.workgroups[0] == 4
    assert d.constants[-1] == 1040
