"""Runs the HAL programs of ``tests/vmasm_hal/*.vmasm`` through ``pyree vmtest``'s code on
``local-sync`` and ``local-task`` (one test per function and driver), as the CLI does::

    pyree vmtest --device local-sync tests/vmasm_hal/*.vmasm
    pyree vmtest --device local-task tests/vmasm_hal/*.vmasm

The programs call the ``hal`` module exactly as IREE-compiled programs do (import names,
cconvs, ``vm.call.variadic`` with ``segments[...]`` for spans). Rodata that follows a
``// text[N]: TEXT`` comment must be TEXT's bytes (``tests/vmasm_hal/update_rodata.py``
rewrites them); that is checked here too.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import pytest

from pyree import cli
from pyree.status import PyreeError
from pyree.tools import device as tool_device
from pyree.tools import loader, vmtest

VMASM_DIR = Path(__file__).resolve().parent.parent / "vmasm_hal"
DRIVERS = ("local-sync", "local-task")


def _update_rodata():
    spec = importlib.util.spec_from_file_location("update_rodata",
                                                  VMASM_DIR / "update_rodata.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def load(path: str):
    return loader.load_modules(path)[-1]


def _cases():
    params = []
    for path in sorted(VMASM_DIR.glob("*.vmasm")):
        try:
            module = load(str(path))
        except PyreeError:
            params.append(pytest.param(path, None, id=f"{path.stem}::<load>"))
            continue
        for export in module.exports():
            if export.name.startswith(("test_", "fail_")):
                params.append(pytest.param(path, export.name, id=f"{path.stem}::{export.name}"))
    return params


@pytest.fixture(scope="module", params=DRIVERS)
def session(request):
    with tool_device.Session(request.param) as s:
        yield s


@pytest.mark.parametrize("path,name", _cases())
def test_vmasm_hal(session, path: Path, name: str | None):
    module = load(str(path))
    assert name is not None
    preloads = session.with_hal([module])[:-1]
    assert [m.name for m in preloads] == ["hal"]
    outcome = vmtest.run_test(preloads, module, name, f"{path.name}::{name}")
    assert outcome.failure is None, outcome.line()


@pytest.mark.parametrize("path", sorted(VMASM_DIR.glob("*.vmasm")), ids=lambda p: p.stem)
def test_rodata_matches_its_text(path: Path):
    lines = path.read_text(encoding="utf-8").split("\n")
    for index, segment, expected in _update_rodata().expected_rodata(lines):
        assert lines[index] == f"vm.rodata[{segment}] = {expected}", (
            f"{path.name}:{index + 1}: rodata {segment} is stale; run "
            "python tests/vmasm_hal/update_rodata.py")


@pytest.mark.parametrize("driver", DRIVERS)
def test_cli_vmtest(driver, capsys):
    files = [str(p) for p in sorted(VMASM_DIR.glob("*.vmasm"))]
    code = cli.main(["vmtest", "--device", driver, *files])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.rstrip().endswith(" 0 failed")
