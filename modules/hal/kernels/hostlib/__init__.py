"""The host library: numpy implementations of every tensor op the compiler can produce,
executed by ``op`` bodies of pyree-kernels-v1 (spec/executables.md, "Host library
bodies"). A module names an op and gives attributes; it never carries code: the op must
be a row of ``OPS``, its attributes fit the row's schema (``schema.SCHEMAS``), and its
binding types and shapes must be what the row's ``infer`` derives from the operands.

These run numpy on the calling (host) thread: they are the coverage tier that lets every
region the compiler imports execute, not the hot path (numba bodies are).
"""

from __future__ import annotations

from . import (  # noqa: F401  (registration side effects)
    data,
    elementwise,
    gather,
    nn_conv,
    nn_matmul,
    nn_norm,
    reduction,
    resize,
    sampling,
    shape,
    signal,
)
from .common import OpCall, TensorType
from .registry import OPS, HostOp
from .schema import SCHEMAS, VALIDATORS, check_attrs, to_json

__all__ = ["OPS", "SCHEMAS", "HostOp", "OpCall", "TensorType", "check_attrs", "to_json"]

_unknown = sorted(set(SCHEMAS) - set(OPS))
if _unknown:  # pragma: no cover - the two tables are edited together
    raise ImportError(f"host-library schemas for undefined ops: {_unknown}")
_kinds = {k for schema in SCHEMAS.values() for k in schema.values()
          if not isinstance(k, tuple)} - set(VALIDATORS)
if _kinds:  # pragma: no cover
    raise ImportError(f"host-library schemas use unknown attribute types: {_kinds}")
