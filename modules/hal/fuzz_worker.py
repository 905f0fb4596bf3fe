"""The process HAL fuzz examples run in (``python -m pyree.modules.hal.fuzz_worker``).

A numba kernel that is handed a bad index does not raise: it reads or writes memory it does
not own, and may kill the process. So the ``hal`` fuzz target (``fuzz.py``) runs examples
here, in one long-lived worker fed over a pipe, and the parent survives whatever happens.

Protocol (one JSON object per line): the worker writes ``{"ready": true}`` once imported
(the fuzz executable is loaded by the first program, so the parent gives that one longer);
for each program it reads (``hal_ops.encode``) it writes
``{"ok": true, "report": {...}}`` or ``{"ok": false, "message": ..., "signature": ...}``.
Anything else the process prints goes to stderr (fd 1 is redirected there), and
``faulthandler`` dumps a traceback there when the process dies of a signal.

Test-only hooks: with ``PYREE_HAL_FUZZ_HOOKS=1`` in the environment a program's ``hook``
(``abort``, ``segfault``, ``hang``) runs before it, so tests can check that a crash or a
hang is reported as a failure. Without the variable hooks are ignored.
"""

from __future__ import annotations

import faulthandler
import json
import os
import sys
import time
import traceback

HOOKS_ENV = "PYREE_HAL_FUZZ_HOOKS"


def _hook(name: str | None) -> None:
    if not name or os.environ.get(HOOKS_ENV) != "1":
        return
    if name == "abort":
        os.abort()
    if name == "segfault":
        import ctypes

        ctypes.string_at(0)
    if name == "hang":
        time.sleep(3600)


def main() -> int:
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)                       # stray output (numba, C code) goes to stderr
    faulthandler.enable(sys.stderr)
    from pyree.modules.hal import fuzz_runner

    from pyree.testing import hal_ops

    protocol.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            program = hal_ops.decode(json.loads(line))
            _hook(program.hook)
            report = fuzz_runner.run(program)
            reply = {"ok": True, "report": {"ok": report.ok, "failed": report.failed,
                                            "skipped": report.skipped}}
        except fuzz_runner.Mismatch as m:
            reply = {"ok": False, "message": str(m), "signature": m.signature}
        except Exception as e:  # noqa: BLE001 - reported to the parent as a failure
            reply = {"ok": False, "signature": f"worker-{type(e).__name__}",
                     "message": "".join(traceback.format_exception(e))[-2000:]}
        protocol.write(json.dumps(reply) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
