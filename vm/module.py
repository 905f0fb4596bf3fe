"""The module interface shared by bytecode and native modules.

A :class:`Module` is immutable code plus metadata (name, version, dependencies, exports).
A context asks each module for a :class:`ModuleState` (its per-context mutable state:
globals, resolved imports, native state). Linking works through
:meth:`ModuleState.export_callables`, which returns the callables other modules bind
their imports to.

Cross-module calling convention (what imports, exports and the host exchange): a callable
``fn(inv, d, *args)`` where ``inv`` is the current :class:`~pyree.vm.invocation.Invocation`,
``d`` the call depth, and ``args`` the flat values of the cconv: Python ``int`` for
``i``/``I`` (signed), ``float`` for ``f``/``F``, the object or ``None`` for ``r``, and a
Python list for each span (of tuples when the span has several elements). It returns a
tuple of results in the same form, or a generator (when it may suspend) whose return
value is that tuple.
"""

from __future__ import annotations

import abc

import attrs

from pyree.bytecode.module_def import DependencyDef


@attrs.frozen
class ExportInfo:
    name: str
    cconv: str


@attrs.frozen
class ExportCallables:
    """How another module calls an export.

    ``plain`` never returns a generator (a suspension on a plain call fails);
    ``yieldable`` may return a generator; ``may_yield`` says whether it ever does.
    """

    plain: object
    yieldable: object
    may_yield: bool
    cconv: str
    #: A plain native export callable without an adapter frame (:class:`DirectExport`),
    #: or None: translated code then calls ``fn(module, state, *args)`` itself.
    direct: object = None


@attrs.frozen
class DirectExport:
    """What translated code needs to call a plain native export without its adapter:
    ``fn(module, state, *args)`` returns the raw value, ``results(value)`` checks it
    against the cconv (the adapter's check; the common shapes are inlined by codegen) and
    ``error(exc)`` turns an exception into the annotated error the adapter would have
    raised (both raise/return exactly what the adapter does)."""

    fn: object
    module: object
    state: object
    results: object
    error: object


class ModuleState(abc.ABC):
    """Per-context state of a module."""

    module: Module

    @abc.abstractmethod
    def export_callables(self, name: str, *, budget: bool) -> ExportCallables | None:
        """Callables for export ``name`` (None if there is no such export)."""

    def resolve_imports(self, context) -> None:
        """Bind this module's imports against modules already in ``context``."""

    def notify(self, signal: int) -> None:
        """Context notification (RESUME 0, SUSPEND 1, LOW_MEMORY 2, FORK 3)."""

    def close(self) -> None:
        """Release what the state holds (after ``__deinit``)."""


class Module(abc.ABC):
    """A bytecode or native module."""

    name: str
    version: int = 0
    dependencies: tuple[DependencyDef, ...] = ()

    @abc.abstractmethod
    def exports(self) -> list[ExportInfo]:
        """Exported functions, in export order."""

    @abc.abstractmethod
    def create_state(self, context) -> ModuleState:
        """Allocate this module's state for ``context``."""

    def lookup_export(self, name: str) -> ExportInfo | None:
        for e in self.exports():
            if e.name == name:
                return e
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} v{self.version}>"
