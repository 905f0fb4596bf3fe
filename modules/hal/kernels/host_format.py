"""Parsing and load-time checking of host-library ``op`` bodies (spec/executables.md,
"Host library bodies").

``{"kind": "op", "op": NAME, "attrs": {...}, "inputs": [k | null, ...],
"outputs": [k | null, ...]}``: the op must be a row of ``hostlib.OPS``; its attributes are
validated against the row's schema; every binding it names must have a static shape,
strides and offset; and the output bindings' types and shapes must be exactly what the
op's own inference derives from the input bindings. Everything fails with
INVALID_ARGUMENT naming the JSON path. Pure Python (numpy), no numba.
"""

from __future__ import annotations

from pyree.status import PyreeError

from . import hostlib
from .ir import OpBody

MAX_OPERANDS = 32


def ir_dtype(etype) -> str:
    """The host-library type name of a binding type (``si32`` reads as ``i32``)."""
    if etype.kind == "bool":
        return "i1"
    if etype.kind == "sint":
        return f"i{etype.bits}"
    if etype.kind == "uint":
        return f"ui{etype.bits}"
    return etype.name


def static_view(chk, binding, path: str):
    """(shape, strides or None, offset) of a binding whose sizes are all literals."""
    def value(expr, what):
        v = expr.static()
        if v is None:
            chk.fail(f"{path}.{what}", "op bodies need static sizes (no push or executable "
                                       "constants)")
        return v

    shape = tuple(value(e, f"shape[{k}]") for k, e in enumerate(binding.shape))
    strides = None if binding.strides is None else tuple(
        value(e, f"strides[{k}]") for k, e in enumerate(binding.strides))
    return shape, strides, value(binding.offset, "offset")


def parse_op_body(chk, raw, path: str, bindings: tuple, push_count: int) -> OpBody:
    chk.obj(raw, path, ("kind", "op", "inputs", "outputs"), ("attrs",))
    op = chk.choice(raw["op"], path + ".op", hostlib.OPS, "host-library op")
    attrs = hostlib.check_attrs(chk, op, raw.get("attrs", {}), path + ".attrs")
    if push_count:
        chk.fail(path, "op bodies take no push constants")
    inputs = _refs(chk, raw["inputs"], path + ".inputs", bindings, "read")
    outputs = _refs(chk, raw["outputs"], path + ".outputs", bindings, "write")
    written = [o for o in outputs if o is not None]
    if not written:
        chk.fail(path + ".outputs", "an op body writes at least one binding")
    if len(set(written)) != len(written):
        chk.fail(path + ".outputs", "a binding is written twice")
    types = []
    for k, index in enumerate(inputs):
        if index is None:
            types.append(None)
            continue
        b = bindings[index]
        shape, _, _ = static_view(chk, b, f"{path}.inputs[{k}] (binding {index})")
        types.append(hostlib.TensorType(ir_dtype(b.type), shape))
    while types and types[-1] is None:
        types.pop()
    call = hostlib.OpCall(op, attrs, f"executable function '{chk.function}'")
    try:
        results = hostlib.OPS[op].infer(call, types)
    except PyreeError as exc:
        chk.fail(path, f"op '{op}' rejects its operands: {exc}")
    except Exception as exc:  # noqa: BLE001 - missing attributes, wrong operand count...
        chk.fail(path, f"op '{op}' cannot infer its results from these operands and "
                       f"attributes: {type(exc).__name__}: {exc}")
    if len(outputs) > len(results):
        chk.fail(path + ".outputs", f"op '{op}' has {len(results)} result(s), "
                                    f"{len(outputs)} outputs given")
    for k, (index, want) in enumerate(zip(outputs, results)):
        if index is None:
            continue
        b = bindings[index]
        shape, _, _ = static_view(chk, b, f"{path}.outputs[{k}] (binding {index})")
        got = hostlib.TensorType(ir_dtype(b.type), shape)
        if got != want:
            chk.fail(f"{path}.outputs[{k}]", f"binding {index} is {got}, op '{op}' "
                                             f"produces {want}")
    for index in set(written) | {i for i in inputs if i is not None}:
        static_view(chk, bindings[index], f"{path} (binding {index})")
    return OpBody(op, tuple(sorted(attrs.items())), inputs, outputs)


def _refs(chk, raw, path, bindings, access):
    if not isinstance(raw, list) or len(raw) > MAX_OPERANDS:
        chk.fail(path, f"expected a list of at most {MAX_OPERANDS} binding indices or null")
    out = []
    for k, v in enumerate(raw):
        if v is None:
            out.append(None)
            continue
        index = chk.int_(v, f"{path}[{k}]", 0, len(bindings) - 1) if bindings else \
            chk.fail(f"{path}[{k}]", "function has no bindings")
        b = bindings[index]
        ok = b.readable if access == "read" else b.writable
        if not ok:
            chk.fail(f"{path}[{k}]", f"binding {index} is '{b.access}', not "
                                     f"{'readable' if access == 'read' else 'writable'}")
        out.append(index)
    return tuple(out)
