"""Emission drops copies onto their own bytes (compiler/emit/noop_copies.py): a channel
concat whose operands the buffer plan placed inside its output records no copy for them,
a concat that must copy keeps its copies, and both compute the right values."""

from __future__ import annotations

import numpy as np
from pyree.compiler import compile_model
from pyree.compiler.api import model_info
from pyree.compiler.emit.host import emit_module, lower_all
from pyree.compiler.emit.lower_data import copy_dispatch
from pyree.compiler.emit.lowering import Dispatch, Operand
from pyree.compiler.emit.noop_copies import is_noop_copy
from pyree.compiler.onnx_import import ImportOptions, import_model
from pyree.compiler.pipeline import compile_graph

from pyree.runtime import load_module

from .helpers import F32, helper, model


def concat_model(shape):
    nodes = [helper.make_node("Relu", ["x"], ["a"]),
             helper.make_node("Sigmoid", ["x"], ["b"]),
             helper.make_node("Concat", ["a", "b", "x"], ["c"], axis=1),
             helper.make_node("Neg", ["c"], ["y"])]
    return model(nodes, [("x", F32, shape)], [("y", F32, None)])


def copy_kinds(m):
    graph = import_model(m)
    compiled = compile_graph(graph)
    functions: list = []
    emit_module(compiled, model_info(m, ImportOptions(), compiled.graph),
                lowered=lower_all(compiled), functions=functions)
    return sum(f["body"]["kind"] == "copy" for f in functions)


def run(m, x):
    return load_module(compile_model(m)).main(x)[0]


def expected(x):
    return -np.concatenate([np.maximum(x, 0), 1 / (1 + np.exp(-x)), x], axis=1)


def test_in_place_operands_are_not_copied():
    m = concat_model([1, 3, 4])
    # relu and sigmoid are produced in place; only the graph input x is copied
    assert copy_kinds(m) == 1
    x = np.random.default_rng(0).standard_normal((1, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(run(m, x), expected(x), rtol=1e-6)


def test_concat_not_in_place_keeps_its_copies():
    m = concat_model([2, 3, 4])     # batch 2: operands are not contiguous slabs
    assert copy_kinds(m) == 3
    x = np.random.default_rng(1).standard_normal((2, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(run(m, x), expected(x), rtol=1e-6)


def test_is_noop_copy_compares_bytes_and_views():
    (d,) = copy_dispatch("f32", [2, 3], [3, 1], 0, [6, 1], 3, "a", "c", "t")
    at = {"a": (("arena",), 76), "c": (("arena",), 64)}

    def start(op):
        return at[op.value]
    assert not is_noop_copy(d, start)           # strides differ: a real copy
    (d,) = copy_dispatch("f32", [6], [1], 0, [1], 3, "a", "c", "t")
    assert is_noop_copy(d, start)               # 76 == 64 + 3 * 4
    assert not is_noop_copy(d, lambda op: (("arena",), 64) if op.value == "c"
                            else (("output", "a"), 76))
    assert not is_noop_copy(d, lambda op: (("arena",), 64))
    fill = Dispatch({"bindings": [], "body": {"kind": "fill"}}, (Operand("c"),), (1, 1, 1))
    assert not is_noop_copy(fill, start)
