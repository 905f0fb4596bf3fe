"""Latency statistics and the report of ``pyree benchmark-module``.

A :class:`Run` holds the per-invocation wall-clock and CPU (process) times of every timed
invocation, grouped by repetition. The report follows ``iree-benchmark-module`` (Google
Benchmark's console reporter): one row per repetition (the mean time per invocation over
its iterations), then the aggregate rows ``_mean``, ``_median``, ``_stddev``, ``_min``,
``_p90`` and ``_p99``. Unlike Google Benchmark, whose aggregates are taken over the
repetitions' means, pyree's aggregates are taken over every timed invocation (so the
percentiles describe single-call latency), and their Iterations column is the number of
invocations. ``stddev`` is the sample standard deviation (n - 1); percentiles interpolate
linearly between samples (``numpy.percentile``). ``--json`` prints the same rows in Google
Benchmark's JSON layout (``context`` + ``benchmarks``).
"""

from __future__ import annotations

import datetime
import json

import attrs
import numpy as np

AGGREGATES = ("mean", "median", "stddev", "min", "p90", "p99")
UNITS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}

_AGGREGATE_FNS = {
    "mean": np.mean,
    "median": np.median,
    "stddev": lambda a: float(np.std(a, ddof=1)) if a.size > 1 else 0.0,
    "min": np.min,
    "p90": lambda a: np.percentile(a, 90),
    "p99": lambda a: np.percentile(a, 99),
}


@attrs.frozen
class Row:
    name: str
    real_ns: float
    cpu_ns: float
    iterations: int
    aggregate: str | None = None      # None: one repetition
    repetition: int = 0


@attrs.frozen
class Run:
    """``wall[r][i]`` / ``cpu[r][i]``: nanoseconds of invocation ``i`` of repetition ``r``."""

    function: str
    device: str | None
    warmup: int
    wall: tuple
    cpu: tuple

    @property
    def name(self) -> str:
        return f"BM_{self.function}/process_time/real_time"

    def rows(self) -> list[Row]:
        rows = [Row(self.name, float(np.mean(w)), float(np.mean(c)), len(w), None, r)
                for r, (w, c) in enumerate(zip(self.wall, self.cpu))]
        wall = np.array([t for rep in self.wall for t in rep], dtype=np.float64)
        cpu = np.array([t for rep in self.cpu for t in rep], dtype=np.float64)
        for agg in AGGREGATES:
            fn = _AGGREGATE_FNS[agg]
            rows.append(Row(f"{self.name}_{agg}", float(fn(wall)), float(fn(cpu)),
                            int(wall.size), agg))
        return rows


def pick_unit(run: Run) -> str:
    """The unit that shows the median latency with 1 to 3 integer digits."""
    median = float(np.median([t for rep in run.wall for t in rep]))
    for unit in ("ns", "us", "ms"):
        if median < 1000 * UNITS[unit]:
            return unit
    return "s"


def console(run: Run, unit: str) -> str:
    rows = run.rows()
    width = max(len("Benchmark"), *(len(r.name) for r in rows))
    rule = "-" * (width + 45)
    scale = UNITS[unit]
    lines = [f"{'Benchmark':<{width}} {'Time':>13} {'CPU':>15} {'Iterations':>12}"]
    for r in rows:
        lines.append(f"{r.name:<{width}} {_num(r.real_ns / scale):>10} {unit:<2} "
                     f"{_num(r.cpu_ns / scale):>12} {unit:<2} {r.iterations:>12}")
    return "\n".join([rule, lines[0], rule, *lines[1:]]) + "\n"


def _num(value: float) -> str:
    return f"{value:.3f}" if abs(value) < 1e6 else f"{value:.4g}"


def as_json(run: Run, unit: str, context: dict) -> str:
    scale = UNITS[unit]
    repetitions = len(run.wall)
    benchmarks = []
    for r in run.rows():
        entry = {"name": r.name, "run_name": run.name,
                 "run_type": "iteration" if r.aggregate is None else "aggregate",
                 "repetitions": repetitions, "iterations": r.iterations,
                 "real_time": r.real_ns / scale, "cpu_time": r.cpu_ns / scale,
                 "time_unit": unit}
        if r.aggregate is None:
            entry["repetition_index"] = r.repetition
        else:
            entry["aggregate_name"] = r.aggregate
        benchmarks.append(entry)
    ctx = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
           "executable": "pyree benchmark-module", "function": run.function,
           "device": run.device, "warmup_invocations": run.warmup, **context}
    return json.dumps({"context": ctx, "benchmarks": benchmarks}, indent=2) + "\n"
