"""The op table: one :class:`OpDef` per IR op, one :class:`OnnxRule` per ONNX op type.

An IR op entry carries everything the compiler knows about the op:

* ``infer(node, types) -> [TensorType]``: output types from the input types (``None`` for
  an absent optional input) and the node's attributes. Output shapes never depend on
  input *values*: an import rule turns any operand that decides a shape into an
  attribute (or folds the node away) before the IR node exists.
* ``reference(node, *arrays) -> array | tuple``: the numpy semantics, used by the
  reference evaluator and by constant folding.

  Both come from the HAL's host library (``hosted(name)``): the runtime executes the
  same numpy code for host-library ``op`` bodies.
* ``kind``: how partitioning treats it (``elementwise``, ``view``, ``reduce``,
  ``softmax``, ``matmul``, ``conv``, ``pool``, ``normalization``, ``transpose``,
  ``data``, ``library``) - see ``passes/partition.py``.
* ``fold_types``: optional ``(node, types) -> [array]`` that folds the node from its input
  *types* alone (``shape``, ``size``): shape arithmetic needs no constant operand.

An ONNX rule maps one ONNX op type (default domain) onto IR ops through the importer's
``NodeContext``; ``since`` is the lowest opset the rule understands.

Entries are registered by the family modules (``elementwise.py``, ``reduction.py``,
``nn_*.py``, ``shape.py``, ``data.py``) when ``compiler.ops`` is imported.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from pyree.status import AlreadyExistsError

KINDS = frozenset({"elementwise", "view", "reduce", "softmax", "matmul", "conv", "pool",
                   "normalization", "transpose", "data", "library"})


@attrs.frozen
class OpDef:
    name: str
    family: str
    kind: str
    infer: Callable
    reference: Callable
    fold_types: Callable | None = None
    foldable: bool = True


@attrs.frozen
class OnnxRule:
    op_type: str
    family: str
    rule: Callable
    since: int = 1


OPS: dict[str, OpDef] = {}
ONNX_RULES: dict[str, OnnxRule] = {}


def define(name: str, family: str, kind: str, infer: Callable, reference: Callable,
           **kwargs) -> OpDef:
    if name in OPS:
        raise AlreadyExistsError(f"IR op '{name}' is defined twice")
    if kind not in KINDS:
        raise ValueError(f"IR op '{name}': unknown kind '{kind}'")
    OPS[name] = op = OpDef(name, family, kind, infer, reference, **kwargs)
    return op


def hosted(name: str) -> tuple[Callable, Callable]:
    """(infer, reference) of IR op ``name`` from the HAL's host library
    (``modules/hal/kernels/hostlib``): the numpy semantics the compiler folds and checks
    with are the ones the runtime executes for ``op`` bodies (one copy; the compiler
    depends on the HAL, never the reverse)."""
    from pyree.compiler.ir import TensorType
    from pyree.modules.hal.kernels import hostlib

    row = hostlib.OPS[name]

    def infer(node, types):
        return [TensorType(t.dtype, t.shape) for t in row.infer(node, types)]

    return infer, row.run


def onnx_rule(family: str, *op_types: str, since: int = 1):
    """Decorator registering ``fn(ctx)`` as the import rule of each ONNX op type."""
    def register(fn):
        for op_type in op_types:
            if op_type in ONNX_RULES:
                raise AlreadyExistsError(f"ONNX op '{op_type}' has two import rules")
            ONNX_RULES[op_type] = OnnxRule(op_type, family, fn, since)
        return fn
    return register
