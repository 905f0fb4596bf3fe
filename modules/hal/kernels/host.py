"""Running host-library ``op`` bodies: the dispatch plan (extents) and the runner that
stands where a numba kernel would (``runner(fn)(*typed_arrays, params, fparams)``).

An op body has one item, the whole op: workgroup 0 computes it; a grid without
workgroups computes nothing (and needs no bytes). Every binding the op names must hold
its whole view: ``(offset + sum((dim - 1) * stride) + 1) * itemsize`` bytes (0 when a dim
is 0), the generic extent rule that ``Executable.dispatch`` checks before the runner sees
an array. The runner views each binding (zero-copy, read-only for inputs), converts
storage to the numpy type the op computes in (``i1`` bytes to ``bool``, ``bf16`` bits to
``ml_dtypes.bfloat16``), calls the op, and only after every result exists writes the
results into the output views, so outputs may alias inputs.
"""

from __future__ import annotations

import numpy as np

from pyree.status import InternalError

from . import hostlib
from .hostlib import dtypes as host_dtypes
from .ir import Function, OpBody


def _compute_dtype(etype) -> np.dtype:
    if etype.kind == "bool":
        return np.dtype(np.bool_)
    from .host_format import ir_dtype

    return host_dtypes.NUMPY.get(ir_dtype(etype), etype.np_dtype)


def view_extent(shape, strides, offset) -> int:
    """Elements a binding view spans from the start of its range (0 if it is empty)."""
    if any(d == 0 for d in shape):
        return 0
    if strides is None:
        top = 1
        for d in shape:
            top *= d
        return offset + top
    return offset + sum((d - 1) * s for d, s in zip(shape, strides)) + 1


def required_bytes(fn: Function, body: OpBody, push, consts, covered: bool) -> tuple:
    """Bytes every binding must hold for a dispatch (all zero when nothing runs)."""
    from .layout import view

    required = [0] * len(fn.bindings)
    if not covered:
        return tuple(required)
    named = {i for i in body.inputs + body.outputs if i is not None}
    for index in named:
        b = fn.bindings[index]
        shape, strides, offset = view(fn, b, push, consts)
        required[index] = view_extent(shape, strides if b.strides is not None else None,
                                      offset) * b.type.itemsize
    return tuple(required)


def _views(fn: Function, named, arrays):
    """Per binding the op names: its ndarray view in the storage dtype (else None)."""
    out = []
    for b, raw in zip(fn.bindings, arrays):
        if b.index not in named:
            out.append(None)
            continue
        shape = tuple(e.static() for e in b.shape)
        offset = b.offset.static()
        size = raw.itemsize
        if b.strides is None:
            n = 1
            for d in shape:
                n *= d
            v = raw[offset:offset + n].reshape(shape)
        else:
            strides = tuple(e.static() * size for e in b.strides)
            base = raw[offset:] if offset < raw.shape[0] else raw[:0]
            if any(d == 0 for d in shape):
                v = np.empty(shape, raw.dtype)
            else:
                v = np.lib.stride_tricks.as_strided(base, shape, strides,
                                                    writeable=b.writable)
        out.append(v)
    return out


def runner(fn: Function):
    """The callable that executes ``fn``'s op body on its bindings' typed arrays."""
    body = fn.body
    op = hostlib.OPS[body.op]
    call = hostlib.OpCall(body.op, dict(body.attrs), f"executable function '{fn.name}'")
    compute = [_compute_dtype(b.type) for b in fn.bindings]
    bindings = fn.bindings
    named = {i for i in body.inputs + body.outputs if i is not None}

    def run(*args):
        views = _views(fn, named, args[:len(bindings)])
        inputs = []
        for index in body.inputs:
            if index is None:
                inputs.append(None)
                continue
            v = views[index]
            dtype = compute[index]
            if dtype == np.bool_:
                v = v != 0
            elif dtype != v.dtype:
                v = v.view(dtype)
            if v.flags.writeable:
                v = v.view()
                v.flags.writeable = False
            inputs.append(v)
        while inputs and inputs[-1] is None:
            inputs.pop()
        with np.errstate(all="ignore"):
            results = op.run(call, *inputs)
        if not isinstance(results, (tuple, list)):
            results = (results,)
        staged = []
        for index, result in zip(body.outputs, results):
            if index is None:
                continue
            target = views[index]
            result = np.asarray(result)
            if result.shape != target.shape:
                raise InternalError(f"{call.describe()}: result has shape "
                                    f"{list(result.shape)}, binding {index} is "
                                    f"{list(target.shape)}")
            staged.append((target, np.array(result, dtype=compute[index], copy=True)))
        for target, result in staged:
            if result.dtype == np.bool_ or result.dtype == target.dtype:
                target[...] = result
            else:                       # same width: store the bits
                target[...] = result.view(target.dtype)

    return run
