"""Shared helpers for the VM behaviour tests (contexts, native modules, invocation,
yields, threads, limits, backtraces).

* :func:`asm` assembles ``.vmasm`` snippets (each dedented, joined) into a loaded bytecode
  module; :func:`source` is the joined text, for a module of the test's own functions
  plus example functions taken from ``tests/programs`` (:func:`programs.function`);
* :func:`raises_exactly` is ``pytest.raises`` that also checks the status message and code;
* :class:`Token` is a custom ref type (``!vmtest.token``), weakref-able, so tests can see
  when the VM drops its last reference;
* :class:`EventLog` is a native module ``log`` whose ``event(who, what)`` export, its
  ``notify`` hook and its state lifetime append to one Python list, for ordering tests;
* :func:`logged_module` builds a bytecode module whose ``__init``/``__deinit``/``__notify``
  report to ``log``;
* :func:`run_isolated` runs a snippet in a fresh interpreter (for tests that, on a
  regression, could exhaust the C stack and take pytest down with them).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap

import pytest

from pyree import vm
from pyree.vm import NativeModule, export


def source(*texts: str) -> str:
    return "\n".join(textwrap.dedent(text) for text in texts)


def asm(*texts: str, filename: str = "<vmasm>") -> vm.BytecodeModule:
    return vm.BytecodeModule.from_vmasm(source(*texts), filename=filename)


@contextlib.contextmanager
def raises_exactly(cls: type, message: str):
    """``pytest.raises(cls)`` whose error also has exactly ``message`` and ``cls.code``."""
    with pytest.raises(cls) as info:
        yield info
    assert info.value.message == message
    assert info.value.code == cls.code


class Token:
    """A custom ref type object carrying an integer."""

    def __init__(self, value: int = 0):
        self.value = value

    def __repr__(self) -> str:
        return f"Token({self.value})"


TOKEN = vm.register_ref_type("vmtest.token", Token)

#: ``what`` codes of :class:`EventLog` events sent by :func:`logged_module`.
KINDS = {1: "init", 2: "deinit", 3: "notify"}


class EventLog(NativeModule):
    """``log.event(who, what)``: records ``(who, kind)``; ``__notify`` events record
    ``(who, "notify", signal)``. The native module's own hooks record under ``"log"``."""

    name = "log"
    version = 1

    def __init__(self, events: list | None = None, names: dict | None = None):
        super().__init__()
        self.events = [] if events is None else events
        self.names = names if names is not None else {}

    def alloc_state(self, context):
        self.events.append(("log", "alloc"))
        return {"context": context}

    def free_state(self, state):
        self.events.append(("log", "free"))

    def notify(self, state, signal):
        self.events.append(("log", "notify", signal))

    @export("0ii_v")
    def event(self, state, who, what):
        name = self.names.get(who, who)
        if what >= 100:
            self.events.append((name, "notify", what - 100))
        else:
            self.events.append((name, KINDS[what]))


def logged_module(name: str, who: int, *, init_fails: bool = False,
                  deinit_fails: bool = False, extra: str = "") -> vm.BytecodeModule:
    """A module ``name`` reporting its special functions to ``log`` as ``who``."""
    init_tail = ('  %i3 = vm.const.i32 9\n  vm.fail %i3, "init refused"'
                 if init_fails else "  vm.return")
    deinit_tail = ('  %i3 = vm.const.i32 13\n  vm.fail %i3, "deinit refused"'
                   if deinit_fails else "  vm.return")
    text = f"""\
vm.module @{name} version 1
vm.import @log.event cconv "0ii_v"
{extra}
vm.func @__init() -> () {{
  %i0 = vm.const.i32 {who}
  %i1 = vm.const.i32 1
  vm.call @log.event(%i0, %i1)
{init_tail}
}}
vm.export @__init

vm.func @__deinit() -> () {{
  %i0 = vm.const.i32 {who}
  %i1 = vm.const.i32 2
  vm.call @log.event(%i0, %i1)
{deinit_tail}
}}
vm.export @__deinit

vm.func @__notify(%i0: i32) -> () {{
  %i1 = vm.const.i32 100
  %i2 = vm.add.i32 %i0, %i1
  %i3 = vm.const.i32 {who}
  vm.call @log.event(%i3, %i2)
  vm.return
}}
vm.export @__notify
"""
    return vm.BytecodeModule.from_vmasm(text)


def run_isolated(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter with this directory importable."""
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    prelude = f"import sys; sys.path.insert(0, {here!r})\n"
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=timeout)
