"""Drawing one function body: structured control flow over drawn instructions.

A body is a sequence of *statements*, each of which emits whole blocks through a
:class:`~pyree.bytecode.builder.FunctionBuilder`:

* ``op``: one instruction of an enabled family (operands from :mod:`.operands`);
* ``call``: a call of a later function of the module (calls form a DAG, so there is no
  recursion) or of an import, arguments and results by the callee's cconv; a callee
  that may yield is called with ``call.yieldable`` (a terminator: the next block starts
  at its resume target);
* ``if``: ``cond_br`` to two arms that rejoin; ``switch``: ``br_table`` to case arms that
  rejoin; ``loop``: a counted loop (a counter register that nothing else writes, a bound
  of 0..3), or with ``loops="unbounded"`` a loop with no exit, for budget tests;
* ``exit``: ``cond_br`` to a block that returns or fails (``fail`` with a drawn code,
  which may be 0: then execution falls into the next block);
* ``jump``: a forward ``br`` / ``break`` / ``cond_break`` / ``yield`` to the next block,
  with a remap list (sequential copies, overlaps included).

Every branch goes forward except loop back edges, so a generated function runs a bounded
number of instructions. The last block returns the function's results (or, rarely,
fails). Draws are local to each statement so that Hypothesis shrinks a failure to the
few statements that matter.
"""

from __future__ import annotations

from hypothesis import strategies as st

from pyree.bytecode import cconv as cc
from pyree.bytecode import isa
from pyree.bytecode.builder import FunctionBuilder
from pyree.testing import families as fam
from pyree.testing.layout import Layout
from pyree.testing.operands import IMPORT_BIT, OperandDrawer, feasible, index, pick

_ROLE = {"i": "i32", "f": "f32", "I": "i64", "F": "f64"}
FAIL_CODES = (0, 1, 3, 5, 9, 11, 13, 17, 18, 19, 31, 32, 100, -1)
FAIL_MESSAGES = (b"", b"boom", b"fuzz")


@st.composite
def _spanned(draw, gen, depth):
    """One statement of ``gen`` drawn inside its own span."""
    outer = gen.draw
    gen.draw = gen.operands.draw = draw
    try:
        gen._statement(depth)
    finally:
        gen.draw = gen.operands.draw = outer


class FunctionGenerator:
    """Draws the body of internal function ``ordinal`` of a module environment."""

    def __init__(self, draw, env, ordinal: int):
        self.draw = draw
        self.env = env
        self.options = env.options
        self.ordinal = ordinal
        self.cconv = env.functions[ordinal]
        self.layout = Layout.build(self.cconv, self.options.max_depth)
        self.fb = FunctionBuilder("main" if ordinal == 0 else f"fn{ordinal}", self.cconv)
        self.operands = OperandDrawer(draw, self.layout, env, self._emit)
        self.may_yield = False
        self.ops = [op for name in sorted(self.options.families - {"control", "call"})
                    for op in fam.OPS_BY_FAMILY[name] if feasible(op, env)]
        if "call" in self.options.families and env.imports:
            self.ops.append(isa.BY_MNEMONIC["import.resolved"])
        self.callees = [j for j in range(ordinal + 1, len(env.functions))] \
            if "call" in self.options.families else []
        self.import_callees = list(range(len(env.imports))) \
            if "call" in self.options.families else []

    def _emit(self, op, args) -> None:
        self.fb.emit(op, args)

    # -- the function --------------------------------------------------------------------

    def generate(self):
        draw = self.draw
        self._prologue()
        self._statements(0, self.options.max_statements)
        if "control" in self.options.families and draw(index(64)) == 63:
            self._fail()
        else:
            self.fb.emit("return", (self._result_list(),))
        self.fb.reserve_registers(i32=self.layout.i32_count, ref=self.layout.ref_count)
        return self.fb.finish()

    def _prologue(self) -> None:
        """Usually give the buffer and list pools a value, so memory ops have targets."""
        draw, od = self.draw, self.operands
        families = self.options.families
        if "buffer" in families:
            for r in self.layout.refs["buffer"]:
                if draw(index(4)):
                    length = od.materialise(isa.Field("length", "register", "i64"), 0)
                    align = self.layout.scratch["i32"][0]
                    self.fb.emit("const.i32.zero", (align,))
                    self.fb.emit("buffer.alloc", (length, align, 0x8000 | r))
        if "list" in families:
            for r in self.layout.refs["list"]:
                if draw(index(4)):
                    etype = pick(draw, self.env.types)
                    n = self.layout.scratch["i32"][0]
                    self.fb.emit("const.i32", (draw(index(7)), n))
                    self.fb.emit("list.alloc", (self.env.types.index(etype), n, 0x8000 | r))
                    self.fb.emit("list.resize", (0x8000 | r, n))

    def _statements(self, depth: int, budget: int) -> None:
        draw = self.draw
        count = 0
        while count < budget and draw(index(5)):
            count += 1
            # One span per statement, so that the shrinker can delete it whole.
            draw(_spanned(self, depth))

    def _statement(self, depth: int) -> None:
        kinds = ["op"] * 6
        if self.callees or self.import_callees:
            kinds.append("call")
        if "control" in self.options.families:
            kinds += ["exit", "jump"]
            if depth < self.options.max_depth:
                kinds += ["if", "loop", "switch"]
        kind = pick(self.draw, kinds)
        if kind == "op":
            if self.ops:
                op = pick(self.draw, self.ops)
                self.fb.emit(op, self.operands.instruction(op))
        else:
            getattr(self, "_" + kind)(depth)

    # -- statements ----------------------------------------------------------------------

    def _call(self, depth: int) -> None:
        draw = self.draw
        targets = [("f", j) for j in self.callees] + [("i", k) for k in self.import_callees]
        where, k = pick(draw, targets)
        if where == "f":
            sig = cc.parse(self.env.functions[k])
            callee, spans = k, None
            yieldable = k in self.env.yields or (
                "control" in self.options.families
                and "yieldable-plain-callee" not in self.options.avoid
                and draw(index(8)) == 7)
        else:
            spec = self.env.imports[k]
            sig = cc.parse(spec.cconv)
            callee = IMPORT_BIT | k
            spans = sig.has_spans
            yieldable = spec.yieldable
        operands, segments = [], []
        for element in sig.args:
            if isinstance(element, cc.Span):
                n = draw(index(4))
                segments.append(n)
                for _ in range(n):
                    operands += [self._value(c) for c in element.elements]
            else:
                segments.append(0xFFFF)
                operands.append(self._value(element))
        results = tuple(self._result(c) for c in sig.result_chars)
        name = "call.variadic" if spans else "call"
        head = (callee, tuple(segments)) if spans else (callee,)
        if yieldable:
            resume = self.fb.new_label("resume")
            self.fb.emit(name + ".yieldable", head + (tuple(operands), resume, results))
            self.fb.place(resume)
            self.may_yield = True
        else:
            self.fb.emit(name, head + (tuple(operands), results))

    def _if(self, depth: int) -> None:
        fb = self.fb
        then, other, join = fb.new_label("then"), fb.new_label("else"), fb.new_label("join")
        fb.emit("cond_br", (self._condition(), then, self._remap(), other, self._remap()))
        for label in (then, other):
            fb.place(label)
            self._statements(depth + 1, self.options.max_statements // 2)
            fb.emit("br", (join, self._remap()))
        fb.place(join)

    def _switch(self, depth: int) -> None:
        fb, draw = self.fb, self.draw
        n = draw(index(4))
        cases = [fb.new_label("case") for _ in range(n)]
        default, join = fb.new_label("default"), fb.new_label("join")
        selector = self.operands.materialise(isa.Field("index", "register", "i32"), 0) \
            if draw(st.booleans()) else self._condition()
        fb.emit("br_table", (selector, default, self._remap(), n,
                             tuple((c, self._remap()) for c in cases)))
        for label in cases + [default]:
            fb.place(label)
            self._statements(depth + 1, self.options.max_statements // 3)
            fb.emit("br", (join, self._remap()))
        fb.place(join)

    def _loop(self, depth: int) -> None:
        fb, draw, lay = self.fb, self.draw, self.layout
        head, body, done = fb.new_label("head"), fb.new_label("body"), fb.new_label("done")
        counter, ctl = lay.counters[depth], lay.control
        bounded = self.options.loops == "bounded"
        fb.emit("const.i32", (0, counter))
        fb.emit("br", (head, ()))
        fb.place(head)
        if bounded:
            fb.emit("const.i32", (draw(index(4)), ctl))
            fb.emit("cmp.lt.i32.s", (counter, ctl, ctl))
            fb.emit("cond_br", (ctl, body, (), done, ()))
        else:
            fb.emit("br", (body, ()))
        fb.place(body)
        self._statements(depth + 1, self.options.max_statements // 2)
        fb.emit("const.i32", (1, ctl))
        fb.emit("add.i32", (counter, ctl, counter))
        fb.emit("br", (head, self._remap()))
        fb.place(done)

    def _exit(self, depth: int) -> None:
        fb = self.fb
        leave, stay = fb.new_label("exit"), fb.new_label("stay")
        fb.emit("cond_br", (self._condition(), leave, self._remap(), stay, ()))
        fb.place(leave)
        if not self.draw(st.booleans()):
            fb.emit("return", (self._result_list(),))
        else:
            self._fail()
        fb.place(stay)

    def _jump(self, depth: int) -> None:
        fb, draw = self.fb, self.draw
        nxt = fb.new_label("next")
        kind = pick(draw, ("br", "break", "cond_break", "yield"))
        if kind == "cond_break":
            fb.emit(kind, (self._condition(), nxt, self._remap()))
        else:
            fb.emit(kind, (nxt, self._remap()))
        if kind == "yield":
            self.may_yield = True
        fb.place(nxt)

    def _fail(self) -> None:
        reg = self.layout.scratch["i32"][0]
        self.fb.emit("const.i32", (pick(self.draw, FAIL_CODES), reg))
        self.fb.emit("fail", (reg, pick(self.draw, FAIL_MESSAGES)))

    # -- operands of statements ----------------------------------------------------------

    def _condition(self) -> int:
        return self.operands.read("i32")

    def _value(self, c: str) -> int:
        if c == "r":
            return self.operands.read_ref("any", True)
        return self.operands.read(_ROLE[c])

    def _result(self, c: str) -> int:
        if c == "r":
            return self.operands.write_ref("any")
        return self.operands.write(_ROLE[c])

    def _result_list(self) -> tuple:
        return tuple(self._value(c) for c in cc.parse(self.cconv).result_chars)

    def _remap(self) -> tuple:
        """0-2 same-role copies (64-bit values as two slot pairs); sources may overlap
        destinations, as remaps are sequential."""
        draw, lay = self.draw, self.layout
        pairs: list = []
        for _ in range(draw(index(3))):
            role = pick(draw, ("i32", "f32", "i64", "f64", "ref"))
            if role == "ref":
                src = self.operands.read_ref("any", True)
                pairs.append((src, 0x8000 | pick(draw, lay.all_refs())))
            else:
                src = pick(draw, lay.values[role])
                dst = pick(draw, lay.values[role])
                pairs.append((src, dst))
                if role in isa.WIDE_BANKS:
                    pairs.append((src + 1, dst + 1))
        return tuple(pairs)
