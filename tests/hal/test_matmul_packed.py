"""A matmul whose rhs is prepacked (spec/executables.md 6.4, ``rhs_packed``;
``kernels/panels.py``): products match numpy and the unpacked dispatch bit for bit, in
column blocks and against a batched lhs; the packed shape, the transposition and the
column blocks are validated before any kernel runs."""

from __future__ import annotations

import numpy as np
import pytest
from pyree.modules.hal import executable_format as fmt
from pyree.modules.hal.executable import Executable
from pyree.modules.hal.kernels import panels

from pyree.status import InvalidArgumentError, OutOfRangeError

PCS = [{"pc": i} for i in range(7)]


def _function(dtype: str, packed: bool, **body):
    """lhs [B, M, K], rhs [P, K, NR] (packed) or [K, N], out [B, M, N]; push constants
    B, M, K, N, rows per workgroup, column_block, P."""
    nr = panels.width(4 if dtype == "f32" else 8)
    rhs = [PCS[6], PCS[2], nr] if packed else [PCS[2], PCS[3]]
    return {"name": "mm", "push_constants": ["B", "M", "K", "N", "rows", "cb", "P"],
            "bindings": [
                {"index": 0, "type": dtype, "access": "read", "shape": [PCS[0], PCS[1], PCS[2]]},
                {"index": 1, "type": dtype, "access": "read", "shape": rhs},
                {"index": 2, "type": dtype, "access": "write",
                 "shape": [PCS[0], PCS[1], PCS[3]]}],
            "items_per_workgroup": PCS[4],
            "body": {"kind": "matmul", "lhs": 0, "rhs": 1, "out": 2, "column_block": PCS[5],
                     **({"rhs_packed": True} if packed else {}), **body}}


def _exe(dtype, packed=True, **body):
    data = fmt.serialize({"version": 1, "functions": [_function(dtype, packed, **body)]})
    return Executable.create(fmt.FORMAT, data)


def _u8(a):
    return np.ascontiguousarray(a).reshape(-1).view(np.uint8)


def _dispatch(exe, a, rhs, out, rows, cb, count, n=None):
    b, m, k = a.shape
    n = out.shape[2] if n is None else n
    items = b * m * -(-n // cb)
    exe.dispatch(0, (-(-items // rows), 1, 1), (b, m, k, n, rows, cb, count),
                 [_u8(a), _u8(rhs), _u8(out)])


@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("batch, m, k, n, rows, cb", [
    (1, 64, 784, 128, 64, 64),      # the MLP's first Gemm: two column blocks
    (1, 13, 300, 37, 5, 37),        # row workgroups, a column tail
    (3, 9, 20, 40, 4, 16),          # a batched lhs against one packed matrix, 3 blocks
    (2, 1, 7, 5, 1, 5),
])
def test_packed_products_match_the_unpacked_dispatch(dtype, batch, m, k, n, rows, cb):
    np_type = np.float32 if dtype == "f32" else np.float64
    rng = np.random.default_rng(m * n + k)
    a = rng.standard_normal((batch, m, k)).astype(np_type)
    b = rng.standard_normal((k, n)).astype(np_type)
    packed = panels.pack(b)
    got = np.full((batch, m, n), np.nan, np_type)
    _dispatch(_exe(dtype), a, packed, got, rows, cb, packed.shape[0])
    want = np.full((batch, m, n), np.nan, np_type)
    _dispatch(_exe(dtype, packed=False), a, b, want, rows, cb, 0)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(got, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)


def test_the_description_is_validated():
    with pytest.raises(InvalidArgumentError, match="rhs_packed.*not transposed"):
        _exe("f32", transpose_rhs=True)
    function = _function("f32", True)
    function["bindings"][1]["shape"] = [PCS[2], PCS[3]]
    with pytest.raises(InvalidArgumentError, match="packed rhs is \\[panels, K, panel width\\]"):
        Executable.create(fmt.FORMAT, fmt.serialize({"version": 1, "functions": [function]}))
    with pytest.raises(InvalidArgumentError, match="rhs_packed"):
        _exe("f32", rhs_packed="yes")


def test_the_packed_shape_and_column_blocks_are_checked_at_dispatch():
    exe = _exe("f32")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((1, 8, 5)).astype(np.float32)
    packed = panels.pack(rng.standard_normal((5, 40)).astype(np.float32))   # 3 panels
    out = np.zeros((1, 8, 40), np.float32)
    with pytest.raises(InvalidArgumentError, match="40 columns are 3 panels of 16"):
        _dispatch(exe, a, packed, out, 8, 40, 2)
    wide = _function("f64", True)       # f64 panels are 8 wide, not 16
    wide["bindings"][1]["shape"][2] = 16
    wide = Executable.create(fmt.FORMAT, fmt.serialize({"version": 1, "functions": [wide]}))
    with pytest.raises(InvalidArgumentError, match="is 3x5x16; 40 columns are 5 panels of 8"):
        _dispatch(wide, a.astype(np.float64), packed.astype(np.float64),
                  out.astype(np.float64), 8, 40, 3)
    with pytest.raises(InvalidArgumentError, match="column_block 20 .* panel width 16"):
        _dispatch(exe, a, packed, out, 8, 20, 3)
    with pytest.raises(OutOfRangeError, match="binding 1"):
        exe.dispatch(0, (1, 1, 1), (1, 8, 5, 40, 8, 40, 3),
                     [_u8(a), _u8(packed)[:-4], _u8(out)])
    assert not out.any()                     # nothing ran
    _dispatch(exe, a, packed, out, 8, 40, 3)
    np.testing.assert_allclose(out[0], a[0] @ packed.transpose(1, 0, 2).reshape(5, 48)[:, :40],
                               rtol=1e-5, atol=1e-5)
