"""Rewrites the ``vm.rodata[N] = HEX`` line after each ``// text[N]: TEXT`` comment of the
HAL vmasm programs so that HEX is TEXT's UTF-8 bytes (``tests/hal/test_vmasm_hal.py``
checks that they agree). Usage: ``python tests/vmasm_hal/update_rodata.py [FILE...]``."""

from __future__ import annotations

import re
import sys
from pathlib import Path

TEXT = re.compile(r"^// text\[(\d+)\]: (.*)$")
RODATA = re.compile(r"^vm\.rodata\[(\d+)\] = ([0-9A-Fa-f]*)$")


def expected_rodata(lines: list[str]) -> list[tuple[int, str, str]]:
    """``(line index, segment, expected hex)`` for every rodata line after a text comment."""
    out = []
    for i, line in enumerate(lines[:-1]):
        match = TEXT.match(line)
        if match:
            following = RODATA.match(lines[i + 1])
            if following is None or following.group(1) != match.group(1):
                raise ValueError(f"line {i + 2}: expected vm.rodata[{match.group(1)}] after "
                                 "its text comment")
            out.append((i + 1, match.group(1), match.group(2).encode().hex().upper()))
    return out


def update(path: Path) -> bool:
    lines = path.read_text(encoding="utf-8").split("\n")
    changed = False
    for index, segment, hex_text in expected_rodata(lines):
        line = f"vm.rodata[{segment}] = {hex_text}"
        if lines[index] != line:
            lines[index] = line
            changed = True
    if changed:
        path.write_text("\n".join(lines), encoding="utf-8")
    return changed


if __name__ == "__main__":
    paths = [Path(p) for p in sys.argv[1:]] or sorted(Path(__file__).parent.glob("*.vmasm"))
    for p in paths:
        if update(p):
            print(f"updated {p}")
