"""The Python API of compiled models: compile_model/compile_file, load_module, sessions."""

import numpy as np
import pytest
from pyree.compiler import compile_file, compile_model

from pyree import status
from pyree.runtime import InferenceSession, load_module

from .helpers import F32, I64, helper, model


def mul_add_model():
    return model([helper.make_node("Mul", ["a", "b"], ["p"], name="mul0"),
                  helper.make_node("Add", ["p", "a"], ["s"], name="add0"),
                  helper.make_node("Neg", ["a"], ["n"], name="neg0")],
                 [("a", F32, [3]), ("b", F32, [3])], [("s", F32, [3]), ("n", F32, [3])])


A = np.array([1, -2, 3], np.float32)
B = np.array([4, 5, -6], np.float32)


def test_compile_file_and_load_from_path(tmp_path):
    src, dst = tmp_path / "m.onnx", tmp_path / "m.pyrm"
    src.write_bytes(mul_add_model().SerializeToString())
    calls = []
    compile_file(src, dst, progress=lambda done, total, what: calls.append((done, total)))
    assert calls and calls[-1][0] == calls[-1][1] and all(d <= t for d, t in calls)
    with load_module(dst) as m:
        assert [t.name for t in m.input_info] == ["a", "b"]
        assert [(t.name, t.shape) for t in m.output_info] == [("s", (3,)), ("n", (3,))]
        s, n = m.main(A, B)
        np.testing.assert_array_equal(s, A * B + A)
        np.testing.assert_array_equal(n, -A)
        s2, _ = m.call("main", A, [1.0, 1.0, 1.0])  # lists take the input's dtype
        np.testing.assert_array_equal(s2, 2 * A)


@pytest.mark.parametrize("source", ["proto", "onnx-bytes", "onnx-path", "pyrm-bytes",
                                    "pyrm-path"])
def test_session_accepts_models_and_compiled_modules(source, tmp_path):
    proto = mul_add_model()
    if source == "proto":
        arg = proto
    elif source == "onnx-bytes":
        arg = proto.SerializeToString()
    elif source == "onnx-path":
        arg = tmp_path / "m.onnx"
        arg.write_bytes(proto.SerializeToString())
        arg = str(arg)
    elif source == "pyrm-bytes":
        arg = compile_model(proto)
    else:
        arg = tmp_path / "m.pyrm"
        arg.write_bytes(compile_model(proto))
    with InferenceSession(arg) as sess:
        assert [(i.name, i.shape, i.type) for i in sess.get_inputs()] == [
            ("a", [3], "tensor(float)"), ("b", [3], "tensor(float)")]
        assert [o.name for o in sess.get_outputs()] == ["s", "n"]
        s, n = sess.run(None, {"a": A, "b": B})
        np.testing.assert_array_equal(n, -A)
        np.testing.assert_array_equal(s, A * B + A)
        (n2,) = sess.run(["n"], {"b": B, "a": A})
        np.testing.assert_array_equal(n2, -A)


def test_session_errors_name_inputs_and_outputs():
    with InferenceSession(mul_add_model(), None, ["CPUExecutionProvider"],
                          device="local-task") as sess:
        with pytest.raises(status.InvalidArgumentError, match="missing input"):
            sess.run(None, {"a": A})
        with pytest.raises(status.InvalidArgumentError, match="unknown input"):
            sess.run(None, {"a": A, "b": B, "c": B})
        with pytest.raises(status.NotFoundError, match="no output named 'q'"):
            sess.run(["q"], {"a": A, "b": B})
        with pytest.raises(status.InvalidArgumentError, match="input 'b' shape"):
            sess.run(None, {"a": A, "b": np.zeros(4, np.float32)})


def test_integer_inputs_and_metadata_types():
    m = model([helper.make_node("Add", ["x", "x"], ["y"], name="dbl")],
              [("x", I64, [2])], [("y", I64, [2])])
    with InferenceSession(m) as sess:
        assert sess.get_inputs()[0].type == "tensor(int64)"
        (y,) = sess.run(None, {"x": np.array([3, -4], np.int64)})
        assert y.dtype == np.int64 and y.tolist() == [6, -8]


def test_loading_a_module_without_metadata_is_not_found():
    from pyree.bytecode import container
    from pyree.bytecode.asm import assemble

    plain = container.write(assemble("vm.module @m version 1\n"
                                     "vm.func @f() -> () {\n  vm.return\n}\n", "m.vmasm"))
    with pytest.raises(status.NotFoundError, match="no model metadata"):
        load_module(plain)


def test_a_dropped_module_releases_its_local_task_workers():
    import gc
    import threading

    data = compile_model(mul_add_model())
    before = set(threading.enumerate())
    s, _ = load_module(data, "local-task").main(A, B)  # never closed explicitly
    gc.collect()
    np.testing.assert_array_equal(s, A * B + A)  # results outlive the module
    assert not set(threading.enumerate()) - before


@pytest.mark.parametrize("driver", ["local-sync", "local-task"])
def test_large_inputs_are_imported_read_only_or_not(driver):
    m = model([helper.make_node("Relu", ["x"], ["y"], name="r")],
              [("x", F32, [128, 256])], [("y", F32, [128, 256])])
    x = np.random.default_rng(3).standard_normal((128, 256), dtype=np.float32)
    frozen = x.copy()
    frozen.flags.writeable = False
    with load_module(compile_model(m), driver) as cm:
        for arg in (x, frozen, x.T.copy().T):  # contiguous, read-only, strided (copied)
            (y,) = cm.main(arg)
            np.testing.assert_array_equal(y, np.maximum(x, 0))
    np.testing.assert_array_equal(x, frozen)  # inputs are never written


def test_run_module_cli_runs_a_compiled_model(tmp_path, capsys):
    from pyree.cli import main

    path = tmp_path / "m.pyrm"
    compile_file(mul_add_model().SerializeToString(), path)
    assert main(["run-module", "--module", str(path), "--function", "main",
                 "--input", "3xf32=1 -2 3", "--input", "3xf32=4 5 -6"]) == 0
    out = capsys.readouterr().out
    assert "3xf32=5 -12 -15" in out and "3xf32=-1 2 -3" in out


def test_prepare_kernels_compiles_at_compile_time_with_progress():
    from pyree.modules.hal.kernels import compiler as kernel_compiler

    calls = []
    data = compile_model(mul_add_model(), prepare_kernels=True,
                         progress=lambda done, total, what: calls.append((done, total, what)))
    assert calls[-1][2] == "kernels prepared" and calls[-1][0] == calls[-1][1] >= 1
    compiled = kernel_compiler.STATS["compiled"]
    with load_module(data) as m:
        np.testing.assert_array_equal(m.main(A, B)[1], -A)
    assert kernel_compiler.STATS["compiled"] == compiled  # loading compiled nothing
