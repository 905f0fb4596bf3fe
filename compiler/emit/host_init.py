"""``__init`` of a compiled module, first part: device, executable, allocator and constant
buffers, once per context, kept in ref globals (device in ``.refs[0]``, executable in
``.refs[1]``, allocator in ``.refs[2]``, constant buffers from ``.refs[4]`` in the order of
``const_slots``). ``host.py`` then records the memoized command buffer (``.refs[3]``) and
returns."""

from __future__ import annotations

from pyree.compiler.emit import hal_abi as H


def emit_init(f, mw, fmt: str, executable: bytes | None, plans, const_slots) -> tuple:
    """Emits the first part of ``__init`` into ``f``; returns the registers holding the
    device, the executable (None without dispatches) and each constant's buffer (by name),
    which stay live for the rest of ``__init``."""
    f.loc = "__init: device"
    one, zero32 = f.const_i32(1), f.const_i32(0)
    count = f.i32()
    f.call("hal.devices.count", [], [count])
    fewer = f.i32()
    f.emit(f"{fewer} = vm.cmp.lt.i32.s {count}, {one}")
    f.fail_if(fewer, "no HAL device")
    device = f.ref()
    f.call("hal.devices.get", [zero32], [device])
    f.global_store(device, 0, "!hal.device")
    zero, minus1 = f.const_i64(0), f.const_i64(-1)
    exe = None
    if executable is not None:
        f.loc = "__init: executable"
        fmt_ref = f.rodata(mw.text_rodata(fmt))
        ok, supported = f.i32(), f.i64()
        f.call("hal.device.query.i64",
               [device, f.rodata(mw.text_rodata("hal.executable.format")), fmt_ref],
               [ok, supported])
        low = f.i32()
        f.emit(f"{low} = vm.trunc.i64.i32 {supported}")
        none = f.i32()
        f.emit(f"{none} = vm.cmp.eq.i32 {low}, {zero32}")
        f.fail_if(none, f"the device does not support {fmt}")
        exe = f.ref()
        f.call("hal.executable.create",
               [device, minus1, fmt_ref, f.rodata(mw.add_rodata(executable, dedupe=False)),
                f.zero_ref()], [exe])
        f.global_store(exe, 1, "!hal.executable")
    allocator = f.ref()
    f.call("hal.device.allocator", [device], [allocator])
    f.global_store(allocator, 2, "!hal.allocator")
    fills = []
    buffers = {}
    for plan in plans:
        f.loc = f"__init: constant '{plan.name}'"
        buf = f.ref()
        with f.scope():
            if plan.kind == "rodata":
                data = f.rodata(mw.add_rodata(plan.data, dedupe=False))
                f.call("hal.allocator.import",
                       [allocator, zero32, minus1, f.const_i32(H.DEVICE_LOCAL),
                        f.const_i32(H.USAGE_CONSTANT), data, zero, minus1], [buf])
            else:
                f.call("hal.allocator.allocate",
                       [allocator, minus1, f.const_i32(H.DEVICE_LOCAL),
                        f.const_i32(H.USAGE_DEFAULT), f.const_i64(plan.nbytes)], [buf])
                if plan.kind == "fill":
                    fills.append((plan, buf))
        f.global_store(buf, const_slots[plan.name], "!hal.buffer")
        buffers[plan.name] = buf
    if fills:
        f.loc = "__init: fill splat constants"
        cmd = f.ref()
        f.call("hal.command_buffer.create",
               [device, f.const_i32(H.MODE_ONE_SHOT_INLINE), f.const_i32(H.CATEGORY_ANY),
                minus1, zero32], [cmd])
        for plan, buf in fills:
            with f.scope():
                f.call("hal.command_buffer.fill_buffer",
                       [cmd, buf, zero, f.const_i64(plan.nbytes), zero32,
                        f.const_i64(plan.pattern), f.const_i32(plan.pattern_length), zero])
        f.call("hal.command_buffer.finalize", [cmd])
        fence = f.ref()
        f.call("hal.fence.create", [device, zero], [fence])
        f.call("hal.device.queue.execute", [device, minus1, f.zero_ref(), fence, cmd, zero])
        f.await_fences(f.const_i32(-1), [fence], "filling constants did not complete")
    return device, exe, buffers
