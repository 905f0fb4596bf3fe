"""The ``.vmasm`` assembler (``vmasm.md``; pyree's additions in ``spec/assembly.md``).

``assemble(text, filename)`` returns a :class:`~pyree.bytecode.module_def.ModuleDef`;
errors are :class:`AssemblyError` (an ``INVALID_ARGUMENT``) naming ``file:line:column``.

Files: ``lexer`` (lines, comments, tokens with columns), ``numbers`` (C-style integer and
float literals), ``metadata`` (pyree facts carried in ``//!`` comments), ``operands``
(registers, labels, globals, types, callees), ``instructions`` (the table-driven generic
form), ``forms`` (special forms), ``directives`` (module-level lines), ``assembler``
(the driver), ``printer`` (the instruction half of the disassembler).
"""

from pyree.bytecode.asm.assembler import assemble
from pyree.bytecode.asm.errors import AssemblyError, AssemblyRangeError, AssemblyUnimplementedError

__all__ = ["AssemblyError", "AssemblyRangeError", "AssemblyUnimplementedError", "assemble"]
