"""Bytecode modules: a verified :class:`~pyree.bytecode.module_def.ModuleDef` made runnable.

Loading verifies every function (always), resolves the type table against the registered
ref types, creates one immutable ``vm.buffer`` per rodata segment (shared by every
context) and translates the functions into Python (``codegen``), lazily and once per
variant (with or without the instruction budget). Each context gets a
:class:`BytecodeModuleState`: zeroed rwdata, null ref globals, resolved imports, and the
translated functions bound to that state.
"""

from __future__ import annotations

import os
import threading

from pyree import status
from pyree.bytecode import cconv as cconv_mod
from pyree.bytecode import container, verifier
from pyree.bytecode.module_def import ModuleDef
from pyree.vm import ref as vmref
from pyree.vm.buffer import VmBuffer
from pyree.vm.codegen import HELPERS, ModuleTranslator
from pyree.vm.module import ExportCallables, ExportInfo, Module, ModuleState

#: Maximum VM call depth (IREE's 1 MiB stack allows about 6,500 small frames).
MAX_CALL_DEPTH = 6000


class _NoRefType:
    """No object has this class: a type check against it accepts only null."""


class BytecodeModule(Module):
    def __init__(self, module_def: ModuleDef):
        self.definition = module_def
        self.name = module_def.name
        self.version = module_def.version
        self.dependencies = module_def.dependencies
        self.instrs = verifier.verify(module_def)
        self._type_bindings = self._resolve_types()
        self.rodata = [VmBuffer.wrap(memoryview(bytes(seg)), flags=VmBuffer.ORIGIN_MODULE)
                       for seg in module_def.rodata]
        self._exports = [ExportInfo(e.name, module_def.functions[e.function].cconv)
                         for e in module_def.exports]
        self._translations: dict[bool, object] = {}
        self._lock = threading.Lock()

    # -- loading -----------------------------------------------------------------------
    @classmethod
    def from_bytes(cls, data) -> BytecodeModule:
        return cls(container.read(data))

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> BytecodeModule:
        path = os.fspath(path)
        if path.endswith(".vmasm"):
            with open(path, encoding="utf-8") as f:
                return cls.from_vmasm(f.read(), filename=path)
        with open(path, "rb") as f:
            return cls.from_bytes(f.read())

    @classmethod
    def from_vmasm(cls, text: str, filename: str = "<vmasm>") -> BytecodeModule:
        from pyree.bytecode.asm import assemble

        return cls(assemble(text, filename))

    def _resolve_types(self) -> dict:
        bindings = {}
        for i, name in enumerate(self.definition.types):
            resolved = vmref.resolve_type_name(name)
            bindings[f"_TC{i}"] = resolved.cls if isinstance(resolved, vmref.RefType) \
                else _NoRefType
            bindings[f"_RT{i}"] = resolved if isinstance(resolved, vmref.RefType) else None
            bindings[f"_LT{i}"] = resolved
        return bindings

    # -- Module interface ----------------------------------------------------------------
    def exports(self) -> list[ExportInfo]:
        return list(self._exports)

    def create_state(self, context) -> BytecodeModuleState:
        return BytecodeModuleState(self, context)

    def translation(self, budget: bool, direct: frozenset = frozenset()):
        """The translation for ``budget`` in which the imports of ordinals ``direct`` are
        called without their adapters (see :class:`~pyree.vm.module.DirectExport`)."""
        key = (budget, direct)
        tm = self._translations.get(key)
        if tm is None:
            with self._lock:
                tm = self._translations.get(key)
                if tm is None:
                    unit = ModuleTranslator(self.definition, self.instrs, budget=budget,
                                            max_depth=MAX_CALL_DEPTH, direct=direct)
                    tm = unit.translate(self.name)
                    from pyree.vm import backtrace
                    backtrace.register(tm, self)
                    self._translations[key] = tm
        return tm

    def function_label(self, ordinal: int) -> str:
        name = self.definition.function_name(ordinal)
        return f"{self.name}.{name}" if name else f"{self.name}@{ordinal}"

    def location(self, ordinal: int, pc: int) -> str | None:
        best = None
        for loc in self.definition.functions[ordinal].locations:
            if loc.pc <= pc:
                best = loc
            else:
                break
        return best.location if best is not None and best.pc == pc else None


class BytecodeModuleState(ModuleState):
    def __init__(self, module: BytecodeModule, context):
        self.module = module
        self.context = context
        d = module.definition
        self.rw = bytearray(d.rwdata_size)
        self.rg = [None] * d.ref_global_count
        #: Per import: (target state, export name) or None for unresolved optional imports.
        self.imports: list = [None] * len(d.imports)
        self._namespaces: dict[bool, dict] = {}
        self._callables: dict[tuple[str, bool], ExportCallables | None] = {}
        self._generators: dict[bool, frozenset] = {}  # budget -> of the bound translation
        self._lock = threading.Lock()

    def resolve_imports(self, context) -> None:
        for k, imp in enumerate(self.module.definition.imports):
            target = context.resolve_import(imp.full_name, imp.cconv, imp.optional,
                                            importer=self.module.name)
            if target is not None:
                _check_abi_size(k, target[0].module.lookup_export(target[1]).cconv)
            self.imports[k] = target

    def namespace(self, budget: bool) -> dict:
        ns = self._namespaces.get(budget)
        if ns is None:
            with self._lock:
                ns = self._namespaces.get(budget)
                if ns is None:
                    ns = self._build_namespace(budget)
                    self._namespaces[budget] = ns
        return ns

    def _build_namespace(self, budget: bool) -> dict:
        bound = [None if target is None else
                 target[0].export_callables(target[1], budget=budget)
                 for target in self.imports]
        direct = frozenset(k for k, c in enumerate(bound)
                           if c is not None and c.direct is not None)
        tm = self.module.translation(budget, direct)
        self._generators[budget] = tm.generators
        ns = dict(HELPERS)
        ns.update(tm.constants)
        ns.update(self.module._type_bindings)
        for k, buf in enumerate(self.module.rodata):
            ns[f"_ro{k}"] = buf
        ns.update(_rw=self.rw, _rw_len=len(self.rw), _rg=self.rg, _rg_len=len(self.rg))
        for k, target in enumerate(self.imports):
            imp = self.module.definition.imports[k]
            if target is None:
                missing = _unresolved(imp.full_name, k)
                ns[f"_i{k}"] = ns[f"_iy{k}"] = missing
                ns[f"_ir{k}"] = 0
                continue
            callables = bound[k]
            ns[f"_i{k}"] = callables.plain
            ns[f"_iy{k}"] = callables.yieldable
            ns[f"_ir{k}"] = 1
            if k in direct:
                x = callables.direct
                ns.update({f"_id{k}": x.fn, f"_im{k}": x.module, f"_is{k}": x.state,
                           f"_ic{k}": x.results, f"_ie{k}": x.error})
        exec(tm.code, ns)  # defines _f{k} and _x{k}; the code was generated by codegen
        return ns

    def export_callables(self, name: str, *, budget: bool) -> ExportCallables | None:
        found = self._callables.get((name, budget))
        if found is None:
            found = self._callables[(name, budget)] = self._make_callables(name, budget)
        return found

    def _make_callables(self, name: str, budget: bool) -> ExportCallables | None:
        d = self.module.definition
        for e in d.exports:
            if e.name == name:
                break
        else:
            return None
        ns = self.namespace(budget)
        wrapper = ns[f"_x{e.function}"]
        may_yield = e.function in self._generators[budget]
        plain = _driving(wrapper) if may_yield else wrapper
        return ExportCallables(plain, wrapper, may_yield, d.functions[e.function].cconv)

    def close(self) -> None:
        self.rg[:] = [None] * len(self.rg)
        self._namespaces.clear()
        self._callables.clear()


#: Largest argument or result ABI buffer of a resolved import (vm-runtime.md 2.2).
MAX_IMPORT_ABI_BYTES = 16 * 1024
_ABI = {"i": (4, 4), "f": (4, 4), "I": (8, 8), "F": (8, 8), "r": (16, 8)}  # size, alignment


def _abi_size(elements) -> int | None:
    """Bytes of the C-struct-like ABI buffer of a cconv fragment; None if it has spans."""
    size, largest = 0, 1
    for c in elements:
        if not isinstance(c, str):
            return None
        n, align = _ABI[c]
        size = -(-size // align) * align + n
        largest = max(largest, align)
    return -(-size // largest) * largest


def _check_abi_size(ordinal: int, cconv: str) -> None:
    sig = cconv_mod.parse(cconv)
    for fragment in (sig.args, sig.results):
        size = _abi_size(fragment)
        if size is not None and size > MAX_IMPORT_ABI_BYTES:
            raise status.InvalidArgumentError(
                f"ABI marshaling buffer overflow on import {ordinal}")


def _unresolved(full_name: str, ordinal: int):
    def missing(inv, d, *args):
        raise status.NotFoundError(
            f"optional import `{full_name}` (ordinal {ordinal}) not resolved")
    return missing


def _driving(wrapper):
    from pyree.vm.codegen.runtime import drive

    def plain(inv, d, *args):
        return drive(wrapper(inv, d, *args))
    return plain
