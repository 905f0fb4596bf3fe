"""Coverage of the ONNX backend test suite through the real backend: compile + run.

    python -m pyree.compiler.backend_coverage                  # every node case
    python -m pyree.compiler.backend_coverage -k conv -v       # some, with failure details
    python -m pyree.compiler.backend_coverage --models         # also the nine light_* models
    python -m pyree.compiler.backend_coverage --json out.json  # outcomes per case

Each case goes through :mod:`pyree.onnx.backend` exactly as
``onnx.backend.test.BackendTest`` drives it: ``prepare`` (import, passes, lowering,
emission, ``.pyrm``, loaded on ``local-sync``) then ``rep.run`` per data set, compared
with the expected outputs within the case's rtol/atol, dtypes included. Shape-deciding
graph inputs are specialized at run time by the backend (see
:mod:`pyree.onnx.backend_rep`). Outcomes as in :mod:`pyree.compiler.coverage`, plus
``timeout`` (a case over ``--timeout`` seconds).

This is a long run (numba compiles each distinct kernel once, about a second, then
caches it on disk). ``python -m pyree.compiler.coverage --models --backend --write
docs/onnx-coverage.md`` runs it together with the front-half sweep and regenerates the
coverage document with both counts.
"""

from __future__ import annotations

import argparse
import collections
import json
import signal
import sys
import time
import warnings

import numpy as np
from pyree.compiler import testsuite

from pyree.status import PyreeError, UnimplementedError

DEFAULT_TIMEOUT = 120.0


class CaseTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise CaseTimeout()


def _compare(expected, got, rtol, atol) -> str:
    if len(got) != len(expected):
        return f"{len(got)} outputs, expected {len(expected)}"
    for i, (e, a) in enumerate(zip(expected, got)):
        e, a = np.asarray(e), np.asarray(a)
        if e.shape != a.shape:
            return f"output {i}: shape {list(a.shape)}, expected {list(e.shape)}"
        if e.dtype != a.dtype:
            return f"output {i}: dtype {a.dtype}, expected {e.dtype}"
        if e.dtype.kind in "fc":
            ok = np.allclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
        elif e.dtype == object:
            ok = np.array_equal(a.astype(str), e.astype(str))
        else:
            ok = np.array_equal(a, e)
        if not ok:
            return f"output {i}: values differ"
    return ""


def run_case(model, data_sets, rtol, atol, timeout=DEFAULT_TIMEOUT) -> tuple[str, str]:
    """(outcome, detail) of one model over its data sets through pyree.onnx.backend."""
    from pyree.onnx import backend

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    rep = None
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            rep = backend.prepare(model, "CPU")
            for inputs, expected in data_sets:
                problem = _compare(expected, list(rep.run(inputs)), rtol, atol)
                if problem:
                    return "mismatch", problem
    except CaseTimeout:
        return "timeout", f"over {timeout:.0f}s"
    except UnimplementedError as exc:
        return "unsupported", str(exc)
    except PyreeError as exc:  # a timeout inside a kernel compile arrives wrapped
        return ("timeout" if "CaseTimeout" in str(exc) else "error"), str(exc)
    except Exception as exc:  # noqa: BLE001 - the sweep records every failure
        return "error", f"{type(exc).__name__}: {exc}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if rep is not None:
            rep.close()
    return "pass", ""


def run_node_cases(pattern: str = "", timeout=DEFAULT_TIMEOUT, progress=None) -> list:
    """(name, op, outcome, detail) per node case whose name contains ``pattern``."""
    from pyree.compiler.coverage import case_ops

    rows = []
    cases = [c for c in testsuite.node_cases() if pattern in c.name]
    for k, case in enumerate(cases):
        status, detail = run_case(case.model, testsuite.case_data(case), case.rtol,
                                  case.atol, timeout)
        rows.append((case.name, case_ops(case), status, detail))
        if progress:
            progress(k + 1, len(cases), case.name, status)
    return rows


def run_light_models(timeout=600.0, progress=None) -> list:
    rows = []
    names = testsuite.light_models()
    for k, name in enumerate(names):
        path, inputs, expected = testsuite.light_case(name)
        status, detail = run_case(path, [(inputs, expected)], 1e-3, 1e-7, timeout)
        rows.append((f"light_{name}", "(model)", status, detail))
        if progress:
            progress(k + 1, len(names), name, status)
    return rows


def _progress(done, total, name, status):
    if status != "pass" or done % 50 == 0 or done == total:
        print(f"[{done}/{total}] {status:11} {name}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", help="only node cases whose name contains this")
    parser.add_argument("--models", action="store_true", help="also run the light_* models")
    parser.add_argument("--no-nodes", action="store_true", help="skip the node cases")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="seconds per case (default %(default)s)")
    parser.add_argument("--json", metavar="PATH", help="write outcomes per case here")
    parser.add_argument("-v", action="store_true", help="print every non-passing case")
    args = parser.parse_args(argv)
    start = time.time()
    rows = [] if args.no_nodes else run_node_cases(args.k, args.timeout, _progress)
    models = run_light_models(progress=_progress) if args.models else []
    for name, op, status, detail in rows + models:
        if args.v and status != "pass":
            print(f"{status:12} {name} [{op}] {detail[:300]}")
    counts = collections.Counter(r[2] for r in rows)
    print(f"node tests: {counts['pass']} of {len(rows)} pass ({dict(counts)}) "
          f"in {time.time() - start:.0f}s")
    if models:
        print("models: " + ", ".join(f"{r[0]}={r[2]}" for r in models))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"nodes": rows, "models": models}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
