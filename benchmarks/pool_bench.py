"""Pool kernels of the light models alone, one thread: thread_time best of N.

    python benchmarks/pool_bench.py collect pools.json
        compile the models (no kernels) and dump their distinct pool dispatches, as this
        checkout's ``lower_pool`` gives them
    NUMBA_NUM_THREADS=1 python benchmarks/pool_bench.py time pools.json N [--produce]
        [--flush MIB] [--only TEXT]
        time each dispatch's kernel, N rounds interleaved over the dispatches; --produce
        rewrites the input before each call (as its producer would: L2/L3-warm), --flush
        writes MIB MiB first (64: inputs come from memory)

For an A/B, collect and time in separate processes per checkout (the old one on PYTHONPATH,
with its own PYREE_CACHE_DIR), alternating, and take the best of the runs.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

MODELS = ["densenet121", "shufflenet", "inception_v1", "inception_v2", "squeezenet",
          "resnet50"]


def collect(out: str) -> None:
    from pyree.compiler import testsuite
    from pyree.compiler.emit import lower_conv  # noqa: F401 - registers the lowerings
    from pyree.compiler.emit.lowering import lower_region
    from pyree.compiler.onnx_import import import_model
    from pyree.compiler.pipeline import compile_graph

    seen, rows = set(), []
    for name in MODELS:
        compiled = compile_graph(import_model(testsuite.light_case(name)[0]))
        for region in compiled.partition.regions:
            if region.kind != "pool":
                continue
            for d in lower_region(region, compiled.graph).dispatches:
                if d.function["body"]["kind"] != "pool":
                    continue
                key = json.dumps([d.function, list(d.constants), list(d.workgroups)],
                                 sort_keys=True)
                if key not in seen:
                    seen.add(key)
                    rows.append({"model": name, "function": d.function,
                                 "constants": list(d.constants),
                                 "workgroups": list(d.workgroups)})
    with open(out, "w") as f:
        json.dump(rows, f)
    print(len(rows), "pool dispatches")


def describe(row) -> str:
    fn, consts = row["function"], row["constants"]
    body = fn["body"]

    def val(e):
        return consts[e["pc"]] if isinstance(e, dict) else e

    xs = [val(e) for e in fn["bindings"][0]["shape"]]
    k, s, p = ([val(e) for e in body[key]] for key in ("kernel", "strides", "pads"))
    return (f"{row['model'][:12]:12} {body['op'][:3]} {xs[1]}x{'x'.join(map(str, xs[2:]))} "
            f"k{k[0]}s{s[0]}p{max(p)}" + (" flat" if body.get("whole_planes") else ""))


def time_kernels(path: str, rounds: int, produce: bool, flush_mib: int, only: str) -> None:
    from pyree.modules.hal import executable_format as fmt
    from pyree.modules.hal.executable import Executable

    with open(path) as f:
        rows = [r for r in json.load(f) if only in describe(r)]
    functions = [dict(r["function"], name=f"f{i}") for i, r in enumerate(rows)]
    exe = Executable.create(fmt.FORMAT, fmt.serialize({"version": 1, "functions": functions}))
    rng = np.random.default_rng(0)
    runs = []
    for i, r in enumerate(rows):
        reqs = exe.validate_dispatch(exe.lookup_function(f"f{i}"), r["workgroups"],
                                     r["constants"])
        arrays = [rng.standard_normal(n // dt.itemsize).astype(dt)
                  for n, dt in zip(reqs.required_bytes, reqs.dtypes)]
        args = (*arrays, reqs.launch.params, reqs.launch.fparams)
        reqs.kernel(*args)
        runs.append((reqs.kernel, args, arrays[0].copy()))
    flush = np.zeros(flush_mib << 17) if flush_mib else None
    best = [math.inf] * len(runs)
    for _ in range(rounds):
        for i, (kernel, args, saved) in enumerate(runs):
            if flush is not None:
                flush += 1.0
            if produce:
                args[0][:] = saved
            t = time.thread_time()
            kernel(*args)
            best[i] = min(best[i], time.thread_time() - t)
    for r, b in zip(rows, best):
        print(f"{describe(r):48} {b * 1e6:8.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("out")
    t = sub.add_parser("time")
    t.add_argument("pools")
    t.add_argument("rounds", type=int)
    t.add_argument("--produce", action="store_true")
    t.add_argument("--flush", type=int, default=0)
    t.add_argument("--only", default="")
    args = ap.parse_args()
    if args.cmd == "collect":
        collect(args.out)
    else:
        time_kernels(args.pools, args.rounds, args.produce, args.flush, args.only)


if __name__ == "__main__":
    main()
