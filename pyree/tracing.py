"""Tracing: Chrome trace JSON (the Trace Event Format) of what the runtime did.

A :class:`Tracer` collects *complete* events (``"ph": "X"``): a name, a category, a start
``ts`` and a duration ``dur`` in microseconds since the tracer started, the process
``pid``, the OS thread id ``tid`` of the thread that did the work, and optional ``args``.
:meth:`Tracer.write` saves ``{"traceEvents": [...]}`` with one ``thread_name`` metadata
event per thread seen, which Perfetto (ui.perfetto.dev) and ``chrome://tracing`` open
directly: ``local-task`` worker threads show as their own lanes.

At most one tracer is active, the module global :data:`TRACER` (None when tracing is off).
The runtime's hook points read it with a single ``if TRACER is not None`` check, so tracing
costs nothing else when it is off (measured with callgrind: a host call of a one-instruction
VM function went from 9,418 to 9,452 machine instructions, +0.4%; a hal "hello" call of
about 280K instructions passes four such checks):

===================  ==============  ==================================================
category             event name      where
===================  ==============  ==================================================
``vm``               ``module.fn``   ``Context.invoke`` / ``Function.__call__`` (one
                                     event per host invocation, suspensions included)
``hal.queue``        ``queue.OP``    ``HalDevice`` queue submissions (``execute``,
                                     ``fill``, ``copy``, ``barrier``, ...); on
                                     ``local-sync`` the work runs inside it
``hal.fence``        ``fence.await`` the ``hal.fence.await`` export
``dispatch``         the executable  each dispatch executed (args: ``function``,
                     function name   ``workgroup_count``, ``error`` if it failed); on
                     (a compiled     ``local-task`` on the worker thread that ran it
                     module's ONNX
                     nodes)
===================  ==============  ==================================================

Events are appended to a list (``list.append`` is atomic in CPython), so hooks on worker
threads need no lock. Use :func:`session` (``with tracing.session("t.json"): ...``) or
:func:`start` / :func:`stop`.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time

from pyree import status

#: The active tracer, or None when tracing is off (read by the runtime's hook points).
TRACER: Tracer | None = None

_now = time.perf_counter_ns


class Span:
    """A complete event in progress: ``with tracer.span(name, cat, args): ...``."""

    __slots__ = ("args", "cat", "name", "start", "tracer")

    def __init__(self, tracer: Tracer, name: str, cat: str, args: dict | None):
        self.tracer = tracer
        self.name = name
        self.cat = cat
        self.args = args
        self.start = 0

    def __enter__(self) -> Span:
        self.start = _now()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        args = self.args
        if exc_type is not None:
            args = {**(args or {}), "error": f"{exc_type.__name__}: {exc}"}
        self.tracer.complete(self.name, self.cat, self.start, _now(), args)
        return False


class Tracer:
    """Collects complete events; timestamps are relative to the tracer's creation."""

    def __init__(self, process_name: str = "pyree"):
        self.process_name = process_name
        self.pid = os.getpid()
        self.origin = _now()
        self.events: list[dict] = []
        self.threads: dict[int, str] = {}

    now = staticmethod(_now)

    def span(self, name: str, cat: str, args: dict | None = None) -> Span:
        return Span(self, name, cat, args)

    def complete(self, name: str, cat: str, start_ns: int, end_ns: int,
                 args: dict | None = None) -> None:
        """Records a complete event that ran on the calling thread from ``start_ns`` to
        ``end_ns`` (``time.perf_counter_ns`` values)."""
        tid = threading.get_native_id()
        if tid not in self.threads:
            self.threads[tid] = threading.current_thread().name
        event = {"name": name, "cat": cat, "ph": "X",
                 "ts": (start_ns - self.origin) / 1000.0,
                 "dur": max(end_ns - start_ns, 0) / 1000.0,
                 "pid": self.pid, "tid": tid}
        if args:
            event["args"] = args
        self.events.append(event)

    def trace_events(self) -> list[dict]:
        """Metadata (process and thread names) then the events in start order."""
        meta = [{"name": "process_name", "ph": "M", "pid": self.pid, "tid": 0,
                 "args": {"name": self.process_name}}]
        meta += [{"name": "thread_name", "ph": "M", "pid": self.pid, "tid": tid,
                  "args": {"name": name}} for tid, name in sorted(self.threads.items())]
        # Longer events first on ties, so a parent precedes a child starting with it.
        return meta + sorted(self.events, key=lambda e: (e["ts"], -e["dur"]))

    def to_json(self) -> dict:
        return {"traceEvents": self.trace_events(), "displayTimeUnit": "ms"}

    def write(self, path: str) -> None:
        try:
            with open(path, "w", encoding="utf-8") as f:
                json.dump(self.to_json(), f)
                f.write("\n")
        except OSError as e:
            raise status.UnavailableError(
                f"cannot write trace '{path}': {e.strerror or e}") from None


def start(process_name: str = "pyree") -> Tracer:
    """Makes a new tracer the active one (FAILED_PRECONDITION if one is active)."""
    global TRACER
    if TRACER is not None:
        raise status.FailedPreconditionError("a trace is already being recorded")
    TRACER = Tracer(process_name)
    return TRACER


def stop() -> Tracer | None:
    """Turns tracing off; returns the tracer that was active (None if none was)."""
    global TRACER
    tracer, TRACER = TRACER, None
    return tracer


@contextlib.contextmanager
def session(path: str | None = None, process_name: str = "pyree"):
    """Traces the ``with`` body; writes the trace to ``path`` (when given) on exit, also
    when the body failed (the trace then shows how far it got)."""
    tracer = start(process_name)
    try:
        yield tracer
    finally:
        stop()
        if path is not None:
            tracer.write(path)
