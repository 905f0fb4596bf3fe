"""VM interpreter benchmarks, reported as ratios to CPython in the same process.

    python benchmarks/vm_bench.py [--iterations N] [--repeat R]

* counted loop: 4 VM ops per iteration (cmp.lt.i32.s, cond_br, add.i32, br) against
  CPython's ``while i < n: i += 1``;
* empty call: a bytecode loop calling an internal function that returns at once, against
  a Python loop calling an empty Python function;
* import call: the same through an import bound to a native (Python) module function;
* host call: invoking an exported function from Python.

Each figure is the best of R runs; ratios compare figures from this one run.
"""

from __future__ import annotations

import argparse
import time

from pyree import vm


def _loop(name: str, body: str = "") -> str:
    """``@name(n)``: a counted loop (4 ops an iteration) that also runs ``body`` each time."""
    body = f"  {body}\n" if body else ""
    return f"""
vm.func @{name}(%i0: i32) -> (i32) {{
  %i1 = vm.const.i32.zero
  %i2 = vm.const.i32 1
  vm.br ^bb1
^bb1:
  %i3 = vm.cmp.lt.i32.s %i1, %i0
  vm.cond_br %i3, ^bb2, ^bb3
^bb2:
{body}  %i1 = vm.add.i32 %i1, %i2
  vm.br ^bb1
^bb3:
  vm.return %i1
}}
vm.export @{name}
"""


PROGRAM = "".join([
    '\nvm.module @bench version 1\nvm.import @native.nop cconv "0v_v"\n',
    _loop("loop"),
    "\nvm.func @empty() -> () {\n  vm.return\n}\nvm.export @empty\n",
    _loop("call_loop", "vm.call @empty()"),
    _loop("import_loop", "vm.call @native.nop()"),
])


class Native(vm.NativeModule):
    name = "native"

    @vm.export("0v_v")
    def nop(self, state):
        return None


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _py_loop(n):
    i = 0
    while i < n:
        i += 1
    return i


def _py_empty():
    return None


def _py_call_loop(n):
    i = 0
    while i < n:
        _py_empty()
        i += 1
    return i


def run(iterations: int, repeat: int) -> list[tuple[str, float, float]]:
    module = vm.BytecodeModule.from_vmasm(PROGRAM, "bench.vmasm")
    ctx = vm.Context([Native(), module])
    loop = ctx.lookup_function("bench.loop")
    call_loop = ctx.lookup_function("bench.call_loop")
    import_loop = ctx.lookup_function("bench.import_loop")
    empty = ctx.lookup_function("bench.empty")
    loop(10), call_loop(10), import_loop(10), empty()  # translate before timing
    n = iterations
    rows = []
    pairs = [
        ("counted loop (per iteration, 4 ops)", lambda: loop(n), lambda: _py_loop(n)),
        ("empty call (per call)", lambda: call_loop(n), lambda: _py_call_loop(n)),
        ("import call (per call)", lambda: import_loop(n), lambda: _py_call_loop(n)),
    ]
    for name, ours, peer in pairs:
        a, b = _best(ours, repeat) / n, _best(peer, repeat) / n
        rows.append((name, a * 1e9, b * 1e9))
    host_n = max(1000, n // 100)

    def host_calls():
        for _ in range(host_n):
            empty()

    def py_calls():
        for _ in range(host_n):
            _py_empty()
    rows.append(("host -> export call (per call)", _best(host_calls, repeat) / host_n * 1e9,
                 _best(py_calls, repeat) / host_n * 1e9))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    rows = run(args.iterations, args.repeat)
    print(f"{'benchmark':40s} {'pyree ns':>10s} {'CPython ns':>11s} {'ratio':>7s}")
    for name, ours, peer in rows:
        print(f"{name:40s} {ours:10.1f} {peer:11.1f} {ours / peer:7.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
