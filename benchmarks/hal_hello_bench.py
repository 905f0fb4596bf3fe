"""HAL "hello world": abs of one f32 through the hal module, called from Python with numpy
in and out (benchmarks/README.md).

The program (below, in vmasm) does what an IREE-compiled function does for one dispatch:
``buffer_view.assert`` of the input, ``allocator.allocate`` of the result, a command
buffer with one ``dispatch`` (a pyree-kernels-v1 executable from rodata, created in
``__init``) and a barrier, ``queue.execute`` with a signal fence, ``fence.await``, and a
``buffer_view.create`` of the result. The command buffer mode is an argument, so one
program measures:

* ``local-sync`` inline (ONE_SHOT | ALLOW_INLINE_EXECUTION): commands run as recorded,
  nothing is tracked;
* ``local-sync`` one-shot (recorded, resources tracked in a resource set);
* ``local-task`` one-shot (tracking: the command buffer retains, the submission retains);
* ``local-task`` UNRETAINED (the program keeps its buffers alive until the fence).

Each invocation converts a numpy array to a buffer view (a copy into a pooled buffer),
calls the function and converts the result back to numpy. Where ``iree-base-runtime`` is
importable (``pip install -e '.[bench]'``), IREE's own Python runtime runs the same
computation (``math.absf`` on ``tensor<1xf32>``, ``llvm-cpu``: compiled on the spot when
``iree-base-compiler`` is importable too, else ``data/hal_hello_abs.vmfb``) in the same
process, and the ratios are printed.

Peak memory is tracemalloc's peak over the timed calls minus the level before them (Python
and numpy allocations; IREE's C allocations are invisible to it).

    python benchmarks/hal_hello_bench.py [--calls 3000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import gc
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
  vm.global.store.ref %R0, .refs[0] : !hal.device
  vm.global.store.ref %R4, .refs[1] : !hal.executable
  vm.global.store.ref %R5, .refs[2] : !hal.allocator
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
""".format(executable=ABS.hex().upper(), format=FORMAT.encode().hex().upper(),
           message=b"input 0".hex().upper())

ONE_SHOT, ALLOW_INLINE, UNRETAINED = 0x1, 0x10, 0x40
VARIANTS = [
    ("local-sync", "inline (ONE_SHOT|ALLOW_INLINE_EXECUTION), no tracking",
     ONE_SHOT | ALLOW_INLINE),
    ("local-sync", "ONE_SHOT, recorded and tracked", ONE_SHOT),
    ("local-task", "ONE_SHOT, tracked (command buffer + submission retain)", ONE_SHOT),
    ("local-task", "ONE_SHOT|UNRETAINED, no command buffer tracking", ONE_SHOT | UNRETAINED),
]
VMFB = Path(__file__).resolve().parent / "data" / "hal_hello_abs.vmfb"
IREE_MLIR = """
func.func @abs(%arg0: tensor<1xf32>) -> tensor<1xf32> {
  %0 = math.absf %arg0 : tensor<1xf32>
  return %0 : tensor<1xf32>
}
"""


def measure(call, calls: int, repeat: int) -> tuple[float, int]:
    """(best microseconds per call over ``repeat`` rounds, peak traced bytes of a round)."""
    x = np.array([-2.5], np.float32)
    for _ in range(50):
        assert call(x)[0] == 2.5
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(calls):
            call(x)
        best = min(best, time.perf_counter() - start)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(calls):
        call(x)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return best / calls * 1e6, peak


def pyree_call(driver: str, mode: int):
    device = create_device(driver)
    module = BytecodeModule.from_vmasm(PROGRAM, "hal_hello.vmasm")
    context = Context([HalModule([device]), module])
    fn = context.lookup_function("hello.abs")
    allocator = device.allocator

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    iree = iree_calls()
    iree_us = {}
    if isinstance(iree, dict):
        for driver, call in iree.items():
            iree_us[driver] = measure(call, args.calls, args.repeat)
    print(f"{'variant':<72} {'us/call':>8} {'peak KiB':>9} {'vs IREE':>8}")
    for driver, label, mode in VARIANTS:
        call, device = pyree_call(driver, mode)
        us, peak = measure(call, args.calls, args.repeat)
        device.close()
        ratio = f"{us / iree_us[driver][0]:.2f}x" if driver in iree_us else "-"
        print(f"pyree {driver} {label:<55} {us:8.1f} {peak / 1024:9.1f} {ratio:>8}")
    if isinstance(iree, str):
        print(iree)
    for driver, (us, peak) in iree_us.items():
        print(f"{'IREE ' + driver + ' (iree.runtime, llvm-cpu)':<72} {us:8.1f} "
              f"{peak / 1024:9.1f} {'1.00x':>8}")


if __name__ == "__main__":
    main()
