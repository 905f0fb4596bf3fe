"""The assembler driver: reads a ``.vmasm`` text line by line into a ModuleBuilder.

Module-level lines go to ``directives.py``, instruction lines to ``instructions.py``
(special forms in ``forms.py``). References that may point forward (block labels,
functions, exports) are checked when the function or the file ends, with the position of
their first use. pyree metadata found in comments (``metadata.py``) overrides what the
assembler would compute, which is how disassembled modules come back identical.
"""

from __future__ import annotations

import re

import attrs
from pyree.bytecode.asm import (
    directives,
    forms,  # noqa: F401  (registers the special-form parsers)
    metadata,
)
from pyree.bytecode.asm.errors import AssemblyError, SyntaxIssue
from pyree.bytecode.asm.instructions import parse_instruction
from pyree.bytecode.asm.lexer import Line, Tok, lex_line, split_word
from pyree.bytecode.builder import FunctionBuilder, Label
from pyree.bytecode.module_def import DebugLocation, DependencyDef, ModuleDef

from pyree.status import PyreeError

_LABEL_RE = re.compile(r"\^(bb[0-9]+):")


@attrs.define(eq=False)
class _Function:
    builder: FunctionBuilder
    name: str
    line: int
    overrides: dict
    auto_locations: bool
    has_exit: bool = False  # saw vm.return or vm.fail


def assemble(text: str, filename: str = "<vmasm>") -> ModuleDef:
    """Assemble ``.vmasm`` text (``vmasm.md``; pyree extensions in ``spec/assembly.md``).

    Raises :class:`~pyree.bytecode.asm.AssemblyError` (``INVALID_ARGUMENT``, or the
    ``OUT_OF_RANGE`` / ``UNIMPLEMENTED`` subclasses) naming ``file:line:column``.
    """
    return _Assembler(filename).run(text)


class _Assembler:
    def __init__(self, filename: str):
        self.filename = filename
        self.state = directives.ModuleState(filename)
        self.function: _Function | None = None
        self.functions: list[_Function] = []

    def error(self, message: str, line: int, column: int, kind=AssemblyError) -> AssemblyError:
        return kind(message, filename=self.filename, line=line, column=column)

    def run(self, text: str) -> ModuleDef:
        lines = text.split("\n")
        for number, raw in enumerate(lines, 1):
            self.state.line = number
            if self.state.ctx is not None:
                self.state.ctx.line = number
            try:
                self._line(lex_line(raw, number))
            except SyntaxIssue as e:
                raise self.error(e.message, number, e.column + 1, e.kind) from None
            except AssemblyError:
                raise
            except PyreeError as e:
                raise self.error(e.message, number, 1) from None
        return self._finish(len(lines))

    # -- lines ---------------------------------------------------------------------------

    def _line(self, line: Line) -> None:
        state = self.state
        if not line.code:
            found = metadata.directive(line.comment) if line.comment else None
            if found is not None:
                if self.function is not None:
                    raise line.comment.issue(f"pyree.{found[0]} is not allowed inside a "
                                             "function body")
                directives.handle_metadata(state, *found)
            return
        if self.function is not None:
            self._body_line(line)
            return
        word, rest = split_word(line.code)
        if state.builder is None:
            if word.text != "vm.module":
                raise word.issue(f"module directive missing: expected 'vm.module @name' "
                                 f"first, found {line.code.shown()}")
            directives.handle_module(state, rest)
            return
        self._module_line(line, word, rest)

    def _module_line(self, line: Line, word: Tok, rest: Tok) -> None:
        state = self.state
        text = word.text
        if text == "vm.module":
            raise word.issue("duplicate vm.module directive (exactly one per file)")
        if text == "vm.type":
            directives.handle_type(state, word, rest)
        elif text == "vm.import":
            directives.handle_import(state, word, rest)
        elif text.startswith("vm.rodata["):
            directives.handle_rodata(state, line.code)
        elif text.startswith("vm.global."):
            directives.handle_global(state, word, rest)
        elif text == "vm.export":
            directives.handle_export(state, rest)
        elif text == "vm.func":
            self._start_function(line, rest)
        else:
            raise word.issue(f"expected a module directive (vm.type, vm.import, vm.rodata, "
                             f"vm.global.*, vm.export) or vm.func, found {line.code.shown()}")

    def _start_function(self, line: Line, rest: Tok) -> None:
        state = self.state
        header = directives.parse_header(rest)
        if state.builder.function_ordinal(header.name) is not None:
            raise rest.issue(f"duplicate function @{header.name}")
        overrides, _ = state.pending_function or ({}, None)
        state.pending_function = None
        state.functions_started = True
        fb = state.builder.function(header.name, header.cconv, reserve_args=False)
        fb.reserve_registers(i32=header.i32_slots, ref=header.refs)
        state.ctx.function = fb
        state.ctx.label_refs = {}
        self.function = _Function(fb, header.name, line.number, overrides,
                                  auto_locations="locations" not in overrides)
        self.functions.append(self.function)

    def _body_line(self, line: Line) -> None:
        fn = self.function
        ctx = self.state.ctx
        code = line.code
        locs = []
        ctx.meta = {}
        for key, value, col in metadata.items(line.comment):
            if key == "loc":
                if not isinstance(value, str):
                    raise SyntaxIssue(f"metadata loc= must be a JSON string, found {value!r}",
                                      col)
                locs.append(value)
            elif key in ctx.meta:
                raise SyntaxIssue(f"metadata item {key}= given twice", col)
            else:
                ctx.meta[key] = (value, col)
        if code.text == "}":
            self._end_function(line)
            return
        if code.text.startswith("^"):
            m = _LABEL_RE.fullmatch(code.text)
            if m is None:
                raise code.issue(f"expected block label line like ^bb1:, found {code.shown()}")
            if fn.builder.is_placed(m.group(1)):
                raise code.issue(f"block label ^{m.group(1)} is defined twice")
            pc = fn.builder.label_pc(fn.builder.place(Label(m.group(1))))
        else:
            pc = fn.builder.pc
            op, args = parse_instruction(ctx, code)
            fn.builder.emit(op, args)
            if op.mnemonic in ("return", "fail"):
                fn.has_exit = True
            if fn.auto_locations and not locs:
                fn.builder.add_location(pc, f"{self.filename}:{line.number}")
        for key, (_, col) in ctx.meta.items():
            raise SyntaxIssue(f"metadata item {key}= does not apply to this line", col)
        for text in locs:
            fn.builder.add_location(pc, text)

    def _end_function(self, line: Line) -> None:
        fn = self.function
        for name, (tok, number) in self.state.ctx.label_refs.items():
            if not fn.builder.is_placed(name):
                raise self.error(f"unknown block label ^{name} in function @{fn.name}",
                                 number, tok.col + 1)
        if not fn.has_exit:
            raise line.code.issue(f"function missing terminator: @{fn.name} has no vm.return "
                                  "or vm.fail")
        self.function = None
        self.state.ctx.function = None

    # -- end of file ---------------------------------------------------------------------

    def _finish(self, last_line: int) -> ModuleDef:
        state = self.state
        if self.function is not None:
            raise self.error(f"unterminated function body: @{self.function.name} (line "
                             f"{self.function.line}) has no closing '}}'", last_line, 1)
        if state.builder is None:
            raise self.error("module directive missing: expected 'vm.module @name'",
                             max(last_line, 1), 1)
        if state.pending_function is not None:
            tok = state.pending_function[1]
            raise self.error("pyree.function is not followed by vm.func", last_line, tok.col + 1)
        if not self.functions:
            raise self.error("function directive missing: a module needs at least one vm.func",
                             last_line, 1)
        for name, tok, line in state.ctx.function_refs:
            self._check_function(name, tok, line)
        for name, target, tok, line in state.exports:
            if isinstance(target, str):
                self._check_function(target, tok, line)
            state.builder.add_export(name, target)
        module = state.builder.finish(self._resolve)
        return self._apply_overrides(module)

    def _resolve(self, name: str) -> int | None:
        builder = self.state.builder
        prefix = self.state.ctx.module_name + "."
        if name.startswith(prefix):
            ordinal = builder.function_ordinal(name[len(prefix):])
            if ordinal is not None:
                return ordinal
        return builder.function_ordinal(name)

    def _check_function(self, name: str, tok: Tok, line: int) -> None:
        if self._resolve(name) is None:
            raise self.error(f"unknown function @{name}", line, tok.col + 1)

    def _apply_overrides(self, module: ModuleDef) -> ModuleDef:
        functions = []
        for fn, fdef in zip(self.functions, module.functions):
            overrides = dict(fn.overrides)
            locations = overrides.pop("locations", "inline")
            if locations != "inline":
                extra = tuple(DebugLocation(pc, text) for pc, text in locations)
                overrides["locations"] = tuple(sorted(
                    fdef.locations + extra, key=lambda loc: loc.pc)) if fdef.locations else extra
            functions.append(attrs.evolve(fdef, **overrides))
        overrides = dict(self.state.module_overrides)
        if "dependencies" in overrides:
            overrides["dependencies"] = tuple(DependencyDef(*d) for d in overrides["dependencies"])
        return attrs.evolve(module, functions=tuple(functions), **overrides)
