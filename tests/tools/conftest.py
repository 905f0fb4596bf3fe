"""Fixtures for the command-line tests: small modules (mostly from ``vmasm.md`` 8) written
to a temporary directory, and a ``cli`` runner around :func:`pyree.cli.main`."""

from __future__ import annotations

import pytest

from pyree import cli

SOURCES = {
    "counter.vmasm": None,  # the bundled example, read from examples/
    "calls.vmasm": """\
vm.module @calls version 1

# (i64, i32) -> (i64, i32): returns a*k and k+1.
vm.func @scale(%i0:1: i64, %i2: i32) -> (i64, i32) {
  %i4:5 = vm.ext.i32.i64.s %i2
  %i6:7 = vm.mul.i64 %i0:1, %i4:5
  %i8 = vm.const.i32 1
  %i9 = vm.add.i32 %i2, %i8
  vm.return %i6:7, %i9
}

vm.func @main(%i0:1: i64) -> (i64, i32) {
  %i2 = vm.const.i32 7
  %i4:5, %i6 = vm.call @scale(%i0:1, %i2)
  %i8:9, %i10 = vm.call @calls:0(%i4:5, %i6)   // @calls:0 is @scale
  vm.return %i8:9, %i10
}
vm.export @main
""",
    "mathlib.vmasm": """\
vm.module @mathlib version 1
vm.func @square(%i0: i32) -> (i32) {
  %i1 = vm.mul.i32 %i0, %i0
  vm.return %i1
}
vm.export @square
""",
    "app.vmasm": """\
vm.module @app version 1
vm.import @mathlib.square cconv "0i_i"
vm.import optional @extras.cube cconv "0i_i"

vm.func @sum_of_squares(%i0: i32, %i1: i32) -> (i32) {
  %i2 = vm.call @mathlib.square(%i0)
  %i3 = vm.call @mathlib.square(%i1)
  %i4 = vm.add.i32 %i2, %i3
  %i5 = vm.import.resolved @extras.cube
  vm.cond_br %i5, ^bb1, ^bb2
^bb1:
  %i6 = vm.call @extras.cube(%i4)
  vm.return %i6
^bb2:
  vm.return %i4
}
vm.export @sum_of_squares
""",
    # vmasm.md 8.4, with the i64 buffer length in the even pair %i8:9.
    "lists.vmasm": """\
vm.module @lists version 1

vm.func @squares(%i0: i32) -> (!vm.list<i32>) {
  %r0 = vm.list.alloc %i0 : !vm.list<i32>
  vm.list.resize %r0, %i0
  %i1 = vm.const.i32.zero
  vm.br ^bb1
^bb1:
  %i2 = vm.cmp.lt.i32.s %i1, %i0
  vm.cond_br %i2, ^bb2, ^bb3
^bb2:
  %i3 = vm.mul.i32 %i1, %i1
  vm.list.set.i32 %r0, %i1, %i3
  %i4 = vm.const.i32 1
  %i1 = vm.add.i32 %i1, %i4
  vm.br ^bb1
^bb3:
  vm.return %R0
}
vm.export @squares

vm.func @mixed() -> (!vm.list<!vm.opaque>, i32) {
  %i0 = vm.const.i32 2
  %r0 = vm.list.alloc %i0 : !vm.list<!vm.opaque>
  vm.list.resize %r0, %i0
  %i1 = vm.const.i32 0
  %i2 = vm.const.i32 42
  vm.list.set.i32 %r0, %i1, %i2
  %i4:5 = vm.const.i64 8
  %i3 = vm.const.i32 0
  %r1 = vm.buffer.alloc %i4:5, %i3
  %i6 = vm.const.i32 1
  vm.list.set.ref %r0, %i6, %R1
  %r2 = vm.list.get.ref %r0, %i6 : !vm.buffer
  %i8:9 = vm.buffer.length %r2
  %i7 = vm.trunc.i64.i32 %i8:9
  vm.discard.refs %r2
  vm.return %R0, %i7
}
vm.export @mixed
""",
    "state.vmasm": """\
vm.module @state version 1
vm.rodata[0] = 0A0000001400000028000000   // i32 values 10 20 40
vm.global.i32 private mutable @calls
vm.global.i64 mutable @total = 0 : i64

vm.func @bump() -> (i32) {
  %i0 = vm.global.load.i32 @calls
  %i1 = vm.const.i32 1
  %i0 = vm.add.i32 %i0, %i1
  vm.global.store.i32 %i0, @calls
  vm.return %i0
}
vm.export @bump

vm.func @lookup(%i0: i32) -> (i32, i64) {
  %r0 = vm.const.ref.rodata 0
  %i2:3 = vm.ext.i32.i64.u %i0
  %i1 = vm.buffer.load.i32 %r0, %i2:3
  %i4:5 = vm.global.load.i64 @total
  %i6:7 = vm.ext.i32.i64.s %i1
  %i4:5 = vm.add.i64 %i4:5, %i6:7
  vm.global.store.i64 %i4:5, @total
  vm.discard.refs %r0
  vm.return %i1, %i4:5
}
vm.export @lookup
""",
    "classify.vmasm": """\
vm.module @classify version 1

vm.func @classify(%i0: i32, %i1: f32) -> (i32) {
  vm.br_table %i0 { default: ^bb4, 0: ^bb1, 1: ^bb2(%i0->%i5), 2: ^bb3 }
^bb1:
  %i2 = vm.const.f32 0.0
  %i3 = vm.cmp.lt.f32.o %i2, %i1          // 0.0 < x
  %i4 = vm.const.i32 100
  %i5 = vm.const.i32 -100
  %i6 = vm.select.i32 %i3 ? %i4 : %i5
  vm.return %i6
^bb2:
  %i7 = vm.const.i32 10
  %i8 = vm.const.i32 20
  %i9 = vm.const.i32 30
  %i10 = vm.switch.i32 %i5[%i7, %i8] else %i9
  vm.return %i10
^bb3:
  %i11 = vm.const.i32 9                    // FAILED_PRECONDITION
  vm.fail %i11, "case 2 is not supported"
^bb4:
  %i12 = vm.const.i32 -1
  vm.return %i12
}
vm.export @classify
""",
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
