"""Coverage of the ONNX backend test suite: import + passes + reference evaluation.

    python -m pyree.compiler.coverage                 # node tests: summary and op table
    python -m pyree.compiler.coverage --models        # also the nine light_* models
    python -m pyree.compiler.coverage --write docs/onnx-coverage.md
    python -m pyree.compiler.coverage -k conv -v      # some cases, with failure details
    python -m pyree.compiler.coverage --hal           # executed through lowering + the HAL

Each case is imported, run through the compile pipeline (folding, DCE, partitioning,
buffer planning) and evaluated region by region in the planned arena; it passes when
every output matches the expected one within the case's rtol/atol. Outcomes: ``pass``,
``mismatch`` (a wrong answer: a bug), ``unsupported`` (UNIMPLEMENTED at compile time,
the documented way to refuse), ``error`` (any other exception: a bug or invalid model).

With ``--hal`` every region is instead lowered (``compiler.emit`` lowerings: numba bodies,
the host-library fallback) and its dispatches executed directly against the HAL's
executables on numpy buffers (``emit.execute_lowered``; no VM host program).

Many node cases feed shape-deciding operands (Reshape's shape, Slice's starts, Resize's
scales ...) as graph inputs. The headline count refuses them, as a static-shape compiler
must; a second count compiles such a case again with exactly the inputs the compiler
asked to be constant bound to the case's values (``ImportOptions.constant_inputs``: a
program specialized to those values).
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
import time
import warnings

import numpy as np
from pyree.compiler import reference, testsuite
from pyree.compiler.onnx_import import import_model
from pyree.compiler.pipeline import compile_graph

from pyree.status import UnimplementedError

OUTCOMES = ("pass", "mismatch", "unsupported", "error")


def _input_names(model) -> list[str]:
    if isinstance(model, (str, bytes)):
        return []
    inits = {i.name for i in model.graph.initializer}
    return [v.name for v in model.graph.input if v.name not in inits]


def _run(model, data_sets, rtol, atol, specialize, hal=False) -> tuple[str, str]:
    names = _input_names(model)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            compiled = None if specialize else compile_graph(import_model(model))
            for inputs, expected in data_sets:
                if specialize:
                    compiled, bound = _specialized(model, dict(zip(names, inputs)))
                    inputs = [a for n, a in zip(names, inputs) if n not in bound]
                if hal:
                    from pyree.compiler.emit import execute_lowered

                    got = execute_lowered.run_partition(compiled.partition, inputs)
                else:
                    got = reference.evaluate_planned(compiled.partition, compiled.plan,
                                                     inputs)
                problems = reference.allclose(expected, got, rtol=rtol, atol=atol)
                if problems:
                    return "mismatch", "; ".join(problems)
    except UnimplementedError as exc:
        return "unsupported", str(exc)
    except Exception as exc:  # noqa: BLE001 - the sweep records every failure
        return "error", f"{type(exc).__name__}: {exc}"
    return "pass", ""


_NEEDS_CONSTANT = re.compile(r"input \d+ '([^']*)' \(.*?\) must be a compile-time constant")


def _specialized(model, values):
    """Compiles with the graph inputs the compiler asks for bound to ``values``."""
    bound = {}
    while True:
        try:
            return compile_graph(import_model(model, constant_inputs=bound)), bound
        except UnimplementedError as exc:
            match = _NEEDS_CONSTANT.search(str(exc))
            if not match or match.group(1) not in values or match.group(1) in bound:
                raise
            bound[match.group(1)] = np.asarray(values[match.group(1)])


def run_model(model, data_sets, rtol, atol, hal=False) -> tuple[str, str]:
    """(outcome, detail) of one model over its data sets, all inputs at run time."""
    return _run(model, data_sets, rtol, atol, specialize=False, hal=hal)


def run_specialized(model, data_sets, rtol, atol, hal=False) -> tuple[str, str]:
    """Like :func:`run_model`, with integer inputs bound as compile-time constants."""
    return _run(model, data_sets, rtol, atol, specialize=True, hal=hal)


def case_ops(case) -> str:
    ops = sorted({n.op_type for n in case.model.graph.node})
    return ops[0] if len(ops) == 1 else "(composite)"


def run_node_cases(pattern: str = "", hal: bool = False) -> list[tuple]:
    """(name, op, outcome, detail, outcome with integer inputs specialized) per case."""
    rows = []
    for case in testsuite.node_cases():
        if pattern and pattern not in case.name:
            continue
        data = testsuite.case_data(case)
        status, detail = run_model(case.model, data, case.rtol, case.atol, hal)
        special = status
        if status == "unsupported" and "compile-time constant" in detail:
            special = run_specialized(case.model, data, case.rtol, case.atol, hal)[0]
        rows.append((case.name, case_ops(case), status, detail, special))
    return rows


def run_light_models(hal: bool = False) -> list[tuple[str, str, str, str]]:
    rows = []
    for name in testsuite.light_models():
        path, inputs, expected = testsuite.light_case(name)
        status, detail = run_model(path, [(inputs, expected)], 1e-3, 1e-7, hal)
        rows.append((f"light_{name}", "(model)", status, detail, status))
    return rows


def render(node_rows, model_rows) -> str:
    from pyree.compiler.onnx_import import CONTROL_FLOW
    from pyree.compiler.ops import ONNX_RULES, OPS

    counts = collections.Counter(r[2] for r in node_rows)
    special = sum(1 for r in node_rows if r[4] == "pass")
    total = max(len(node_rows), 1)
    lines = [
        "# ONNX coverage", "",
        ("Generated by `python -m pyree.compiler.coverage --models --write "
         "docs/onnx-coverage.md`; do not edit."), "",
        ("Each case is imported, compiled (folding, DCE, partitioning, buffer planning) "
         "and evaluated region by region by the reference evaluator, every transient in "
         "its planned arena slice."), "",
        "## Node tests", "",
        (f"**{counts['pass']} of {len(node_rows)} pass "
         f"({100.0 * counts['pass'] / total:.1f}%)**; {counts['unsupported']} unsupported "
         f"(a compile error naming the node and op), {counts['mismatch']} mismatch, "
         f"{counts['error']} error."), "",
        (f"Specialized (the graph inputs the compiler asks to be constant - Reshape "
         f"shapes, Slice starts, reduction axes, Resize scales ... - bound to the case's "
         f"values): {special} of {len(node_rows)} ({100.0 * special / total:.1f}%)."), ""]
    if model_rows:
        passed = sum(1 for r in model_rows if r[2] == "pass")
        lines += ["## Real models", "", f"**{passed} of {len(model_rows)} pass**", "",
                  "| model | result |", "|---|---|"]
        lines += [f"| {r[0]} | {r[2]} |" for r in model_rows]
        lines.append("")
    per_op = collections.defaultdict(collections.Counter)
    for _, op, status, _, spec in node_rows:
        per_op[op][status] += 1
        per_op[op]["special"] += spec == "pass"
    lines += ["## By op", "",
              ("`import`: `rule` (an import rule), `function` (expanded into the op's ONNX "
               "function body), `-` (unsupported)."), "",
              "| op | import | pass | pass, specialized | total |", "|---|---|---|---|---|"]
    for op in sorted(per_op):
        c = per_op[op]
        how = "rule" if op in ONNX_RULES else ("function" if c["special"] else "-")
        if op in CONTROL_FLOW:
            how = "control flow"
        if op == "(composite)":
            how = "mixed"
        n = sum(v for k, v in c.items() if k != "special")
        lines.append(f"| {op} | {how} | {c['pass']} | {c['special']} | {n} |")
    lines += ["", "## ONNX ops with an import rule", "",
              ", ".join(sorted(ONNX_RULES)) + ", If, Scan", "",
              "## IR ops", "", ", ".join(sorted(OPS)), ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", help="only node cases whose name contains this")
    parser.add_argument("--models", action="store_true", help="also run the light_* models")
    parser.add_argument("--write", metavar="PATH", help="write the markdown report here")
    parser.add_argument("-v", action="store_true", help="print every non-passing case")
    parser.add_argument("--hal", action="store_true",
                        help="execute through the lowerings and the HAL instead of the "
                             "reference evaluator")
    args = parser.parse_args(argv)
    start = time.time()
    node_rows = run_node_cases(args.k, args.hal)
    model_rows = run_light_models(args.hal) if args.models else []
    for name, op, status, detail, _ in node_rows + model_rows:
        if args.v and status != "pass":
            print(f"{status:12} {name} [{op}] {detail[:300]}")
    counts = collections.Counter(r[2] for r in node_rows)
    special = sum(1 for r in node_rows if r[4] == "pass")
    print(f"node tests: {counts['pass']} passed, {len(node_rows) - counts['pass']} failed "
          f"({dict(counts)}; {special} pass with shape inputs specialized) "
          f"in {time.time() - start:.0f}s")
    if model_rows:
        print("models: " + ", ".join(f"{r[0]}={r[2]}" for r in model_rows))
    if args.write:
        with open(args.write, "w") as f:
            f.write(render(node_rows, model_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
