"""The handler table: one emitter per instruction, registered by decorator.

An emitter turns one verified :class:`~pyree.bytecode.encoding.Instr` into Python
statements for the translated function (see ``translate.py``). Handlers are registered,
not matched: ``EMITTERS`` is indexed by the op's table key and filled by
:func:`emitter`; :func:`check_complete` (run at import of ``pyree.vm.codegen``) fails if
any row of the ISA table lacks exactly one handler.

Emitters receive the :class:`~pyree.vm.codegen.translate.FunctionTranslator` ``t``
(register layout, constants pool, helpers) and the instruction, and return a list of
source lines (unindented). Terminators produce their own control transfer via
``t.jump(...)``.
"""

from __future__ import annotations

from pyree.bytecode import isa

EMITTERS: dict[int, object] = {}


def emitter(*mnemonics: str):
    def register(fn):
        for m in mnemonics:
            op = isa.BY_MNEMONIC[m]
            if op.key in EMITTERS:
                raise ImportError(f"two handlers for {m}")
            EMITTERS[op.key] = fn
        return fn
    return register


def check_complete() -> None:
    missing = [op.mnemonic for op in isa.OPS if op.key not in EMITTERS]
    if missing:
        raise ImportError(f"instructions without a handler: {missing}")


def fields(ins):
    """Map field name -> (Field, arg)."""
    return {f.name: (f, a) for f, a in zip(ins.op.fields, ins.args)}


def operands(t, ins) -> list[str]:
    """Read expressions of every register field with access 'read', in order."""
    out = []
    for f, a in zip(ins.op.fields, ins.args):
        if f.kind == "register" and f.access == "read":
            out.append(t.layout.read(f.type, a))
    return out


def result_field(ins):
    for f, a in zip(ins.op.fields, ins.args):
        if f.kind == "register" and f.access == "write":
            return f, a
    raise KeyError(f"{ins.op.mnemonic} has no result")


def write_result(t, ins, expr: str) -> list[str]:
    f, a = result_field(ins)
    return t.layout.write(f.type, a, expr)
