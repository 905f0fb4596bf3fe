"""Translation of verified bytecode functions into Python functions.

pyree's interpreter pre-decodes every verified function into Python source: registers
become locals (``regs.py``), each instruction becomes a few statements produced by its
registered emitter (``emit.py`` and the ``ops_*`` modules), and blocks are dispatched by
a ``while True`` loop over an ``if`` chain on the block index ``b``. A block reached by
exactly one edge is emitted inline at that edge instead of being dispatched; a function
whose blocks all inline into the entry block is emitted as straight-line code, without
the loop. Only the register locals the body names are zeroed on entry. Nothing is
re-checked that the verifier proved; checks only run time can make (list indices,
buffer ranges, null refs, division by zero) stay in the emitted code.

Each translated function has the signature ``_f{k}(inv, d, *args)``: ``inv`` is the
invocation (budget, deadline, host hooks), ``d`` the call depth, and ``args`` the
arguments in internal form (u32/u64 bit patterns, refs). It returns a tuple of results in
the same form. Functions that can suspend (``yield``, yieldable calls) are generators.
Each export also gets a wrapper ``_x{k}(inv, d, *args)`` speaking the cross-module ABI:
signed Python ints for ``i``/``I``, floats for ``f``/``F``, objects or None for refs
(when no argument or result needs converting, ``_x{k}`` is ``_f{k}`` itself).

Every generated source line maps back to (function ordinal, pc), so a Python traceback
through translated code becomes a VM backtrace at zero cost on the happy path.
"""

from __future__ import annotations

import re

import attrs

from pyree.bytecode import cconv as cc
from pyree.bytecode import isa
from pyree.bytecode.module_def import ModuleDef
from pyree.vm.codegen import regs
from pyree.vm.codegen.emit import EMITTERS

#: Nesting limit for inlined blocks (Python allows ~100 levels of indentation).
MAX_INLINE_DEPTH = 24

_NAME = re.compile(r"\b[ilr][0-9]+\b")  # register locals (regs.py)
_TOP_ASSIGN = re.compile(r"^    ([ilr][0-9]+) = (?!=)")   # `    r5 = ...` at function level
_BLOCK_VAR = re.compile(r"\bb\b")     # the dispatcher's block variable



@attrs.define
class Block:
    index: int
    pc: int
    instrs: list
    edges_in: int = 0
    inline: bool = False


@attrs.frozen
class LineInfo:
    function: int
    pc: int
    next_pc: int


class FunctionTranslator:
    """Translates one function; ``lines`` collects (text, LineInfo | None) pairs."""

    def __init__(self, unit: ModuleTranslator, ordinal: int, instrs: list, budget: bool):
        self.unit = unit
        self.module: ModuleDef = unit.module
        self.ordinal = ordinal
        self.fdef = self.module.functions[ordinal]
        self.instrs = instrs
        self.budget = budget
        self.sig = cc.parse(self.fdef.cconv)
        self.layout = regs.Layout(_round_pow2(self.fdef.i32_register_count),
                                  _round_pow2(self.fdef.ref_register_count))
        self.blocks: list[Block] = []
        self.block_at: dict[int, Block] = {}
        self.out: list[tuple[str, LineInfo | None]] = []
        self.indent = 0
        self._forced_chain: set[int] = set()
        self.loop_header: int | None = None

    # -- analysis --------------------------------------------------------------------
    def analyze(self) -> None:
        current = None
        for ins in self.instrs:
            if ins.op.is_block:
                current = Block(len(self.blocks), ins.pc, [])
                self.blocks.append(current)
                self.block_at[ins.pc] = current
            else:
                current.instrs.append(ins)
        self.blocks[0].edges_in += 1  # the function entry
        for block in self.blocks:
            for target in self.successors(block):
                self.block_at[target].edges_in += 1
        self._classify_registers()
        self.int_locals = self._const_int_locals()

    _CONST_OPS = frozenset({"const.i32", "const.i64", "const.i32.zero", "const.i64.zero"})

    def _const_int_locals(self) -> frozenset[str]:
        """Plain integer locals (``i{n}``/``l{n}``) that only integer constants write: they
        always hold a Python int, never a comparison's bool, so passing one across the ABI
        needs no ``+``. Every other write (any other op, call results, block arguments,
        parameters) disqualifies the slots it touches (both of a pair when the width is
        not known)."""
        const_slots, other_slots = set(), set()
        ordinals = cc.register_placement(self.sig.arg_chars)[0]
        for c, o in zip(self.sig.arg_chars, ordinals):
            if c != "r":
                n = o & isa.I32_INDEX_MASK
                other_slots.update((n, n + 1) if c in "IF" else (n,))
        for ins in self.instrs:
            const = ins.op.mnemonic in self._CONST_OPS
            for f, a in zip(ins.op.fields, ins.args):
                if f.kind == "register" and f.access == "write":
                    if f.type == "ref":
                        continue
                    n = a & isa.I32_INDEX_MASK
                    slots = (n, n + 1) if f.type in isa.WIDE_BANKS else (n,)
                    (const_slots if const else other_slots).update(slots)
                elif f.kind == "variadic_results" or f.kind == "branch_operands":
                    pairs = a if f.kind == "branch_operands" else [(None, o) for o in a]
                    for _, o in pairs:
                        if not o & isa.REF_BIT:
                            other_slots.update((o & isa.I32_INDEX_MASK,
                                                (o & isa.I32_INDEX_MASK) + 1))
                elif f.kind == "branch_table_cases":
                    for _, remap in a:
                        for _, o in remap:
                            if not o & isa.REF_BIT:
                                other_slots.update((o & isa.I32_INDEX_MASK,
                                                    (o & isa.I32_INDEX_MASK) + 1))
        names = set()
        for n in const_slots - other_slots:
            name = self.layout.plain32(n)
            if name is not None and n not in self.layout.classes:
                names.add(name)
            name = self.layout.plain64(n)
            if name is not None and n + 1 not in other_slots:
                names.add(name)
        return frozenset(names)

    def successors(self, block: Block) -> list[int]:
        term = block.instrs[-1] if block.instrs else None
        if term is None:
            return []
        out = []
        for f, a in zip(term.op.fields, term.args):
            if f.kind == "branch_target":
                out.append(a)
            elif f.kind == "branch_table_cases":
                out.extend(target for target, _ in a)
        if term.op.mnemonic == "fail" and term.end in self.block_at:
            out.append(term.end)
        return out

    def _classify_registers(self) -> None:
        lay = self.layout
        for c, ordinal in zip(self.sig.arg_chars, cc.register_placement(self.sig.arg_chars)[0]):
            lay.note(cc.CHAR_BANK[c], ordinal)
        for ins in self.instrs:
            for f, a in zip(ins.op.fields, ins.args):
                if f.kind == "register":
                    lay.note(f.type, a)
                elif f.kind == "branch_operands":
                    self._note_remap(a)
                elif f.kind == "branch_table_cases":
                    for _, remap in a:
                        self._note_remap(remap)
                elif f.kind in ("variadic_operands", "variadic_results"):
                    if f.type in ("i32", "i64", "f32", "f64", "ref") and f.name == "values":
                        for o in a:
                            lay.note(f.type, o)
            for bank, ordinal in self.unit.list_banks(ins, self.sig):
                lay.note(bank, ordinal)
        lay.finish()

    def _note_remap(self, pairs) -> None:
        lay = self.layout
        merged = set(_pair_moves(pairs))
        for i, (src, dst) in enumerate(pairs):
            if src & isa.REF_BIT:
                continue
            if i in merged:
                lay.note("i64", src)
                lay.note("i64", dst)
            elif i - 1 not in merged:
                lay.note("i32", src)
                lay.note("i32", dst)

    # -- output ----------------------------------------------------------------------
    def line(self, text: str, info: LineInfo | None = None) -> None:
        self.out.append(("    " * self.indent + text, info))

    def emit_lines(self, lines, info) -> None:
        for item in lines:
            if isinstance(item, _InlineBlock):
                self.emit_block(item.block, self.indent)
            elif item == "<indent>":
                self.indent += 1
            elif item == "<dedent>":
                self.indent -= 1
            else:
                self.line(item, info)

    def translate(self) -> None:
        self.analyze()
        flat = False
        while True:
            saved = len(self.out)
            self._dispatched = False
            try:
                chain = self._emit_function(flat)
            except _TooDeep as exc:
                del self.out[saved:]
                self.indent = 0
                self.loop_header = None
                self._forced_chain.add(exc.block_pc)
                flat = False
                continue
            if flat or len(chain) != 1 or self._dispatched or \
                    self._loops_to_itself(chain[0]):
                return
            # One block, every other block inlined into it and no jump through the
            # dispatcher: emit it again as straight-line code, without the loop and the
            # ``if b == 0`` test.
            del self.out[saved:]
            flat = True

    def _emit_function(self, flat: bool = False) -> list[Block]:
        for b in self.blocks:
            b.inline = (b.edges_in == 1 and b.index != 0 and b.pc not in self._forced_chain
                        and not self._self_edge(b))
        chain = [b for b in self.blocks if not b.inline]
        chain.sort(key=lambda b: (-self._loop_weight(b), b.pc))
        params = self._params()
        self.line(f"def _f{self.ordinal}(inv, d{''.join(', ' + p for p in params)}):")
        self.indent = 1
        self.line(f"if d > {self.unit.max_depth}: _depth_exceeded(d)")
        init_at = len(self.out)
        self.emit_lines(self._prologue(), None)  # after zeroing: it may write split pairs
        self.line("b = 0")
        if flat:
            self.emit_block(chain[0], 1)
        else:
            self.line("while True:")
            self.indent = 2
            for block in chain:
                self.line(f"if b == {block.index}:")
                self.indent = 3
                if self._loops_to_itself(block):
                    # The block's region jumps back to it: a local loop, so the back edge
                    # is a bare `continue` rather than a trip through the dispatch chain.
                    self.loop_header = block.pc
                    self.line("while True:")
                    self.indent = 4
                    self.emit_block(block, 4)
                    self.indent = 3
                    self.line("continue")
                    self.loop_header = None
                else:
                    self.emit_block(block, 3)
                self.indent = 2
            self.line("_bad_block(b)")
        # Zero only the registers the body names: a register the code never mentions
        # cannot be read, so initialising it is wasted work on every call.
        body = [text for text, _ in self.out[init_at:]]
        used = set(_NAME.findall("\n".join(body)))
        if flat:
            # Straight-line code runs its top-level statements in order: a register whose
            # first mention is a top-level assignment is written before any read.
            used -= _written_first(body)
            if not any(_BLOCK_VAR.search(text) for text in body if text != "    b = 0"):
                del self.out[init_at + body.index("    b = 0")]     # no dispatch: no b
        self.indent = 1
        init = [("    " + text, None)
                for text in self.layout.locals_init(set(params), used)]
        self.out[init_at:init_at] = init
        self.indent = 0
        return chain

    def _loops_to_itself(self, head: Block) -> bool:
        """Whether ``head`` or a block inlined into it branches back to ``head``."""
        seen, todo = set(), [head]
        while todo:
            block = todo.pop()
            if block.pc in seen:
                continue
            seen.add(block.pc)
            for target in self.successors(block):
                if target == head.pc:
                    return True
                succ = self.block_at[target]
                if succ.inline:
                    todo.append(succ)
        return False

    def _self_edge(self, block: Block) -> bool:
        return block.pc in self.successors(block)

    def _loop_weight(self, block: Block) -> int:
        weight = 0
        for src in self.blocks:
            for target in self.successors(src):
                if target <= src.pc and target <= block.pc <= src.pc:
                    weight += 1
        return weight

    def _params(self) -> list[str]:
        names = []
        ordinals = cc.register_placement(self.sig.arg_chars)[0]
        for i, (c, o) in enumerate(zip(self.sig.arg_chars, ordinals)):
            if c == "r":
                names.append(f"r{o & isa.REF_INDEX_MASK}")
            elif c in "IF" and self.layout.is_pair(o):
                names.append(f"l{o}")
            elif c in "IF":
                names.append(f"_p{i}")
            else:
                names.append(self.layout.read("i32", o) if self.layout.r32(o).startswith("i")
                             else f"_p{i}")
        return names

    def _prologue(self) -> list[str]:
        out = []
        ordinals = cc.register_placement(self.sig.arg_chars)[0]
        for i, (c, o) in enumerate(zip(self.sig.arg_chars, ordinals)):
            param = f"_p{i}"
            if c in "IF" and not self.layout.is_pair(o):
                out += self.layout.w64(o, param)
            elif c in "if" and not self.layout.r32(o).startswith("i"):
                out += self.layout.w32(o, param)
        return out

    def emit_block(self, block: Block, depth: int) -> None:
        if depth > MAX_INLINE_DEPTH:
            raise _TooDeep(block.pc)
        info = LineInfo(self.ordinal, block.pc, block.pc + 1)
        if self.budget:
            cost = len(block.instrs) + 1
            self.line(f"inv.budget -= {cost}", info)
            self.line("if inv.budget < 0: inv.refill()", info)
        for ins in block.instrs:
            info = LineInfo(self.ordinal, ins.pc, ins.end)
            lines = EMITTERS[ins.op.key](self, ins)
            self.emit_lines(lines, info)
            if ins.op.is_terminator:
                return
        # A block without terminator cannot pass the verifier.
        self.line("_bad_block(b)", info)

    # -- helpers for emitters -----------------------------------------------------------
    def jump(self, target_pc: int, depth_hint: int | None = None) -> list[str]:
        """Lines that transfer control to the block at ``target_pc``."""
        block = self.block_at[target_pc]
        if block.inline:
            return [_InlineBlock(block)]
        if self.loop_header is not None:
            if target_pc == self.loop_header:
                return ["continue"]
            self._dispatched = True
            return [f"b = {block.index}", "break"]
        self._dispatched = True
        return [f"b = {block.index}", "continue"]

    def remap(self, pairs) -> list[str]:
        out = []
        merged = set(_pair_moves(pairs))
        lay = self.layout
        for i, (src, dst) in enumerate(pairs):
            if i - 1 in merged:
                continue
            if src & isa.REF_BIT:
                s, t = f"r{src & isa.REF_INDEX_MASK}", f"r{dst & isa.REF_INDEX_MASK}"
                if s != t:
                    out.append(f"{t} = {s}")
                    if src & isa.MOVE_BIT:
                        out.append(f"{s} = None")
            elif i in merged:
                out += lay.w64(dst, lay.r64(src))
            else:
                out += lay.w32(dst, lay.r32(src))
        return out

    def const(self, value) -> str:
        """Name of a module-level constant holding ``value`` (strings, tuples...)."""
        return self.unit.const(value)


class _TooDeep(Exception):
    def __init__(self, block_pc):
        super().__init__(block_pc)
        self.block_pc = block_pc


@attrs.frozen
class _InlineBlock:
    block: Block


def _written_first(body: list[str]) -> set[str]:
    """Register locals whose first mention in ``body`` (straight-line code) is a
    function-level assignment not reading them: they need no zeroing on entry. A write
    inside an ``if`` does not count (it may not run before a later read); one directly in
    a function-level ``try`` body counts when every handler of it only re-raises (the
    write ran, or the frame is gone)."""
    seen: set[str] = set()
    first: set[str] = set()
    for text in _unconditional(body):
        match = _TOP_ASSIGN.match(text)
        if match is not None:
            target = match.group(1)
            if target not in seen and target not in _NAME.findall(text[match.end():]):
                first.add(target)
        seen.update(_NAME.findall(text))
    return first


def _unconditional(body: list[str]):
    """``body`` with the statements of a function-level ``try`` whose handlers only
    re-raise dedented to function level (nested statements keep their depth)."""
    i = 0
    while i < len(body):
        text = body[i]
        if text == "    try:":
            end = i + 1
            while end < len(body) and body[end].startswith("        "):
                end += 1
            handlers, j = [], end
            while j < len(body) and body[j].startswith("    except"):
                k = j + 1
                while k < len(body) and body[k].startswith("        "):
                    handlers.append(body[k])
                    k += 1
                j = k
            if handlers and all(h.startswith("        raise ") for h in handlers):
                yield from (line[4:] for line in body[i + 1:end])
                yield from body[end:j]
                i = j
                continue
        yield text
        i += 1


def _pair_moves(pairs) -> list[int]:
    """Indices i where entries i and i+1 move an even 64-bit pair as a whole."""
    out = []
    i = 0
    while i + 1 < len(pairs):
        (s0, d0), (s1, d1) = pairs[i], pairs[i + 1]
        if (not (s0 | d0) & isa.REF_BIT and s0 % 2 == 0 and d0 % 2 == 0
                and s1 == s0 + 1 and d1 == d0 + 1 and s0 != d0):
            out.append(i)
            i += 2
        else:
            i += 1
    return out


def _round_pow2(n: int) -> int:
    p = 1
    while p < n:
        p <<= 1
    return p


from pyree.vm.codegen.module import ModuleTranslator  # noqa: E402  (cycle by design)
