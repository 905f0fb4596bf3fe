"""``pyree demo``: compile and run a real model, the job pyree exists for.

By default it compiles ``light_squeezenet`` (the SqueezeNet 1.0 graph that ships inside
the ``onnx`` package's backend test data), runs it on a HAL device with the input the
ONNX backend test runner uses (``arange(n) / n``), and prints the top classes, the
latency (median of ``--runs`` calls after a warm-up call) and whether the result matches
the reference output shipped beside the model (the backend runner's tolerances). The
exit status is 1 when it does not match.

``pyree demo --counter [N]`` instead assembles and runs the bundled
``examples/counter.vmasm`` (``sum_to(N)``, the counted loop of ``vmasm.md`` 8.1), the VM
on its own.
"""

from __future__ import annotations

import importlib.resources
import statistics
import sys
import time

from pyree.tools import add_command, run_module

EXAMPLE = "counter.vmasm"
#: The ONNX backend runner's tolerances for real models (onnx.backend.test.loader).
RTOL, ATOL = 1e-3, 1e-7


def add_parser(subparsers):
    p = add_command(subparsers, "demo", __doc__, "compile and run a bundled real model")
    p.add_argument("--model", default="squeezenet", metavar="NAME",
                   help="light_* model of the onnx package (default squeezenet; also "
                        "resnet50, densenet121, inception_v1, inception_v2, shufflenet, "
                        "vgg19, bvlc_alexnet, zfnet512)")
    p.add_argument("--device", default="local-sync", choices=("local-sync", "local-task"))
    p.add_argument("--runs", type=int, default=5, help="timed calls (default 5)")
    p.add_argument("--top", type=int, default=5, help="classes to print (default 5)")
    p.add_argument("--counter", nargs="?", const="100", default=None, metavar="N",
                   help="run the bundled VM example sum_to(N) instead (default N=100)")
    p.set_defaults(run=run)
    return p


def example_text(name: str = EXAMPLE) -> str:
    return importlib.resources.files("pyree").joinpath("examples").joinpath(name).read_text("utf-8")


def run(args) -> int:
    if args.counter is not None:
        return run_counter(args.counter)
    return run_model(args.model, args.device, max(1, args.runs), max(1, args.top))


def run_counter(n: str) -> int:
    from pyree.vm import BytecodeModule

    module = BytecodeModule.from_vmasm(example_text(), f"examples/{EXAMPLE}")
    sys.stdout.write(f"# examples/{EXAMPLE}: sum_to({n}), the sum of the integers 1..{n}\n")
    return run_module.execute([module], "sum_to", [n])


def run_model(name: str, device: str, runs: int, top: int) -> int:
    import numpy as np

    from pyree.compiler import compile_model, testsuite
    from pyree.runtime import load_module

    if name not in testsuite.light_models():
        sys.stderr.write(f"pyree demo: no model light_{name}; known: "
                         f"{', '.join(testsuite.light_models())}\n")
        return 2
    path, inputs, expected = testsuite.light_case(name)
    out = sys.stdout
    out.write(f"# light_{name}: {path}\n")
    start = time.perf_counter()
    data = compile_model(path)
    compiled = time.perf_counter()
    with load_module(data, device=device) as module:
        loaded = time.perf_counter()
        out.write(f"compiled in {compiled - start:.2f} s ({len(data):,} bytes); loaded on "
                  f"{device} in {loaded - compiled:.2f} s (kernels compiled or read from "
                  "the cache)\n")
        results = module.main(*inputs)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            results = module.main(*inputs)
            times.append(time.perf_counter() - t0)
    scores = np.asarray(results[0], dtype=np.float64).reshape(-1)
    order = np.argsort(-scores, kind="stable")[:top]
    out.write(f"top {len(order)} of {scores.size} classes:\n")
    for rank, k in enumerate(order, 1):
        out.write(f"  {rank}. class {int(k):4d}  score {scores[k]:.6g}\n")
    out.write(f"latency: median {statistics.median(times) * 1e3:.1f} ms over {runs} calls "
              f"(min {min(times) * 1e3:.1f} ms)\n")
    worst = max(float(np.max(np.abs(np.asarray(r, np.float64) - e))) for r, e in
                zip(results, expected))
    ok = len(results) == len(expected) and all(
        r.shape == e.shape and np.allclose(r, e, rtol=RTOL, atol=ATOL)
        for r, e in zip(results, expected))
    out.write(f"matches the reference output: {'yes' if ok else 'NO'} (max abs difference "
              f"{worst:.3g}; rtol {RTOL}, atol {ATOL})\n")
    return 0 if ok else 1
