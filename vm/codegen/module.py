"""Translation of a whole module: every function, the export wrappers, the line map."""

from __future__ import annotations

import itertools

import attrs

from pyree.bytecode import cconv as cc
from pyree.bytecode import isa
from pyree.bytecode.module_def import ModuleDef

_serial = itertools.count()


@attrs.frozen
class TranslatedModule:
    """Source and metadata of one translation (one per module and variant)."""

    filename: str
    source: str
    code: object  # compiled module code object
    line_info: tuple  # line number - 1 -> LineInfo | None
    constants: dict  # name -> value, to bind in the globals of every instance
    generators: frozenset  # ordinals of functions that are generators


def _conv_in(c: str, expr: str) -> str:
    """Cross-module ABI value -> register value."""
    if c in "iI":
        return expr  # ABI ints are canonical signed values already
    if c == "f":
        return f"_fb32({expr})"
    if c == "F":
        return f"_fb64({expr})"
    return expr


def _conv_out(c: str, expr: str) -> str:
    """Register value -> cross-module ABI value."""
    if c in "iI":
        return f"(+{expr})"  # comparison results may be bools; + makes them ints
    if c == "f":
        return f"_bf32({expr})"
    if c == "F":
        return f"_bf64({expr})"
    return expr


class ModuleTranslator:
    def __init__(self, module: ModuleDef, instrs: list[list], *, budget: bool, max_depth: int,
                 direct: frozenset = frozenset()):
        self.module = module
        #: Import ordinals bound to a plain native export called without its adapter.
        self.direct = direct
        self.instrs = instrs
        self.budget = budget
        self.max_depth = max_depth
        self.constants: dict[str, object] = {}
        self._const_names: dict[tuple, str] = {}
        self.generators: set[int] = _generators(instrs, direct)

    def const(self, value) -> str:
        key = (type(value), value)
        name = self._const_names.get(key)
        if name is None:
            name = f"_k{len(self._const_names)}"
            self._const_names[key] = name
            self.constants[name] = value
        return name

    def callee_cconv(self, func_attr: int) -> cc.CConv:
        if func_attr & 0x80000000:
            return cc.parse(self.module.imports[func_attr & 0x7FFFFFFF].cconv)
        return cc.parse(self.module.functions[func_attr].cconv)

    def list_banks(self, ins, sig: cc.CConv):
        """(bank, ordinal) of every entry of call/return lists, typed by the cconv."""
        m = ins.op.mnemonic
        if m == "return":
            yield from zip((cc.CHAR_BANK[c] for c in sig.result_chars), ins.args[0])
            return
        if not m.startswith("call"):
            return
        callee = self.callee_cconv(ins.arg("callee_ordinal"))
        if "variadic" in m:
            arg_chars = expand_spans(callee.args, ins.arg("segment_sizes"))
        else:
            arg_chars = callee.arg_chars
        yield from zip((cc.CHAR_BANK[c] for c in arg_chars), ins.arg("operands"))
        yield from zip((cc.CHAR_BANK[c] for c in callee.result_chars), ins.arg("results"))

    def translate(self, filename_hint: str) -> TranslatedModule:
        from pyree.vm.codegen.translate import FunctionTranslator

        out: list[tuple[str, object]] = []
        for k in range(len(self.module.functions)):
            ft = FunctionTranslator(self, k, self.instrs[k], self.budget)
            ft.translate()
            out.extend(ft.out)
            out.append(("", None))
        for k in sorted({e.function for e in self.module.exports}):
            out.extend((line, None) for line in self._export_wrapper(k))
            out.append(("", None))
        source = "\n".join(text for text, _ in out) + "\n"
        filename = f"<pyree {filename_hint} #{next(_serial)}>"
        code = compile(source, filename, "exec")
        return TranslatedModule(
            filename=filename, source=source, code=code,
            line_info=tuple(info for _, info in out), constants=dict(self.constants),
            generators=frozenset(self.generators))

    def _export_wrapper(self, k: int) -> list[str]:
        sig = cc.parse(self.module.functions[k].cconv)
        if all(c in "iIr" for c in sig.arg_chars) and all(c == "r" for c in sig.result_chars):
            # Nothing to convert either way (ABI ints are the register values, refs are
            # refs, and _f returns a tuple): the export is the function itself, no frame.
            return [f"_x{k} = _f{k}"]
        params = [f"a{i}" for i in range(len(sig.arg_chars))]
        args = ", ".join(["inv", "d"] + [_conv_in(c, p) for c, p in zip(sig.arg_chars, params)])
        head = f"def _x{k}(inv, d{''.join(', ' + p for p in params)}):"
        call = f"_f{k}({args})"
        if k in self.generators:
            body = [f"    _r = yield from {call}"]
        else:
            body = [f"    _r = {call}"]
        results = ", ".join(_conv_out(c, f"_r[{i}]") for i, c in enumerate(sig.result_chars))
        body.append(f"    return ({results}{',' if len(sig.result_chars) == 1 else ''})")
        return [head] + body


def _generators(instrs, direct: frozenset = frozenset()) -> set[int]:
    """Functions translated as Python generators (they may suspend): those with ``yield``,
    with a yieldable call to an import (any import may suspend, except the ``direct`` ones:
    plain native exports never do), or with a yieldable call to an internal function that
    is itself a generator (a fixpoint over the call graph)."""
    gens = set()
    calls: dict[int, set[int]] = {}
    for k, code in enumerate(instrs):
        for ins in code:
            m = ins.op.mnemonic
            if m == "yield":
                gens.add(k)
            elif m in ("call.yieldable", "call.variadic.yieldable"):
                callee = ins.arg("callee_ordinal")
                if callee & 0x80000000:
                    if callee & 0x7FFFFFFF not in direct:
                        gens.add(k)
                elif m == "call.yieldable":
                    calls.setdefault(k, set()).add(callee)
                else:
                    gens.add(k)     # call.variadic.yieldable of an internal function
    changed = True
    while changed:
        changed = False
        for k, callees in calls.items():
            if k not in gens and callees & gens:
                gens.add(k)
                changed = True
    return gens


def expand_spans(elements, segment_sizes) -> str:
    """Flat argument characters of a variadic call: each span repeated by its segment size."""
    out = []
    for i, e in enumerate(elements):
        if isinstance(e, cc.Span):
            count = segment_sizes[i] if i < len(segment_sizes) else 0
            out.append(e.elements * count)
        else:
            out.append(e)
    return "".join(out)


def is_import(func_attr: int) -> bool:
    return bool(func_attr & 0x80000000)


__all__ = ["ModuleTranslator", "TranslatedModule", "expand_spans", "is_import", "isa"]
