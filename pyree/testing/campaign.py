"""Time-budgeted fuzz campaigns (``pyree fuzz``).

:func:`run` draws inputs of a :class:`~pyree.testing.targets.Target` with Hypothesis in
chunks until the time budget is spent. A failing input is shrunk by Hypothesis, saved as
a reproducer (:mod:`.regressions`) and the campaign goes on; failures with a signature
already seen in this campaign are counted but not saved again.
"""

from __future__ import annotations

import re
import sys
import time

import attrs
import hypothesis
from hypothesis import HealthCheck, Phase, given, settings

from pyree import status
from pyree.testing import regressions as regs
from pyree.testing.targets import Failure, Target

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> float:
    """``"30s"``, ``"10m"``, ``"1h"``, ``"90"`` (seconds), ``"1m30s"`` -> seconds."""
    parts = re.findall(r"(\d+(?:\.\d+)?)([smh]?)", text.strip().lower())
    if not parts or "".join(n + u for n, u in parts) != text.strip().lower():
        raise status.InvalidArgumentError(
            f"bad duration {text!r}: use e.g. 30s, 10m, 1h or 1m30s")
    return sum(float(n) * _UNITS[u] for n, u in parts)


@attrs.define
class Summary:
    target: str
    seconds: float = 0.0
    examples: int = 0
    failures: int = 0
    saved: list = attrs.field(factory=list)
    signatures: dict = attrs.field(factory=dict)  # signature -> count

    def lines(self) -> list[str]:
        rate = self.examples / self.seconds if self.seconds else 0.0
        out = [(f"target {self.target}: {self.examples} examples in {self.seconds:.0f}s "
                f"({rate:.1f}/s), {self.failures} failing, {len(self.signatures)} distinct")]
        for sig, n in sorted(self.signatures.items()):
            out.append(f"  {n} x {sig}")
        for path in self.saved:
            out.append(f"  saved {path}")
        return out


class _Progress:
    def __init__(self, stream, label: str, seconds: float):
        self.stream, self.label, self.seconds = stream, label, seconds
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.last = 0.0

    def show(self, summary: Summary, elapsed: float, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.last < (0.5 if self.tty else 15.0):
            return
        self.last = now
        text = (f"[{self.label}] {elapsed:5.0f}s/{self.seconds:.0f}s  examples "
                f"{summary.examples}  failures {summary.failures} "
                f"({len(summary.signatures)} distinct)")
        if self.tty:
            self.stream.write("\r" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def run(target: Target, seconds: float, folder, *, stream=None, chunk: int = 50,
        seed: int | None = None) -> Summary:
    """Fuzz ``target`` for ``seconds``; reproducers go to ``folder``."""
    stream = stream if stream is not None else sys.stderr
    summary = Summary(target.name)
    progress = _Progress(stream, target.name, seconds)
    start = time.monotonic()
    deadline = start + seconds
    failing: dict = {}  # signature -> (example, failure), the last (most shrunk) one
    shrink_until = [None]  # shrinking a failure stops here (the best example so far is kept)
    rounds = 0
    while time.monotonic() < deadline:
        rounds += 1

        @settings(max_examples=chunk, database=None, deadline=None, derandomize=False,
                  suppress_health_check=list(HealthCheck), print_blob=False,
                  phases=(Phase.generate, Phase.shrink))
        @given(target.strategy())
        def one(example):
            now = time.monotonic()
            if (now >= deadline and not failing) or (
                    shrink_until[0] is not None and now >= shrink_until[0]):
                return
            summary.examples += 1
            progress.show(summary, time.monotonic() - start)
            try:
                target.check(example)
            except Failure as f:
                failing[f.signature] = (example, f)
                if shrink_until[0] is None:
                    shrink_until[0] = time.monotonic() + max(30.0, seconds / 10)
                raise

        if seed is not None:
            one = hypothesis.seed(seed + rounds)(one)
        found = {}
        try:
            one()
        except KeyboardInterrupt:
            break
        except BaseException:  # noqa: BLE001 - Hypothesis re-raises what check raised
            found = dict(failing)
        failing.clear()
        shrink_until[0] = None
        for sig, (example, failure) in found.items():
            summary.failures += 1
            first = sig not in summary.signatures
            summary.signatures[sig] = summary.signatures.get(sig, 0) + 1
            if first:
                record, inputs = target.record(example, failure)
                summary.saved.append(regs.save(folder, record, **inputs))
    summary.seconds = time.monotonic() - start
    progress.show(summary, summary.seconds, final=True)
    return summary


def replay_all(folder, *, pending: bool = False, stream=None) -> tuple[int, int]:
    """Replay every reproducer of ``folder``; returns (passed, failed)."""
    stream = stream if stream is not None else sys.stdout
    passed = failed = 0
    for path in regs.find(folder, pending=pending):
        try:
            regs.replay(path)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # noqa: BLE001
            failed += 1
            stream.write(f"FAIL {path}: {type(e).__name__}: {e}\n")
        else:
            passed += 1
            stream.write(f"PASS {path}\n")
    stream.write(f"{passed} passed, {failed} failed\n")
    return passed, failed
