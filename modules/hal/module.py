"""The ``hal`` native module: the HAL as compiled IREE programs import it (``hal-abi.md``).

``HalModule(devices=[device])`` exports every function of ``hal-abi.md`` section 3 under its
IREE name and calling convention (name ``hal``, version 7, exports sorted by name). The
exports live in one file per family and are mixed in here:

* ``module_allocator.py``: ``allocator.*`` and ``buffer.*``;
* ``module_buffer_view.py``: ``buffer_view.*``;
* ``module_command_buffer.py``: ``command_buffer.*``;
* ``module_device.py``: ``device.*`` (queues included) and ``devices.*``;
* ``module_executable.py``: ``executable.*``;
* ``module_fence.py``: ``fence.*``;
* ``module_channel.py``: ``channel.*`` and ``ex.file.from_memory``.

Per-context state (:class:`HalModuleState`): the device group given at creation (default: one
new ``local-sync`` device), one executable cache per device, created for each context, and
the module flags. The module keeps **no** per-invocation resource list: lifetimes are the
HAL's business (command buffers retain what they record, queue operations what they use,
until they signal; ``resource_set.py``).

Flags: SYNCHRONOUS (1) is always on at this version (``fence.await`` blocks the calling
thread); RETAIN_COMMAND_BUFFER_PROFILE_METADATA (2) adds mode RETAIN_PROFILE_METADATA to
every command buffer created. Notifications SUSPEND and LOW_MEMORY trim every device and
drop the context's cached executables; others are ignored.

Host hooks: ``trace_sink(key, views)`` receives ``buffer_view.trace`` calls (a no-op
without one); ``selection_policy(memory_types, buffer_usage, flags, pairs) -> index``
chooses in ``allocator.select`` (the first pair without one).
"""

from __future__ import annotations

import attrs

from pyree.status import InvalidArgumentError
from pyree.vm.context import LOW_MEMORY, SUSPEND
from pyree.vm.native import NativeModule
from pyree.vm.ref import register_ref_type

from .device import HalDevice, create_device
from .module_allocator import AllocatorExports, BufferExports
from .module_buffer_view import BufferViewExports
from .module_channel import ChannelExports
from .module_command_buffer import CommandBufferExports
from .module_device import DeviceExports
from .module_executable import ExecutableExports
from .module_fence import FenceExports

MODULE_NAME = "hal"
MODULE_VERSION = 7

FLAG_SYNCHRONOUS = 1
FLAG_RETAIN_COMMAND_BUFFER_PROFILE_METADATA = 2
_KNOWN_FLAGS = FLAG_SYNCHRONOUS | FLAG_RETAIN_COMMAND_BUFFER_PROFILE_METADATA


class HalEvent:
    """``hal.event``: registered so programs can name the type; no export creates one."""


HAL_EVENT = register_ref_type("hal.event", HalEvent)


@attrs.define(eq=False)
class HalModuleState:
    """What one context's ``hal`` module holds."""

    devices: tuple
    executable_caches: tuple
    flags: int
    trace_sink: object = None
    selection_policy: object = None

    @property
    def retain_profile_metadata(self) -> bool:
        return bool(self.flags & FLAG_RETAIN_COMMAND_BUFFER_PROFILE_METADATA)

    def executable_cache(self, device):
        """The cache of ``device`` (by identity) in this context, or None."""
        for candidate, cache in zip(self.devices, self.executable_caches):
            if candidate is device:
                return cache
        return None

    def trim(self) -> None:
        for device in self.devices:
            device.trim()
        for cache in self.executable_caches:
            cache.trim()


class HalModule(AllocatorExports, BufferExports, BufferViewExports, ChannelExports,
                CommandBufferExports, DeviceExports, ExecutableExports, FenceExports,
                NativeModule):
    name = MODULE_NAME
    version = MODULE_VERSION

    def __init__(self, devices=None, *, flags: int = 0, trace_sink=None,
                 selection_policy=None):
        super().__init__()
        if devices is None:
            devices = [create_device("local-sync")]
        devices = tuple(devices)
        if not devices:
            raise InvalidArgumentError("the hal module needs at least one device")
        for device in devices:
            if type(device) is not HalDevice:
                raise InvalidArgumentError(
                    f"hal module devices must be HalDevice objects, got "
                    f"{type(device).__name__}")
        if flags & ~_KNOWN_FLAGS:
            raise InvalidArgumentError(f"unknown hal module flags 0x{flags:X}")
        self.devices = devices
        self.flags = flags | FLAG_SYNCHRONOUS
        self.trace_sink = trace_sink
        self.selection_policy = selection_policy

    def alloc_state(self, context) -> HalModuleState:
        caches = tuple(device.create_executable_cache() for device in self.devices)
        return HalModuleState(self.devices, caches, self.flags, self.trace_sink,
                              self.selection_policy)

    def free_state(self, state: HalModuleState) -> None:
        for cache in state.executable_caches:
            cache.trim()

    def notify(self, state: HalModuleState, signal: int) -> None:
        if signal in (SUSPEND, LOW_MEMORY):
            state.trim()

    def __repr__(self) -> str:
        ids = ", ".join(device.id for device in self.devices)
        return f"<HalModule 'hal' v{MODULE_VERSION} devices=[{ids}]>"
