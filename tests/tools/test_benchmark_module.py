"""``pyree benchmark-module``: repetitions and iterations, the statistics table, JSON, units,
traces of the timed calls, usage errors; the statistics against numpy."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from pyree.tools import benchmark_stats as bs

DISPATCH_OPS = Path(__file__).resolve().parents[1] / "vmasm_hal" / "dispatch_ops.vmasm"
ROW = re.compile(r"^(BM_\S+)\s+([0-9.]+) (ns|us|ms|s )\s+([0-9.]+) (ns|us|ms|s )\s+(\d+)$")


def rows(out: str) -> list[tuple]:
    found = []
    for line in out.splitlines():
        m = ROW.match(line)
        if m:
            found.append((m.group(1), float(m.group(2)), m.group(3).strip(),
                          float(m.group(4)), int(m.group(6))))
    return found


def test_benchmark_table_honours_repetitions_and_iterations(files, cli_run, tmp_path):
    trace = tmp_path / "bench.json"
    code, out, err = cli_run("benchmark-module", "--module", "calls.vmasm", "--function",
                             "main", "--input", "5", "--benchmark_repetitions", "3",
                             "--iterations", "4", "--warmup", "2", "--trace", trace)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == ("Running pyree benchmark-module: @main on no device (2 warm-up, "
                        "3 x 4 timed calls)")
    assert lines[1] == lines[3] and set(lines[1]) == {"-"}
    assert lines[2].split() == ["Benchmark", "Time", "CPU", "Iterations"]
    table = rows(out)
    assert len(table) == len(lines) - 4 == 3 + 6
    name = "BM_main/process_time/real_time"
    assert [r[0] for r in table] == [name] * 3 + [f"{name}_{a}" for a in
                                                  ("mean", "median", "stddev", "min", "p90",
                                                   "p99")]
    assert [r[4] for r in table] == [4, 4, 4] + [12] * 6
    assert len({r[2] for r in table}) == 1          # one unit for the whole table
    stats = {r[0].rsplit("_", 1)[1]: r[1] for r in table[3:]}
    assert stats["min"] <= stats["median"] <= stats["p90"] <= stats["p99"]
    assert stats["min"] <= stats["mean"] and stats["min"] > 0
    # The trace shows every call: 2 warm-up + 3 x 4 timed.
    events = json.loads(trace.read_text())["traceEvents"]
    calls = [e for e in events if e.get("cat") == "vm" and e["name"] == "calls.main"]
    assert len(calls) == 14


def test_benchmark_json_and_unit(files, cli_run):
    code, out, err = cli_run("benchmark-module", "--module", "values.vmasm", "--function",
                             "half", "--input", "3", "--benchmark_repetitions=2",
                             "--iterations=5", "--json", "--benchmark_time_unit", "ns")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert data["context"]["function"] == "half"
    assert data["context"]["repetitions"] == 2
    assert data["context"]["iterations_per_repetition"] == 5
    assert data["context"]["warmup_invocations"] == 1
    benches = data["benchmarks"]
    assert [b["run_type"] for b in benches] == ["iteration"] * 2 + ["aggregate"] * 6
    assert [b.get("repetition_index") for b in benches[:2]] == [0, 1]
    assert [b["aggregate_name"] for b in benches[2:]] == list(bs.AGGREGATES)
    assert {b["time_unit"] for b in benches} == {"ns"}
    assert [b["iterations"] for b in benches] == [5, 5] + [10] * 6
    agg = {b["aggregate_name"]: b["real_time"] for b in benches[2:]}
    assert agg["mean"] == pytest.approx((benches[0]["real_time"] + benches[1]["real_time"]) / 2)
    # ns: a call of the interpreter takes at least a microsecond.
    assert agg["min"] > 1000


@pytest.mark.parametrize("device", ["local-sync", "local-task"])
def test_benchmark_with_the_hal(cli_run, tmp_path, device):
    path = tmp_path / "abs.vmasm"
    path.write_text(DISPATCH_OPS.read_text().replace(
        "vm.module @dispatch_ops version 1", "vm.module @absmod version 1\nvm.export @abs"))
    code, out, err = cli_run("benchmark-module", "--module", path, "--function", "abs",
                             "--input", "8xf32=-1", "--device", device, "--iterations", "3")
    assert (code, err) == (0, "")
    assert f"@abs on {device} (1 warm-up, 1 x 3 timed calls)" in out
    assert [r[4] for r in rows(out)] == [3] + [3] * 6


@pytest.mark.parametrize("flag", ["--benchmark_repetitions=0", "--iterations=0",
                                  "--warmup=-1", "--iterations=x",
                                  "--benchmark_time_unit=min"])
def test_benchmark_usage_errors(files, cli_run, flag):
    code, out, err = cli_run("benchmark-module", "--module", "values.vmasm", "--function",
                             "half", "--input", "3", flag)
    assert code == 2 and out == "" and "benchmark-module: error: argument" in err


def test_benchmark_failure_is_reported(files, cli_run):
    code, out, err = cli_run("benchmark-module", "--module", "values.vmasm", "--function",
                             "half")
    assert code == 1 and out == ""
    assert err.startswith("pyree: error: INVALID_ARGUMENT")


def test_statistics_against_numpy():
    wall = ((10, 20, 30, 40), (50, 60, 70, 80), (90, 1000, 5, 7))
    cpu = tuple(tuple(t // 2 for t in rep) for rep in wall)
    run = bs.Run("f", "local-sync", 0, wall, cpu)
    table = run.rows()
    flat = np.array([t for rep in wall for t in rep], np.float64)
    assert [r.real_ns for r in table[:3]] == [25.0, 65.0, 275.5]
    expected = {"mean": flat.mean(), "median": np.median(flat), "stddev": flat.std(ddof=1),
                "min": 5.0, "p90": np.percentile(flat, 90), "p99": np.percentile(flat, 99)}
    assert {r.aggregate: r.real_ns for r in table[3:]} == pytest.approx(expected)
    assert table[4].cpu_ns == np.median(flat // 2)
    assert bs.pick_unit(run) == "ns"
    assert bs.pick_unit(bs.Run("f", None, 0, ((2_500_000,),), ((1,),))) == "ms"
    single = bs.Run("f", None, 0, ((7,),), ((3,),)).rows()
    assert [r.real_ns for r in single] == [7.0, 7.0, 7.0, 0.0, 7.0, 7.0, 7.0]
    text = bs.console(run, "us")
    assert "BM_f/process_time/real_time_p99" in text and " 0.025 us " in text
