"""pyree.tracing: Chrome trace JSON of VM invocations, queue submissions, fence waits and
dispatches, recorded by ``run-module --trace`` on both drivers and by the HAL directly."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import numpy as np
import pytest

from pyree import status, tracing

REPO = Path(__file__).resolve().parents[2]
DISPATCH_OPS = REPO / "tests" / "vmasm_hal" / "dispatch_ops.vmasm"


@pytest.fixture
def abs_module(tmp_path):
    text = DISPATCH_OPS.read_text().replace("vm.module @dispatch_ops version 1",
                                            "vm.module @absmod version 1\nvm.export @abs")
    path = tmp_path / "abs.vmasm"
    path.write_text(text)
    return path


def load_trace(path) -> list[dict]:
    data = json.loads(Path(path).read_text())
    assert set(data) == {"traceEvents", "displayTimeUnit"}
    return data["traceEvents"]


def complete_events(events) -> list[dict]:
    xs = [e for e in events if e["ph"] == "X"]
    for e in xs:
        assert set(e) <= {"name", "cat", "ph", "ts", "dur", "pid", "tid", "args"}
        assert isinstance(e["ts"], float) and isinstance(e["dur"], float) and e["dur"] >= 0
    return xs


def check_threads_named(events) -> dict:
    """Every event's (pid, tid) has a thread_name metadata event; returns tid -> name."""
    names = {e["tid"]: e["args"]["name"] for e in events
             if e["ph"] == "M" and e["name"] == "thread_name"}
    process = [e for e in events if e["ph"] == "M" and e["name"] == "process_name"]
    assert [e["args"]["name"] for e in process] == ["pyree"]
    for e in complete_events(events):
        assert e["tid"] in names and e["pid"] == process[0]["pid"]
    return names


def inside(inner, outer) -> bool:
    eps = 0.002  # rounding of the microsecond floats
    return outer["ts"] - eps <= inner["ts"] and \
        inner["ts"] + inner["dur"] <= outer["ts"] + outer["dur"] + eps


@pytest.mark.parametrize("device", ["local-sync", "local-task"])
def test_run_module_trace(cli_run, abs_module, tmp_path, device):
    trace = tmp_path / "trace.json"
    code, out, err = cli_run("run-module", "--module", abs_module, "--function", "abs",
                             "--device", device, "--input", "100xf32=-2",
                             "--trace", trace)
    assert (code, err) == (0, "")
    assert out.startswith("EXEC @abs\nresult[0]: hal.buffer_view\n100xf32=2 2 2")
    events = load_trace(trace)
    check_threads_named(events)
    xs = complete_events(events)
    by_name = {}
    for e in xs:
        by_name.setdefault((e["cat"], e["name"]), []).append(e)
    assert set(by_name) == {("vm", "absmod.__init"), ("vm", "absmod.abs"),
                            ("hal.queue", "queue.execute"), ("hal.fence", "fence.await"),
                            ("dispatch", "abs")}
    assert all(len(v) == 1 for v in by_name.values())
    (call,) = by_name[("vm", "absmod.abs")]
    (dispatch,) = by_name[("dispatch", "abs")]
    (submit,) = by_name[("hal.queue", "queue.execute")]
    (wait,) = by_name[("hal.fence", "fence.await")]
    # 100 items, 64 per workgroup (the executable's items_per_workgroup).
    assert dispatch["args"] == {"function": "abs", "workgroup_count": [2, 1, 1]}
    assert submit["args"] == {"driver": device}
    assert wait["args"] == {"fences": 1}
    for e in (submit, wait):
        assert inside(e, call) and e["tid"] == call["tid"]
    assert submit["ts"] < wait["ts"]
    if device == "local-sync":  # inline execution: the dispatch runs as it is recorded
        assert inside(dispatch, call) and dispatch["ts"] < submit["ts"]
    else:                       # after the submission, on a worker or the waiting host
        assert dispatch["ts"] >= submit["ts"]
    assert [e["name"] for e in events[:2]] == ["process_name", "thread_name"]


def test_trace_of_a_failing_run_is_written(cli_run, abs_module, tmp_path):
    trace = tmp_path / "trace.json"
    code, _, err = cli_run("run-module", "--module", abs_module, "--function", "abs",
                           "--input", "4xi32=1", "--trace", trace)
    assert code == 1 and "element type mismatch" in err
    (call,) = [e for e in complete_events(load_trace(trace)) if e["name"] == "absmod.abs"]
    assert call["args"]["error"].startswith("InvalidArgumentError: ")
    assert tracing.TRACER is None


def test_dispatch_on_a_worker_thread_lane():
    """local-task runs a submission nobody waits on on a worker: its dispatch event is on
    that worker's lane (tid and thread name), not the host's."""
    from pyree.modules.hal.device import create_device
    from pyree.modules.hal.executable import Executable
    from pyree.modules.hal.fence import HalFence

    desc = re.search(r"// text\[0\]: (\{.*\})\n", DISPATCH_OPS.read_text()).group(1)
    device = create_device("local-task", workers=1)
    try:
        exe = Executable.create("pyree-kernels-v1", desc.encode())
        n = 130
        src = device.allocator.allocate(0x30, 0xC03, 4 * n)
        src.write(np.full(n, -3, np.float32))
        dst = device.allocator.allocate(0x30, 0xC03, 4 * n)
        cb = device.create_command_buffer(0, 3)
        cb.dispatch(exe, 0, (3, 1, 1), 0, [n], [(0, src, 0, -1), (0, dst, 0, -1)])
        cb.finalize()
        with tracing.session() as tracer:
            done = HalFence.create()
            device.queue_execute(-1, None, done, cb, None, 0)
            device.wait_idle(20.0)
        assert np.frombuffer(dst.read(), np.float32).tolist() == [3.0] * n
    finally:
        device.close()
    events = tracer.trace_events()
    names = check_threads_named(events)
    (dispatch,) = [e for e in events if e.get("cat") == "dispatch"]
    (submit,) = [e for e in events if e.get("cat") == "hal.queue"]
    assert dispatch["name"] == "abs"
    assert dispatch["args"] == {"function": "abs", "workgroup_count": [3, 1, 1]}
    assert submit["tid"] == threading.get_native_id()
    assert dispatch["tid"] != submit["tid"] and names[dispatch["tid"]] == "pyree-hal-task-0"


def test_tracing_is_off_unless_started():
    assert tracing.TRACER is None
    tracer = tracing.start()
    try:
        with pytest.raises(status.FailedPreconditionError):
            tracing.start()
        with tracer.span("outer", "test", {"k": 1}), tracer.span("inner", "test"):
            pass
    finally:
        assert tracing.stop() is tracer
    assert tracing.stop() is None
    outer, inner = [e for e in tracer.trace_events() if e["ph"] == "X"]
    assert (outer["name"], outer["args"], inner["name"]) == ("outer", {"k": 1}, "inner")
    assert "args" not in inner and inside(inner, outer)


def test_trace_write_error(tmp_path):
    tracer = tracing.Tracer()
    with pytest.raises(status.UnavailableError, match="cannot write trace"):
        tracer.write(str(tmp_path / "missing" / "t.json"))
