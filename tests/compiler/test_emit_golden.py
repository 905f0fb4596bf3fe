"""Golden test of emitted code: the host program of a two-region model, with a private
lowering so that only emission decides the text. Regenerate after an intended change
with ``PYREE_UPDATE_GOLDEN=1 python3 -m pytest tests/compiler/test_emit_golden.py`` and
review the diff."""

import difflib
import os
import pathlib

import numpy as np
from pyree.bytecode import container
from pyree.bytecode.disasm import disassemble
from pyree.compiler import compile_model
from pyree.compiler.emit.lowering import LOWERINGS, Dispatch, Lowered, Operand

from .helpers import F32, helper, model

GOLDEN = pathlib.Path(__file__).parent / "golden" / "emit_two_regions.vmasm"


def _ew(region, graph):
    """add/relu f32 as one v1 elementwise dispatch of static shape."""
    if any(n.op not in ("add", "relu") for n in region.nodes):
        return None
    shape = list(graph.type_of(region.outputs[0]).shape)
    bindings, operands, values = [], [], {}
    for name in region.inputs:
        values[name] = {"op": "load", "binding": len(bindings)}
        bindings.append({"index": len(bindings), "type": "f32", "access": "read",
                         "shape": list(graph.type_of(name).shape)})
        operands.append(Operand(name))
    for node in region.nodes:
        values[node.outputs[0]] = {"op": node.op, "args": [values[i] for i in node.inputs]}
    outputs = []
    for name in region.outputs:
        outputs.append({"binding": len(bindings), "value": values[name]})
        bindings.append({"index": len(bindings), "type": "f32", "access": "write",
                         "shape": shape})
        operands.append(Operand(name))
    fn = {"bindings": bindings, "items_per_workgroup": 64,
          "body": {"kind": "elementwise", "shape": shape, "outputs": outputs}}
    return Lowered((Dispatch(fn, tuple(operands), (1, 1, 1)),))


def test_emitted_program_matches_golden(monkeypatch):
    monkeypatch.setitem(LOWERINGS, "elementwise", [_ew])
    m = model([helper.make_node("Add", ["x", "w"], ["a"], name="add0"),
               helper.make_node("Add", ["a", "z"], ["b"], name="add1"),
               helper.make_node("Relu", ["b"], ["y"], name="relu1"),
               helper.make_node("Identity", ["x"], ["x2"], name="id")],
              [("x", F32, [2, 2]), ("z", F32, [3, 2, 2])],
              [("y", F32, [3, 2, 2]), ("x2", F32, [2, 2])],
              {"w": np.array([[1, 2], [3, 4]], np.float32)})
    text = disassemble(container.read(compile_model(m)))
    if os.environ.get("PYREE_UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    expected = GOLDEN.read_text()
    assert text == expected, "".join(difflib.unified_diff(
        expected.splitlines(True), text.splitlines(True), "golden", "emitted"))
