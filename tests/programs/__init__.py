"""The example programs of ``vmasm.md`` section 8, one ``.vmasm`` file each, verbatim, for
every test that needs them.

``tests/`` is on ``sys.path`` because of ``tests/conftest.py`` (pytest's default ``prepend``
import mode), so the tests ``import programs``.

* :func:`text` is a program's source; :func:`module` loads it as a bytecode module;
* :func:`function` is one ``vm.func`` of a program through its ``vm.export`` line, for a
  test module that carries an example function among its own.

As printed, ``lists.vmasm`` keeps the i64 buffer length of ``@mixed`` in the odd pair
``%i7:8``: it assembles, but the verifier refuses to load it (``tests/tools/conftest.py``
runs it with the pair moved to ``%i8:9``).
"""

from __future__ import annotations

from pathlib import Path

from pyree import vm

HERE = Path(__file__).resolve().parent

#: The programs, in the order of ``vmasm.md`` section 8.
NAMES = ("counter", "calls", "mathlib", "app", "lists", "state", "classify")


def path(name: str) -> Path:
    return HERE / f"{name}.vmasm"


def text(name: str) -> str:
    return path(name).read_text()


def module(name: str) -> vm.BytecodeModule:
    """The program loaded (assembled and verified); its source is ``NAME.vmasm``."""
    return vm.BytecodeModule.from_vmasm(text(name), filename=f"{name}.vmasm")


def function(name: str, func: str) -> str:
    """``vm.func @func`` of program ``name`` up to and including ``vm.export @func``."""
    source = text(name)
    start = source.index(f"vm.func @{func}(")
    export = f"vm.export @{func}\n"
    return source[start:source.index(export, start) + len(export)]
