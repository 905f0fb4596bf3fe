"""The one pyree-kernels-v1 executable of a compiled module (``spec/executables.md``).

Every dispatch of every region calls a function of this executable. Identical function
descriptions are stored once; each function is named after the label of its first
dispatch (the ONNX nodes it computes), made unique with a ``$N`` suffix.
"""

from __future__ import annotations

import json
import re

FORMAT = "pyree-kernels-v1"
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.+\-]")
MAX_NAME = 200


class ExecutableTable:
    def __init__(self):
        self.functions: list[dict] = []
        self._index: dict[str, int] = {}
        self._names: set[str] = set()

    def add(self, function: dict, label: str) -> int:
        """The function ordinal of ``function`` (a description without ``name``)."""
        key = json.dumps(function, sort_keys=True, separators=(",", ":"))
        found = self._index.get(key)
        if found is not None:
            return found
        base = _NAME_CHARS.sub("_", label or "dispatch")[:MAX_NAME] or "dispatch"
        name, n = base, 1
        while name in self._names:
            n += 1
            name = f"{base}${n}"
        self._names.add(name)
        self.functions.append(dict(function, name=name))
        self._index[key] = len(self.functions) - 1
        return len(self.functions) - 1

    def serialize(self) -> bytes:
        """Canonical bytes (sorted keys, no whitespace), as ``executable_format.serialize``."""
        body = {"version": 1, "functions": self.functions}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")
