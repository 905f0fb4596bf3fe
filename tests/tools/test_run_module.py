"""``pyree run-module``: modules, functions, inputs, result printing, outputs, errors."""

from __future__ import annotations

import numpy as np
import pytest


def assert_no_traceback(err: str):
    assert "Traceback" not in err

def run_module(cli_run, module, function, *inputs, extra=()):
    argv = ["run-module", *[f"--module={m}" for m in module.split(",")],
            "--function", function, *[f"--input={i}" for i in inputs], *extra]
    return cli_run(*argv)


@pytest.mark.parametrize("module, function, inputs, expected", [
    ("calls.vmasm", "main", ["5000000000"], ["i64=280000000000", "i32=9"]),
    ("values.vmasm", "half", ["5"], ["f32=2.5"]),
    ("values.vmasm", "big", ["(null)"], ["f64=1e+20", "i64=-5000000000"]),
    ("values.vmasm", "echo", ["0x7fffffffffffffff", "017", "(null)"],
     ["i64=9223372036854775807", "i32=15", "(null)"]),
    ("values.vmasm", "echo", ["-1", "0xFFFFFFFF", "(ignored)"], ["i64=-1", "i32=-1", "(null)"]),
    ("classify.vmasm", "classify", ["0", "-2.5"], ["i32=-100"]),
    ("classify.vmasm", "classify", ["1", "-2.5"], ["i32=20"]),
    ("classify.vmasm", "classify", ["7", "(null)"], ["i32=-1"]),
    ("state.vmasm", "lookup", ["2"], ["i32=40", "i64=40"]),
])
def test_run_module_scalars(files, cli_run, module, function, inputs, expected):
    code, out, err = run_module(cli_run, module, function, *inputs)
    assert (code, err) == (0, "")
    assert out == f"EXEC @{function}\n" + "".join(
        f"result[{i}]: {text}\n" for i, text in enumerate(expected))


def test_run_module_lists(files, cli_run):
    _, out, _ = run_module(cli_run, "lists.vmasm", "mixed")
    assert out == ("EXEC @mixed\nresult[0]: vm.list\nchild_list[0]: i32=42\n"
                   "child_list[1]: vm.buffer\n(no printer)\n\nresult[1]: i32=8\n")
    _, out, _ = run_module(cli_run, "lists.vmasm", "squares", "3")
    assert out == ("EXEC @squares\nresult[0]: vm.list\nchild_list[0]: i32=0\n"
                   "child_list[1]: i32=1\nchild_list[2]: i32=4\n\n")
    _, out, _ = run_module(cli_run, "values.vmasm", "nested")
    assert out == ("EXEC @nested\nresult[0]: vm.list\nchild_list[0]: vm.list\n"
                   "child_list[0]: i8=-3\n\n\n")


def test_run_module_buffer_result(files, cli_run):
    _, out, _ = run_module(cli_run, "values.vmasm", "bytes")
    assert out == "EXEC @bytes\nresult[0]: vm.buffer\n(no printer)\n"


def test_run_module_imports_in_registration_order(files, cli_run):
    _, out, _ = run_module(cli_run, "mathlib.vmasm,app.vmasm", "sum_of_squares", "3", "4")
    assert out.endswith("result[0]: i32=25\n")
    code, out, err = run_module(cli_run, "app.vmasm", "sum_of_squares", "3", "4")
    assert code == 1 and out == ""
    assert err == ("pyree: error: NOT_FOUND; module 'mathlib' required for import "
                   "'mathlib.square' not registered with the context; resolving module "
                   "'app' imports\n")


def test_run_module_native_python_module(files, cli_run):
    _, out, _ = run_module(cli_run, "extras.py,mathlib.vmasm,app.vmasm", "sum_of_squares",
                           "3", "4")
    assert out.endswith("result[0]: i32=15625\n")  # the optional import is resolved now
    _, out, _ = run_module(cli_run, "extras.py", "cube", "-2")
    assert out == "EXEC @cube\nresult[0]: i32=-8\n"


def test_run_module_native_modules_list(files, cli_run):
    (files / "listed.py").write_text(
        "from pyree.vm import NativeModule, export\n\n"
        "class Twice(NativeModule):\n    name = 'twice'\n\n"
        "    @export('0I_I')\n    def run(self, state, x):\n        return 2 * x\n\n"
        "class Ignored(NativeModule):\n    name = 'ignored'\n\n"
        "MODULES = [Twice()]\n")
    code, out, _ = run_module(cli_run, "listed.py,calls.vmasm", "twice.run", "21")
    assert code == 0 and out == "EXEC @twice.run\nresult[0]: i64=42\n"
    code, _, err = run_module(cli_run, "listed.py", "ignored.run")
    assert code == 1 and "NOT_FOUND" in err


@pytest.mark.parametrize("source, message", [
    ("x = 1\n", "defines no native module"),
    ("MODULES = [42]\n", "MODULES holds int"),
    ("MODULES = 42\n", "MODULES must be a list, got int"),
    (("from pyree.vm import NativeModule\nclass M(NativeModule):\n    name = 'm'\n"
      "    def __init__(self):\n        raise KeyError('k')\n"),
     "creating M failed: KeyError: 'k'"),
    ("raise RuntimeError('boom')\n", "importing 'broken.py' failed: RuntimeError: boom"),
    ("def f(:\n", "importing 'broken.py' failed"),
])
def test_run_module_bad_python_module(files, cli_run, source, message):
    (files / "broken.py").write_text(source)
    code, _, err = run_module(cli_run, "broken.py", "f")
    assert code == 1 and err.startswith("pyree: error: INVALID_ARGUMENT") and message in err
    assert_no_traceback(err)


def test_run_module_qualified_function(files, cli_run):
    _, out, _ = run_module(cli_run, "mathlib.vmasm,calls.vmasm", "mathlib.square", "9")
    assert out == "EXEC @mathlib.square\nresult[0]: i32=81\n"


@pytest.mark.parametrize("function, message", [
    ("nope", "no function `nope` exported by module `calls`"),
    ("scale", "no function `scale` exported by module `calls`"),  # internal, not exported
    ("other.fn", "no function `other.fn` exported by module `calls`"),
    ("mathlib.nope", "no function `nope` exported by module `mathlib`"),
])
def test_run_module_unknown_function(files, cli_run, function, message):
    code, out, err = run_module(cli_run, "mathlib.vmasm,calls.vmasm", function)
    assert code == 1 and out == ""
    assert err == f"pyree: error: NOT_FOUND; {message}\n"


def test_run_module_failure_prints_status_and_backtrace(files, cli_run):
    code, out, err = run_module(cli_run, "classify.vmasm", "classify", "2", "0")
    assert code == 1 and out == "EXEC @classify\n"
    first, *frames = err.splitlines()
    assert first == ("pyree: error: FAILED_PRECONDITION; case 2 is not supported; "
                     "invoking function 'classify'")
    assert frames and all("bytecode classify" in f for f in frames)
    assert_no_traceback(err)


def test_run_module_out_of_range(files, cli_run):
    code, _, err = run_module(cli_run, "state.vmasm", "lookup", "3")
    assert code == 1
    assert err.startswith("pyree: error: OUT_OF_RANGE; out-of-bounds access detected")


@pytest.mark.parametrize("inputs, message", [
    (["x", "1"], "INVALID_ARGUMENT; parsing value `x` as i32"),
    (["1", "1.5.5x"], None),  # strtof: trailing text ignored, so this one runs
    (["1", "abc"], "INVALID_ARGUMENT; parsing value `abc` as f32"),
    (["1", "1e39"], "INVALID_ARGUMENT; parsing value `1e39` as f32"),
    (["1"], ("INVALID_ARGUMENT; input list and function mismatch; expected 2 arguments but "
             "passed 1")),
    (["1", "2", "3"], "input list and function mismatch; expected 2 arguments but passed 3"),
])
def test_run_module_input_errors(files, cli_run, inputs, message):
    code, out, err = run_module(cli_run, "classify.vmasm", "classify", *inputs)
    if message is None:
        assert code == 0 and out == "EXEC @classify\nresult[0]: i32=20\n"
        return
    assert code == 1 and out == "" and message in err and err.startswith("pyree: error: ")


def test_run_module_tensor_input_without_hal_imports(files, cli_run):
    # Tensors parse even when no module imports the HAL (a host allocator holds them).
    code, out, _ = run_module(cli_run, "values.vmasm", "echo", "1", "2", "2xi32=1 2")
    assert code == 0
    assert out.endswith("result[2]: hal.buffer_view\n2xi32=1 2\n")


def test_run_module_outputs(files, cli_run):
    code, out, _ = run_module(cli_run, "values.vmasm", "big", "0",
                              extra=["--output=@big.npy", "--output=-"])
    assert code == 0 and out == "EXEC @big\nresult[1]: i64=-5000000000\n"
    array = np.load(files / "big.npy")
    assert array.dtype == np.float64 and array.shape == () and array == 1e20
    code, out, _ = run_module(cli_run, "values.vmasm", "bytes",
                              extra=["--output=@raw.bin"])
    assert code == 0 and out == "EXEC @bytes\n"
    assert (files / "raw.bin").read_bytes() == (258).to_bytes(4, "little")
    run_module(cli_run, "values.vmasm", "bytes", extra=["--output=+raw.bin"])
    assert (files / "raw.bin").read_bytes() == (258).to_bytes(4, "little") * 2


def test_run_module_appended_npy(files, cli_run):
    run_module(cli_run, "calls.vmasm", "main", "3", extra=["--output=@m.npy", "--output=+m.npy"])
    with open(files / "m.npy", "rb") as f:
        assert np.load(f) == 3 * 7 * 8 and np.load(f) == 9


def test_run_module_discarded_output(files, cli_run):
    code, out, _ = run_module(cli_run, "calls.vmasm", "main", "3", extra=["--output=",
                                                                         "--output=-"])
    assert code == 0 and out == "EXEC @main\nresult[1]: i32=9\n"


@pytest.mark.parametrize("specs, message", [
    (["-"], "1 outputs specified but the function returns 2 results"),
    (["x", "-"], "unsupported output specification `x`"),
    (["@l.npy", "-"], "vm.list results cannot be written to a file"),
])
def test_run_module_output_errors(files, cli_run, specs, message):
    code, _, err = run_module(cli_run, "lists.vmasm", "mixed",
                              extra=[f"--output={s}" for s in specs])
    assert code == 1 and message in err


def test_run_module_usage_errors(files, cli_run):
    code, out, err = cli_run("run-module", "--function", "f")
    assert code == 2 and out == "" and "--module" in err
    code, _, err = cli_run("run-module", "--module", "counter.vmasm")
    assert code == 2 and "--function" in err
    code, _, err = cli_run("run-module", "--module", "counter.vmasm", "--function", "sum_to",
                           "--device", "cuda")
    assert code == 2 and "invalid choice" in err


def test_run_module_missing_module_file(files, cli_run):
    code, _, err = run_module(cli_run, "nope.pyrm", "f")
    assert code == 1 and err.startswith("pyree: error: NOT_FOUND; cannot read 'nope.pyrm'")
    code, _, err = run_module(cli_run, "nope.py", "f")
    assert code == 1 and err.startswith("pyree: error: NOT_FOUND; cannot read 'nope.py'")


def test_run_module_device_is_accepted_and_ignored(files, cli_run):
    code, out, err = run_module(cli_run, "counter.vmasm", "sum_to", "4",
                                extra=["--device", "local-task"])
    assert code == 0 and out.endswith("result[0]: i32=10\n")
    assert err == ("pyree: note: --device local-task is accepted but ignored: no module "
                   "imports the HAL\n")


def test_internal_errors_are_one_line(files, cli_run, monkeypatch):
    from pyree.tools import run_module as tool

    def broken(*args, **kwargs):
        raise KeyError("oops")

    monkeypatch.setattr(tool, "execute", broken)
    code, _, err = run_module(cli_run, "counter.vmasm", "sum_to", "1")
    assert code == 1 and "internal error (a bug in pyree): KeyError" in err
    assert_no_traceback(err)
    monkeypatch.setenv("PYREE_TRACEBACK", "1")
    with pytest.raises(KeyError):
        run_module(cli_run, "counter.vmasm", "sum_to", "1")
