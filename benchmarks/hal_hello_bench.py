"""HAL "hello world": abs of one f32 through the hal module, called from Python with numpy
in and out (benchmarks/README.md).

The program (below, in vmasm) does what an IREE-compiled function does for one dispatch:
``buffer_view.assert`` of the input, ``allocator.allocate`` of the result, a command
buffer with one ``dispatch`` (a pyree-kernels-v1 executable from rodata, created in
``__init``) and a barrier, ``queue.execute`` with a signal fence, ``fence.await``, and a
``buffer_view.create`` of the result. The command buffer mode is an argument, so one
function measures:

* ``local-sync`` inline (ONE_SHOT | ALLOW_INLINE_EXECUTION): commands run as recorded,
  nothing is tracked;
* ``local-sync`` one-shot (recorded, resources tracked in a resource set);
* ``local-task`` one-shot (tracking: the command buffer retains, the submission retains);
* ``local-task`` UNRETAINED (the program keeps its buffers alive until the fence).

A second function, ``abs_memoized``, is shaped like the code IREE 3.13 compiles for this
computation (``iree-compile --compile-to=vm``): the command buffer is recorded once in
``__init__`` (reusable, two indirect binding slots) and each call does ``buffer_view.assert``,
``buffer.assert``, ``queue.alloca`` of the result, ``queue.execute.indirect`` with a
binding table, ``fence.await`` and ``buffer_view.create``: per call it records nothing.

Each invocation converts a numpy array to a buffer view (a copy into a pooled buffer),
calls the function and converts the result back to numpy. Where ``iree-base-runtime`` is
importable (``pip install -e '.[bench]'``), IREE's own Python runtime runs the same
computation (``math.absf`` on ``tensor<1xf32>``, ``llvm-cpu``: compiled on the spot when
``iree-base-compiler`` is importable too, else ``data/hal_hello_abs.vmfb``) in the same
process, and the ratios are printed.

Timing (``--repeat`` rounds of ``--calls`` calls): the rounds of all variants are
interleaved - round r of every variant (IREE's included), then round r+1, ... - so a slow
phase of the machine hits every variant alike. Per variant the columns are the best round
(wall and process CPU microseconds per call: ``time.process_time``, every thread of the
process) and the **median over rounds of the per-round ratio** to IREE on the same driver
(round r of pyree over round r of IREE, wall and CPU): the ratio column is the stable one on
a shared machine; "best cpu ratio" is best pyree round over best IREE round. Every variant's
device stays open for the whole run (local-task workers sleep while idle).

Peak memory is tracemalloc's peak over the timed calls minus the level before them (Python
and numpy allocations; IREE's C allocations are invisible to it).

    python benchmarks/hal_hello_bench.py [--calls 3000] [--repeat 5]

Instructions per call (exact, independent of the machine's load): ``--callgrind NAME`` runs
100 warm-up calls of one pyree variant (``memoized``, ``inline``, ``one-shot``, ``task``,
``task-unretained``, ``task-memoized``) or ``iree``, then ``--calls`` calls inside ``itertools.starmap``, so

    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=starmap_next \
        python benchmarks/hal_hello_bench.py --callgrind inline --calls 300

collects exactly those calls: instructions per call = "Collected" / 300. (IREE's runtime
does not finish under callgrind here: its waits spin under valgrind's thread serialisation.)
"""

from __future__ import annotations

import argparse
import gc
import itertools
import statistics
import time
import tracemalloc
from pathlib import Path

import numpy as np

from pyree.modules.hal.buffer_view import HalBufferView
from pyree.modules.hal.device import create_device
from pyree.modules.hal.executable_format import FORMAT, serialize
from pyree.modules.hal.module import HalModule
from pyree.vm import BytecodeModule, Context

ABS = serialize({"version": 1, "functions": [{
    "name": "abs", "push_constants": ["n"],
    "bindings": [{"index": 0, "type": "f32", "access": "read", "shape": [{"pc": 0}]},
                 {"index": 1, "type": "f32", "access": "write", "shape": [{"pc": 0}]}],
    "items_per_workgroup": 64,
    "body": {"kind": "elementwise", "shape": [{"pc": 0}],
             "outputs": [{"binding": 1, "value": {"op": "abs",
                                                  "args": [{"op": "load", "binding": 0}]}}]}}]})

PROGRAM = """\
vm.module @hello version 1
vm.import @hal.allocator.allocate cconv "0rIiiI_r"
vm.import @hal.buffer_view.assert cconv "0rriiCID_v"
vm.import @hal.buffer_view.buffer cconv "0r_r"
vm.import @hal.buffer_view.create cconv "0rIIiiCID_r"
vm.import @hal.command_buffer.create cconv "0riiIi_r"
vm.import @hal.command_buffer.dispatch cconv "0rrIiiiICiDCiirIID_v"
vm.import @hal.command_buffer.execution_barrier cconv "0riiI_v"
vm.import @hal.command_buffer.finalize cconv "0r_v"
vm.import @hal.device.allocator cconv "0r_r"
vm.import @hal.device.queue.execute cconv "0rIrrrI_v"
vm.import @hal.devices.get cconv "0i_r"
vm.import @hal.executable.create cconv "0rIrrr_r"
vm.import @hal.fence.await cconv "0iICrD_i"
vm.import @hal.fence.create cconv "0rI_r"
vm.import @hal.buffer.assert cconv "0rrrIii_v"
vm.import @hal.device.queue.alloca cconv "0rIrrIiiII_r"
vm.import @hal.device.queue.execute.indirect cconv "0rIrrrICrIID_v"
vm.rodata[0] = {executable}
vm.rodata[1] = {format}
vm.rodata[2] = {message}

vm.func @__init() -> () {{
  %i0 = vm.const.i32 0
  %r0 = vm.call @hal.devices.get(%i0)
  %i2:3 = vm.const.i64 -1
  %r1 = vm.const.ref.rodata 1
  %r2 = vm.const.ref.rodata 0
  %r3 = vm.const.ref.zero
  %r4 = vm.call @hal.executable.create(%r0, %i2:3, %R1, %R2, %R3)
  %r5 = vm.call @hal.device.allocator(%r0)
  %i4 = vm.const.i32 0
  %i5 = vm.const.i32 3
  %i6 = vm.const.i32 2
  %r6 = vm.call @hal.command_buffer.create(%r0, %i4, %i5, %i2:3, %i6)
  %i8:9 = vm.const.i64 0
  %i10 = vm.const.i32 1
  %i12:13 = vm.const.i64 4
  %r7 = vm.const.ref.zero
  vm.call.variadic @hal.command_buffer.dispatch segments[0, 0, 0, 0, 0, 0, 0, 1, 2](%r6, %r4, %i8:9, %i10, %i10, %i10, %i8:9, %i10, %i4, %i4, %r7, %i8:9, %i12:13, %i4, %i10, %r7, %i8:9, %i12:13)
  %i14 = vm.const.i32 28
  %i15 = vm.const.i32 13
  vm.call @hal.command_buffer.execution_barrier(%r6, %i14, %i15, %i8:9)
  vm.call @hal.command_buffer.finalize(%r6)
  vm.global.store.ref %R0, .refs[0] : !hal.device
  vm.global.store.ref %R4, .refs[1] : !hal.executable
  vm.global.store.ref %R5, .refs[2] : !hal.allocator
  vm.global.store.ref %R6, .refs[3] : !hal.command_buffer
  vm.return
}}
vm.export @__init

vm.func @abs(%r0: !hal.buffer_view, %i0: i32) -> (!hal.buffer_view) {{
  %r1 = vm.global.load.ref .refs[0] : !hal.device
  %r2 = vm.global.load.ref .refs[1] : !hal.executable
  %r3 = vm.global.load.ref .refs[2] : !hal.allocator
  %r4 = vm.const.ref.rodata 2
  %i1 = vm.const.i32 553648160
  %i2 = vm.const.i32 1
  %i4:5 = vm.const.i64 1
  vm.call.variadic @hal.buffer_view.assert segments[0, 0, 0, 0, 1](%r0, %R4, %i1, %i2, %i4:5)
  %r5 = vm.call @hal.buffer_view.buffer(%R0)
  %i6:7 = vm.const.i64 -1
  %i8 = vm.const.i32 48
  %i9 = vm.const.i32 3075
  %i10:11 = vm.const.i64 4
  %r6 = vm.call @hal.allocator.allocate(%R3, %i6:7, %i8, %i9, %i10:11)
  %i12 = vm.const.i32 3
  %i13 = vm.const.i32 0
  %r7 = vm.call @hal.command_buffer.create(%r1, %i0, %i12, %i6:7, %i13)
  %i14:15 = vm.const.i64 0
  vm.call.variadic @hal.command_buffer.dispatch segments[0, 0, 0, 0, 0, 0, 0, 1, 2](%r7, %R2, %i14:15, %i2, %i2, %i2, %i14:15, %i2, %i13, %i13, %R5, %i14:15, %i10:11, %i13, %i2, %r6, %i14:15, %i10:11)
  %i16 = vm.const.i32 28
  %i17 = vm.const.i32 13
  vm.call @hal.command_buffer.execution_barrier(%r7, %i16, %i17, %i14:15)
  vm.call @hal.command_buffer.finalize(%r7)
  %r8 = vm.call @hal.fence.create(%r1, %i14:15)
  %r9 = vm.const.ref.zero
  vm.call @hal.device.queue.execute(%R1, %i6:7, %R9, %r8, %R7, %i14:15)
  %i18 = vm.const.i32 -1
  vm.call.variadic.yieldable @hal.fence.await segments[0, 0, 1](%i18, %i14:15, %R8) -> ^bb1(%i19)
^bb1:
  vm.fail %i19, "fence.await did not return OK"
^bb2:
  %r10 = vm.call.variadic @hal.buffer_view.create segments[0, 0, 0, 0, 0, 1](%R6, %i14:15, %i10:11, %i1, %i2, %i4:5)
  vm.return %R10
}}
vm.export @abs

vm.func @abs_memoized(%r0: !hal.buffer_view) -> (!hal.buffer_view) {{
  %r1 = vm.global.load.ref .refs[0] : !hal.device
  %r2 = vm.global.load.ref .refs[3] : !hal.command_buffer
  %r3 = vm.global.load.ref .refs[2] : !hal.allocator
  %r4 = vm.const.ref.rodata 2
  %i1 = vm.const.i32 553648160
  %i2 = vm.const.i32 1
  %i4:5 = vm.const.i64 1
  vm.call.variadic @hal.buffer_view.assert segments[0, 0, 0, 0, 1](%r0, %r4, %i1, %i2, %i4:5)
  %r5 = vm.call @hal.buffer_view.buffer(%R0)
  %i6:7 = vm.const.i64 -1
  %i8 = vm.const.i32 48
  %i9 = vm.const.i32 3075
  %i10:11 = vm.const.i64 4
  %i12 = vm.const.i32 16
  vm.call @hal.buffer.assert(%r5, %R4, %R3, %i10:11, %i12, %i9)
  %i14:15 = vm.const.i64 0
  %r6 = vm.call @hal.fence.create(%r1, %i14:15)
  %r7 = vm.const.ref.zero
  %r8 = vm.call @hal.device.queue.alloca(%r1, %i6:7, %R7, %r6, %i14:15, %i8, %i9, %i10:11, %i14:15)
  %r9 = vm.call @hal.fence.create(%r1, %i14:15)
  vm.call.variadic @hal.device.queue.execute.indirect segments[0, 0, 0, 0, 0, 0, 2](%R1, %i6:7, %R6, %r9, %R2, %i14:15, %R5, %i14:15, %i10:11, %r8, %i14:15, %i10:11)
  %i18 = vm.const.i32 -1
  vm.call.variadic.yieldable @hal.fence.await segments[0, 0, 1](%i18, %i14:15, %R9) -> ^bb1(%i19)
^bb1:
  vm.fail %i19, "fence.await did not return OK"
^bb2:
  %r10 = vm.call.variadic @hal.buffer_view.create segments[0, 0, 0, 0, 0, 1](%R8, %i14:15, %i10:11, %i1, %i2, %i4:5)
  vm.return %R10
}}
vm.export @abs_memoized
""".format(executable=ABS.hex().upper(), format=FORMAT.encode().hex().upper(),
           message=b"input 0".hex().upper())

ONE_SHOT, ALLOW_INLINE, UNRETAINED = 0x1, 0x10, 0x40
MEMOIZED = None     # the mode of the IREE-shaped function: it takes none
VARIANTS = [
    ("local-sync", "IREE-shaped: memoized command buffer, execute.indirect", MEMOIZED),
    ("local-sync", "inline (ONE_SHOT|ALLOW_INLINE_EXECUTION), no tracking",
     ONE_SHOT | ALLOW_INLINE),
    ("local-sync", "ONE_SHOT, recorded and tracked", ONE_SHOT),
    ("local-task", "ONE_SHOT, tracked (command buffer + submission retain)", ONE_SHOT),
    ("local-task", "ONE_SHOT|UNRETAINED, no command buffer tracking", ONE_SHOT | UNRETAINED),
    ("local-task", "IREE-shaped: memoized command buffer, execute.indirect", MEMOIZED),
]
VMFB = Path(__file__).resolve().parent / "data" / "hal_hello_abs.vmfb"
IREE_MLIR = """
func.func @abs(%arg0: tensor<1xf32>) -> tensor<1xf32> {
  %0 = math.absf %arg0 : tensor<1xf32>
  return %0 : tensor<1xf32>
}
"""


def warm_up(call) -> None:
    x = np.array([-2.5], np.float32)
    for _ in range(50):
        assert call(x)[0] == 2.5


def time_round(call, calls: int) -> tuple[float, float]:
    """(wall, process CPU) microseconds per call of one round of ``calls`` calls."""
    x = np.array([-2.5], np.float32)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        call(x)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return wall / calls * 1e6, cpu / calls * 1e6


def peak_memory(call, calls: int) -> int:
    """Peak traced bytes over ``calls`` calls (above the level before them)."""
    x = np.array([-2.5], np.float32)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(calls):
        call(x)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak


def interleaved(calls: dict, n: int, repeat: int) -> dict:
    """{key: [(wall us, cpu us) per round]}: round r of every call, then round r+1, ..."""
    for call in calls.values():
        warm_up(call)
    rounds = {key: [] for key in calls}
    for _ in range(repeat):
        for key, call in calls.items():
            rounds[key].append(time_round(call, n))
    return rounds


def summary(mine: list, theirs: list | None) -> tuple:
    """(best wall, best cpu, median wall ratio, median cpu ratio, best cpu / best cpu);
    ratios are None without IREE rounds."""
    best = min(w for w, _ in mine)
    best_cpu = min(c for _, c in mine)
    if theirs is None:
        return best, best_cpu, None, None, None
    wall_ratio = statistics.median(m[0] / t[0] for m, t in zip(mine, theirs))
    cpu_ratio = statistics.median(m[1] / t[1] for m, t in zip(mine, theirs))
    return best, best_cpu, wall_ratio, cpu_ratio, best_cpu / min(c for _, c in theirs)


def pyree_call(driver: str, mode: int):
    device = create_device(driver)
    module = BytecodeModule.from_vmasm(PROGRAM, "hal_hello.vmasm")
    context = Context([HalModule([device]), module])
    allocator = device.allocator
    if mode is MEMOIZED:
        fn = context.lookup_function("hello.abs_memoized")

        def call(x):
            (view,) = fn(HalBufferView.from_numpy(x, allocator))
            return np.array(view)
        return call, device
    fn = context.lookup_function("hello.abs")

    def call(x):
        (view,) = fn(HalBufferView.from_numpy(x, allocator), mode)
        return np.array(view)
    return call, device


def iree_module() -> bytes:
    """The IREE module: compiled here when iree-base-compiler is importable (for the host
    CPU), else the one shipped in benchmarks/data (compiled by IREE 3.13 for a generic
    x86-64; a runtime of another version may refuse it)."""
    try:
        import iree.compiler as ireec
    except ImportError:
        return VMFB.read_bytes()
    return ireec.compile_str(IREE_MLIR, target_backends=["llvm-cpu"],
                             extra_args=["--iree-llvmcpu-target-cpu=host"])


def iree_calls():
    """{driver: call} for IREE's runtime, or a reason string when it is not available."""
    try:
        import iree.runtime as ireert
    except ImportError:
        return "IREE not measured: iree-base-runtime is not importable (pip install -e '.[bench]')"
    vmfb = iree_module()
    calls = {}
    try:
        for driver in ("local-sync", "local-task"):
            context = ireert.SystemContext(config=ireert.Config(driver))
            context.add_vm_module(ireert.VmModule.copy_buffer(context.instance, vmfb))
            fn = context.modules.module["abs"]
            calls[driver] = (lambda f: lambda x: f(x).to_host())(fn)
    except Exception as e:  # noqa: BLE001 - a version mismatch of the shipped module
        return f"IREE not measured: {type(e).__name__}: {e}"
    return calls


CALLGRIND_VARIANTS = {"memoized": 0, "inline": 1, "one-shot": 2, "task": 3,
                      "task-unretained": 4, "task-memoized": 5}


def callgrind(name: str, calls: int) -> None:
    """Warm-up, then exactly ``calls`` calls inside ``itertools.starmap`` (see the module
    doc: callgrind collects inside ``starmap_next`` only)."""
    if name == "iree":
        call = iree_calls()["local-sync"]
    else:
        driver, _, mode = VARIANTS[CALLGRIND_VARIANTS[name]]
        call, _ = pyree_call(driver, mode)
    x = np.array([-2.5], np.float32)
    for _ in range(100):
        call(x)
    list(itertools.starmap(call, itertools.repeat((x,), calls)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--callgrind", choices=[*CALLGRIND_VARIANTS, "iree"])
    args = parser.parse_args()
    if args.callgrind:
        return callgrind(args.callgrind, args.calls)
    iree = iree_calls()
    calls, devices = {}, []
    for index, (driver, _, mode) in enumerate(VARIANTS):
        call, device = pyree_call(driver, mode)
        calls[index] = call
        devices.append(device)
    if isinstance(iree, dict):
        calls.update(iree)
    rounds = interleaved(calls, args.calls, args.repeat)
    peaks = {key: peak_memory(call, args.calls) for key, call in calls.items()}
    for device in devices:
        device.close()
    print(f"{'variant':<72} {'us/call':>8} {'cpu us':>8} {'peak KiB':>9} {'vs IREE':>8} "
          f"{'cpu vs IREE':>11} {'best cpu ratio':>14}")
    print(f"{'(best round; ratios: median over rounds of round r / IREE round r)':<72}")

    def row(name, key, theirs):
        us, cpu, ratio, cpu_ratio, best_ratio = summary(rounds[key], theirs)
        text = ["-" if r is None else f"{r:.2f}x" for r in (ratio, cpu_ratio, best_ratio)]
        print(f"{name:<72} {us:8.1f} {cpu:8.1f} {peaks[key] / 1024:9.1f} {text[0]:>8} "
              f"{text[1]:>11} {text[2]:>14}")
    for index, (driver, label, _) in enumerate(VARIANTS):
        row(f"pyree {driver} {label}", index, rounds.get(driver))
    if isinstance(iree, str):
        print(iree)
    for driver in iree if isinstance(iree, dict) else ():
        row(f"IREE {driver} (iree.runtime, llvm-cpu)", driver, rounds[driver])


if __name__ == "__main__":
    main()
