"""Renders ``spec/isa.md``, the opcode reference, from the ISA table.

``python -m pyree.bytecode.spec_gen`` rewrites the file; ``--check`` exits 1 with a diff
when the committed file is stale (the test suite runs the same check).
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

from pyree.bytecode import isa

SPEC_PATH = Path(__file__).resolve().parent.parent / "spec" / "isa.md"

_HEADER = """\
# pyree instruction set reference (generated)

Generated from the ISA table (`bytecode/isa.py`: IREE's `isa.json`, bytecode version
{major}.{minor}, joined with pyree's one-line semantics in `bytecode/semantics.py`) by
`python -m pyree.bytecode.spec_gen`. Do not edit by hand: a test fails when this file is
stale. Detailed semantics and edge cases: `../shared/reference/vm-isa.md`, which this
table follows.

Fields are listed in encoding order as `name:kind[:type]`; `w` marks a written register,
`m` a field where the move bit is legal. Prefixed sets are reached through the prefix
byte (0xE0 for ext_f32, 0xE1 for ext_f64).
"""


def _field(f: isa.Field) -> str:
    text = f"{f.name}:{f.kind}"
    if f.type:
        text += f":{f.type}"
    flags = ("w" if f.access == "write" else "") + ("m" if f.move else "")
    return text + (f" ({flags})" if flags else "")


def render() -> str:
    out = [_HEADER.format(major=isa.BYTECODE_VERSION_MAJOR, minor=isa.BYTECODE_VERSION_MINOR)]
    for opcode_set in isa.OPCODE_SETS:
        ops = [op for op in isa.OPS if op.opcode_set == opcode_set]
        prefix = isa.SET_PREFIX[opcode_set]
        title = opcode_set + (f" (prefix 0x{prefix:02X})" if prefix else "")
        out.append(f"\n## {title}: {len(ops)} instructions\n")
        out.append("| opcode | mnemonic | fields | semantics |")
        out.append("|---|---|---|---|")
        for op in ops:
            fields = ", ".join(_field(f) for f in op.fields) or "-"
            term = " (terminator)" if op.is_terminator else ""
            sem = op.semantics.replace("|", "\\|")
            out.append(f"| {op.opcode} (0x{op.opcode:02X}) | `{op.mnemonic}`{term} | "
                       f"{fields} | {sem} |")
    return "\n".join(out) + "\n"


def check() -> str:
    """The diff between the committed spec and a fresh rendering ('' when up to date)."""
    current = SPEC_PATH.read_text("utf-8") if SPEC_PATH.exists() else ""
    fresh = render()
    if current == fresh:
        return ""
    return "".join(difflib.unified_diff(current.splitlines(True), fresh.splitlines(True),
                                        "spec/isa.md (committed)", "spec/isa.md (generated)"))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--check" in argv:
        diff = check()
        sys.stdout.write(diff)
        return 1 if diff else 0
    SPEC_PATH.write_text(render(), "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
