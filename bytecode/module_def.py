"""The in-memory form of a bytecode module: what the container stores, the assembler
produces, the disassembler prints, the verifier checks and the VM loads.

All records are frozen attrs values. Function bodies are separate byte strings, each
starting at its own pc 0 (the container lays them out back to back, 8-aligned).
"""

from __future__ import annotations

import attrs

from pyree.bytecode import isa


@attrs.frozen
class ImportDef:
    full_name: str  # "module.function"
    cconv: str  # "" disables the signature check
    optional: bool = False


@attrs.frozen
class ExportDef:
    name: str
    function: int  # internal function ordinal


@attrs.frozen
class DependencyDef:
    name: str
    minimum_version: int
    flags: int  # 1 = REQUIRED, 2 = OPTIONAL

    REQUIRED = 1
    OPTIONAL = 2


@attrs.frozen
class DebugLocation:
    """Source location of the instruction at ``pc``: ``file:line:column`` or any text
    (a compiled model names its ONNX node here)."""

    pc: int
    location: str


@attrs.frozen
class FunctionDef:
    cconv: str
    code: bytes
    i32_register_count: int
    ref_register_count: int
    block_count: int
    requirements: int = 0
    name: str | None = None  # debug name of the function, if kept
    #: Debug names of registers: (ordinal, name) pairs.
    local_names: tuple[tuple[int, str], ...] = ()
    #: pc -> source location, sorted by pc.
    locations: tuple[DebugLocation, ...] = ()


@attrs.frozen
class ModuleDef:
    name: str
    version: int = 0
    types: tuple[str, ...] = ()
    imports: tuple[ImportDef, ...] = ()
    exports: tuple[ExportDef, ...] = ()
    functions: tuple[FunctionDef, ...] = ()
    rodata: tuple[bytes, ...] = ()
    rwdata_size: int = 0
    ref_global_count: int = 0
    dependencies: tuple[DependencyDef, ...] = ()
    bytecode_version: tuple[int, int] = (isa.BYTECODE_VERSION_MAJOR, isa.BYTECODE_VERSION_MINOR)
    #: Source file name for debug locations (e.g. the .vmasm path or the ONNX model).
    source: str | None = None

    def export_names(self, ordinal: int) -> list[str]:
        return [e.name for e in self.exports if e.function == ordinal]

    def function_name(self, ordinal: int) -> str | None:
        """The name a function is known by: its first export, else its debug name."""
        names = self.export_names(ordinal)
        if names:
            return names[0]
        return self.functions[ordinal].name
