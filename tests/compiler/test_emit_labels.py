"""Every dispatch site is its own executable function named after its ONNX nodes: traces
show one ``dispatch`` event per node group, a dispatch failing at run time names its node
on both drivers, and identical descriptions still compile one kernel."""

from __future__ import annotations

import json

import numpy as np
import pytest
from onnx.reference import ReferenceEvaluator
from pyree.bytecode import container
from pyree.compiler import compile_model
from pyree.modules.hal import executable_format
from pyree.modules.hal.kernels import compiler as kernel_compiler
from pyree.modules.hal.kernels import config

from pyree import status, tracing
from pyree.runtime import load_module

from .helpers import F32, I64, helper, model

DRIVERS = ("local-sync", "local-task")
CONV_LABELS = ["Conv_0+Relu_1", "Conv_2+Relu_3", "Conv_4+Relu_5", "Conv_6"]


def squeezenet_like():
    """Three conv+relu of one description (shapes are push constants), then a plain conv."""
    rng = np.random.default_rng(0)
    nodes, weights, prev = [], {}, "x"
    for k in range(3):
        weights[f"w{k}"] = rng.standard_normal((4, 4, 3, 3)).astype(np.float32)
        nodes += [helper.make_node("Conv", [prev, f"w{k}"], [f"c{k}"], name=f"Conv_{2 * k}",
                                   pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", [f"c{k}"], [f"r{k}"], name=f"Relu_{2 * k + 1}")]
        prev = f"r{k}"
    weights["w3"] = rng.standard_normal((2, 4, 1, 1)).astype(np.float32)
    nodes.append(helper.make_node("Conv", [prev, "w3"], ["y"], name="Conv_6"))
    return model(nodes, [("x", F32, [1, 4, 8, 8])], [("y", F32, [1, 2, 8, 8])], weights)


@pytest.fixture(scope="module")
def convs():
    onnx_model = squeezenet_like()
    return onnx_model, compile_model(onnx_model)


def _functions(data) -> list:
    module = container.read(data)
    return next(json.loads(bytes(seg)) for seg in module.rodata
                if bytes(seg[:13]) == b'{"functions":')["functions"]


def test_repeated_convs_are_a_function_each_and_compile_each_kernel_once(convs, monkeypatch):
    onnx_model, data = convs
    functions = _functions(data)
    assert [fn["name"] for fn in functions] == CONV_LABELS
    descriptions = {json.dumps({k: v for k, v in fn.items() if k != "name"}, sort_keys=True)
                    for fn in functions}
    assert len(descriptions) == 2
    # The name never enters the kernel source (the kernel caches key on the source).
    parsed = executable_format.parse("pyree-kernels-v1", json.dumps(
        {"version": 1, "functions": functions}).encode()).functions
    sources = [kernel_compiler.generate(fn) for fn in parsed]
    assert sources[0] == sources[1] == sources[2] != sources[3]
    assert not any(label in source for label in CONV_LABELS for source in sources)

    monkeypatch.setattr(kernel_compiler, "_KERNELS", {})
    stats = {"compiled": 0, "cache_hits": 0, "memory_hits": 0}
    monkeypatch.setattr(kernel_compiler, "STATS", stats)
    x = np.random.default_rng(1).standard_normal((1, 4, 8, 8)).astype(np.float32)
    with load_module(data, "local-sync") as m:
        (y,) = m.main(x)
    variants = 2 if config.PARALLEL else 1     # parallel kernel + its serial variant
    assert stats["compiled"] + stats["cache_hits"] == 2 * variants   # distinct kernels
    assert stats["memory_hits"] == 2 * variants                      # the repeated convs
    (expected,) = ReferenceEvaluator(onnx_model).run(None, {"x": x})
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("driver", DRIVERS)
def test_trace_has_one_dispatch_event_per_node_group(convs, driver):
    _, data = convs
    with load_module(data, driver) as m, tracing.session() as tracer:
        m.main(np.ones((1, 4, 8, 8), np.float32))
    dispatches = [e for e in tracer.trace_events() if e.get("cat") == "dispatch"]
    assert [e["name"] for e in dispatches] == CONV_LABELS
    assert [e["args"]["function"] for e in dispatches] == CONV_LABELS


def gather_model():
    return model([helper.make_node("Gather", ["x", "i"], ["g"], name="Gather_3", axis=0),
                  helper.make_node("Relu", ["g"], ["y"], name="Relu_4")],
                 [("x", F32, [4, 3]), ("i", I64, [2])], [("y", F32, [2, 3])])


@pytest.fixture(scope="module")
def gather():
    return compile_model(gather_model())


@pytest.mark.parametrize("driver", DRIVERS)
def test_dispatch_failing_at_run_time_names_its_onnx_node(gather, driver):
    x = np.arange(12, dtype=np.float32).reshape(4, 3) - 6
    with load_module(gather, driver) as m:
        (y,) = m.main(x, np.array([1, -1], np.int64))
        assert y.tolist() == [[0, 0, 0], [3, 4, 5]]
        with tracing.session() as tracer, pytest.raises(status.PyreeError) as info:
            m.main(x, np.array([1, 7], np.int64))
    error = info.value
    assert isinstance(error, status.OutOfRangeError)
    assert error.message == ("executable function 'Gather_3' (gather): index 7 at indices[1] "
                             "is out of range for axis 0 of size 4 (valid: -4 to 3)")
    assert "while executing dispatch 'Gather_3'" in error.annotations
    # main replays the command buffer __init recorded: local-sync runs it within
    # hal.device.queue.execute.indirect, local-task on a worker (or the waiting caller),
    # failing the fence that hal.fence.await raises; the annotation names the node.
    native = "execute.indirect" if driver == "local-sync" else "hal.fence.await"
    assert any(native in a for a in error.annotations)
    assert error.backtrace[-1].endswith(" main: submit")
    (event,) = [e for e in tracer.trace_events() if e.get("cat") == "dispatch"]
    assert event["name"] == "Gather_3" and event["args"]["error"].startswith("OUT_OF_RANGE; ")


def test_prepare_kernels_prepares_each_distinct_kernel_once():
    calls = []
    compile_model(squeezenet_like(), prepare_kernels=True,
                  progress=lambda done, total, what: calls.append((done, total, what)))
    kernel_pass = calls[calls.index((4, 4, "lowered")) + 1:]
    assert kernel_pass == [(0, 2, "Conv_0+Relu_1"), (1, 2, "Conv_6"),
                           (2, 2, "kernels prepared")]


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_non_pyree_exception_in_a_kernel_is_internal_naming_the_dispatch(gather, driver,
                                                                           monkeypatch):
    from pyree.modules.hal.executable import Executable

    def broken(reqs, arrays):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(Executable, "_launch", staticmethod(broken))
    with load_module(gather, driver) as m, pytest.raises(status.PyreeError) as info:
        m.main(np.zeros((4, 3), np.float32), np.zeros(2, np.int64))
    error = info.value
    assert isinstance(error, status.InternalError)
    assert error.message == "ZeroDivisionError: division by zero"
    assert error.annotations[0] == "while executing dispatch 'Gather_3'"
