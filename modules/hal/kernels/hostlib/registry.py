"""The host-library op table: one :class:`HostOp` per op name.

Each row is registered by its family module (``elementwise.py``, ``reduction.py``,
``nn_*.py``, ...) with ``define`` and carries:

* ``infer(node, types) -> [TensorType]``: result types from the operand types (``None``
  for an absent optional operand) and the attributes (``node`` is a ``common.OpCall``);
* ``run(node, *arrays) -> array | tuple``: the numpy semantics (vectorised);
* ``schema``: the attributes the op accepts and their types (``schema.py``), checked
  when an executable is created.

``define`` keeps the compiler's signature (``name, family, kind, infer, reference``) so
the family modules read like ``compiler/ops``; ``kind`` is how the compiler partitions
the op and is kept for documentation only.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from pyree.status import AlreadyExistsError


@attrs.frozen
class HostOp:
    name: str
    family: str
    kind: str
    infer: Callable
    run: Callable


OPS: dict[str, HostOp] = {}


def define(name: str, family: str, kind: str, infer: Callable, reference: Callable,
           **_ignored) -> HostOp:
    if name in OPS:
        raise AlreadyExistsError(f"host-library op '{name}' is defined twice")
    OPS[name] = op = HostOp(name, family, kind, infer, reference)
    return op
