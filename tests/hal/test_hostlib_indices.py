"""Host-library ops check data-dependent indices (``hostlib/indices.py``): in range (negative
ones counted from the end) they match the compiler's numpy reference; out of range they are
OUT_OF_RANGE naming the op, the value and its position, never numpy's IndexError."""

from __future__ import annotations

import numpy as np
import pytest

from pyree.status import OutOfRangeError

from .test_hostlib import reference, run_op

X = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
I64 = np.int64

# op, attrs, in-range operands, (operand index, out-of-range indices), expected message
CASES = {
    "gather": ("gather", {"axis": 1}, [X, np.array([[2, -3]], I64)],
               (1, np.array([[0, 3]], I64)), "index 3 at indices[0, 1] is out of range for "
               "axis 1 of size 3 (valid: -3 to 2)"),
    "gather-negative": ("gather", {"axis": 2}, [X, np.array([-4, 3], np.int32)],
                        (1, np.array([-5, 0], np.int32)), "index -5 at indices[0] is out of "
                        "range for axis 2 of size 4"),
    "gather_elements": ("gather_elements", {"axis": 2},
                        [X, np.array([[[3, -1, 0, 2]] * 3] * 2, I64)],
                        (1, np.array([[[0, 0, 0, 0]] * 3, [[0, 0, 4, 0]] * 3], I64)),
                        "index 4 at indices[1, 0, 2] is out of range for axis 2 of size 4"),
    "gather_nd": ("gather_nd", {"batch_dims": 0}, [X, np.array([[1, -1], [0, 2]], I64)],
                  (1, np.array([[1, 0], [0, -4]], I64)), "index -4 at indices[1, 1] is out "
                  "of range for axis 1 of size 3"),
    "gather_nd-batch": ("gather_nd", {"batch_dims": 1}, [X, np.array([[2], [-1]], I64)],
                        (1, np.array([[2], [3]], I64)), "index 3 at indices[1, 0] is out of "
                        "range for axis 1 of size 3"),
    "scatter_elements": ("scatter_elements", {"axis": 0, "reduction": "add"},
                         [X, np.array([[[1, -1, 0, 1]] * 3], I64),
                          np.ones((1, 3, 4), np.float32)],
                         (1, np.array([[[1, 2, 0, 1]] * 3], I64)),
                         "index 2 at indices[0, 0, 1] is out of range for axis 0 of size 2"),
    "scatter_nd": ("scatter_nd", {"reduction": "none"},
                   [X, np.array([[1, -3]], I64), np.ones((1, 4), np.float32)],
                   (1, np.array([[-3, 0]], I64)), "index -3 at indices[0, 0] is out of range "
                   "for axis 0 of size 2"),
    "reverse_sequence": ("reverse_sequence", {"batch_axis": 0, "time_axis": 1},
                         [X, np.array([3, 0], I64)], (1, np.array([1, 4], I64)),
                         "length 4 at sequence_lens[1] is out of range for time axis 1 of "
                         "size 3 (valid: 0 to 3)"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_indices_in_range_match_the_reference(case):
    op, attrs, arrays, _, _ = CASES[case]
    expected = reference(op, attrs, *arrays)
    got = run_op(op, attrs, arrays, [(e.dtype, e.shape) for e in expected])
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("case", sorted(CASES))
def test_out_of_range_indices_are_out_of_range_naming_op_and_index(case):
    op, attrs, arrays, (k, bad), message = CASES[case]
    arrays = list(arrays)
    arrays[k] = bad
    results = [(e.dtype, e.shape) for e in reference(op, attrs, *CASES[case][2])]
    with pytest.raises(OutOfRangeError) as info:
        run_op(op, attrs, arrays, results)
    text = str(info.value)
    assert text.startswith("OUT_OF_RANGE; ") and f"'f' ({op}): {message}" in text, text


def test_one_hot_out_of_range_index_is_an_all_off_row_not_an_error():
    """ONNX OneHot: an index outside [-depth, depth - 1] selects no position."""
    values = np.array([0, 1], np.float32)
    (got,) = run_op("one_hot", {"depth": 3, "axis": 1}, [np.array([1, -1, 3, -4], I64),
                                                         values], [(np.float32, (4, 3))])
    assert got.tolist() == [[0, 1, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0]]
