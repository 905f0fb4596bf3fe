"""Module files named on the command line.

* ``.vmasm``: assembled (:func:`pyree.bytecode.asm.assemble`);
* ``.py``: a Python file defining native modules, loaded with :mod:`importlib` from its
  path: its ``MODULES`` list (module instances or :class:`~pyree.vm.NativeModule`
  subclasses) if it has one, else every ``NativeModule`` subclass with a name that the file
  itself defines, in definition order;
* anything else: a ``.pyrm`` container (:func:`pyree.bytecode.container.load_file`).

``-`` reads ``.vmasm`` text (or a container, recognised by its magic) from stdin. Every
failure is a :class:`~pyree.status.PyreeError`: unreadable files are NOT_FOUND /
PERMISSION_DENIED / UNAVAILABLE, a Python file that fails to import is INVALID_ARGUMENT
naming the exception.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import sys
import traceback

from pyree import status
from pyree.bytecode import container
from pyree.bytecode.module_def import ModuleDef
from pyree.vm import BytecodeModule, Module, NativeModule

_counter = itertools.count()


def read_bytes(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        text = f"cannot read '{path}': {e.strerror or e}"
        if isinstance(e, FileNotFoundError):
            raise status.NotFoundError(text) from None
        if isinstance(e, PermissionError):
            raise status.PermissionDeniedError(text) from None
        raise status.UnavailableError(text) from None


def display_name(path: str) -> str:
    return "<stdin>" if path == "-" else path


def assemble_bytes(data: bytes, path: str) -> ModuleDef:
    """Assemble ``.vmasm`` text read from ``path`` (named in error locations)."""
    from pyree.bytecode.asm import assemble

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise status.InvalidArgumentError(
            f"{display_name(path)}: not UTF-8 text (byte offset {e.start})") from None
    return assemble(text, display_name(path))


def load_module_def(path: str) -> ModuleDef:
    """The :class:`ModuleDef` of a ``.vmasm`` or ``.pyrm`` file (not verified)."""
    if path.endswith(".vmasm"):
        return assemble_bytes(read_bytes(path), path)
    if path == "-":
        data = read_bytes(path)
        return container.read(data) if data.startswith(container.MAGIC) \
            else assemble_bytes(data, path)
    return container.load_file(path)


def load_modules(path: str) -> list[Module]:
    """The modules a file provides (one, except for Python files)."""
    if path.endswith(".py"):
        return load_native_modules(path)
    return [BytecodeModule(load_module_def(path))]


def load_all(paths) -> list[Module]:
    return [m for path in paths for m in load_modules(path)]


def load_native_modules(path: str) -> list[Module]:
    """The native modules defined by the Python file at ``path``."""
    if not os.path.isfile(path):
        raise status.NotFoundError(f"cannot read '{path}': no such file")
    name = f"_pyree_cli_native_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise status.InvalidArgumentError(f"cannot import '{path}' as a Python file")
    py_module = importlib.util.module_from_spec(spec)
    sys.modules[name] = py_module  # dataclasses, pickling and typing look modules up here
    try:
        spec.loader.exec_module(py_module)
    except Exception as e:
        del sys.modules[name]
        detail = "".join(traceback.format_exception_only(type(e), e)).strip()
        raise status.InvalidArgumentError(f"importing '{path}' failed: {detail}") from e
    found = getattr(py_module, "MODULES", None)
    if found is not None and not isinstance(found, (list, tuple)):
        raise status.InvalidArgumentError(
            f"'{path}': MODULES must be a list, got {type(found).__name__}")
    if found is None:
        found = [obj for obj in vars(py_module).values()
                 if isinstance(obj, type) and issubclass(obj, NativeModule)
                 and obj.__module__ == name and obj.name]
    modules = [_instantiate(obj, path) for obj in found]
    if not modules:
        raise status.InvalidArgumentError(
            f"'{path}' defines no native module (a pyree.vm.NativeModule subclass with a "
            "name, or a MODULES list)")
    return modules


def _instantiate(obj, path: str) -> Module:
    if isinstance(obj, type) and issubclass(obj, Module):
        try:
            obj = obj()
        except status.PyreeError:
            raise
        except Exception as e:  # user code: report it, never a traceback
            raise status.InvalidArgumentError(
                f"'{path}': creating {obj.__name__} failed: {type(e).__name__}: {e}") from e
    if not isinstance(obj, Module):
        raise status.InvalidArgumentError(
            f"'{path}': MODULES holds {type(obj).__name__}, not a pyree module")
    return obj
