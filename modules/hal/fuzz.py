"""The ``hal`` fuzz target (``pyree fuzz --target hal``): command sequences on real devices.

Inputs are :func:`pyree.testing.hal_strategies.hal_programs`: a driver (``local-sync`` or
``local-task``), a few buffers and a sequence of command-buffer and queue operations, valid
and invalid. Each runs against the numpy model (``fuzz_runner.py``): valid work produces the
model's bytes, invalid work raises the right pyree error before any kernel runs and leaves
the device usable, and no block leaks or is used after it was freed (poisoned pool).

Examples run in a worker process (``fuzz_worker.py``), one long-lived process fed over a
pipe and restarted after it dies: a crash (a numba kernel writing where it must not) or a
hang (no answer within :data:`EXAMPLE_TIMEOUT` seconds; the worker is killed) is a
:class:`~pyree.testing.targets.Failure` with a saved reproducer, not the end of the
campaign. Reproducers are ``hal-*.json`` with the program as JSON in ``hal-*.bin``; they
replay (in a worker too) with ``pyree fuzz --replay`` and in the test suite.
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import subprocess
import sys
import tempfile
import time

from pyree.testing import hal_ops
from pyree.testing.hal_strategies import hal_programs
from pyree.testing.targets import Failure, Target

from .fuzz_worker import HOOKS_ENV

EXAMPLE_TIMEOUT = 60.0     # seconds one example may take (a hang otherwise)
STARTUP_TIMEOUT = 900.0    # the first example loads (first time: compiles) the kernels


class Worker:
    """One worker process; :meth:`run` restarts it when it is not running."""

    def __init__(self, *, hooks: bool = False, timeout: float = EXAMPLE_TIMEOUT):
        self.hooks, self.timeout = hooks, timeout
        self.proc = None
        self.stderr = None
        self._buffer = b""
        self.warm = False          # the worker has loaded the kernels

    def start(self) -> None:
        env = dict(os.environ)
        env[HOOKS_ENV] = "1" if self.hooks else "0"
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the worker
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pyree.modules.hal.fuzz_worker"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self.stderr, env=env)
        self._buffer = b""
        self.warm = False
        reply = self._read(STARTUP_TIMEOUT)
        if not reply or not reply.get("ready"):
            self.stop()
            raise Failure(f"the HAL fuzz worker did not start: {reply}", "worker-start")

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            for pipe in (self.proc.stdin, self.proc.stdout):
                pipe.close()
        self.proc = None

    def _tail(self) -> str:
        if self.stderr is None:
            return ""
        self.stderr.seek(0)
        return self.stderr.read()[-1500:].decode("utf-8", "replace")

    def _read(self, timeout: float):
        """One reply line, None on EOF; raises TimeoutError past ``timeout``."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise TimeoutError
                chunk = os.read(fd, 65536)
                if not chunk:
                    return None
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)

    def run(self, program: hal_ops.HalProgram) -> dict:
        """The worker's reply for ``program``; raises Failure on a crash or a hang."""
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        try:
            self.proc.stdin.write(json.dumps(hal_ops.encode(program)).encode() + b"\n")
            self.proc.stdin.flush()
            reply = self._read(self.timeout if self.warm or program.hook else STARTUP_TIMEOUT)
            self.warm = self.warm or not program.hook
        except TimeoutError:
            self.stop()
            raise Failure(f"no answer within {self.timeout:.0f}s (the worker was killed)",
                          "hang") from None
        except BrokenPipeError:
            reply = None
        if reply is None:
            code = self.proc.wait()
            tail = self._tail()
            self.stop()
            what = f"signal-{-code}" if code < 0 else f"exit-{code}"
            raise Failure(f"the worker died ({what}) running the example; stderr:\n{tail}",
                          f"crash-{what}")
        return reply


_WORKERS: dict = {}


def worker(hooks: bool = False, timeout: float = EXAMPLE_TIMEOUT) -> Worker:
    key = (hooks, timeout)
    if key not in _WORKERS:
        _WORKERS[key] = Worker(hooks=hooks, timeout=timeout)
    return _WORKERS[key]


@atexit.register
def _stop_workers() -> None:
    for w in _WORKERS.values():
        w.stop()


class HalTarget(Target):
    def strategy(self):
        return hal_programs()

    def check(self, program: hal_ops.HalProgram, *, runner: Worker | None = None) -> None:
        reply = (runner or worker()).run(program)
        if not reply.get("ok"):
            raise Failure(reply.get("message", ""), reply.get("signature", "unknown"))

    def record(self, program, failure):
        return ({"target": self.name, "signature": failure.signature, "found": str(failure),
                 "note": f"{program.driver}, {len(program.ops)} operations",
                 "expected": {"model_agrees": True}}, {"data": hal_ops.dumps(program)})

    def replay(self, rep) -> None:
        self.check(hal_ops.loads(rep.data))


TARGET = HalTarget("hal", "command sequences on real devices agree with a numpy model; "
                          "crashes and hangs are contained in a worker process")
