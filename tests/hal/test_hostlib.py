"""Host-library ``op`` bodies (spec/executables.md section 8): load-time rejections naming
the JSON path, the generic extent rule, and a sample of ops run through an executable
against the compiler's numpy references."""

from __future__ import annotations

import copy

import ml_dtypes
import numpy as np
import pytest
from pyree.compiler.ir import Attributes, Node
from pyree.compiler.ops import OPS as IR_OPS
from pyree.modules.hal import executable_format as fmt
from pyree.modules.hal.executable import Executable
from pyree.modules.hal.kernels import hostlib

from pyree.status import InvalidArgumentError, OutOfRangeError

FORMAT = "pyree-kernels-v1"
NP_TO_TYPE = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64",
              np.dtype(np.float16): "f16", np.dtype(ml_dtypes.bfloat16): "bf16",
              np.dtype(np.int64): "i64", np.dtype(np.int32): "i32", np.dtype(np.int8): "i8",
              np.dtype(np.uint8): "ui8", np.dtype(np.uint64): "ui64",
              np.dtype(np.bool_): "i1"}


def function(op, attrs, in_types, out_types, inputs=None, outputs=None):
    bindings = []
    for t in in_types:
        bindings.append({"index": len(bindings), "type": t[0], "access": "read",
                         "shape": list(t[1])})
    for t in out_types:
        bindings.append({"index": len(bindings), "type": t[0], "access": "write",
                         "shape": list(t[1])})
    n = len(in_types)
    return {"name": "f", "bindings": bindings, "items_per_workgroup": 1,
            "body": {"kind": "op", "op": op, "attrs": attrs,
                     "inputs": list(range(n)) if inputs is None else inputs,
                     "outputs": list(range(n, n + len(out_types))) if outputs is None
                     else outputs}}


def create(fn) -> Executable:
    return Executable.create(FORMAT, fmt.serialize({"version": 1, "functions": [fn]}))


def raw(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).reshape(-1).view(np.uint8).copy()


def run_op(op, attrs, arrays, results):
    """Runs ``op`` on ``arrays`` through an executable; ``results``: [(dtype, shape)]."""
    types = [(NP_TO_TYPE[a.dtype], a.shape) for a in arrays]
    out_types = [(NP_TO_TYPE[np.dtype(d)], s) for d, s in results]
    exe = create(function(op, {k: hostlib.to_json(v) for k, v in attrs.items()}, types,
                          out_types))
    bufs = [raw(a.astype(np.uint8) if a.dtype == np.bool_ else a) for a in arrays]
    outs = [np.full(int(np.prod(s)) * np.dtype(d).itemsize, 0xA5, np.uint8)
            for d, s in results]
    exe.dispatch(0, (1, 1, 1), (), bufs + outs)
    return [o.view(np.uint8 if np.dtype(d) == np.bool_ else d).reshape(s).astype(d)
            for o, (d, s) in zip(outs, results)]


def reference(op, attrs, *arrays):
    out = IR_OPS[op].reference(Node(op, (), (), Attributes.of(attrs)), *arrays)
    return [np.asarray(o) for o in (out if isinstance(out, (tuple, list)) else (out,))]


TRANSPOSE = function("transpose", {"perm": [1, 0]}, [("f32", (2, 3))], [("f32", (3, 2))])


def _set(path, value):
    def mutate(fn):
        target = fn
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


REJECTIONS = {
    "unknown-op": (_set(("body", "op"), "transpose2"), "body.op", "unknown host-library op"),
    "unknown-attr": (_set(("body", "attrs", "axis"), 1), "body.attrs.axis",
                     "unknown attribute"),
    "attr-type": (_set(("body", "attrs", "perm"), "10"), "body.attrs.perm",
                  "expected a list of integers"),
    "attr-element": (_set(("body", "attrs", "perm"), [1, 0.5]), "body.attrs.perm[1]",
                     "expected an integer"),
    "attr-bool-is-not-int": (_set(("body", "attrs", "perm"), [True, 0]),
                             "body.attrs.perm[0]", "expected an integer"),
    "result-shape": (_set(("bindings", 1, "shape"), [2, 3]), "body.outputs[0]",
                     "op 'transpose' produces tensor<3x2xf32>"),
    "result-type": (_set(("bindings", 1, "type"), "f64"), "body.outputs[0]",
                    "produces tensor<3x2xf32>"),
    "infer-rejects": (_set(("body", "attrs", "perm"), [0, 0, 1]), "body",
                      "op 'transpose'"),
    "input-not-readable": (_set(("bindings", 0, "access"), "write"), "body.inputs[0]",
                           "not readable"),
    "output-twice": (_set(("body", "outputs"), [1, 1]), "body.outputs", "written twice"),
    "binding-range": (_set(("body", "inputs"), [7]), "body.inputs[0]", "out of range"),
    "push-constants": (_set(("bindings", 0, "shape"), [{"pc": 0}, 3]),
                       "body", "op bodies take no push constants"),
    "unknown-field": (_set(("body", "code"), "import os"), "body.'code'", "unknown field"),
}


@pytest.mark.parametrize("case", sorted(REJECTIONS))
def test_malformed_op_body_is_invalid_argument_naming_the_path(case):
    mutate, path, words = REJECTIONS[case]
    fn = copy.deepcopy(TRANSPOSE)
    if case == "push-constants":
        fn["push_constants"] = ["n"]
    mutate(fn)
    with pytest.raises(InvalidArgumentError) as info:
        create(fn)
    message = str(info.value)
    assert "executable function 'f'" in message and path in message and words in message, \
        message


def test_sizes_from_executable_constants_are_refused():
    fn = copy.deepcopy(TRANSPOSE)
    fn["bindings"][0]["shape"] = [{"ec": 0}, 3]
    data = fmt.serialize({"version": 1, "constants": 1, "functions": [fn]})
    with pytest.raises(InvalidArgumentError, match=r"inputs\[0\] \(binding 0\).shape\[0\]: "
                                                   "op bodies need static sizes"):
        Executable.create(FORMAT, data, [2])


def test_host_only_types_are_rejected_outside_op_bodies():
    fn = {"name": "f", "items_per_workgroup": 1,
          "bindings": [{"index": 0, "type": "f16", "access": "read", "shape": [2]},
                       {"index": 1, "type": "f16", "access": "write", "shape": [2]}],
          "body": {"kind": "copy", "source": 0, "target": 1}}
    with pytest.raises(InvalidArgumentError, match=r"bindings\[0\].type: unknown element"):
        create(fn)


def test_slices_attribute_is_checked():
    fn = function("slice", {"slices": [[0, 2, 0]]}, [("f32", (4,))], [("f32", (2,))])
    with pytest.raises(InvalidArgumentError, match=r"body.attrs.slices\[0\]\[2\]: slice step 0"):
        create(fn)
    fn["body"]["attrs"]["slices"] = [[3, None, -2]]
    exe = create(fn)
    out = np.zeros(8, np.uint8)
    exe.dispatch(0, (1, 1, 1), (), [raw(np.arange(4, dtype=np.float32)), out])
    assert out.view(np.float32).tolist() == [3.0, 1.0]


def test_extents_are_checked_before_the_op_runs():
    exe = create(TRANSPOSE)
    x = raw(np.arange(6, dtype=np.float32).reshape(2, 3))
    out = np.full(24, 7, np.uint8)
    reqs = exe.validate_dispatch(0, (1, 1, 1), ())
    assert reqs.required_bytes == (24, 24)
    with pytest.raises(OutOfRangeError, match="binding 1 .* needs 24 bytes .* has 20"):
        exe.dispatch(0, (1, 1, 1), (), [x, out[:20]])
    assert (out == 7).all()          # nothing was written
    with pytest.raises(OutOfRangeError, match="binding 0 .* needs 24 bytes"):
        exe.dispatch(0, (1, 1, 1), (), [x[:23], out])
    # No workgroup: nothing runs and nothing is required.
    assert exe.validate_dispatch(0, (0, 1, 1), ()).required_bytes == (0, 0)
    exe.dispatch(0, (0, 1, 1), (), [x[:0], out[:0]])


def test_strided_and_offset_views_need_their_whole_span():
    fn = function("transpose", {"perm": [1, 0]}, [("f32", (2, 3))], [("f32", (3, 2))])
    fn["bindings"][0].update(strides=[8, 2], offset=1)   # every other element of a 2x8
    exe = create(fn)
    assert exe.validate_dispatch(0, (1, 1, 1), ()).required_bytes[0] == (1 + 8 + 4 + 1) * 4
    src = np.arange(16, dtype=np.float32)
    out = np.zeros(24, np.uint8)
    with pytest.raises(OutOfRangeError):
        exe.dispatch(0, (1, 1, 1), (), [raw(src)[:55], out])
    exe.dispatch(0, (1, 1, 1), (), [raw(src), out])
    expected = src[1:].reshape(-1)[:15]
    expected = np.lib.stride_tricks.as_strided(src[1:], (2, 3), (32, 8)).T
    assert np.array_equal(out.view(np.float32).reshape(3, 2), expected)


def test_outputs_may_alias_inputs():
    fn = function("neg", {}, [("f32", (4,))], [("f32", (4,))])
    exe = create(fn)
    buf = raw(np.arange(4, dtype=np.float32))
    exe.dispatch(0, (1, 1, 1), (), [buf, buf])
    assert buf.view(np.float32).tolist() == [0.0, -1.0, -2.0, -3.0]


RNG = np.random.default_rng(0)
F = RNG.standard_normal((2, 3, 5, 5)).astype(np.float32)

SAMPLES = {
    "lrn": ("lrn", {"size": 3, "alpha": 1e-4, "beta": 0.75, "bias": 1.0}, [F]),
    "conv": ("conv", {"kernel": (3, 3), "strides": (1, 1), "pads": (1, 1, 1, 1),
                      "dilations": (1, 1), "group": 1},
             [F, RNG.standard_normal((4, 3, 3, 3)).astype(np.float32)]),
    "max_pool": ("max_pool", {"kernel": (2, 2), "strides": (2, 2), "pads": (0, 0, 0, 0),
                              "dilations": (1, 1), "ceil_mode": 0, "storage_order": 0}, [F]),
    "instance_norm": ("instance_norm", {"epsilon": 1e-5},
                      [F, np.ones(3, np.float32), np.zeros(3, np.float32)]),
    "gather": ("gather", {"axis": 1}, [F, np.array([2, 0], np.int64)]),
    "concat": ("concat", {"axis": 1}, [F, F[:, :1]]),
    "slice": ("slice", {"slices": ((0, 2, 1), (2, None, -1), (0, 5, 2), (1, 4, 1))}, [F]),
    "pad": ("pad", {"pads": (0, 0, 1, -1, 0, 0, 2, 1), "mode": "reflect"},
            [F, np.zeros((), np.float32)]),
    "f16-add": ("add", {}, [F.astype(np.float16), F[0].astype(np.float16)]),
    "bf16-sigmoid": ("sigmoid", {}, [F.astype(ml_dtypes.bfloat16)]),
    "cast-to-i1": ("cast", {"to": "i1", "saturate": 1}, [np.round(F)]),
    "i1-and": ("and", {}, [F > 0, F < 1]),
    "int-matmul": ("matmul", {"transpose_a": 0, "transpose_b": 0},
                   [np.arange(6, dtype=np.int32).reshape(2, 3),
                    np.arange(12, dtype=np.int32).reshape(3, 4)]),
    "top_k": ("top_k", {"k": 2, "axis": -1, "largest": 1, "sorted": 1}, [F]),
    "layer_norm": ("layer_norm", {"axis": 3, "epsilon": 1e-5, "stash_type": "f32"},
                   [F, np.ones(5, np.float32), np.zeros(5, np.float32)]),
    "reduce_sum": ("reduce_sum", {"axes": (1, 3), "keepdims": 0}, [F]),
    "einsum": ("einsum", {"equation": "nchw,nchw->nc"}, [F, F]),
}


@pytest.mark.parametrize("case", sorted(SAMPLES))
def test_op_matches_the_compiler_reference(case):
    op, attrs, arrays = SAMPLES[case]
    with np.errstate(all="ignore"):
        expected = reference(op, attrs, *arrays)
    got = run_op(op, attrs, arrays, [(e.dtype, e.shape) for e in expected])
    for e, g in zip(expected, got):
        assert g.dtype == e.dtype and g.shape == e.shape
        np.testing.assert_allclose(g.astype(np.float64), e.astype(np.float64), rtol=1e-6)


def test_every_ir_op_has_a_host_library_row():
    assert set(IR_OPS) <= set(hostlib.OPS)
    assert set(hostlib.SCHEMAS) <= set(hostlib.OPS)


def test_host_bodies_import_neither_the_compiler_nor_numba():
    import subprocess
    import sys

    code = """
import sys
import numpy as np
from pyree.modules.hal import executable_format as fmt
from pyree.modules.hal.executable import Executable
fn = {"name": "f", "items_per_workgroup": 1,
      "bindings": [{"index": 0, "type": "f32", "access": "read", "shape": [3]},
                   {"index": 1, "type": "f32", "access": "write", "shape": [3]}],
      "body": {"kind": "op", "op": "softmax", "attrs": {"axis": 0},
               "inputs": [0], "outputs": [1]}}
exe = Executable.create("pyree-kernels-v1", fmt.serialize({"version": 1, "functions": [fn]}))
out = np.zeros(12, np.uint8)
exe.dispatch(0, (1, 1, 1), (), [np.zeros(3, np.float32).view(np.uint8), out])
assert np.allclose(out.view(np.float32), 1 / 3)
bad = sorted(m for m in sys.modules if m.startswith(("pyree.compiler", "numba")))
assert not bad, bad
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr


def test_non_finite_attributes_travel_as_strings():
    attrs = {"dtype": "f32", "shape": (2, 2), "value": float("-inf")}
    assert hostlib.to_json(attrs["value"]) == "-inf"
    (got,) = run_op("fill", attrs, [], [(np.float32, (2, 2))])
    assert (got == -np.inf).all()
    (got,) = run_op("leaky_relu", {"alpha": float("nan")},
                    [np.array([-1.0, 2.0], np.float32)], [(np.float32, (2,))])
    assert np.isnan(got[0]) and got[1] == 2.0


@pytest.mark.parametrize("dtype", [np.uint64, np.uint8, np.int64, np.int32, np.bool_,
                                   np.float32])
def test_top_k_largest_orders_every_value_with_ties_in_index_order(dtype):
    """Descending, ties by index, at the ends of the integer ranges too (a negated key
    wraps: 0 would sort as the largest unsigned value, INT_MIN as the largest int)."""
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is not None:
        row = [0, 3, info.min, info.max, 3, 1]
    elif dtype is np.bool_:
        row = [False, True, False, True, True, False]
    else:
        row = [0.0, 3.0, -np.inf, np.inf, 3.0, -0.5]
    x = np.array([row, row[::-1]], dtype)
    order = [sorted(range(6), key=lambda i, r=r: (-float(r[i]), i)) for r in (row, row[::-1])]
    want_idx = np.array([o[:4] for o in order], np.int64)
    attrs = {"k": 4, "axis": 1, "largest": 1, "sorted": 1}
    values, idx = run_op("top_k", attrs, [x], [(x.dtype, (2, 4)), (np.int64, (2, 4))])
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(values, np.take_along_axis(x, want_idx, 1))
    smallest = run_op("top_k", {**attrs, "largest": 0}, [x],
                      [(x.dtype, (2, 4)), (np.int64, (2, 4))])[1]
    asc = [sorted(range(6), key=lambda i, r=r: (float(r[i]), i))[:4] for r in (row, row[::-1])]
    np.testing.assert_array_equal(smallest, np.array(asc, np.int64))
