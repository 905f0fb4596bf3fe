"""``CompiledModule.main`` on ``local-sync`` with inputs imported without a copy: the
compiled ``main``'s memoized command buffer is submitted by its fused submit
(``modules/hal/replay_fused.py``) for imported inputs too - the checked path never runs -
with the checked path's results, bit for bit; what it cannot take still runs checked."""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from pyree.compiler import compile_model
from pyree.modules.hal import replay_fused
from pyree.modules.hal.replay import ReplayPlan

from pyree.runtime import load_module
from pyree.runtime.module import ZERO_COPY_BYTES

SHAPE = (128, 256)      # 128 KiB of f32: imported


class Switch:
    """A plan's fused submit, counting the calls it took, or declining all (``off``)."""

    def __init__(self, fn):
        self.fn, self.taken, self.off = fn, 0, False

    def __call__(self, *args):
        if self.off:
            return False
        done = self.fn(*args)
        self.taken += done
        return done


W = np.random.default_rng(5).standard_normal((SHAPE[1], 8)).astype(np.float32)


@pytest.fixture(scope="module")
def pyrm():
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(SHAPE))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [SHAPE[0], 8])],
        initializer=[numpy_helper.from_array(W, "w")])
    return compile_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))


@pytest.fixture
def module(pyrm, monkeypatch):
    """The module with its plans' fused submits wrapped in a :class:`Switch` (``switches``)."""
    switches, build = [], replay_fused.build

    def counted(*args):
        switch = Switch(build(*args))
        switches.append(switch)
        return switch

    monkeypatch.setattr(replay_fused, "build", counted)
    with load_module(pyrm) as cm:
        cm.switches = switches
        yield cm


def test_imported_inputs_run_the_fused_submit(module, monkeypatch):
    """A fresh import of the caller's array every call, read-only arrays included: the
    fused submit runs the call and the results are the checked path's."""
    (switch,) = module.switches
    rng = np.random.default_rng(6)
    xs = [rng.standard_normal(SHAPE).astype(np.float32) for _ in range(3)]
    frozen = xs[2].copy()
    frozen.flags.writeable = False
    xs.append(frozen)
    assert all(x.nbytes >= ZERO_COPY_BYTES for x in xs)
    switch.off = True
    expected = [module.main(x)[0] for x in xs]      # the checked path, proving the slots
    switch.off = False

    def checked(*args):
        raise AssertionError("the checked path ran")

    monkeypatch.setattr(ReplayPlan, "run", checked)
    for k in range(2):
        for x, y in zip(xs, expected):
            (out,) = module.main(x)
            assert out.dtype == np.float32 and out.shape == (SHAPE[0], 8)
            np.testing.assert_array_equal(out, y)
    assert switch.taken == 2 * len(xs)
    np.testing.assert_allclose(expected[0], np.maximum(xs[0] @ W, 0), rtol=1e-5, atol=1e-5)


def test_inputs_the_fused_submit_cannot_take_still_run_checked(module):
    """An input imported at an address not aligned to its element (a numpy view at an odd
    byte offset) gets no typed view: the fused submit declines and the checked path
    refuses it as before (the same error); a copied input (strided) runs fused from the
    pool."""
    (switch,) = module.switches
    x = np.random.default_rng(7).standard_normal(SHAPE).astype(np.float32)
    (y,) = module.main(x)
    taken = switch.taken
    raw = np.zeros(x.nbytes + 1, np.uint8)
    odd = raw[1:].view(np.float32).reshape(SHAPE)
    odd[...] = x
    assert not odd.flags.aligned
    switch.off = True
    outcome = _outcome(module, odd)
    switch.off = False
    assert _outcome(module, odd) == outcome
    assert switch.taken == taken
    np.testing.assert_array_equal(module.main(x.T.copy().T)[0], y)     # copied: pooled
    assert switch.taken == taken + 1


def _outcome(module, x):
    try:
        return "ok", module.main(x)[0].tobytes()
    except Exception as e:      # noqa: BLE001 - compared as the checked path raised it
        return type(e), str(e)
