"""Runs the op conformance programs in ``tests/vmasm/*.vmasm``.

Conventions (the same as ``pyree vmtest``):

* every exported ``test_*`` function takes no arguments and must succeed (the program
  checks its own results and ``vm.fail``s with a message on a mismatch);
* every exported ``fail_*`` function must fail; when the name continues with a status code
  name (``fail_OUT_OF_RANGE_index_past_end``) the failure must carry that code;
* each function runs in a fresh context;
* a header line ``// requires: lib/other.vmasm`` (path relative to the file) registers a
  companion module first; ``lib/name.py`` names a Python file whose
  :class:`~pyree.vm.NativeModule` subclasses are instantiated and registered.

Small on purpose: meant to be replaced by the CLI runner once it exists.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import re
from pathlib import Path

import pytest

from pyree import vm
from pyree.status import PyreeError, StatusCode

VMASM_DIR = Path(__file__).resolve().parent.parent / "vmasm"
_REQUIRES = re.compile(r"^\s*(?://|#)\s*requires:\s*(\S+)\s*$")


def requirements(path: Path) -> list[Path]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _REQUIRES.match(line)
        if match:
            out.append((path.parent / match.group(1)).resolve())
    return out


def expected_code(name: str) -> StatusCode | None:
    """The status code named after ``fail_`` (longest match), or None."""
    rest = name[len("fail_"):]
    best = None
    for code in StatusCode:
        if (rest == code.name or rest.startswith(code.name + "_")) and \
                (best is None or len(code.name) > len(best.name)):
            best = code
    return best


@functools.cache
def load_module(path: Path):
    if path.suffix == ".py":
        spec = importlib.util.spec_from_file_location(f"vmasm_lib_{path.stem}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return tuple(cls() for _, cls in inspect.getmembers(mod, inspect.isclass)
                     if issubclass(cls, vm.NativeModule) and cls.__module__ == mod.__name__)
    return (vm.BytecodeModule.from_file(path),)


def modules_for(path: Path) -> list:
    mods = []
    for req in requirements(path):
        mods.extend(load_module(req))
    return mods + list(load_module(path))


def _cases():
    params = []
    for path in sorted(VMASM_DIR.glob("*.vmasm")):
        try:
            (module,) = load_module(path)
        except PyreeError:  # reported by the test below, without hiding the other files
            params.append(pytest.param(path, None, id=f"{path.stem}::<load>"))
            continue
        for export in module.definition.exports:
            if export.name.startswith(("test_", "fail_")):
                params.append(pytest.param(path, export.name, id=f"{path.stem}::{export.name}"))
    return params


@pytest.mark.parametrize("path,name", _cases())
def test_vmasm(path: Path, name: str | None):
    modules = modules_for(path)  # a file that does not assemble or verify fails here
    assert name is not None, f"{path.name} loaded on retry but not at collection"
    with vm.Context(modules) as ctx:
        fn = ctx.lookup_function(f"{modules[-1].name}.{name}")
        assert not fn.signature.args, f"{name} must take no arguments"
        if name.startswith("test_"):
            fn()
            return
        with pytest.raises(PyreeError) as info:
            results = fn()
            pytest.fail(f"{name} was expected to fail but returned {results!r}")
        code = expected_code(name)
        if code is not None:
            assert info.value.code == code, \
                f"{name}: expected {code.name}, got {info.value.code_name}: {info.value}"
