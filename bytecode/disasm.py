"""The disassembler: a ModuleDef printed as ``.vmasm`` text (``vmasm.md`` section 9).

The output follows IREE's ``iree-dump-module --output=disassembly`` layout (types,
imports, rodata, then each function with its exports, ``^bbK:`` blocks and decimal
constants with hex comments) with three deliberate differences, all of which IREE's
assembler still reads: indirect globals and ``vm.print``/``vm.trace`` use the canonical
assembler spelling, floats use the shortest text that parses back to the same bits, and
pyree metadata rides in ``//!`` comments so that ``assemble(disassemble(m)) == m`` holds
for every module the assembler or the builder produces (``spec/assembly.md``): debug
names and locations, exact register counts, requirement bits, block counts, NaN payloads,
storage sizes, dependencies and the source name.
"""

from __future__ import annotations

import re

from pyree.bytecode import cconv as cconv_mod
from pyree.bytecode import encoding, isa
from pyree.bytecode.asm import metadata
from pyree.bytecode.asm.lexer import SPACE, is_symbol
from pyree.bytecode.asm.printer import IMPORT_BIT, Names, print_instruction
from pyree.bytecode.module_def import FunctionDef, ModuleDef

from pyree.status import InvalidArgumentError

_ARG_TYPES = {"i": "i32", "I": "i64", "f": "f32", "F": "f64", "r": "!vm.ref<?>"}
_UNSAFE_TYPE = re.compile(r'[\s\x00-\x1f\x7f,()\[\]{}"#]|//|->|^\.types\[')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def disassemble(module: ModuleDef, *, bytecode_offsets: bool = False) -> str:
    """Print ``module`` as assembly text; ``bytecode_offsets`` prefixes lines with
    ``[XXXXXXXX]`` pcs (the assembler strips them)."""
    return _Disassembler(module, bytecode_offsets).run()


class _ModuleNames(Names):
    def __init__(self, module: ModuleDef):
        self.module = module
        self.module_name = module.name if is_symbol(module.name) else (
            re.sub(r"[^A-Za-z0-9_$.]", "_", module.name) or "module")
        self.function_names, self.named = _function_names(module)
        self.blocks: dict[int, int] = {}
        import_names = {imp.full_name for imp in module.imports}
        self._qualified = [
            self.named[i] and f"{self.module_name}.{n}" not in import_names
            for i, n in enumerate(self.function_names)]

    def callee(self, value: int) -> str:
        if value & IMPORT_BIT:
            index = value & ~IMPORT_BIT
            if index < len(self.module.imports):
                return "@" + self.module.imports[index].full_name
            return f"@<import {index} out of range>"
        if value < len(self.function_names) and self._qualified[value]:
            return f"@{self.module_name}.{self.function_names[value]}"
        return f"@{self.module_name}:{value}"

    def type_name(self, index: int) -> str:
        types = self.module.types
        if index < len(types):
            name = types[index]
            if name and not _UNSAFE_TYPE.search(name) and types.index(name) == index:
                return name
        return f".types[{index}]"

    def label(self, pc: int) -> str:
        block = self.blocks.get(pc)
        return f"^bb{block}" if block is not None else f"^invalid_pc_{pc}"

    def rodata_size(self, index: int) -> int | None:
        rodata = self.module.rodata
        return len(rodata[index]) if index < len(rodata) else None


def _function_names(module: ModuleDef) -> tuple[list[str], list[bool]]:
    """Unique printed names: first export name, else debug name, else ``fnN``."""
    preferred = []
    for i, fn in enumerate(module.functions):
        exported = [n for n in module.export_names(i) if is_symbol(n)]
        if exported:
            preferred.append(exported[0])
        elif fn.name is not None and is_symbol(fn.name):
            preferred.append(fn.name)
        else:
            preferred.append(None)
    claimed = {p for p in preferred if p is not None}
    used: set[str] = set()
    names, named = [], []
    for i, want in enumerate(preferred):
        if want is not None and want not in used:
            names.append(want)
            named.append(True)
        else:
            candidate, k = f"fn{i}", 0
            while candidate in used or candidate in claimed:
                k += 1
                candidate = f"fn{i}${k}"
            names.append(candidate)
            named.append(False)
        used.add(names[-1])
    return names, named


class _Disassembler:
    def __init__(self, module: ModuleDef, offsets: bool):
        self.module = module
        self.offsets = offsets
        self.names = _ModuleNames(module)
        self.out: list[str] = []

    def run(self) -> str:
        self._header()
        exports_inline = self._exports_inline()
        if not exports_inline:
            for export in self.module.exports:
                self.out.append(self._export_line(export.name, export.function))
        for ordinal, fn in enumerate(self.module.functions):
            self.out.append("")
            self._function(ordinal, fn, exports_inline)
        return "\n".join(self.out) + "\n"

    # -- module header -------------------------------------------------------------------

    def _header(self) -> None:
        m = self.module
        out = self.out
        out.append(f"vm.module @{self.names.module_name} version {m.version}")
        meta = {"source": m.source, "rwdata_size": m.rwdata_size,
                "ref_global_count": m.ref_global_count}
        if self.names.module_name != m.name:
            meta["name"] = m.name
        if m.dependencies:
            meta["dependencies"] = [[d.name, d.minimum_version, d.flags]
                                    for d in m.dependencies]
        if m.bytecode_version != (isa.BYTECODE_VERSION_MAJOR, isa.BYTECODE_VERSION_MINOR):
            meta["bytecode_version"] = list(m.bytecode_version)
        out.append(metadata.format_directive("module", meta))
        out.append(f"// {len(m.functions)} functions, {len(m.imports)} imports, "
                   f"{len(m.exports)} exports, rwdata {m.rwdata_size} bytes, "
                   f"{m.ref_global_count} ref globals")
        for i, name in enumerate(m.types):
            plain = (name and name == name.strip(SPACE) and "#" not in name and "//" not in name
                     and '"' not in name and not _CONTROL.search(name)
                     and name not in m.types[:i])
            out.append(f"vm.type {name}" if plain else metadata.format_directive("type", name))
        for imp in m.imports:
            if not is_symbol(imp.full_name) or '"' in imp.cconv:
                raise InvalidArgumentError(
                    f"import {imp.full_name!r} (cconv {imp.cconv!r}) cannot be written in "
                    "vmasm: names must be symbols and cconv strings cannot contain '\"'")
            optional = "optional " if imp.optional else ""
            out.append(f'vm.import {optional}@{imp.full_name} cconv "{imp.cconv}"')
        for i, data in enumerate(m.rodata):
            out.append(f"vm.rodata[{i}] = {data.hex().upper()}".rstrip()
                       + f"  // {len(data)} bytes")

    def _exports_inline(self) -> bool:
        exports = list(self.module.exports)
        count = len(self.module.functions)
        return (exports == sorted(exports, key=lambda e: e.function)
                and all(is_symbol(e.name) and 0 <= e.function < count for e in exports))

    def _export_line(self, name: str, function: int) -> str:
        if is_symbol(name) and 0 <= function < len(self.module.functions):
            printed = self.names.function_names[function]
            return f"vm.export @{name}" if name == printed else f"vm.export @{name} = @{printed}"
        return metadata.format_directive("export", {"name": name, "function": function})

    # -- functions -----------------------------------------------------------------------

    def _function(self, ordinal: int, fn: FunctionDef, exports_inline: bool) -> None:
        out = self.out
        printed = self.names.function_names[ordinal]
        instrs = encoding.decode(fn.code)
        markers = [ins.pc for ins in instrs if ins.op.is_block]
        self.names.blocks = {pc: k for k, pc in enumerate(markers)}
        line_pcs = [ins.pc for ins in instrs]
        out.append(f"// function {ordinal}: cconv {metadata.dumps(fn.cconv)}, {len(fn.code)} bytes, "
                   f"{fn.block_count} blocks, {fn.i32_register_count} i32 + "
                   f"{fn.ref_register_count} ref registers, requirements "
                   f"0x{fn.requirements:X}")
        if exports_inline:
            for export in self.module.exports:
                if export.function == ordinal:
                    out.append(self._export_line(export.name, ordinal))
        args, results, header_cconv = _signature(fn.cconv)
        meta: dict = {}
        if fn.name != printed:
            meta["name"] = fn.name
        if header_cconv != fn.cconv:
            meta["cconv"] = fn.cconv
        meta.update({"i32_registers": fn.i32_register_count,
                     "ref_registers": fn.ref_register_count, "blocks": fn.block_count,
                     "requirements": fn.requirements})
        if fn.local_names:
            meta["local_names"] = [[o, n] for o, n in fn.local_names]
        inline = _locations_inline(fn, set(line_pcs))
        meta["locations"] = "inline" if inline else [[loc.pc, loc.location]
                                                     for loc in fn.locations]
        out.append(metadata.format_directive("function", meta))
        out.append(f"vm.func @{printed}({args}) -> ({results}) {{")
        locs: dict[int, list[str]] = {}
        if inline:
            for loc in fn.locations:
                locs.setdefault(loc.pc, []).append(loc.location)
        for ins in instrs:
            if ins.op.is_block:
                text, info, items = f"^bb{self.names.blocks[ins.pc]}:", "", ()
            else:
                printed_ins = print_instruction(ins, self.names)
                text = "  " + printed_ins.text
                info, items = printed_ins.info, printed_ins.items
            items = tuple(items) + tuple(("loc", t) for t in locs.get(ins.pc, ()))
            out.append(self._line(ins.pc, text, info, items))
        out.append("}")

    def _line(self, pc: int, text: str, info: str, items) -> str:
        if self.offsets:
            text = f"[{pc:08X}] {text}"
        if info:
            text += f"  // {info}"
        if items:
            text += "  " + metadata.format_items(items)
        return text


def _signature(cconv: str) -> tuple[str, str, str]:
    """(argument text, result text, the cconv the assembler derives from them)."""
    try:
        parsed = cconv_mod.parse(cconv)
        arg_chars, result_chars = parsed.arg_chars, parsed.result_chars
    except (ValueError, NotImplementedError):
        arg_chars, result_chars = "", ""
    args = []
    slot = ref = 0
    for c in arg_chars:
        if c == "r":
            args.append(f"%r{ref}: {_ARG_TYPES[c]}")
            ref += 1
        elif c in "IF":
            args.append(f"%i{slot}:{slot + 1}: {_ARG_TYPES[c]}")
            slot += 2
        else:
            args.append(f"%i{slot}: {_ARG_TYPES[c]}")
            slot += 1
    results = ", ".join(_ARG_TYPES[c] for c in result_chars)
    return ", ".join(args), results, cconv_mod.make(arg_chars, result_chars)


def _locations_inline(fn: FunctionDef, line_pcs: set[int]) -> bool:
    pcs = [loc.pc for loc in fn.locations]
    return pcs == sorted(pcs) and all(pc in line_pcs for pc in pcs)
