"""Fused elementwise kernel vs numpy: ``a * b + c`` on 16M f32 (benchmarks/README.md).

Prints the best-of-N time of one pyree dispatch (one fused kernel writing a preallocated
output; the parallel kernel on numba's threads, and the serial variant of the same kernel on
one thread, so the parallel split is visible; both with streaming stores, the 64 MiB output
being above ``elementwise.STREAM_ABOVE``, and the parallel kernel once more with ordinary
stores, so the streaming stores' effect is visible), numpy's unfused expression
``a * b + c`` (numpy allocates its result, and the ``+`` reuses the temporary of ``a * b``),
numpy's unfused passes into a preallocated output (``multiply(out=)``, ``add(out=)``) and a
plain copy of the same bytes (numpy, one thread); then GB/s of each (bytes of the three
inputs and the output) and the ratios. The executables are created (compiled, or loaded
from the disk cache) before any timing. The N rounds are interleaved (each round times every
row once, in order), so a burst of load from other processes hits all rows alike rather
than the rows measured during it.

    python benchmarks/kernel_bench.py [--elements 16777216] [--repeat 10]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from pyree.modules.hal import executable_format
from pyree.modules.hal.executable import Executable
from pyree.modules.hal.kernels import config
from pyree.modules.hal.kernels.library import elementwise

ITEMS_PER_WORKGROUP = 1 << 16


def fma_description() -> bytes:
    vector = [{"pc": 0}]
    bindings = [{"index": i, "type": "f32", "access": "write" if i == 3 else "read",
                 "shape": vector} for i in range(4)]
    load = [{"op": "load", "binding": i} for i in range(3)]
    value = {"op": "add", "args": [{"op": "mul", "args": load[:2]}, load[2]]}
    return executable_format.serialize({"version": 1, "functions": [{
        "name": "fma", "push_constants": ["n"], "bindings": bindings,
        "items_per_workgroup": ITEMS_PER_WORKGROUP,
        "body": {"kind": "elementwise", "shape": vector,
                 "outputs": [{"binding": 3, "value": value}]}}]})


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def interleaved(rows: dict, repeat: int) -> dict:
    """Best time of each of ``rows`` (name -> callable) over ``repeat`` rounds, each round
    timing every row once."""
    times = {name: [] for name in rows}
    for _ in range(repeat):
        for name, fn in rows.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: min(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", type=int, default=16 << 20)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    n = args.elements
    start = time.perf_counter()
    exe = Executable.create(executable_format.FORMAT, fma_description())
    create = time.perf_counter() - start
    serial_below, config.SERIAL_BELOW = config.SERIAL_BELOW, 1 << 62
    try:        # plans are made per executable: this one always picks the serial kernel
        exe_serial = Executable.create(executable_format.FORMAT, fma_description())
    finally:
        config.SERIAL_BELOW = serial_below
    above, elementwise.STREAM_ABOVE = elementwise.STREAM_ABOVE, 1 << 62
    try:        # the source names the threshold: this one never streams
        exe_plain = Executable.create(executable_format.FORMAT, fma_description())
    finally:
        elementwise.STREAM_ABOVE = above
    streams = 4 * n >= elementwise.STREAM_ABOVE
    rng = np.random.default_rng(0)
    a, b, c = (rng.random(n, dtype=np.float32) for _ in range(3))
    out, tmp = np.empty(n, np.float32), np.empty(n, np.float32)
    bindings = [x.view(np.uint8) for x in (a, b, c, out)]
    groups = (-(-n // ITEMS_PER_WORKGROUP), 1, 1)

    def fused():
        exe.dispatch(0, groups, (n,), bindings)

    def fused_serial():
        exe_serial.dispatch(0, groups, (n,), bindings)

    def fused_plain():
        exe_plain.dispatch(0, groups, (n,), bindings)

    def unfused_out():
        np.multiply(a, b, out=tmp)
        np.add(tmp, c, out=tmp)

    fused()
    if not np.array_equal(out, a * b + c):
        raise SystemExit("fused result differs from numpy")
    fused_serial()
    if not np.array_equal(out, a * b + c):
        raise SystemExit("serial fused result differs from numpy")
    fused_plain()
    if not np.array_equal(out, a * b + c):
        raise SystemExit("ordinary-store fused result differs from numpy")
    times = interleaved({"pyree fused dispatch": fused,
                         "numpy a * b + c": lambda: a * b + c,
                         "numpy multiply/add out=": unfused_out,
                         "numpy copy (same bytes)": lambda: np.copyto(out, a),
                         "pyree fused, serial": fused_serial,
                         "pyree fused, plain stores": fused_plain}, args.repeat)
    rows = list(times.items())
    moved = 4 * n * 4
    import numba
    print(f"executable create (compile or cache load): {create:.2f} s; numba threads: "
          f"{numba.get_num_threads() if config.PARALLEL else 'off (PYREE_NUMBA_PARALLEL)'}; "
          f"streaming stores: {'on' if streams else 'off'} (threshold "
          f"{elementwise.STREAM_ABOVE} bytes)")
    print(f"{'':26} {'ms':>8} {'GB/s':>8}")
    for name, seconds in rows:
        nbytes = 2 * n * 4 if "copy" in name else moved
        print(f"{name:26} {seconds * 1e3:8.2f} {nbytes / seconds / 1e9:8.2f}")
    fused_s = rows[0][1]
    print(f"speedup vs numpy a * b + c:         {rows[1][1] / fused_s:.2f}x")
    print(f"speedup vs numpy out= passes:       {rows[2][1] / fused_s:.2f}x")
    print(f"parallel vs serial kernel:          {rows[4][1] / fused_s:.2f}x")
    print(f"streaming vs plain stores:          {rows[5][1] / fused_s:.2f}x")
    print(f"fused GB/s / copy GB/s:             "
          f"{(moved / fused_s) / (2 * n * 4 / rows[3][1]):.2f}")
    small = [x[:1024].view(np.uint8) for x in (a, b, c, out)]
    per_call = best(lambda: [exe.dispatch(0, (1, 1, 1), (1024,), small) for _ in range(100)],
                    args.repeat) / 100
    print(f"dispatch overhead (1024 elements):  {per_call * 1e6:.1f} us per dispatch")


if __name__ == "__main__":
    main()
