"""``hal`` module exports: fences (``hal-abi.md`` 3.8).

``fence.await`` blocks the calling thread (the module is SYNCHRONOUS at this version): the
timeout is unsigned milliseconds (-1 forever, 0 polls); the result is 0 when every fence is
reached and 4 (DEADLINE_EXCEEDED) as a value on timeout; a failed fence fails the call with
its status. Compiled programs call it with ``vm.call.variadic.yieldable``; a plain export
serves both kinds of call. ``fence.join`` of nothing to wait on is null.
"""

from __future__ import annotations

from pyree import tracing as _tracing
from pyree.vm.native import export

from .device import HalDevice
from .fence import HalFence
from .module_args import deref, fence_or_null, ref_error

_new = object.__new__


class FenceExports:
    """``fence.*`` exports (mixed into :class:`~.module.HalModule`)."""

    @export("0rI_r", name="fence.create")
    def fence_create(self, state, device, flags):
        if type(device) is not HalDevice:
            raise ref_error(device, HalDevice)
        fence = _new(HalFence)      # HalFence.create inlined (no classmethod frame)
        fence.capacity = 1
        fence._points = fence._state = None
        return fence

    @export("0ICrD_r", name="fence.join")
    def fence_join(self, state, flags, fences):
        return HalFence.join([fence_or_null(f) for f in fences])

    @export("0r_i", name="fence.query")
    def fence_query(self, state, fence):
        return deref(fence, HalFence).query()

    @export("0r_v", name="fence.signal")
    def fence_signal(self, state, fence):
        deref(fence, HalFence).signal()

    @export("0ri_v", name="fence.fail")
    def fence_fail(self, state, fence, status):
        deref(fence, HalFence).fail(status & 0x1F)

    @export("0iICrD_i", name="fence.await")
    def fence_await(self, state, timeout_millis, flags, fences):
        reached = True
        for fence in fences:
            if fence is not None:
                if type(fence) is not HalFence:
                    raise ref_error(fence, HalFence)
                if reached:     # every timepoint reached and none failed: nothing to wait
                    # (a create()d fence signalled: its state read inline, else reached())
                    reached = fence._points is None and fence._state is True or \
                        fence.reached()
        if reached and _tracing.TRACER is None:
            return 0
        if _tracing.TRACER is not None:     # one "hal.fence" event (pyree/tracing.py)
            with _tracing.TRACER.span("fence.await", "hal.fence", {"fences": len(fences)}):
                return HalFence.await_all(fences, timeout_millis)
        return HalFence.await_all(fences, timeout_millis)
