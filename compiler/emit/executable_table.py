"""The one pyree-kernels-v1 executable of a compiled module (``spec/executables.md``).

Every dispatch of every region calls a function of this executable, and every dispatch
site has a function of its own, named after the dispatch's label (the ONNX nodes it
computes, e.g. ``Conv_3+Relu_4``), made unique with a ``$N`` suffix. The HAL names the
function in traces (one ``dispatch`` event per dispatch, ``pyree/tracing.py``) and in the
errors of a failing dispatch (``while executing dispatch 'Conv_3+Relu_4'``), so both point
at the model's nodes.

Identical descriptions still cost one kernel: the HAL compiles a function from its
generated source, which never contains the function's name, and caches compiled kernels
on (source hash, binding types) (``modules/hal/kernels/compiler.py``), so the 26 convs of
a squeezenet that share a description compile once and are 26 table entries.
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
        self._names: set[str] = set()

    def add(self, function: dict, label: str) -> int:
        """The ordinal of a new function: ``function`` (a description without ``name``)
        named after ``label``."""
        base = _NAME_CHARS.sub("_", label or "dispatch")[:MAX_NAME] or "dispatch"
        name, n = base, 1
        while name in self._names:
            n += 1
            name = f"{base}${n}"
        self._names.add(name)
        self.functions.append(dict(function, name=name))
        return len(self.functions) - 1

    def serialize(self) -> bytes:
        """Canonical bytes (sorted keys, no whitespace), as ``executable_format.serialize``."""
        body = {"version": 1, "functions": self.functions}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")
