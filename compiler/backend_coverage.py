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
caches it on disk; about an hour on a busy 2-core machine). With ``--write``, it also runs
the front-half sweep of :mod:`pyree.compiler.coverage` and regenerates the coverage
document with both counts::

    python -m pyree.compiler.backend_coverage --models --write docs/onnx-coverage.md
    python -m pyree.compiler.backend_coverage --from-json out.json --write docs/onnx-coverage.md
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
        if e.dtype.num >= 256 and e.dtype.itemsize <= 2:  # ml_dtypes' bf16 and f8 types,
            # compared as onnx's runner does (as floats; bf16 within two of its ulps)
            tol = max(rtol, 2**-6) if e.dtype.name == "bfloat16" else rtol
            ok = np.allclose(a.astype(np.float32), e.astype(np.float32), rtol=tol, atol=atol,
                             equal_nan=True)
        elif e.dtype.kind in "fc":
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


COMMAND = "python -m pyree.compiler.backend_coverage --models --write docs/onnx-coverage.md"


def render_section(rows, models) -> list[str]:
    """The document's "compiled and run" section: headline, models, per-op counts."""
    counts = collections.Counter(r[2] for r in rows)
    total = max(len(rows), 1)
    lines = ["## Compiled and run (pyree.onnx.backend)", "",
             ("Each case through `pyree.onnx.backend` as `onnx.backend.test.BackendTest` "
              "drives it: `prepare` (import, passes, region lowerings, host-program "
              "emission, `.pyrm`, loaded on `local-sync`) and `run`, outputs compared with "
              "the case's rtol/atol and dtype. Shape-deciding graph inputs are specialized "
              "at run time by the backend."), "",
             (f"**{counts['pass']} of {len(rows)} node tests pass "
              f"({100.0 * counts['pass'] / total:.1f}%)**; {counts['unsupported']} "
              f"unsupported, {counts['mismatch']} mismatch, {counts['error']} error, "
              f"{counts['timeout']} timeout."), ""]
    if models:
        passed = sum(1 for r in models if r[2] == "pass")
        lines += [f"**Real models: {passed} of {len(models)} pass**", "",
                  "| model | result |", "|---|---|"]
        lines += [f"| {r[0]} | {r[2]} |" for r in models]
        lines.append("")
    per_op = collections.defaultdict(collections.Counter)
    for _, op, status, _ in rows:
        per_op[op][status] += 1
    lines += ["| op | pass | total |", "|---|---|---|"]
    lines += [f"| {op} | {c['pass']} | {sum(c.values())} |" for op, c in sorted(per_op.items())]
    return lines + [""]


def render(front_nodes, front_models, rows, models) -> str:
    """docs/onnx-coverage.md: the front-half report with the compiled-and-run section
    inserted before the per-op table."""
    from pyree.compiler import coverage

    text = coverage.render(front_nodes, front_models)
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Generated by "):
            lines[i] = f"Generated by `{COMMAND}`; do not edit."
    at = lines.index("## By op")
    lines[at:at] = render_section(rows, models)
    return "\n".join(lines) + "\n"


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
    parser.add_argument("--from-json", metavar="PATH",
                        help="take the backend outcomes from an earlier --json run")
    parser.add_argument("--write", metavar="PATH",
                        help="also run the front-half sweep and write the coverage report")
    parser.add_argument("-v", action="store_true", help="print every non-passing case")
    args = parser.parse_args(argv)
    start = time.time()
    if args.from_json:
        with open(args.from_json) as f:
            saved = json.load(f)
        rows = [tuple(r) for r in saved["nodes"]]
        models = [tuple(r) for r in saved["models"]]
    else:
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
    if args.write:
        from pyree.compiler import coverage

        front_nodes = coverage.run_node_cases(args.k)
        front_models = coverage.run_light_models() if models else []
        with open(args.write, "w") as f:
            f.write(render(front_nodes, front_models, rows, models))
    return 0


if __name__ == "__main__":
    sys.exit(main())
