"""HAL programs for fuzzing: buffers, command-buffer operations and the kernels they dispatch.

A :class:`HalProgram` is plain data (``attrs.frozen`` records, JSON round trip through
:func:`encode` / :func:`decode`): a driver, a few buffers (:class:`BufferSpec`), the mode
and categories of the first command buffer, and a list of operations. Operations name
buffers by their index in ``buffers``, or binding-table slots by negative indices (``-1`` is
slot 0, see :func:`slot`) resolved against the table of the :class:`Submit`; offsets and lengths are ``I`` values (``-1`` is
WHOLE_BUFFER, other negative values are huge unsigned sizes). Nothing here imports the HAL:
:mod:`pyree.testing.hal_strategies` draws programs, :mod:`pyree.testing.hal_model` predicts
what a device must do with them, and ``pyree.modules.hal.fuzz_runner`` runs them.

Recording operations (:class:`Fill`, :class:`Update`, :class:`Copy`, :class:`Dispatch`,
:class:`Barrier`, :class:`BeginGroup`, :class:`EndGroup`, :class:`Begin`,
:class:`Finalize`) go to the current command buffer; :class:`Create` replaces it (the host
drops the old one); :class:`Submit` is ``queue_execute`` (``gated`` on ``local-task``:
held behind a host fence until the next :class:`Flush` or submission); :class:`Drop` drops
the host's reference to a buffer (later operations naming it are skipped); :class:`Churn`
allocates and fills blocks that freed memory would be reused for; :class:`Dealloca` is
``queue_dealloca``.

:data:`KERNELS` is the executable every dispatch uses (``pyree-kernels-v1``): an
elementwise ``add_f32``, a ``copy_i32``, a row ``sum_f32`` reduction, a ``matmul_f32`` and a
``matmul_packed_f32`` (its rhs prepacked as ``[p, k, 16]`` panels, ``rhs_packed`` in
``spec/executables.md`` 6.4), all sized by push constants. Stored programs name kernels by
index: new kernels go at the end.
"""

from __future__ import annotations

import json

import attrs

WHOLE = -1
DRIVERS = ("local-sync", "local-task")
KINDS = ("device", "readonly", "transfer", "host")


@attrs.frozen
class BufferSpec:
    """``kind``: ``device`` (DEVICE_LOCAL, DEFAULT usage), ``readonly`` (READ access only),
    ``transfer`` (TRANSFER usage only: no dispatch), ``host`` (HOST_LOCAL: not device
    visible). The initial contents are drawn from ``seed``."""

    size: int
    kind: str = "device"
    seed: int = 0


# -- operations ----------------------------------------------------------------------------

OPS: dict[str, type] = {}


def _op(cls):
    cls = attrs.frozen(cls)
    OPS[cls.__name__.lower()] = cls
    return cls


@_op
class Fill:
    buffer: int
    offset: int
    length: int
    pattern: int
    pattern_length: int = 1


@_op
class Update:
    data: bytes
    source_offset: int
    buffer: int
    offset: int
    length: int


@_op
class Copy:
    source: int
    source_offset: int
    target: int
    target_offset: int
    length: int


@_op
class Dispatch:
    function: int
    workgroups: tuple
    push: tuple
    bindings: tuple         # ((buffer, offset, length), ...)


@_op
class Barrier:
    pass


@_op
class BeginGroup:
    label: str = "group"


@_op
class EndGroup:
    pass


@_op
class Begin:
    pass


@_op
class Finalize:
    pass


@_op
class Submit:
    gated: bool = False
    table: tuple | None = None      # binding table: ((buffer | None, offset, length), ...)


@_op
class Flush:
    pass


@_op
class Create:
    mode: int = 0
    categories: int = 3
    capacity: int = 0               # binding capacity (indirect references)


@_op
class Drop:
    buffer: int


@_op
class Churn:
    pass


@_op
class Dealloca:
    buffer: int


RECORDING = (Fill, Update, Copy, Dispatch, Barrier, BeginGroup, EndGroup, Begin, Finalize)


def slot(b: int) -> int | None:
    """The binding-table slot a negative buffer index names (``-1`` is slot 0), else None."""
    return -b - 1 if b < 0 else None


def buffers_of(op) -> tuple:
    """Indices of the buffers an operation names (not binding-table slots)."""
    if isinstance(op, Dispatch):
        names = tuple(b for b, _, _ in op.bindings)
    elif isinstance(op, Copy):
        names = (op.source, op.target)
    elif isinstance(op, (Fill, Update, Drop, Dealloca)):
        names = (op.buffer,)
    elif isinstance(op, Submit) and op.table:
        names = tuple(b for b, _, _ in op.table if b is not None)
    else:
        names = ()
    return tuple(b for b in names if b >= 0)


@attrs.frozen
class HalProgram:
    driver: str
    buffers: tuple          # BufferSpec, ...
    ops: tuple
    mode: int = 0
    categories: int = 3
    hook: str | None = None  # test-only worker hooks (abort, segfault, hang)
    capacity: int = 0        # binding capacity of the first command buffer


# -- kernels ---------------------------------------------------------------------------------

def _vector(i, t, access, n):
    return {"index": i, "type": t, "access": access, "shape": [n]}


_N = {"pc": 0}
_M, _K, _C, _P = {"pc": 0}, {"pc": 1}, {"pc": 2}, {"pc": 3}
PANEL = 16        # NR: f32 columns of a matmul_packed_f32 panel (64 bytes)

#: (name, function description, push constant count, binding writes, binding item size)
KERNELS = (
    ("add_f32", {
        "name": "add_f32", "push_constants": ["n"], "items_per_workgroup": 4,
        "bindings": [_vector(0, "f32", "read", _N), _vector(1, "f32", "read", _N),
                     _vector(2, "f32", "write", _N)],
        "body": {"kind": "elementwise", "shape": [_N], "outputs": [{"binding": 2, "value": {
            "op": "add", "args": [{"op": "load", "binding": 0},
                                  {"op": "load", "binding": 1}]}}]}},
     1, (False, False, True)),
    ("copy_i32", {
        "name": "copy_i32", "push_constants": ["n"], "items_per_workgroup": 4,
        "bindings": [_vector(0, "i32", "read", _N), _vector(1, "i32", "write", _N)],
        "body": {"kind": "copy", "source": 0, "target": 1}},
     1, (False, True)),
    ("sum_f32", {
        "name": "sum_f32", "push_constants": ["rows", "cols"], "items_per_workgroup": 2,
        "bindings": [{"index": 0, "type": "f32", "access": "read", "shape": [_M, _K]},
                     _vector(1, "f32", "write", _M)],
        "body": {"kind": "reduce", "op": "sum", "source": 0, "target": 1, "axis": 1,
                 "keepdims": False}},
     2, (False, True)),
    ("matmul_f32", {
        "name": "matmul_f32", "push_constants": ["m", "k", "n"], "items_per_workgroup": 1,
        "bindings": [{"index": 0, "type": "f32", "access": "read", "shape": [_M, _K]},
                     {"index": 1, "type": "f32", "access": "read", "shape": [_K, _C]},
                     {"index": 2, "type": "f32", "access": "write", "shape": [_M, _C]}],
        "body": {"kind": "matmul", "lhs": 0, "rhs": 1, "out": 2}},
     3, (False, False, True)),
    ("matmul_packed_f32", {
        "name": "matmul_packed_f32", "push_constants": ["m", "k", "n", "p"],
        "items_per_workgroup": 1,
        "bindings": [{"index": 0, "type": "f32", "access": "read", "shape": [_M, _K]},
                     {"index": 1, "type": "f32", "access": "read",
                      "shape": [_P, _K, PANEL]},
                     {"index": 2, "type": "f32", "access": "write", "shape": [_M, _C]}],
        "body": {"kind": "matmul", "lhs": 0, "rhs": 1, "out": 2, "rhs_packed": True}},
     4, (False, False, True)),
)
KERNEL_NAMES = tuple(k[0] for k in KERNELS)
ITEMSIZE = 4      # every binding of KERNELS is f32 or i32


def executable_data() -> bytes:
    """The serialized ``pyree-kernels-v1`` executable holding :data:`KERNELS` (canonical
    bytes: sorted keys, no whitespace)."""
    desc = {"version": 1, "functions": [k[1] for k in KERNELS]}
    return json.dumps(desc, sort_keys=True, separators=(",", ":")).encode()


# -- JSON ------------------------------------------------------------------------------------

def _plain(value):
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _unplain(value):
    if isinstance(value, dict) and set(value) == {"hex"}:
        return bytes.fromhex(value["hex"])
    if isinstance(value, list):
        return tuple(_unplain(v) for v in value)
    return value


def encode(program: HalProgram) -> dict:
    ops = [{"op": type(op).__name__.lower(),
            **{k: _plain(v) for k, v in attrs.asdict(op, recurse=False).items()}}
           for op in program.ops]
    return {"driver": program.driver, "mode": program.mode,
            "categories": program.categories, "hook": program.hook,
            "capacity": program.capacity,
            "buffers": [attrs.asdict(b) for b in program.buffers], "ops": ops}


def decode(data: dict) -> HalProgram:
    ops = []
    for raw in data["ops"]:
        raw = dict(raw)
        cls = OPS[raw.pop("op")]
        ops.append(cls(**{k: _unplain(v) for k, v in raw.items()}))
    return HalProgram(data["driver"], tuple(BufferSpec(**b) for b in data["buffers"]),
                      tuple(ops), data.get("mode", 0), data.get("categories", 3),
                      data.get("hook"), data.get("capacity", 0))


def dumps(program: HalProgram) -> bytes:
    return json.dumps(encode(program), sort_keys=True, indent=1).encode()


def loads(data: bytes) -> HalProgram:
    return decode(json.loads(bytes(data).decode("utf-8")))
