"""``pyree benchmark-module``: time a function of a module, like ``iree-benchmark-module``.

``--module``, ``--function``, ``--input`` and ``--device`` are those of ``run-module``
(a compiled model's function is ``main``; inputs are parsed once and reused by every
call). The function is called ``--warmup`` times untimed (default 1: first calls compile
and cache), then ``--benchmark_repetitions`` times (default 1) ``--iterations`` timed calls
(default 10). Each call is timed on its own, wall clock and process CPU time; results are
dropped after each call.

The report is Google Benchmark's console table, as ``iree-benchmark-module`` prints it: a
row per repetition (mean time per call), then the latency statistics ``_mean``,
``_median``, ``_stddev``, ``_min``, ``_p90`` and ``_p99`` over every timed call (their
Iterations column counts the calls). The unit is picked from the median (ns, us, ms or s)
unless ``--benchmark_time_unit`` says otherwise. ``--json`` (or
``--benchmark_format=json``) prints the rows in Google Benchmark's JSON layout instead.

``--trace FILE.json`` records a Chrome trace of the whole run (tracing slows every call
down a little: benchmark without it to quote numbers).
"""

from __future__ import annotations

import argparse
import sys
import time

from pyree.tools import (
    add_command,
    benchmark_stats,
    device,
    loader,
    run_module,
    trace_option,
)


def _count(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got '{text}'") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    return parse


def add_parser(subparsers):
    p = add_command(subparsers, "benchmark-module", __doc__,
                    "time a function of a module (like iree-benchmark-module)")
    run_module.add_call_arguments(p)
    p.add_argument("--benchmark_repetitions", "--benchmark-repetitions", dest="repetitions",
                   type=_count(1), default=1, metavar="N",
                   help="repetitions, each of --iterations timed calls (default 1)")
    p.add_argument("--iterations", "--benchmark_iterations", dest="iterations",
                   type=_count(1), default=10, metavar="N",
                   help="timed calls per repetition (default 10)")
    p.add_argument("--warmup", "--benchmark_warmup", dest="warmup", type=_count(0),
                   default=1, metavar="N", help="untimed calls first (default 1)")
    p.add_argument("--benchmark_time_unit", "--time-unit", dest="unit",
                   choices=tuple(benchmark_stats.UNITS), default=None,
                   help="time unit of the report (default: picked from the median)")
    p.add_argument("--benchmark_format", dest="format", choices=("console", "json"),
                   default="console", help="report format (default console)")
    p.add_argument("--json", dest="format", action="store_const", const="json",
                   help="same as --benchmark_format=json")
    device.add_option(p)
    trace_option.add_option(p)
    p.set_defaults(run=run)
    return p


def run(args, out=None, err=None) -> int:
    out = out or sys.stdout
    modules = loader.load_all(args.module)
    with trace_option.recording(args.trace):
        result = measure(modules, args.function, args.input, device_name=args.device,
                         warmup=args.warmup, repetitions=args.repetitions,
                         iterations=args.iterations, err=err)
    unit = args.unit or benchmark_stats.pick_unit(result)
    if args.format == "json":
        out.write(benchmark_stats.as_json(result, unit, {
            "modules": list(args.module), "repetitions": args.repetitions,
            "iterations_per_repetition": args.iterations}))
    else:
        out.write(f"Running pyree benchmark-module: @{args.function} on "
                  f"{result.device or 'no device'} ({args.warmup} warm-up, "
                  f"{args.repetitions} x {args.iterations} timed calls)\n")
        out.write(benchmark_stats.console(result, unit))
    return 0


def measure(modules, function: str, inputs, *, device_name: str | None = None,
            warmup: int = 1, repetitions: int = 1, iterations: int = 10,
            err=None) -> benchmark_stats.Run:
    """Registers ``modules`` (after the hal module when one imports it) and times
    ``function`` called with ``inputs`` (texts)."""
    wall_clock, cpu_clock = time.perf_counter_ns, time.process_time_ns
    with run_module.prepared_call(modules, function, inputs, device_name, err) as (
            session, _, fn, args):
        for _ in range(warmup):
            fn(*args)
        wall, cpu = [], []
        for _ in range(repetitions):
            rep_wall, rep_cpu = [], []
            for _ in range(iterations):
                c0 = cpu_clock()
                t0 = wall_clock()
                results = fn(*args)
                t1 = wall_clock()
                c1 = cpu_clock()
                del results
                rep_wall.append(t1 - t0)
                rep_cpu.append(c1 - c0)
            wall.append(tuple(rep_wall))
            cpu.append(tuple(rep_cpu))
    used = session.driver if session.used else None
    return benchmark_stats.Run(function, used, warmup, tuple(wall), tuple(cpu))
