"""Emission parts: hazards, the executable table, region scratch."""

import json

import numpy as np
import pytest
from pyree.bytecode import container
from pyree.compiler import compile_model
from pyree.compiler.emit.executable_table import ExecutableTable
from pyree.compiler.emit.hazards import HazardTracker
from pyree.compiler.emit.lowering import LOWERINGS, Dispatch, Lowered, Operand, Scratch

from pyree.runtime import load_module

from .helpers import F32, helper, model

ARENA = ("arena",)


def test_barrier_rule_read_after_write_write_after_read_and_write_after_write():
    h = HazardTracker()
    assert not h.needs_barrier([(ARENA, 0, 64)], [(ARENA, 64, 128)])
    h.record([(ARENA, 0, 64)], [(ARENA, 64, 128)])
    assert not h.needs_barrier([(ARENA, 0, 64), (("input", 0), 64, 128)], [(ARENA, 128, 192)])
    assert h.needs_barrier([(ARENA, 100, 104)], [])            # reads what was written
    assert h.needs_barrier([], [(ARENA, 32, 40)])              # overwrites what was read
    assert h.needs_barrier([], [(ARENA, 127, 128)])            # overwrites what was written
    assert not h.needs_barrier([(ARENA, 64, 64)], [(ARENA, 0, 0)])  # empty ranges
    h.barrier()
    assert not h.needs_barrier([(ARENA, 64, 128)], [(ARENA, 0, 64)])


def test_executable_table_names_every_dispatch_site_uniquely():
    t = ExecutableTable()
    f = {"bindings": [], "body": {"kind": "x"}, "items_per_workgroup": 1}
    g = {"bindings": [], "body": {"kind": "y"}, "items_per_workgroup": 1}
    assert t.add(f, "Conv_0+Relu_1") == 0
    assert t.add(dict(reversed(list(f.items()))), "Conv_2+Relu_3") == 1   # identical: own entry
    assert t.add(g, "Conv_0+Relu_1") == 2
    assert t.add({**g, "items_per_workgroup": 2}, "a b/c") == 3
    assert t.add(f, "") == 4
    names = [fn["name"] for fn in json.loads(t.serialize())["functions"]]
    assert names == ["Conv_0+Relu_1", "Conv_2+Relu_3", "Conv_0+Relu_1$2", "a_b_c", "dispatch"]


def test_identical_regions_get_a_function_each_named_after_their_node():
    m = model([helper.make_node("Relu", ["x"], ["a"], name="r0"),
               helper.make_node("Relu", ["z"], ["b"], name="r1")],
              [("x", F32, [5]), ("z", F32, [5])], [("a", F32, [5]), ("b", F32, [5])])
    module = container.read(compile_model(m))
    exe = next(json.loads(bytes(seg)) for seg in module.rodata
               if bytes(seg[:13]) == b'{"functions":')
    assert [fn.pop("name") for fn in exe["functions"]] == ["r0", "r1"]
    assert exe["functions"][0] == exe["functions"][1]
    with load_module(module) as cm:
        a, b = cm.main(np.array([-1, 2, -3, 4, -5], np.float32), np.full(5, -1, np.float32))
    assert a.tolist() == [0, 2, 0, 4, 0] and b.tolist() == [0] * 5


def _neg(n, src, dst):
    return Dispatch({"bindings": [{"index": 0, "type": "f32", "access": "read", "shape": [n]},
                                  {"index": 1, "type": "f32", "access": "write",
                                   "shape": [n]}],
                     "items_per_workgroup": 64,
                     "body": {"kind": "elementwise", "shape": [n], "outputs": [
                         {"binding": 1, "value": {"op": "neg",
                                                  "args": [{"op": "load", "binding": 0}]}}]}},
                    (Operand(src), Operand(dst)), (-(-n // 64), 1, 1))


def _through_scratch(region, graph):
    """neg(neg(neg(x))) via two scratch values: three dependent dispatches."""
    if region.nodes[0].name != "scr":
        return None
    (src,), out = region.inputs, region.outputs[0]
    n = graph.type_of(out).size
    return Lowered((_neg(n, src, "t0"), _neg(n, "t0", "t1"), _neg(n, "t1", out)),
                   (Scratch("t0", 4 * n), Scratch("t1", 4 * n)))


@pytest.mark.parametrize("driver", ["local-sync", "local-task"])
def test_region_scratch_lives_in_the_arena(driver, monkeypatch):
    monkeypatch.setitem(LOWERINGS, "elementwise",
                        [_through_scratch, *LOWERINGS["elementwise"]])
    m = model([helper.make_node("Neg", ["x"], ["y"], name="scr")],
              [("x", F32, [300])], [("y", F32, [300])])
    data = compile_model(m)
    x = np.linspace(-3, 3, 300, dtype=np.float32)
    with load_module(data, driver) as cm:
        (y,) = cm.main(x)
    np.testing.assert_array_equal(y, -x)
