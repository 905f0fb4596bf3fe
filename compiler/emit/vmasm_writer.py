"""A small writer of vmasm text for emission: rodata, imports, functions, registers.

Emission writes assembly text (``reference/vmasm.md``) and assembles it with
``pyree.bytecode.asm``: the result disassembles back to readable text, and every
instruction carries a ``//! loc="..."`` debug location (``spec/assembly.md`` 4) naming
what it computes, so a runtime failure's backtrace points at the ONNX node.

Rodata segments are declared in the text with a one-byte placeholder and their real bytes
are put into the assembled ``ModuleDef`` afterwards (:meth:`ModuleWriter.assemble`): large
weights never pass through hex text. Registers are handed out by counters (i32 slots,
64-bit pairs at even slots, refs) and never reassigned, so a constant loaded once is
reused while its register lives; :meth:`FunctionWriter.scope` gives back the registers a
block of code allocated (and forgets the constants they held), so long programs stay
within the register file.
"""

from __future__ import annotations

import contextlib
import json

import attrs
from pyree.bytecode.asm import assemble


class ModuleWriter:
    def __init__(self, name: str):
        self.name = name
        self.imports: dict[str, str] = {}
        self.rodata: list[bytes] = []
        self._rodata_index: dict[bytes, int] = {}
        self.functions: list[FunctionWriter] = []

    def import_(self, name: str, cconv: str) -> str:
        self.imports[name] = cconv
        return name

    def add_rodata(self, data, comment: str = "", *, dedupe: bool = True) -> int:
        """The ordinal of a new rodata segment holding ``data`` (small equal byte strings
        share one segment)."""
        key = bytes(data) if dedupe and len(data) <= 4096 else None
        if key is not None and key in self._rodata_index:
            return self._rodata_index[key]
        self.rodata.append(data)
        index = len(self.rodata) - 1
        if key is not None:
            self._rodata_index[key] = index
        return index

    def text_rodata(self, text: str) -> int:
        return self.add_rodata(text.encode("utf-8"))

    def function(self, name: str, args: list[str], results: list[str]) -> FunctionWriter:
        fn = FunctionWriter(self, name, args, results)
        self.functions.append(fn)
        return fn

    def text(self) -> str:
        lines = [f"vm.module @{self.name} version 1", ""]
        for name, cconv in sorted(self.imports.items()):
            lines.append(f'vm.import @{name} cconv "{cconv}"')
        lines.append("")
        for i, data in enumerate(self.rodata):
            lines.append(f"vm.rodata[{i}] = 00  // {len(data)} bytes")
        for fn in self.functions:
            lines.append("")
            lines.extend(fn.text())
        return "\n".join(lines) + "\n"

    def assemble(self, filename: str):
        module = assemble(self.text(), filename)
        return attrs.evolve(module, rodata=tuple(self.rodata))


@attrs.define
class _Counters:
    i32: int = 0
    refs: int = 0


class FunctionWriter:
    """One ``vm.func``: argument refs ``%r0..``, then registers from counters."""

    def __init__(self, module: ModuleWriter, name: str, args: list[str], results: list[str]):
        self.module = module
        self.name = name
        self.args = args
        self.results = results
        self.lines: list[str] = []
        self.loc = name
        self._next = _Counters(0, len(args))
        self._high = _Counters(0, len(args))
        self._labels = 0
        self._consts: dict[tuple[str, int], str] = {}  # constants still held in registers

    # -- registers ------------------------------------------------------------------------
    def i32(self) -> str:
        n = self._next.i32
        self._next.i32 += 1
        self._high.i32 = max(self._high.i32, self._next.i32)
        return f"%i{n}"

    def i64(self) -> str:
        n = self._next.i32 + (self._next.i32 & 1)
        self._next.i32 = n + 2
        self._high.i32 = max(self._high.i32, self._next.i32)
        return f"%i{n}:{n + 1}"

    def ref(self) -> str:
        n = self._next.refs
        self._next.refs += 1
        self._high.refs = max(self._high.refs, self._next.refs)
        return f"%r{n}"

    @contextlib.contextmanager
    def scope(self):
        """Registers allocated inside the block are free again after it."""
        saved, consts = attrs.evolve(self._next), dict(self._consts)
        try:
            yield
        finally:
            self._next, self._consts = saved, consts

    # -- code -----------------------------------------------------------------------------
    def emit(self, code: str) -> None:
        self.lines.append(f"  {code}  //! loc={json.dumps(self.loc, ensure_ascii=True)}")

    def label(self) -> str:
        self._labels += 1
        return f"^bb{self._labels}"

    def place(self, label: str) -> None:
        self.lines.append(f"{label}:")

    def const_i32(self, value: int) -> str:
        """A register holding ``value``: one already loaded in this scope, or a new one
        (registers are never reassigned, so a loaded constant stays valid)."""
        reg = self._consts.get(("i32", int(value)))
        if reg is None:
            reg = self._consts[("i32", int(value))] = self.i32()
            self.emit(f"{reg} = vm.const.i32 {int(value)}")
        return reg

    def const_i64(self, value: int) -> str:
        reg = self._consts.get(("i64", int(value)))
        if reg is None:
            reg = self._consts[("i64", int(value))] = self.i64()
            self.emit(f"{reg} = vm.const.i64 {int(value)}")
        return reg

    def rodata(self, index: int) -> str:
        reg = self.ref()
        self.emit(f"{reg} = vm.const.ref.rodata {index}")
        return reg

    def zero_ref(self) -> str:
        reg = self.ref()
        self.emit(f"{reg} = vm.const.ref.zero")
        return reg

    def call(self, name: str, args, results=()) -> None:
        lhs = ", ".join(results)
        self.emit(f"{lhs + ' = ' if lhs else ''}vm.call @{name}({', '.join(args)})")

    def call_variadic(self, name: str, segments, args, results=()) -> None:
        lhs = ", ".join(results)
        seg = ", ".join(map(str, segments))
        self.emit(f"{lhs + ' = ' if lhs else ''}vm.call.variadic @{name} segments[{seg}]"
                  f"({', '.join(args)})")

    def fail_if(self, reg: str, message: str) -> None:
        self.emit(f"vm.fail {reg}, {json.dumps(message)}")
        self.place(self.label())

    def await_fences(self, timeout: str, fences, message: str) -> None:
        """``fence.await`` (yieldable) on ``fences``; fails with ``message`` unless OK."""
        flags = self.const_i64(0)
        status = self.i32()
        resume = self.label()
        self.emit(f"vm.call.variadic.yieldable @hal.fence.await segments[0, 0, {len(fences)}]"
                  f"({timeout}, {flags}, {', '.join(fences)}) -> {resume}({status})")
        self.place(resume)
        self.fail_if(status, message)

    def global_load(self, slot: int, type_: str) -> str:
        reg = self.ref()
        self.emit(f"{reg} = vm.global.load.ref .refs[{slot}] : {type_}")
        return reg

    def global_store(self, reg: str, slot: int, type_: str) -> None:
        self.emit(f"vm.global.store.ref {reg}, .refs[{slot}] : {type_}")

    def ret(self, regs=()) -> None:
        self.emit(f"vm.return {', '.join(regs)}".rstrip())

    def text(self) -> list[str]:
        meta = {"locations": "inline"}
        args = ", ".join(f"%r{i}: {t}" for i, t in enumerate(self.args))
        results = ", ".join(self.results)
        return ([f"//! pyree.function {json.dumps(meta)}",
                 f"vm.func @{self.name}({args}) -> ({results}) {{"]
                + self.lines + ["}", f"vm.export @{self.name}"])
