"""``pyree compile`` with the real compiler (a tiny Add + Relu ONNX model), and the compiled
module through ``run-module`` (buffer-view I/O, both drivers, traces) and
``benchmark-module``."""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from pyree.tools import compile as compile_tool


def add_relu_model(path):
    """z = Relu(x + y), x and y of shape [N, 4] (N a symbolic dimension)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 4])
    graph = helper.make_graph([helper.make_node("Add", ["x", "y"], ["s"], name="Add_0"),
                               helper.make_node("Relu", ["s"], ["z"], name="Relu_1")],
                              "addrelu", [x, y], [z])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """(model path, module compiled for 2x4 inputs) via the CLI."""
    from pyree import cli

    root = tmp_path_factory.mktemp("compiled")
    model = add_relu_model(root / "addrelu.onnx")
    out = root / "addrelu_2x4.pyrm"
    assert cli.main(["compile", str(model), "-o", str(out), "--input-shape", "x=2x4",
                     "--input_shape=y=2x4", "--no-progress"]) == 0
    return model, out


X = np.array([[1, -2, 3, -4], [5, -6, 7, -8]], np.float32)
Y = np.array([[0.5, 1, -4, 3], [-5, 7, -7, 9]], np.float32)


@pytest.mark.parametrize("device", ["local-sync", "local-task"])
def test_compiled_module_runs_with_buffer_views(cli_run, compiled, tmp_path, device):
    _, module = compiled
    np.save(tmp_path / "x.npy", X)
    trace = tmp_path / "trace.json"
    code, out, err = cli_run("run-module", "--module", module, "--function", "main",
                             "--device", device, f"--input=@{tmp_path / 'x.npy'}",
                             "--input=2x4xf32=0.5 1 -4 3 -5 7 -7 9",
                             f"--output=@{tmp_path / 'z.npy'}", "--trace", trace)
    assert (code, out, err) == (0, "EXEC @main\n", "")
    z = np.load(tmp_path / "z.npy")
    assert z.dtype == np.float32 and z.shape == (2, 4)
    np.testing.assert_array_equal(z, np.maximum(X + Y, 0))
    events = json.loads(trace.read_text())["traceEvents"]
    dispatches = [e for e in events if e.get("cat") == "dispatch"]
    # Emission names each executable function after the ONNX nodes it computes.
    assert [e["name"] for e in dispatches] == ["Add_0+Relu_1"]
    assert dispatches[0]["args"]["function"] == "Add_0+Relu_1"
    assert {("vm", "module.main"), ("hal.queue", "queue.execute"),
            ("hal.fence", "fence.await")} <= {(e.get("cat"), e["name"]) for e in events}
    code, out, err = cli_run("run-module", "--module", module, "--function", "main",
                             "--device", device, "--input=2x4xf32=1", "--input=2x4xf32=-3")
    assert (code, err) == (0, "")
    assert out == "EXEC @main\nresult[0]: hal.buffer_view\n2x4xf32=[0 0 0 0][0 0 0 0]\n"


def test_compiled_module_checks_input_shapes(cli_run, compiled):
    _, module = compiled
    code, out, err = cli_run("run-module", "--module", module, "--function", "main",
                             "--input=3x4xf32=1", "--input=3x4xf32=1")
    assert code == 1 and out == "EXEC @main\n"
    assert err.startswith("pyree: error: INVALID_ARGUMENT")


def test_benchmark_compiled_module(cli_run, compiled):
    _, module = compiled
    code, out, err = cli_run("benchmark-module", "--module", module, "--function", "main",
                             "--input=2x4xf32=1", "--input=2x4xf32=2", "--iterations=2",
                             "--device", "local-task")
    assert (code, err) == (0, "")
    assert "BM_main/process_time/real_time_p99" in out


def test_compile_progress_bar_and_summary(cli_run, compiled, tmp_path):
    model, _ = compiled
    out_path = tmp_path / "m.pyrm"
    code, out, err = cli_run("compile", model, "-o", out_path, "--dim", "N=3", "--progress")
    assert code == 0
    assert out == f"compiled {model} -> {out_path} ({out_path.stat().st_size} bytes, " \
                  "1 dispatch region, 1 kernel prepared)\n"
    # tqdm's bar: the region being lowered, then 1/1.
    assert "compiling:" in err and "Add_0+Relu_1" in err and "1/1" in err
    # --dim N=3 fixed the symbolic dimension.
    code, out, err = cli_run("run-module", "--module", out_path, "--function", "main",
                             "--input=3x4xf32=-1", "--input=3x4xf32=2")
    assert out.endswith("3x4xf32=[1 1 1 1][1 1 1 1][1 1 1 1]\n") and err == ""


def test_compile_without_a_terminal_draws_no_bar(cli_run, compiled, tmp_path):
    model, _ = compiled
    copy = tmp_path / "copy.onnx"
    copy.write_bytes(model.read_bytes())
    code, out, err = cli_run("compile", copy, "--input-shape", "x=1x4",
                             "--input-shape", "y=1x4")
    assert (code, err) == (0, "")     # captured stderr is not a terminal
    assert out.startswith(f"compiled {copy} -> {tmp_path / 'copy.pyrm'} (")
    code, out, _ = cli_run("run-module", "--module", tmp_path / "copy.pyrm", "--function",
                           "main", "--input=1x4xf32=1 2 3 4", "--input=1x4xf32=-2")
    assert out.endswith("1x4xf32=[0 0 1 2]\n")


def test_progress_callback_drives_the_bar(monkeypatch, cli_run, compiled, tmp_path):
    """The CLI hands compile_file a progress callback; several regions move the bar."""
    from pyree import compiler

    model, _ = compiled
    seen = {}

    def fake_compile_file(src, dst, *, options, progress, prepare_kernels=False):
        seen["options"] = options
        for done, what in enumerate(["Conv_0+Relu_1", "MatMul_2", "Softmax_3"]):
            progress(done, 3, what)
        progress(3, 3, "lowered")
        with open(dst, "wb") as f:
            f.write(b"PYRM")
    monkeypatch.setattr(compiler, "compile_file", fake_compile_file)
    code, out, err = cli_run("compile", model, "-o", tmp_path / "f.pyrm", "--progress",
                             "--input-shape", "x=", "--dim", "N=7", "--no-prepare-kernels")
    assert code == 0 and out.endswith("(4 bytes, 3 dispatch regions)\n")
    assert seen["options"].input_shapes == {"x": ()}
    assert seen["options"].dim_params == {"N": 7}
    assert "MatMul_2" in err and "Softmax_3" in err and "3/3" in err


def test_compile_prepares_kernels_so_loading_compiles_nothing(compiled, tmp_path):
    """Kernels are compiled into the disk cache at compile time (a fresh cache here): a
    new process that loads and runs the module compiles none."""
    import subprocess
    import sys

    model, _ = compiled
    cache = tmp_path / "cache"
    env = {**os.environ, "PYREE_CACHE_DIR": str(cache)}
    out_path = tmp_path / "p.pyrm"
    proc = subprocess.run([sys.executable, "-m", "pyree", "compile", str(model), "-o",
                           str(out_path), "--dim", "N=2"], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith(", 1 kernel prepared)\n")
    script = (
        "import numpy as np\n"
        "from pyree.runtime import load_module\n"
        "from pyree.modules.hal.kernels import compiler as kc\n"
        f"with load_module({str(out_path)!r}) as m:\n"
        "    (y,) = m.main(np.ones((2, 4), np.float32), -np.ones((2, 4), np.float32))\n"
        "print(kc.STATS['compiled'], kc.STATS['cache_hits'], float(y.sum()))\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    compiled_count, hits, total = proc.stdout.split()
    assert (int(compiled_count), float(total)) == (0, 0.0) and int(hits) >= 1


def test_compile_errors(cli_run, tmp_path):
    code, out, err = cli_run("compile", tmp_path / "nope.onnx")
    assert (code, out) == (1, "")
    assert err == f"pyree: error: NOT_FOUND; cannot read '{tmp_path / 'nope.onnx'}': " \
                  "no such file\n"
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    code, out, err = cli_run("compile", bad)
    assert code == 1 and err.startswith(f"pyree: error: INVALID_ARGUMENT; '{bad}' is not an "
                                        "ONNX model")
    assert not (tmp_path / "bad.pyrm").exists()
    for flag in ("--input-shape=x=2xq", "--input-shape=2x3", "--dim=N=-1", "--dim=N"):
        code, out, err = cli_run("compile", bad, flag)
        assert code == 2 and "compile: error: argument" in err


def test_default_output():
    assert compile_tool.default_output("m/model.onnx") == "m/model.pyrm"
    assert compile_tool.default_output("m/model.ONNX") == "m/model.pyrm"
    assert compile_tool.default_output("model.bin") == "model.bin.pyrm"


def test_progress_bar_on_a_terminal_by_default(compiled, tmp_path):
    """No flag: the bar is drawn when stderr is a terminal (a pseudo-terminal here)."""
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import sys
    import termios

    model, _ = compiled
    primary, secondary = pty.openpty()
    # A new pseudo-terminal is 0 columns wide (tqdm would draw an empty bar): 24 x 80.
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pyree", "compile", str(model), "-o",
             str(tmp_path / "tty.pyrm"), "--dim", "N=2"],
            stdout=subprocess.PIPE, stderr=secondary, timeout=300, check=False)
        os.close(secondary)
        secondary = None
        drawn = b""
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:     # EIO: the terminal's other end is closed and drained
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        if secondary is not None:
            os.close(secondary)
        os.close(primary)
    assert proc.returncode == 0
    assert proc.stdout.decode().startswith(f"compiled {model} -> ")
    assert b"compiling:" in drawn and b"Add_0+Relu_1" in drawn and b"1/1" in drawn
