"""The ``pyree`` command line, through :func:`pyree.cli.main` (no subprocesses): the command
itself, demo, as-module, dump-module (with the byte-identical round trip) and vmtest.
``run-module`` has its own file, ``test_run_module.py``."""

from __future__ import annotations

import pathlib

import pytest
from pyree.bytecode import container

REPO = pathlib.Path(__file__).resolve().parents[2]


def assert_no_traceback(err: str):
    assert "Traceback" not in err


# -- the command itself ------------------------------------------------------------------------

def test_no_command_is_usage_error(cli_run):
    code, out, err = cli_run()
    assert code == 2 and out == ""
    assert "pyree: error: a command is required" in err


def test_help(cli_run):
    code, out, _ = cli_run("--help")
    assert code == 0
    for command in ("demo", "as-module", "dump-module", "run-module", "vmtest"):
        assert command in out


def test_unknown_command(cli_run):
    code, _, err = cli_run("frobnicate")
    assert code == 2 and "invalid choice" in err


# -- demo ---------------------------------------------------------------------------------------

def test_demo_counter(cli_run):
    code, out, err = cli_run("demo", "--counter")
    assert code == 0 and err == ""
    assert out.splitlines()[1:] == ["EXEC @sum_to", "result[0]: i32=5050"]


def test_demo_counter_argument(cli_run):
    code, out, _ = cli_run("demo", "--counter", "10")
    assert code == 0 and out.endswith("EXEC @sum_to\nresult[0]: i32=55\n")


def test_demo_compiles_and_runs_squeezenet(cli_run):
    """The README's main command: light_squeezenet compiled, run, checked against the
    output shipped with the model."""
    code, out, err = cli_run("demo", "--runs", "1", "--top", "3")
    assert code == 0, err
    assert "# light_squeezenet:" in out
    assert "top 3 of 1000 classes:" in out and "  3. class" in out
    assert "latency: median" in out
    assert "matches the reference output: yes" in out


def test_demo_unknown_model(cli_run):
    code, _, err = cli_run("demo", "--model", "nosuchnet")
    assert code == 2 and "no model light_nosuchnet" in err


def test_bundled_example_matches_repository_copy():
    bundled = REPO / "pyree" / "examples" / "counter.vmasm"
    assert bundled.read_text() == (REPO / "examples" / "counter.vmasm").read_text()


def test_run_repository_example(cli_run):
    code, out, _ = cli_run("run-module", "--module", REPO / "examples" / "counter.vmasm",
                           "--function", "sum_to", "--input", "0")
    assert (code, out) == (0, "EXEC @sum_to\nresult[0]: i32=0\n")


# -- as-module ----------------------------------------------------------------------------------

def test_as_module(files, cli_run):
    code, out, err = cli_run("as-module", "counter.vmasm", "-o", "out.pyrm")
    assert (code, out, err) == (0, "", "")
    module_def = container.load_file(files / "out.pyrm")
    assert module_def.name == "counter" and module_def.version == 3
    code, out, _ = cli_run("run-module", "--module", "out.pyrm", "--function", "sum_to",
                           "--input", "10")
    assert out == "EXEC @sum_to\nresult[0]: i32=55\n"


def test_as_module_default_output(files, cli_run):
    assert cli_run("as-module", "lists.vmasm")[0] == 0
    assert container.load_file(files / "lists.pyrm").name == "lists"


def test_as_module_to_stdout(files, capsysbinary):
    from pyree import cli

    assert cli.main(["as-module", "mathlib.vmasm", "-o", "-"]) == 0
    data = capsysbinary.readouterr().out
    assert data.startswith(container.MAGIC) and container.read(data).name == "mathlib"


def test_as_module_syntax_error(files, cli_run):
    (files / "bad.vmasm").write_text("vm.module @bad\nvm.func @f() -> () {\n  vm.frob %i0\n}\n")
    code, out, err = cli_run("as-module", "bad.vmasm", "-o", "bad.pyrm")
    assert code == 1 and out == ""
    assert err.startswith("pyree: error: INVALID_ARGUMENT; bad.vmasm:3:")
    assert err.count("\n") == 1
    assert_no_traceback(err)
    assert not (files / "bad.pyrm").exists()


def test_as_module_verifies(files, cli_run):
    # Assembles, but an i64 in an odd register pair fails verification at load.
    (files / "odd.vmasm").write_text(
        "vm.module @odd\nvm.func @f() -> (i64) {\n  %i1:2 = vm.const.i64 1\n"
        "  vm.return %i1:2\n}\nvm.export @f\n")
    code, _, err = cli_run("as-module", "odd.vmasm", "-o", "odd.pyrm")
    assert code == 1 and "pyree: error: INVALID_ARGUMENT; verification failed" in err
    assert not (files / "odd.pyrm").exists()
    assert cli_run("as-module", "odd.vmasm", "-o", "odd.pyrm", "--no-verify")[0] == 0
    assert (files / "odd.pyrm").exists()


def test_as_module_missing_input(files, cli_run):
    code, _, err = cli_run("as-module", "nope.vmasm", "-o", "x.pyrm")
    assert code == 1 and err.startswith("pyree: error: NOT_FOUND; cannot read 'nope.vmasm'")


def test_as_module_not_utf8(files, cli_run):
    (files / "bin.vmasm").write_bytes(b"vm.module @x\n\xff\n")
    code, _, err = cli_run("as-module", "bin.vmasm")
    assert code == 1 and "not UTF-8 text" in err


def test_as_module_unwritable_output(files, cli_run):
    code, _, err = cli_run("as-module", "counter.vmasm", "-o", files / "no" / "dir.pyrm")
    assert code == 1 and err.startswith("pyree: error: ") and "cannot write" in err


def test_as_module_usage(cli_run):
    code, _, err = cli_run("as-module")
    assert code == 2 and "IN.vmasm" in err


# -- dump-module and the round trip --------------------------------------------------------------

def test_dump_module(files, cli_run):
    cli_run("as-module", "counter.vmasm", "-o", "counter.pyrm")
    code, out, err = cli_run("dump-module", "counter.pyrm")
    assert code == 0 and err == ""
    assert out.startswith("vm.module @counter version 3\n")
    assert "vm.func @sum_to(%i0: i32) -> (i32) {" in out and "vm.export @sum_to" in out
    assert cli_run("dump-module", "counter.vmasm")[1] == out


def test_dump_module_bytecode_offsets(files, cli_run):
    code, out, _ = cli_run("dump-module", "--bytecode-offsets", "counter.vmasm")
    assert code == 0
    assert any(line.startswith("[0000") and "vm.return" in line for line in out.splitlines())
    assert cli_run("dump-module", "--bytecode_offsets", "counter.vmasm")[1] == out


@pytest.mark.parametrize("name", ["counter", "calls", "mathlib", "app", "lists", "state",
                                  "classify", "values", "tests"])
@pytest.mark.parametrize("offsets", [False, True])
def test_round_trip_is_byte_identical(files, cli_run, name, offsets):
    assert cli_run("as-module", f"{name}.vmasm", "-o", "a.pyrm")[0] == 0
    code, text, _ = cli_run("dump-module", "a.pyrm", *(["--bytecode-offsets"] * offsets))
    assert code == 0
    (files / "dump.vmasm").write_text(text)
    code, _, err = cli_run("as-module", "dump.vmasm", "-o", "b.pyrm")
    assert code == 0, err
    assert (files / "b.pyrm").read_bytes() == (files / "a.pyrm").read_bytes()


def test_dump_module_errors(files, cli_run):
    (files / "junk.pyrm").write_bytes(b"not a module")
    code, _, err = cli_run("dump-module", "junk.pyrm")
    assert code == 1 and err.startswith("pyree: error: INVALID_ARGUMENT; malformed .pyrm")
    code, _, err = cli_run("dump-module", "missing.pyrm")
    assert code == 1 and "NOT_FOUND" in err
    assert_no_traceback(err)


# -- vmtest -------------------------------------------------------------------------------------

def test_vmtest(files, cli_run):
    code, out, err = cli_run("vmtest", "tests.vmasm")
    assert code == 1 and err == ""
    lines = out.splitlines()
    assert lines == [
        "PASS tests.vmasm::test_ok",
        ("FAIL tests.vmasm::test_broken: INVALID_ARGUMENT; broken on purpose; invoking "
         "function 'test_broken'"),
        "PASS tests.vmasm::fail_any",
        "PASS tests.vmasm::fail_OUT_OF_RANGE_read",
        ("FAIL tests.vmasm::fail_INVALID_ARGUMENT_wrong_code: expected INVALID_ARGUMENT, got "
         "OUT_OF_RANGE; out-of-bounds access detected (offset=20, length=4, alignment=4, "
         "buffer length=4); invoking function 'fail_INVALID_ARGUMENT_wrong_code'"),
        "FAIL tests.vmasm::fail_returns: expected a failure, but it returned",
        "3 passed, 3 failed",
    ]


def test_vmtest_all_pass(files, cli_run):
    (files / "good.vmasm").write_text(
        "vm.module @good\nvm.import @mathlib.square cconv \"0i_i\"\n"
        "vm.func @test_square() -> () {\n  %i0 = vm.const.i32 3\n"
        "  %i1 = vm.call @mathlib.square(%i0)\n  %i2 = vm.const.i32 9\n"
        "  %i3 = vm.cmp.ne.i32 %i1, %i2\n  vm.cond_br %i3, ^bb1, ^bb2\n^bb1:\n"
        "  vm.fail %i3, \"wrong square\"\n^bb2:\n  vm.return\n}\nvm.export @test_square\n"
        "vm.func @fail_UNIMPLEMENTED_x() -> () {\n  %i0 = vm.const.i32 12\n"
        "  vm.fail %i0, \"nope\"\n}\nvm.export @fail_UNIMPLEMENTED_x\n")
    code, out, _ = cli_run("vmtest", "good.vmasm", "--module", "mathlib.vmasm")
    assert code == 0
    assert out == ("PASS good.vmasm::test_square\nPASS good.vmasm::fail_UNIMPLEMENTED_x\n"
                   "2 passed, 0 failed\n")
    # Without the preload, the context cannot be created: every function fails.
    code, out, _ = cli_run("vmtest", "good.vmasm")
    assert code == 1 and out.count("context creation failed: NOT_FOUND") == 2


def test_vmtest_fresh_context_per_function(files, cli_run):
    (files / "fresh.vmasm").write_text(
        "vm.module @fresh\nvm.global.i32 mutable @n\n"
        + "".join(f"vm.func @test_{k}() -> () {{\n  %i0 = vm.global.load.i32 @n\n"
                  "  vm.cond_br %i0, ^bb1, ^bb2\n^bb1:\n  vm.fail %i0, \"not fresh\"\n^bb2:\n"
                  "  %i1 = vm.const.i32 1\n  vm.global.store.i32 %i1, @n\n  vm.return\n}\n"
                  f"vm.export @test_{k}\n" for k in "ab"))
    code, out, _ = cli_run("vmtest", "fresh.vmasm")
    assert code == 0 and out.endswith("2 passed, 0 failed\n")


def test_vmtest_several_files_and_bad_ones(files, cli_run):
    (files / "bad.vmasm").write_text("vm.module @bad\n")
    code, out, _ = cli_run("vmtest", "counter.vmasm", "bad.vmasm", "tests.vmasm", "nope.vmasm")
    lines = out.splitlines()
    assert code == 1
    assert lines[0] == "FAIL counter.vmasm: no test_* or fail_* exports"
    assert lines[1].startswith("FAIL bad.vmasm: INVALID_ARGUMENT; ")
    assert lines[-2].startswith("FAIL nope.vmasm: NOT_FOUND; cannot read 'nope.vmasm'")
    assert lines[-1] == "3 passed, 6 failed"


def test_vmtest_arguments_are_a_failure(files, cli_run):
    (files / "args.vmasm").write_text(
        "vm.module @args\nvm.func @test_f(%i0: i32) -> () {\n  vm.return\n}\n"
        "vm.export @test_f\n")
    code, out, _ = cli_run("vmtest", "args.vmasm")
    assert code == 1
    assert out.splitlines()[0] == ("FAIL args.vmasm::test_f: test functions take no arguments "
                                   "(cconv 0i_v)")


def test_vmtest_device_and_usage(files, cli_run):
    _, out, err = cli_run("vmtest", "tests.vmasm", "--device", "local-sync")
    assert "--device local-sync is accepted but ignored" in err
    assert out.endswith("3 passed, 3 failed\n")
    assert cli_run("vmtest")[0] == 2
    assert cli_run("vmtest", "tests.vmasm", "--device", "vulkan")[0] == 2


def test_vmtest_bad_preload(files, cli_run):
    code, out, err = cli_run("vmtest", "tests.vmasm", "--module", "nope.vmasm")
    assert code == 1 and out == "" and "NOT_FOUND" in err
