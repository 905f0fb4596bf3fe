"""Elementwise bodies (and copy/fill/transpose, lowered to them): one expression tree per
output, evaluated per item of the iteration space with numpy broadcasting of loads.

Operands are the distinct (binding, perm) loads in first-use order, then the outputs.
Push-constant scalars are read once per call: f32 ones from ``fp``, integer ones from ``p``
after the operand parameters, each in first-use order.

Streaming stores: a body with one f32 or f64 output also gets the streaming-store variant
of its innermost loop (``kernels/streaming.py``, ``skeleton.Stream``), taken by a dispatch
that writes at least ``STREAM_ABOVE`` bytes of output through a unit innermost stride.
Outputs that big are not read back from the cache by the next kernel anyway, and skipping
their read-for-ownership saves a fifth of a fused ``a * b + c``'s memory traffic. Smaller
outputs keep ordinary stores, so the next kernel finds them in the cache.
``STREAM_ABOVE`` [PYREE_NUMBA_STREAM_ABOVE, bytes, read at import; default 48 MiB, 1.5x
the 32 MiB last-level cache of the machine this was measured on] is written into the
kernel source, as is a digest of ``streaming.py``, so both are part of the cache key.
"""

from __future__ import annotations

import hashlib
import os
import pathlib

from .. import ops
from ..ir import Elementwise, Function, Node
from . import skeleton


def _stream_above() -> int:
    value = os.environ.get("PYREE_NUMBA_STREAM_ABOVE", "").strip()
    try:
        return max(int(value), 0) if value else 48 << 20
    except ValueError:
        return 48 << 20


STREAM_ABOVE = _stream_above()
STREAM_TYPES = {"f32": 4, "f64": 8}
_STREAMING_DIGEST = hashlib.sha256(
    (pathlib.Path(__file__).parent.parent / "streaming.py").read_bytes()).hexdigest()[:16]


def kernel_rank(body: Elementwise) -> int:
    return max(1, len(body.shape))


def _walk(node: Node, seen: list, pick):
    for arg in node.args:
        _walk(arg, seen, pick)
    key = pick(node)
    if key is not None and key not in seen:
        seen.append(key)


def loads(body: Elementwise) -> list:
    seen: list = []
    for out in body.outputs:
        _walk(out.value, seen, lambda n: (n.binding, n.perm) if n.op == "load" else None)
    return seen


def operands(body: Elementwise) -> list:
    """[(binding, perm, is_output)] in parameter order."""
    return [(b, perm, False) for b, perm in loads(body)] + \
        [(out.binding, None, True) for out in body.outputs]


def pushes(body: Elementwise) -> tuple[list, list]:
    """(float pushes, integer pushes): lists of (index, type name) in first-use order."""
    seen: list = []
    for out in body.outputs:
        _walk(out.value, seen, lambda n: (n.index, n.type.name) if n.op == "push" else None)
    floats = [s for s in seen if s[1] == "f32"]
    return floats, [s for s in seen if s[1] != "f32"]


def emit(fn: Function) -> tuple[list[str], tuple]:
    body: Elementwise = fn.body
    rank = kernel_rank(body)
    opnds = operands(body)
    floats, ints = pushes(body)
    extra = skeleton.operand_params(rank, len(opnds))
    names: dict = {}
    prelude = []
    for k, key in enumerate(floats):
        names[("push", key)] = f"q{len(names)}"
        prelude.append(f"q{len(names) - 1} = np.float32(fp[{k}])")
    for k, (index, tname) in enumerate(ints):
        names[("push", (index, tname))] = f"q{len(names)}"
        prelude.append(f"q{len(names) - 1} = np.{_int_dtype(tname)}(p[{extra + k}])")
    for j, (binding, perm, out) in enumerate(opnds):
        if not out:
            names[("load", (binding, perm))] = j
    lines: list[str] = []
    temps: dict = {}
    for out in body.outputs:
        value = _emit_node(out.value, fn, names, temps, lines)
        j = next(j for j, o in enumerate(opnds) if o[2] and o[0] == out.binding)
        store = f"np.uint8(1 if {value} else 0)" if out.value.type.kind == "bool" else value
        lines.append(f"b{out.binding}[np.uint64(x{j})] = {store}")
    params = ", ".join([f"b{b.index}" for b in fn.bindings] + ["p", "fp"])
    stream = _stream(fn, opnds, lines)
    extra = () if stream is None else (
        f"# streaming.py {_STREAMING_DIGEST}",
        "from numba import carray",
        "from pyree.modules.hal.kernels.streaming import address, scratch, sfence, "
        "stream_store")
    source = skeleton.header(("fmin", "fmax", "sdiv", "udiv") + _helpers(body), extra)
    source.append(f"def kernel({params}):")
    source += skeleton.items_loop(rank, len(opnds), lines, prelude, stream,
                                  invariant_loads(fn, opnds))
    return source, ()


def invariant_loads(fn: Function, opnds: list) -> frozenset:
    """Operands (indices into ``opnds``) that are loads whose binding dim read along the
    innermost iteration dim is a literal 1 (a broadcast, or an innermost dim of 1 where
    only item 0 exists), or that have no dims at all: their element index does not move
    within a run (spec/executables.md 6.2)."""
    rank = len(fn.body.shape)
    found = set()
    for j, (binding, perm, out) in enumerate(opnds):
        if out or rank == 0:
            continue
        shape = fn.bindings[binding].shape
        if perm is not None:
            dim = shape[perm[rank - 1]]
        elif shape:
            dim = shape[-1]
        else:
            found.add(j)
            continue
        if dim.static() == 1:
            found.add(j)
    return frozenset(found)


def _stream(fn: Function, opnds: list, lines: list[str]):
    """The ``skeleton.Stream`` of a body with one float output, else None. Its body is
    ``lines`` with the (last) store line replaced by a store into the scratch batch."""
    outputs = fn.body.outputs
    if len(outputs) != 1:
        return None
    binding = outputs[0].binding
    etype = fn.bindings[binding].type
    if etype.name not in STREAM_TYPES or outputs[0].value.type != etype:
        return None
    from .. import streaming  # imports numba: only when a kernel is generated

    size = STREAM_TYPES[etype.name]
    value = lines[-1].split(" = ", 1)[1]
    body = tuple(lines[:-1]) + (f"sc[np.uint64(i - u)] = {value}",)
    j = next(j for j, o in enumerate(opnds) if o[2])
    return skeleton.Stream(operand=j, array=f"b{binding}", ctor=etype.ctor, itemsize=size,
                           body=body, above=STREAM_ABOVE,
                           vector_bytes=streaming.VECTOR_BYTES,
                           scratch_items=streaming.SCRATCH_BYTES // size)


def _helpers(body: Elementwise) -> tuple:
    """Runtime helpers beyond the base four that the body's operators call, sorted."""
    seen: list = []
    for out in body.outputs:
        _walk(out.value, seen, lambda n: n.op if n.op in ops.OPS else None)
    return tuple(sorted({h for op in seen for h in ops.OPS[op].helpers}))


def _int_dtype(tname: str) -> str:
    return "uint32" if tname == "ui32" else "int32"


def _emit_node(node: Node, fn, names, temps, lines) -> str:
    if node in temps:
        return temps[node]
    if node.op == "load":
        j = names[("load", (node.binding, node.perm))]
        text = f"b{node.binding}[np.uint64(x{j})]"
        if node.type.kind == "bool":
            text = f"({text} != 0)"
    elif node.op == "push":
        text = names[("push", (node.index, node.type.name))]
    elif node.op == "const":
        text = skeleton.number(node.value, node.type)
    else:
        args = [_emit_node(a, fn, names, temps, lines) for a in node.args]
        fields = dict(zip("abc", args), T=node.type.ctor, W=node.type.bits)
        if node.op == "cast":
            template = ops.cast_template(node.args[0].type.kind, node.type.kind)
        else:
            template = ops.OPS[node.op].template(node.args[-1].type.kind)
            fields["pred"] = ops.PREDICATES.get(node.pred, "")
        text = template.format(**fields)
    name = f"t{len(temps)}"
    temps[node] = name
    lines.append(f"{name} = {text}")
    return name
