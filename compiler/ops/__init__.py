"""The op table, filled by the family modules below (see ``registry.py``)."""

from pyree.compiler.ops import (  # noqa: F401  (registration side effects)
    data,
    elementwise,
    gather,
    nn_conv,
    nn_matmul,
    nn_norm,
    quant,
    reduction,
    resize,
    rnn,
    sampling,
    shape,
    signal,
)
from pyree.compiler.ops.registry import ONNX_RULES, OPS, OnnxRule, OpDef

__all__ = ["ONNX_RULES", "OPS", "OnnxRule", "OpDef"]
