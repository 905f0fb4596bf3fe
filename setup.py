"""Maps the repository's root folders onto the single import root ``pyree``.

``pyree`` itself lives in ``pyree/``; ``pyree.vm`` in ``vm/``, ``pyree.bytecode`` in
``bytecode/``, ``pyree.modules`` in ``modules/`` and ``pyree.compiler`` in ``compiler/``.
Subpackages are discovered so that new folders need no edit here.
"""

import os

from setuptools import setup

ROOTS = {
    "pyree": "pyree",
    "pyree.vm": "vm",
    "pyree.bytecode": "bytecode",
    "pyree.modules": "modules",
    "pyree.compiler": "compiler",
}


def _discover():
    packages, package_dir = [], {}
    for name, folder in ROOTS.items():
        package_dir[name] = folder
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "__")))
            if "__init__.py" not in filenames:
                dirnames[:] = []
                continue
            rel = os.path.relpath(dirpath, folder)
            packages.append(name if rel == "." else name + "." + rel.replace(os.sep, "."))
    return packages, package_dir


packages, package_dir = _discover()
setup(packages=packages, package_dir=package_dir)
