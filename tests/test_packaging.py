"""Packaging: one import root, the design card's folders mapped under it."""

import json
import pathlib
import subprocess
import sys

import pyree

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_folders_install_under_the_pyree_root():
    import pyree.bytecode
    import pyree.compiler
    import pyree.modules.hal
    import pyree.vm

    assert pathlib.Path(pyree.vm.__file__).parent == ROOT / "vm"
    assert pathlib.Path(pyree.bytecode.__file__).parent == ROOT / "bytecode"
    assert pathlib.Path(pyree.modules.hal.__file__).parent == ROOT / "modules" / "hal"
    assert pathlib.Path(pyree.compiler.__file__).parent == ROOT / "compiler"
    assert pathlib.Path(pyree.__file__).parent == ROOT / "pyree"


def test_nothing_is_installed_as_a_top_level_bytecode_or_vm_package(tmp_path):
    # From a neutral directory (the repository root itself is on sys.path in tests), no
    # top-level name may resolve into this repository; another distribution may own one
    # (PyPI's `bytecode`), which must keep working.
    code = ("import importlib.util, json; print(json.dumps({n: (s.origin if s else None) "
            "for n in ('bytecode', 'vm', 'modules', 'compiler') "
            "for s in [importlib.util.find_spec(n)]}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True)
    for name, origin in json.loads(out.stdout).items():
        if origin:
            assert not pathlib.Path(origin).resolve().is_relative_to(ROOT), name
