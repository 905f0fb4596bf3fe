"""Runs the op conformance programs in ``tests/vmasm/*.vmasm`` through ``pyree vmtest``.

The conventions are the CLI's (``pyree/tools/vmtest.py``): every exported ``test_*``
function takes no arguments and must succeed (the program checks its own results and
``vm.fail``s with a message on a mismatch); every ``fail_*`` must fail, with the status code
named in ``fail_<CODE>_...`` when there is one; each function runs in a fresh context.

A header line ``// requires: lib/NAME.vmasm`` (or ``lib/NAME.py`` for native modules)
names a companion module registered first: the ``--module`` of the CLI. The whole suite
from the shell::

    pyree vmtest --module tests/vmasm/lib/call_lib.vmasm \\
        --module tests/vmasm/lib/variadic_lib.py tests/vmasm/*.vmasm

This file only parametrises pytest over the files and functions, one test per function.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

from pyree.status import PyreeError
from pyree.tools import loader, vmtest

VMASM_DIR = Path(__file__).resolve().parent.parent / "vmasm"
_REQUIRES = re.compile(r"^\s*(?://|#)\s*requires:\s*(\S+)\s*$")


def requirements(path: Path) -> list[str]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _REQUIRES.match(line)
        if match:
            out.append(str((path.parent / match.group(1)).resolve()))
    return out


@functools.cache
def load(path: str) -> tuple:
    return tuple(loader.load_modules(path))


def _cases():
    params = []
    for path in sorted(VMASM_DIR.glob("*.vmasm")):
        try:
            module = load(str(path))[-1]
        except PyreeError:  # reported by the test below, without hiding the other files
            params.append(pytest.param(path, None, id=f"{path.stem}::<load>"))
            continue
        for export in module.exports():
            if export.name.startswith(("test_", "fail_")):
                params.append(pytest.param(path, export.name, id=f"{path.stem}::{export.name}"))
    return params


@pytest.mark.parametrize("path,name", _cases())
def test_vmasm(path: Path, name: str | None):
    module = load(str(path))[-1]  # a file that does not assemble or verify fails here
    assert name is not None, f"{path.name} loaded on retry but not at collection"
    preloads = [m for req in requirements(path) for m in load(req)]
    outcome = vmtest.run_test(preloads, module, name, f"{path.name}::{name}")
    assert outcome.failure is None, outcome.line()
