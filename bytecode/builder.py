"""Building modules instruction by instruction: what the assembler and the compiler emit
through.

:class:`FunctionBuilder` appends encoded instructions to one function body. It emits the
entry Block marker itself and one marker per placed :class:`Label` (a label placed before
any instruction names the entry block instead). Arguments are given per field exactly as
:mod:`~pyree.bytecode.encoding` documents, except that a ``branch_target`` (also inside
``br_table`` cases) may be a :class:`Label`, and a ``func_attr`` may be a
:class:`FunctionRef`; both are resolved when the function is finished, so forward
references work. The builder tracks what the function descriptor needs:

* ``block_count``: the number of markers emitted;
* register counts: one more than the highest i32 slot / ref index in any operand,
  including the arguments (placed as ``vm-runtime.md`` 2.3 says unless
  ``reserve_args=False``); a 64-bit field also uses slot ``n+1``. Entries of untyped
  lists (calls, ``return``, remaps) carry no width; :meth:`FunctionBuilder.reserve_registers`
  lets the caller say that slot ``n+1`` is used too;
* requirement bits: EXT_F32 / EXT_F64 for any op of those sets, YIELD for ``yield``,
  ``call.yieldable`` and ``call.variadic.yieldable``;
* debug locations (``DebugLocation(pc, text)``) and local register names.

:class:`ModuleBuilder` owns the module tables: types (``vmasm.md`` 2 and 6: explicit
declarations must be unique; uses reuse an exact match, or ``!vm.x`` for ``vm.x``, else
append), imports, rodata, exports, dependencies and primitive-global layout (4-byte
globals first in declaration order, then 8-byte ones from the next multiple of 8; direct
``rwdata`` / ref-global uses grow the storage and the ref-global count).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs
from pyree.bytecode import cconv as cconv_mod
from pyree.bytecode import encoding, isa
from pyree.bytecode.module_def import (
    DebugLocation,
    DependencyDef,
    ExportDef,
    FunctionDef,
    ImportDef,
    ModuleDef,
)

from pyree.status import AlreadyExistsError, InvalidArgumentError, NotFoundError

IMPORT_BIT = 0x80000000
YIELD_OPS = frozenset({"yield", "call.yieldable", "call.variadic.yieldable"})
GLOBAL_WIDTH = {"i32": 4, "f32": 4, "i64": 8, "f64": 8}


@attrs.frozen
class Label:
    """A block label; a ``branch_target`` argument placeholder until finish."""

    name: str


@attrs.frozen
class FunctionRef:
    """A ``func_attr`` placeholder for a function known by name, resolved at finish."""

    name: str


_PLACEHOLDER_KINDS = frozenset({"branch_target", "func_attr", "branch_table_cases"})


class FunctionBuilder:
    """Emits one function body. Not thread-safe; use once, then :meth:`finish`."""

    def __init__(self, name: str | None = None, cconv: str = "0v_v", *,
                 reserve_args: bool = True):
        self.name = name
        self.cconv = cconv
        self._code = bytearray()
        self._patches: list[tuple[int, int, isa.Op, tuple]] = []  # pc, size, op, args
        self._labels: dict[Label, int] = {}
        self._entry_named = False
        self._block_count = 0
        self._i32_count = 0
        self._ref_count = 0
        self._requirements = 0
        self._locations: list[DebugLocation] = []
        self._local_names: list[tuple[int, str]] = []
        self._ops_emitted = 0
        self._next_label = 0
        self._emit_marker()
        if reserve_args:
            parsed = cconv_mod.parse(cconv)
            if not any(isinstance(e, cconv_mod.Span) for e in parsed.args):
                _, slots, refs = cconv_mod.register_placement(parsed.arg_chars)
                self.reserve_registers(i32=slots, ref=refs)

    # -- blocks --------------------------------------------------------------------------

    @property
    def pc(self) -> int:
        """The pc the next instruction will get."""
        return len(self._code)

    @property
    def block_count(self) -> int:
        return self._block_count

    def new_label(self, hint: str = "L") -> Label:
        """A fresh label not placed yet (for compilers)."""
        while True:
            label = Label(f"{hint}{self._next_label}")
            self._next_label += 1
            if label not in self._labels:
                return label

    def place(self, label: Label | str) -> Label:
        """Start a new block here. Before any instruction, names the entry block."""
        label = Label(label) if isinstance(label, str) else label
        if label in self._labels:
            raise InvalidArgumentError(f"label ^{label.name} is placed twice")
        if self._ops_emitted == 0 and not self._entry_named:
            self._entry_named = True
            self._labels[label] = 0
        else:
            self._labels[label] = self.pc
            self._emit_marker()
        return label

    def is_placed(self, label: Label | str) -> bool:
        label = Label(label) if isinstance(label, str) else label
        return label in self._labels

    def label_pc(self, label: Label | str) -> int:
        """The pc of a placed label's Block marker."""
        label = Label(label) if isinstance(label, str) else label
        if label not in self._labels:
            raise NotFoundError(f"label ^{label.name} is not placed")
        return self._labels[label]

    def _emit_marker(self) -> None:
        encoding.encode_into(self._code, isa.BLOCK, ())
        self._block_count += 1

    # -- instructions --------------------------------------------------------------------

    def emit(self, op: isa.Op | str, args: Sequence = (), *, location: str | None = None) -> int:
        """Append one instruction; returns its pc."""
        if isinstance(op, str):
            found = isa.lookup(op)
            if found is None:
                raise InvalidArgumentError(f"unknown instruction {op!r}")
            op = found
        if op.is_block:
            raise InvalidArgumentError("Block markers are emitted by place(), not emit()")
        args = tuple(args)
        if len(args) != len(op.fields):
            raise InvalidArgumentError(
                f"{op.mnemonic} takes {len(op.fields)} fields "
                f"({', '.join(f.name for f in op.fields)}), got {len(args)}")
        pc = self.pc
        needs_patch = False
        provisional = []
        for field, value in zip(op.fields, args):
            if field.kind in _PLACEHOLDER_KINDS:
                value, patched = _provisional(field.kind, value)
                needs_patch |= patched
            provisional.append(value)
            self._count_registers(field, value)
        encoding.encode_into(self._code, op, provisional)
        if needs_patch:
            self._patches.append((pc, self.pc - pc, op, args))
        self._requirements |= op.requirement
        if op.mnemonic in YIELD_OPS:
            self._requirements |= isa.REQ_YIELD
        self._ops_emitted += 1
        if location is not None:
            self._locations.append(DebugLocation(pc, location))
        return pc

    def _count_registers(self, field: isa.Field, value) -> None:
        kind = field.kind
        if kind == "register":
            self._use(value, field.type in isa.WIDE_BANKS)
        elif kind in ("variadic_operands", "variadic_results"):
            if field.name == "segment_sizes":
                return
            wide = field.type in isa.WIDE_BANKS
            for ordinal in value:
                self._use(ordinal, wide)
        elif kind == "branch_operands":
            self._use_remap(value)
        elif kind == "branch_table_cases":
            for _, remap in value:
                self._use_remap(remap)

    def _use_remap(self, pairs) -> None:
        for src, dst in pairs:
            self._use(src, False)
            self._use(dst, False)

    def _use(self, ordinal: int, wide: bool) -> None:
        if ordinal & isa.REF_BIT:
            self._ref_count = max(self._ref_count, (ordinal & isa.REF_INDEX_MASK) + 1)
        else:
            self._i32_count = max(self._i32_count, ordinal + (2 if wide else 1))

    def reserve_registers(self, i32: int = 0, ref: int = 0) -> None:
        """Make the register files at least this large."""
        self._i32_count = max(self._i32_count, i32)
        self._ref_count = max(self._ref_count, ref)

    def add_requirements(self, bits: int) -> None:
        self._requirements |= bits

    # -- debug info ----------------------------------------------------------------------

    def add_location(self, pc: int, location: str) -> None:
        self._locations.append(DebugLocation(pc, location))

    def name_local(self, ordinal: int, name: str) -> None:
        """Debug name of a register (raw ordinal: ref registers carry the ref bit)."""
        self._local_names.append((ordinal, name))

    # -- finish --------------------------------------------------------------------------

    def finish(self, resolve_function: Callable[[str], int] | None = None) -> FunctionDef:
        """Resolve labels and function references and return the :class:`FunctionDef`."""
        code = self._code
        for pc, size, op, args in self._patches:
            resolved = [self._resolve(f.kind, a, resolve_function) for f, a in zip(op.fields, args)]
            buf = bytearray(pc & 1)
            encoding.encode_into(buf, op, resolved)
            code[pc:pc + size] = buf[pc & 1:]
        return FunctionDef(
            cconv=self.cconv, code=bytes(code), i32_register_count=self._i32_count,
            ref_register_count=self._ref_count, block_count=self._block_count,
            requirements=self._requirements, name=self.name,
            local_names=tuple(self._local_names),
            locations=tuple(sorted(self._locations, key=lambda loc: loc.pc)),
        )

    def _resolve(self, kind: str, value, resolve_function):
        if kind == "branch_target":
            return self._target(value)
        if kind == "branch_table_cases":
            return tuple((self._target(t), remap) for t, remap in value)
        if kind == "func_attr" and isinstance(value, FunctionRef):
            if resolve_function is None:
                raise InvalidArgumentError(f"no resolver for function reference @{value.name}")
            return resolve_function(value.name)
        return value

    def _target(self, value) -> int:
        if not isinstance(value, Label):
            return value
        if value not in self._labels:
            raise NotFoundError(f"label ^{value.name} is used but never placed"
                                + (f" in function {self.name}" if self.name else ""))
        return self._labels[value]


def _provisional(kind: str, value) -> tuple[object, bool]:
    if kind == "branch_target":
        return (0, True) if isinstance(value, Label) else (value, False)
    if kind == "func_attr":
        return (0, True) if isinstance(value, FunctionRef) else (value, False)
    cases = tuple((0 if isinstance(t, Label) else t, remap) for t, remap in value)
    return cases, any(isinstance(t, Label) for t, _ in value)


class ModuleBuilder:
    """Collects module tables and functions; :meth:`finish` returns the ModuleDef."""

    def __init__(self, name: str, version: int = 0, *, source: str | None = None):
        self.name = name
        self.version = version
        self.source = source
        self.types: list[str] = []
        self.imports: list[ImportDef] = []
        self.rodata: list[bytes] = []
        self.dependencies: list[DependencyDef] = []
        self._functions: list[FunctionBuilder | FunctionDef] = []
        self._function_names: dict[str, int] = {}
        self._exports: list[tuple[str, int | str]] = []
        self._globals: dict[str, str] = {}  # name -> type, declaration order
        self._layout: dict[str, int] | None = None
        self._rwdata_used = 0
        self._ref_globals = 0

    # -- types ---------------------------------------------------------------------------

    def add_type(self, name: str, *, allow_duplicate: bool = False) -> int:
        """Append a type-table entry (``vm.type``); duplicates are an error."""
        if not allow_duplicate and name in self.types:
            raise AlreadyExistsError(f"duplicate type {name!r}")
        self.types.append(name)
        return len(self.types) - 1

    def type_index(self, name: str) -> int:
        """Ordinal of a type used by an instruction, appending it on first use."""
        if name in self.types:
            return self.types.index(name)
        if name.startswith("vm.") and "!" + name in self.types:
            return self.types.index("!" + name)
        return self.add_type(name)

    # -- imports, rodata, dependencies ---------------------------------------------------

    def add_import(self, full_name: str, cconv: str = "", optional: bool = False) -> int:
        """Declare an import; returns its ``func_attr`` value (import bit set)."""
        if self.find_import(full_name) is not None:
            raise AlreadyExistsError(f"duplicate import @{full_name}")
        self.imports.append(ImportDef(full_name, cconv, optional))
        return IMPORT_BIT | (len(self.imports) - 1)

    def find_import(self, full_name: str) -> int | None:
        for i, imp in enumerate(self.imports):
            if imp.full_name == full_name:
                return IMPORT_BIT | i
        return None

    def add_rodata(self, data: bytes) -> int:
        self.rodata.append(bytes(data))
        return len(self.rodata) - 1

    def add_dependency(self, name: str, minimum_version: int = 0,
                       flags: int = DependencyDef.REQUIRED) -> None:
        self.dependencies.append(DependencyDef(name, minimum_version, flags))

    # -- globals -------------------------------------------------------------------------

    def declare_global(self, name: str, type_name: str) -> None:
        """Declare a primitive global (i32, i64, f32, f64)."""
        if type_name not in GLOBAL_WIDTH:
            raise InvalidArgumentError(f"global @{name}: expected i32/i64/f32/f64, "
                                       f"found {type_name!r}")
        if name in self._globals:
            raise AlreadyExistsError(f"duplicate global @{name}")
        if self._layout is not None:
            raise InvalidArgumentError(f"global @{name} declared after the layout was fixed")
        self._globals[name] = type_name

    def global_slot(self, name: str) -> tuple[int, str]:
        """(byte offset, type) of a declared global; fixes the layout."""
        if name not in self._globals:
            raise NotFoundError(f"unknown global @{name}")
        return self._fixed_layout()[name], self._globals[name]

    def _fixed_layout(self) -> dict[str, int]:
        if self._layout is None:
            self._layout = {}
            offset = 0
            for name, t in self._globals.items():
                if GLOBAL_WIDTH[t] == 4:
                    self._layout[name] = offset
                    offset += 4
            offset = (offset + 7) & ~7 if any(GLOBAL_WIDTH[t] == 8
                                              for t in self._globals.values()) else offset
            for name, t in self._globals.items():
                if GLOBAL_WIDTH[t] == 8:
                    self._layout[name] = offset
                    offset += 8
            self._rwdata_used = max(self._rwdata_used, offset)
        return self._layout

    def use_rwdata(self, offset: int, width: int) -> None:
        """A direct access to ``rwdata[offset:offset+width]`` grows the storage to cover it."""
        self._rwdata_used = max(self._rwdata_used, offset + width)

    def use_ref_global(self, index: int) -> None:
        self._ref_globals = max(self._ref_globals, index + 1)

    # -- functions and exports -----------------------------------------------------------

    def function(self, name: str | None = None, cconv: str = "0v_v", *,
                 reserve_args: bool = True) -> FunctionBuilder:
        """Start the next internal function (ordinal = definition order)."""
        if name is not None:
            if name in self._function_names:
                raise AlreadyExistsError(f"duplicate function @{name}")
            self._function_names[name] = len(self._functions)
        fb = FunctionBuilder(name, cconv, reserve_args=reserve_args)
        self._functions.append(fb)
        return fb

    def add_function(self, function: FunctionDef) -> int:
        """Append an already-built function; returns its ordinal."""
        if function.name is not None:
            if function.name in self._function_names:
                raise AlreadyExistsError(f"duplicate function @{function.name}")
            self._function_names[function.name] = len(self._functions)
        self._functions.append(function)
        return len(self._functions) - 1

    def function_ordinal(self, name: str) -> int | None:
        return self._function_names.get(name)

    @property
    def function_count(self) -> int:
        return len(self._functions)

    def add_export(self, name: str, function: int | str) -> None:
        """Export a function (ordinal, or name resolved at finish) as ``name``."""
        self._exports.append((name, function))

    def finish(self, resolve_function: Callable[[str], int] | None = None) -> ModuleDef:
        resolve = resolve_function or self._resolve_name
        functions = tuple(
            f.finish(resolve) if isinstance(f, FunctionBuilder) else f for f in self._functions)
        exports = tuple(
            ExportDef(name, fn if isinstance(fn, int) else resolve(fn)) for name, fn in self._exports)
        self._fixed_layout()
        return ModuleDef(
            name=self.name, version=self.version, types=tuple(self.types),
            imports=tuple(self.imports), exports=exports, functions=functions,
            rodata=tuple(self.rodata), rwdata_size=self._rwdata_used,
            ref_global_count=self._ref_globals, dependencies=tuple(self.dependencies),
            source=self.source,
        )

    def _resolve_name(self, name: str) -> int:
        ordinal = self._function_names.get(name)
        if ordinal is None:
            raise NotFoundError(f"unknown function @{name}")
        return ordinal
