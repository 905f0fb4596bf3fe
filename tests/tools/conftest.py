"""Fixtures for the command-line tests: small modules (mostly from ``vmasm.md`` 8) written
to a temporary directory, and a ``cli`` runner around :func:`pyree.cli.main`."""

from __future__ import annotations

import programs
import pytest

from pyree import cli

# vmasm.md 8.4 as printed keeps the i64 buffer length of @mixed in the odd pair %i7:8, which
# the verifier refuses: these tests run the program, so it moves to the even pair %i8:9.
LISTS = programs.text("lists").replace("%i7:8", "%i8:9")

SOURCES = {
    "counter.vmasm": None,  # the bundled example, read from examples/
    **{f"{name}.vmasm": programs.text(name) for name in ("calls", "mathlib", "app", "state",
                                                         "classify")},
    "lists.vmasm": LISTS,
    "values.vmasm": """\
vm.module @values version 1

vm.func @half(%i0: f32) -> (f32) {
  %i1 = vm.const.f32 0.5
  %i2 = vm.mul.f32 %i0, %i1
  vm.return %i2
}
vm.export @half

vm.func @big(%i0:1: f64) -> (f64, i64) {
  %i2:3 = vm.const.f64 1e20
  %i4:5 = vm.const.i64 -5000000000
  vm.return %i2:3, %i4:5
}
vm.export @big

vm.func @echo(%i0:1: i64, %i2: i32, %r0: !vm.buffer) -> (i64, i32, !vm.buffer) {
  vm.return %i0:1, %i2, %r0
}
vm.export @echo

vm.func @bytes() -> (!vm.buffer) {
  %i0:1 = vm.const.i64 4
  %i2 = vm.const.i32 0
  %r0 = vm.buffer.alloc %i0:1, %i2
  %i3 = vm.const.i32 258
  %i4:5 = vm.const.i64 0
  vm.buffer.store.i32 %i3, %r0, %i4:5
  vm.return %R0
}
vm.export @bytes

vm.func @nested() -> (!vm.list<!vm.opaque>) {
  %i0 = vm.const.i32 1
  %r0 = vm.list.alloc %i0 : !vm.list<!vm.opaque>
  %r1 = vm.list.alloc %i0 : !vm.list<i8>
  vm.list.resize %r1, %i0
  %i1 = vm.const.i32 0
  %i2 = vm.const.i32 -3
  vm.list.set.i32 %r1, %i1, %i2
  vm.list.resize %r0, %i0
  vm.list.set.ref %r0, %i1, %R1
  vm.return %R0
}
vm.export @nested
""",
    "tests.vmasm": """\
vm.module @tests version 1
vm.rodata[0] = 00000000

vm.func @test_ok() -> () {
  vm.return
}
vm.export @test_ok

vm.func @test_broken() -> () {
  %i0 = vm.const.i32 3
  vm.fail %i0, "broken on purpose"
}
vm.export @test_broken

vm.func @fail_any() -> () {
  %i0 = vm.const.i32 13
  vm.fail %i0, "internal"
}
vm.export @fail_any

vm.func @fail_OUT_OF_RANGE_read() -> (i32) {
  %r0 = vm.const.ref.rodata 0
  %i0:1 = vm.const.i64 5
  %i2 = vm.buffer.load.i32 %r0, %i0:1
  vm.return %i2
}
vm.export @fail_OUT_OF_RANGE_read
vm.export @fail_INVALID_ARGUMENT_wrong_code = @fail_OUT_OF_RANGE_read

vm.func @fail_returns() -> () {
  vm.return
}
vm.export @fail_returns

vm.func @helper() -> () {
  vm.return
}
vm.export @helper
""",
}

NATIVE = '''\
from pyree.vm import NativeModule, export


class Extras(NativeModule):
    name = "extras"
    version = 1

    @export("0i_i")
    def cube(self, state, x):
        return x * x * x


class _Unnamed(NativeModule):
    """No name: skipped when the file is scanned."""
'''


@pytest.fixture
def files(tmp_path, monkeypatch):
    """Writes every source to ``tmp_path`` and changes into it; returns the path."""
    from pyree.tools import demo

    for name, text in SOURCES.items():
        (tmp_path / name).write_text(demo.example_text() if text is None else text)
    (tmp_path / "extras.py").write_text(NATIVE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def cli_run(capsys):
    """``cli_run(*argv) -> (exit status, stdout, stderr)``."""

    def run(*argv):
        code = cli.main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err
    return run
