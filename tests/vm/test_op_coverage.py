"""Every instruction of the ISA appears in at least one op conformance program.

Assembles every ``tests/vmasm/*.vmasm`` file (and the companions in ``tests/vmasm/lib/``),
decodes each function's code and collects the mnemonics actually encoded; any row of
``isa.OPS`` that no program uses is a gap in the conformance suite.
"""

from __future__ import annotations

from pathlib import Path

from pyree.bytecode import encoding, isa
from pyree.bytecode.asm import assemble

VMASM_DIR = Path(__file__).resolve().parent.parent / "vmasm"


def _files() -> list[Path]:
    return sorted(VMASM_DIR.glob("*.vmasm")) + sorted(VMASM_DIR.glob("lib/*.vmasm"))


def _used_mnemonics() -> dict[str, set[str]]:
    used: dict[str, set[str]] = {}
    for path in _files():
        module = assemble(path.read_text(encoding="utf-8"), str(path))
        for fn in module.functions:
            for ins in encoding.decode(fn.code):
                used.setdefault(ins.op.mnemonic, set()).add(path.name)
    return used


def test_there_are_programs():
    assert len(list(VMASM_DIR.glob("*.vmasm"))) >= 10


def test_every_instruction_is_covered():
    used = _used_mnemonics()
    missing = [op.mnemonic for op in isa.OPS if op.mnemonic not in used]
    assert not missing, (
        f"{len(missing)} of {len(isa.OPS)} instructions appear in no tests/vmasm program: "
        + ", ".join(missing))
