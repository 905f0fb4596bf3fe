"""Whole-model latency: pyree next to onnxruntime, onnx's ReferenceEvaluator and IREE.

    python benchmarks/model_bench.py [--models mlp1,mlp64,squeezenet,resnet50]
                                     [--repeat 20] [--no-compile-times] [--no-iree]

Models: ``mlp1`` / ``mlp64`` (784-128-10 MLP, Gemm + Relu + Gemm + Softmax, fixed random
weights, batch 1 / 64, built with ``onnx.helper``) and onnx's light_* real models
(``squeezenet``, ``resnet50``, ``shufflenet`` ...: onnx/backend/test/data/light, input
``arange(n) / n`` as the ONNX runner uses).

Per model, in one process: pyree on ``local-sync`` and ``local-task`` (compiled once,
``main`` timed), onnxruntime CPU (default threads, and one thread), IREE (``llvm-cpu``,
``local-sync``/``local-task``: imported with ``iree.compiler.tools.import_onnx`` and
compiled with ``iree.compiler``, retried with the importer's opset upgrade; a column that
fails shows the reason) and ``onnx.reference.ReferenceEvaluator`` (fewer runs: it is
slow). Each latency is the median of ``--repeat`` timed calls after ``max(2, repeat //
3)`` warm-up calls (the MLPs' first ~200 calls read 10-30% slower on both runtimes; the
reference evaluator: one warm-up, median of ``--ref-repeat``). Outputs are checked against
onnxruntime before timing. The columns are timed one after the other, not interleaved:
onnxruntime's worker threads keep spinning after its calls, and interleaved with them
pyree's two-thread GEMM took 0.70 ms instead of 0.13-0.16 ms.

Compile times run in fresh subprocesses: *cold* with an empty ``PYREE_CACHE_DIR`` (every
numba kernel compiled), *warm* with the cache that run filled (kernels loaded from
disk); each is compile_model + load_module + the first ``main`` call.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

TARGETS = {"mlp64": 1.5, "squeezenet": 2.0, "resnet50": 2.0, "shufflenet": 2.0}


# -- models --------------------------------------------------------------------------------

def mlp(batch: int) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    w1 = (rng.standard_normal((784, 128)) / 28).astype(np.float32)
    b1 = (rng.standard_normal(128) * 0.1).astype(np.float32)
    w2 = (rng.standard_normal((128, 10)) / 11).astype(np.float32)
    b2 = (rng.standard_normal(10) * 0.1).astype(np.float32)
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"]),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["y"], axis=-1)]
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 784])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 10])],
        initializer=[numpy_helper.from_array(a, n) for a, n in
                     ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def load(name: str) -> tuple[onnx.ModelProto, list[np.ndarray]]:
    if name.startswith("mlp"):
        batch = int(name[3:])
        x = np.random.default_rng(1).standard_normal((batch, 784)).astype(np.float32)
        return mlp(batch), [x]
    from pyree.compiler import testsuite

    path, inputs, _ = testsuite.light_case(name)
    return onnx.load(path), inputs


def input_names(model) -> list[str]:
    inits = {i.name for i in model.graph.initializer}
    return [v.name for v in model.graph.input if v.name not in inits]


# -- runners: each returns a zero-argument callable that runs the model once -----------------

def pyree_runner(model, inputs, device):
    from pyree.compiler import compile_model

    from pyree.runtime import load_module

    module = load_module(compile_model(model), device=device)
    return lambda: module.main(*inputs)


def ort_runner(model, inputs, threads=0):
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    feeds = dict(zip(input_names(model), inputs))
    return lambda: session.run(None, feeds)


def reference_runner(model, inputs):
    from onnx.reference import ReferenceEvaluator

    evaluator = ReferenceEvaluator(model)
    feeds = dict(zip(input_names(model), inputs))
    return lambda: evaluator.run(None, feeds)


def iree_runner(model, inputs, driver, workdir):
    """IREE: ONNX -> MLIR (iree.compiler.tools.import_onnx) -> vmfb (llvm-cpu) -> run."""
    import iree.compiler as ic
    import iree.runtime as ir

    onnx_path = os.path.join(workdir, "model.onnx")
    mlir_path = os.path.join(workdir, "model.mlir")
    vmfb_path = os.path.join(workdir, "model.vmfb")
    if not os.path.exists(vmfb_path):
        onnx.save(model, onnx_path)
        # Old opsets (light_* models are opset 3-9) fail to legalize in iree-compile; the
        # importer's opset upgrade (onnx's version converter) is tried next.
        for upgrade in ([], ["--opset-version", "17"]):
            subprocess.run([sys.executable, "-m", "iree.compiler.tools.import_onnx",
                            onnx_path, "-o", mlir_path, *upgrade], check=True,
                           capture_output=True, text=True)
            try:
                ic.compile_file(mlir_path, output_file=vmfb_path,
                                target_backends=["llvm-cpu"],
                                extra_args=["--iree-llvmcpu-target-cpu=host"])
                break
            except ic.CompilerToolError:
                if upgrade:
                    raise
    config = ir.Config(driver)
    with open(vmfb_path, "rb") as f:
        vm_module = ir.VmModule.copy_buffer(config.vm_instance, f.read())
    ctx = ir.SystemContext(config=config)
    ctx.add_vm_module(vm_module)
    names = [n for n in vm_module.function_names if not n.startswith("__") and "$" not in n]
    fn = ctx.modules.module[model.graph.name if model.graph.name in names else names[0]]

    def run():
        out = fn(*inputs)
        return [o.to_host() for o in out] if isinstance(out, (list, tuple)) else [out.to_host()]
    return run


# -- timing --------------------------------------------------------------------------------

def median_latency(run, repeat: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def agrees(expected, got) -> bool:
    return all(np.allclose(np.asarray(g), e, rtol=1e-3, atol=1e-4)
               for e, g in zip(expected, got))


_STARTUP = """
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {bench_dir!r})
import model_bench as mb
from pyree.compiler import compile_model
from pyree.runtime import load_module
model, inputs = mb.load({name!r})
t1 = time.perf_counter()
data = compile_model(model)
t2 = time.perf_counter()
module = load_module(data, device="local-sync")
module.main(*inputs)
t3 = time.perf_counter()
print(json.dumps({{"compile": t2 - t1, "load_and_first_call": t3 - t2, "total": t3 - t1}}))
"""


def startup_times(name: str, cache_dir: str) -> dict:
    env = dict(os.environ, PYREE_CACHE_DIR=cache_dir)
    env.pop("NUMBA_CACHE_DIR", None)
    code = _STARTUP.format(bench_dir=os.path.dirname(os.path.abspath(__file__)), name=name)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=False)
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the run ---------------------------------------------------------------------------------

def bench_model(name: str, args) -> dict:
    model, inputs = load(name)
    row = {"model": name}
    expected = ort_runner(model, inputs)()
    columns = [("pyree local-sync", lambda: pyree_runner(model, inputs, "local-sync")),
               ("pyree local-task", lambda: pyree_runner(model, inputs, "local-task")),
               ("onnxruntime", lambda: ort_runner(model, inputs)),
               ("onnxruntime 1 thread", lambda: ort_runner(model, inputs, 1))]
    if not args.no_iree:
        workdir = tempfile.mkdtemp(prefix=f"iree-{name}-")
        columns += [("IREE local-sync", lambda: iree_runner(model, inputs, "local-sync",
                                                            workdir)),
                    ("IREE local-task", lambda: iree_runner(model, inputs, "local-task",
                                                            workdir))]
    for column, make in columns:
        try:
            run = make()
            if not agrees(expected, run()):
                row[column] = "wrong result"
                continue
            row[column] = median_latency(run, args.repeat, max(2, args.repeat // 3))
        except Exception as exc:  # noqa: BLE001 - a column that fails is reported, not fatal
            row[column] = f"failed: {type(exc).__name__}: {str(exc).strip()[:160]}"
        print(f"  {name:11} {column:22} {fmt(row[column])}", file=sys.stderr, flush=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run = reference_runner(model, inputs)
            row["onnx reference"] = median_latency(run, args.ref_repeat, warmup=1)
    except Exception as exc:  # noqa: BLE001
        row["onnx reference"] = f"failed: {type(exc).__name__}: {exc}"
    print(f"  {name:11} {'onnx reference':22} {fmt(row['onnx reference'])}", file=sys.stderr,
          flush=True)
    if not args.no_compile_times:
        with tempfile.TemporaryDirectory(prefix="pyree-cache-") as cache:
            row["cold start"] = startup_times(name, cache)
            row["warm start"] = startup_times(name, cache)
        print(f"  {name:11} cold {row['cold start']} warm {row['warm start']}",
              file=sys.stderr, flush=True)
    return row


def fmt(value) -> str:
    if isinstance(value, float):
        return f"{value * 1e3:.3f} ms"
    return str(value)


def ratio(a, b) -> str:
    if isinstance(a, float) and isinstance(b, float) and b > 0:
        return f"{a / b:.2f}x"
    return "-"


def table(rows) -> str:
    cols = ["pyree local-sync", "pyree local-task", "onnxruntime", "onnxruntime 1 thread",
            "IREE local-sync", "IREE local-task", "onnx reference"]
    lines = ["| model | " + " | ".join(f"{c} ms" for c in cols)
             + " | pyree/ort | pyree/ort 1t | reference/pyree | target |",
             "|---|" + "---:|" * (len(cols) + 4)]
    for r in rows:
        best = min((r[c] for c in ("pyree local-sync", "pyree local-task")
                    if isinstance(r.get(c), float)), default=None)
        cells = [f"{r[c] * 1e3:.3f}" if isinstance(r.get(c), float) else
                 ("n/a" if c not in r else str(r[c])[:40]) for c in cols]
        target = TARGETS.get(r["model"])
        met = ""
        if target and best is not None and isinstance(r.get("onnxruntime"), float):
            met = f"<= {target}x: {'met' if best / r['onnxruntime'] <= target else 'not met'}"
        lines.append(f"| {r['model']} | " + " | ".join(cells) + f" | "
                     f"{ratio(best, r.get('onnxruntime'))} | "
                     f"{ratio(best, r.get('onnxruntime 1 thread'))} | "
                     f"{ratio(r.get('onnx reference'), best)} | {met} |")
    starts = [r for r in rows if "cold start" in r]
    if starts:
        lines += ["", ("| model | cold: compile s | cold: load + first call s | "
                       "warm: compile s | warm: load + first call s |"), "|---|---:|---:|---:|---:|"]
        for r in starts:
            c, w = r["cold start"], r["warm start"]
            lines.append(f"| {r['model']} | {c.get('compile', '-'):.2f} | "
                         f"{c.get('load_and_first_call', 0):.2f} | {w.get('compile', 0):.2f} | "
                         f"{w.get('load_and_first_call', 0):.2f} |" if "error" not in c
                         and "error" not in w else f"| {r['model']} | {c} | {w} | | |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mlp1,mlp64,squeezenet,resnet50")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--ref-repeat", type=int, default=3)
    parser.add_argument("--no-compile-times", action="store_true")
    parser.add_argument("--no-iree", action="store_true")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    rows = [bench_model(name, args) for name in args.models.split(",")]
    print(table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
