"""Host-program emission: compiled modules verify, disassemble, and run on both drivers."""

import re

import numpy as np
import pytest
from pyree.bytecode import container
from pyree.bytecode.asm import assemble
from pyree.bytecode.disasm import disassemble
from pyree.compiler import compile_model
from pyree.compiler.emit.constants import plan_constant
from pyree.compiler.emit.lowering import LOWERINGS, Dispatch, Lowered, Operand

from pyree import status
from pyree.model_info import find
from pyree.runtime import load_module

from .helpers import F32, helper, model

DRIVERS = ("local-sync", "local-task")
W = np.arange(8, dtype=np.float32).reshape(2, 4) - 3


def add_relu_model():
    return model([helper.make_node("Add", ["x", "w"], ["a"], name="add0"),
                  helper.make_node("Relu", ["a"], ["y"], name="relu0")],
                 [("x", F32, [2, 4])], [("y", F32, [2, 4])], {"w": W})


def two_region_model():
    """add [2,4] -> (broadcast into [3,2,4]) add -> relu: two regions, one transient."""
    return model([helper.make_node("Add", ["x", "w"], ["a"], name="add0"),
                  helper.make_node("Add", ["a", "z"], ["b"], name="add1"),
                  helper.make_node("Relu", ["b"], ["y"], name="relu1")],
                 [("x", F32, [2, 4]), ("z", F32, [3, 2, 4])], [("y", F32, [3, 2, 4])],
                 {"w": W})


@pytest.fixture(scope="module")
def add_relu():
    return compile_model(add_relu_model())


def test_module_verifies_disassembles_and_round_trips(add_relu):
    module = container.read(add_relu)
    text = disassemble(module)
    assert "vm.func @main" in text and "vm.export @__init" in text
    assert "hal.command_buffer.dispatch" in text and 'loc="add0+relu0"' in text
    again = assemble(text, "again.vmasm")
    assert again.functions == module.functions
    info = find(module)
    assert [(t.name, t.type, t.shape) for t in info.inputs] == [("x", "f32", (2, 4))]
    assert [(t.name, t.type, t.shape) for t in info.outputs] == [("y", "f32", (2, 4))]


@pytest.mark.parametrize("driver", DRIVERS)
def test_add_relu_runs(add_relu, driver):
    x = np.linspace(-2, 2, 8, dtype=np.float32).reshape(2, 4)
    with load_module(add_relu, driver) as m:
        (y,) = m.main(x)
        np.testing.assert_array_equal(y, np.maximum(x + W, 0))
        (y2,) = m.main(x * 2)  # a second call reuses the executable and constants
        np.testing.assert_array_equal(y2, np.maximum(2 * x + W, 0))


def test_dependent_regions_get_a_barrier_and_agree_across_drivers():
    data = compile_model(two_region_model())
    text = disassemble(container.read(data))
    assert text.count("hal.command_buffer.dispatch(") + text.count(
        "hal.command_buffer.dispatch segments") == 2
    assert "execution_barrier" in text
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4), dtype=np.float32)
    z = rng.standard_normal((3, 2, 4), dtype=np.float32)
    results = []
    for driver in DRIVERS:
        with load_module(data, driver) as m:
            results.append(m.main(x, z)[0])
    np.testing.assert_array_equal(results[0], np.maximum(x + W + z, 0))
    np.testing.assert_array_equal(results[0], results[1])


def _function_text(text, name):
    start = text.index(f"vm.func @{name}(")
    return text[start:text.index("\n}", start)]


@pytest.mark.parametrize("driver", DRIVERS)
def test_init_records_the_commands_once_and_main_replays_them(driver, monkeypatch):
    from pyree.modules.hal.command_buffer import HalCommandBuffer

    data = compile_model(two_region_model())
    text = disassemble(container.read(data))
    main, init = _function_text(text, "main"), _function_text(text, "__init")
    assert "hal.command_buffer." not in main
    assert main.count("hal.device.queue.execute.indirect") == 1
    assert init.count("hal.command_buffer.dispatch") == 2
    assert "hal.command_buffer.finalize" in init
    recorded = []
    for method in ("dispatch", "copy_buffer", "execution_barrier", "finalize"):
        original = getattr(HalCommandBuffer, method)

        def counting(*args, original=original, method=method, **kwargs):
            recorded.append(method)
            return original(*args, **kwargs)

        monkeypatch.setattr(HalCommandBuffer, method, counting)
    rng = np.random.default_rng(3)
    with load_module(data, driver) as m:
        assert recorded.count("dispatch") == 2 and recorded.count("finalize") == 1
        del recorded[:]
        for _ in range(3):
            x = rng.standard_normal((2, 4), dtype=np.float32)
            z = rng.standard_normal((3, 2, 4), dtype=np.float32)
            np.testing.assert_array_equal(m.main(x, z)[0], np.maximum(x + W + z, 0))
        assert recorded == []


def test_wrong_shape_and_element_type_name_the_input(add_relu):
    with load_module(add_relu) as m:
        with pytest.raises(status.InvalidArgumentError, match="input 'x' shape dimension 1"):
            m.main(np.zeros((2, 5), np.float32))
        with pytest.raises(status.InvalidArgumentError, match="input 'x' element type"):
            m.main(np.zeros((2, 4), np.float64))
        with pytest.raises(status.InvalidArgumentError, match="takes 1 input"):
            m.main()


@pytest.mark.parametrize("driver", DRIVERS)
def test_outputs_that_are_inputs_or_constants_are_copies(driver):
    splat = helper.make_tensor("v", F32, [1], [2.5])
    m = model([helper.make_node("Identity", ["x"], ["y"], name="id"),
               helper.make_node("ConstantOfShape", ["s"], ["c"], value=splat, name="cos")],
              [("x", F32, [2, 3])], [("y", F32, [2, 3]), ("c", F32, [64, 64])],
              {"s": np.array([64, 64], np.int64)})
    data = compile_model(m)
    module = container.read(data)
    assert max(len(seg) for seg in module.rodata) < 64 * 64 * 4  # the splat is filled
    assert "fill_buffer" in disassemble(module)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    with load_module(data, driver) as cm:
        y, c = cm.main(x)
        np.testing.assert_array_equal(y, x)
        assert not np.shares_memory(y, x)
        np.testing.assert_array_equal(c, np.full((64, 64), 2.5, np.float32))


def test_splat_constants_fill_by_pattern_or_materialize():
    assert plan_constant("a", np.broadcast_to(np.float32(1.5), (100,))).kind == "fill"
    zeros = plan_constant("z", np.broadcast_to(np.float64(0), (100,)))
    assert (zeros.kind, zeros.pattern, zeros.pattern_length) == ("fill", 0, 1)
    assert plan_constant("d", np.broadcast_to(np.float64(1.1), (4,))).kind == "rodata"
    assert plan_constant("e", np.zeros((0, 3), np.float32)).kind == "empty"
    dense = plan_constant("r", np.arange(4, dtype=np.int32))
    assert dense.kind == "rodata" and dense.data == np.arange(4, dtype=np.int32).tobytes()


def _short_binding_lowering(region, graph):
    """Binds the output one element short of what the function writes."""
    if region.nodes[0].name != "bad":
        return None
    (src,), out = region.inputs, region.outputs[0]
    n = graph.type_of(out).size
    fn = {"bindings": [{"index": 0, "type": "f32", "access": "read", "shape": [n]},
                       {"index": 1, "type": "f32", "access": "write", "shape": [n]}],
          "items_per_workgroup": 64,
          "body": {"kind": "elementwise", "shape": [n], "outputs": [
              {"binding": 1, "value": {"op": "neg", "args": [{"op": "load", "binding": 0}]}}]}}
    return Lowered((Dispatch(fn, (Operand(src), Operand(out, 0, 4 * (n - 1))), (1, 1, 1),
                             label="bad"),))


@pytest.mark.parametrize("driver", DRIVERS)
def test_failing_dispatch_backtrace_names_the_onnx_node(driver, monkeypatch):
    monkeypatch.setitem(LOWERINGS, "elementwise",
                        [_short_binding_lowering, *LOWERINGS["elementwise"]])
    data = compile_model(model([helper.make_node("Neg", ["x"], ["y"], name="bad")],
                               [("x", F32, [8])], [("y", F32, [8])]))
    # The command buffer is recorded once, in __init: loading the module fails, and the
    # backtrace's frame is the instruction recording the node's dispatch.
    with pytest.raises(status.PyreeError) as info:
        load_module(data, driver)
    assert isinstance(info.value, status.OutOfRangeError)
    assert "binding 1 (f32) needs 32 bytes" in info.value.message
    assert re.search(r"^\[ ?\d+\] bytecode module\.__init:\d+ bad$", str(info.value),
                     re.MULTILINE)


def test_dump_module_prints_the_program_with_node_locations(add_relu, tmp_path, capsys):
    from pyree.cli import main

    path = tmp_path / "m.pyrm"
    path.write_bytes(add_relu)
    assert main(["dump-module", str(path)]) == 0
    text = capsys.readouterr().out
    assert "vm.func @main" in text and 'loc="add0+relu0"' in text
    assert assemble(text, "dumped.vmasm") == container.read(add_relu)


@pytest.mark.parametrize("driver", DRIVERS)
def test_concurrent_calls_use_their_own_buffers(driver):
    import threading

    data = compile_model(two_region_model())
    wrong = []
    with load_module(data, driver) as m:
        def work(seed):
            rng = np.random.default_rng(seed)
            for _ in range(10):
                x = rng.standard_normal((2, 4), dtype=np.float32)
                z = rng.standard_normal((3, 2, 4), dtype=np.float32)
                if not np.array_equal(m.main(x, z)[0], np.maximum(x + W + z, 0)):
                    wrong.append(seed)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert wrong == []


def test_a_view_longer_than_its_buffer_is_an_error_naming_the_input(add_relu):
    from pyree.modules.hal.buffer_view import HalBufferView

    with load_module(add_relu) as m:
        buffer = m.device.allocator.allocate(0x30, 0xC03, 16)  # 4 of the 8 floats
        view = HalBufferView(buffer, (2, 4), 0x21000020)
        main = m.context.lookup_function("main", m.module.name)
        with pytest.raises(status.InvalidArgumentError,
                           match="input 'x' buffer byte length 16 less than expected "
                                 "minimum 32"):
            main(view)
