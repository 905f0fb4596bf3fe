"""The ``hal`` module's identity: export table, version, state, flags, notifications.

The export table is compared with the rows of ``hal-abi.md`` section 3, copied below as
data (name, cconv and the documented arguments of each export).
"""

from __future__ import annotations

import gc
import re
import weakref

import pytest

from pyree import status
from pyree.modules.hal.device import create_device
from pyree.modules.hal.module import (FLAG_RETAIN_COMMAND_BUFFER_PROFILE_METADATA,
                                      FLAG_SYNCHRONOUS, HalModule)
from pyree.vm import Context, lookup_ref_type
from pyree.vm.context import FORK, LOW_MEMORY, RESUME, SUSPEND

from .modhelpers import HalHarness, create_executable, fails, hal, sync_hal, text  # noqa: F401

# hal-abi.md section 3, the export tables (rows verbatim).
ABI_ROWS = """\
| `allocator.allocate` | `0rIiiI_r` | (allocator, queue_affinity: I, memory_types: i, buffer_usage: i, allocation_size: I) → buffer |
| `allocator.import` | `0riIiirII_r` | (allocator, try: i, queue_affinity: I, memory_types: i, buffer_usage: i, source: !vm.buffer, offset: I, length: I) → buffer (may be null) |
| `allocator.select` | `0iiICrID_rI` | (memory_types: i, buffer_usage: i, flags: I, from: span of (device, queue_affinity: I)) → (device, queue_affinity: I) |
| `buffer.assert` | `0rrrIii_v` | (buffer, message: !vm.buffer, allocator, minimum_length: I, memory_types: i, buffer_usage: i) |
| `buffer.allocation.preserve` | `0r_v` | (buffer) |
| `buffer.allocation.discard` | `0r_i` | (buffer) → was_terminal: i |
| `buffer.allocation.is_terminal` | `0r_i` | (buffer) → is_terminal: i |
| `buffer.subspan` | `0rII_r` | (source_buffer, source_offset: I, length: I) → buffer |
| `buffer.length` | `0r_I` | (buffer) → byte_length: I |
| `buffer.load` | `0rIi_i` | (source_buffer, source_offset: I, length: i) → value: i |
| `buffer.store` | `0irIi_v` | (value: i, target_buffer, target_offset: I, length: i) |
| `buffer_view.create` | `0rIIiiCID_r` | (buffer, source_offset: I, source_length: I, element_type: i, encoding_type: i, shape: span of I) → buffer_view |
| `buffer_view.assert` | `0rriiCID_v` | (buffer_view, message: !vm.buffer, element_type: i, encoding_type: i, shape: span of I) |
| `buffer_view.buffer` | `0r_r` | (buffer_view) → buffer |
| `buffer_view.element_type` | `0r_i` | (buffer_view) → element_type: i |
| `buffer_view.encoding_type` | `0r_i` | (buffer_view) → encoding_type: i |
| `buffer_view.rank` | `0r_i` | (buffer_view) → rank: i |
| `buffer_view.dim` | `0ri_I` | (buffer_view, index: i) → dim: I |
| `buffer_view.trace` | `0rCrD_v` | (key: !vm.buffer, operands: span of buffer_view) |
| `channel.create` | `0rIIrrii_r` | (device, queue_affinity: I, flags: I, id: !vm.buffer (may be null), group: !vm.buffer (may be null), rank: i, count: i) → channel |
| `channel.split` | `0riiI_r` | (channel, color: i, key: i, flags: I) → channel |
| `channel.rank_and_count` | `0r_ii` | (channel) → (rank: i, count: i) |
| `command_buffer.create` | `0riiIi_r` | (device, modes: i, command_categories: i, queue_affinity: I, binding_capacity: i) → command_buffer |
| `command_buffer.finalize` | `0r_v` | (command_buffer) |
| `command_buffer.begin_debug_group` | `0rr_v` | (command_buffer, label: !vm.buffer) |
| `command_buffer.end_debug_group` | `0r_v` | (command_buffer) |
| `command_buffer.execution_barrier` | `0riiI_v` | (command_buffer, source_stage_mask: i, target_stage_mask: i, flags: I) |
| `command_buffer.advise_buffer` | `0rrIIIi_v` | (command_buffer, buffer (may be null), flags: I, arg0: I, arg1: I, buffer_slot: i) |
| `command_buffer.fill_buffer` | `0rrIIiIiI_v` | (command_buffer, target_buffer (may be null), target_offset: I, length: I, target_buffer_slot: i, pattern: I, pattern_length: i, flags: I) |
| `command_buffer.update_buffer` | `0rrIrIIiI_v` | (command_buffer, source_buffer: !vm.buffer, source_offset: I, target_buffer (may be null), target_offset: I, length: I, target_buffer_slot: i, flags: I) |
| `command_buffer.copy_buffer` | `0riirIrIII_v` | (command_buffer, source_buffer_slot: i, target_buffer_slot: i, source_buffer (may be null), source_offset: I, target_buffer (may be null), target_offset: I, length: I, flags: I) |
| `command_buffer.collective` | `0rriiiirrIIIII_v` | (command_buffer, channel, op: i, param: i, send_buffer_slot: i, recv_buffer_slot: i, send_buffer (may be null), recv_buffer (may be null), send_offset: I, send_length: I, recv_offset: I, recv_length: I, element_count: I) |
| `command_buffer.dispatch` | `0rrIiiiICiDCiirIID_v` | (command_buffer, executable, function_id: I, workgroup_x: i, workgroup_y: i, workgroup_z: i, flags: I, constants: span of i, bindings: span of (reserved: i, slot: i, buffer (may be null), offset: I, length: I)) |
| `command_buffer.dispatch.indirect` | `0rrIirIICiDCiirIID_v` | (command_buffer, executable, function_id: I, workgroups_buffer_slot: i, workgroups_buffer (may be null), workgroups_offset: I, flags: I, constants: span of i, bindings: span of (reserved: i, slot: i, buffer, offset: I, length: I)) |
| `device.allocator` | `0r_r` | (device) → allocator |
| `device.query.i64` | `0rrr_iI` | (device, category: !vm.buffer, key: !vm.buffer) → (ok: i, value: I) |
| `device.queue.alloca` | `0rIrrIiiII_r` | (device, queue_affinity: I, wait_fence, signal_fence, pool: I, memory_types: i, buffer_usage: i, allocation_size: I, flags: I) → buffer |
| `device.queue.dealloca` | `0rIrrrI_v` | (device, queue_affinity: I, wait_fence, signal_fence, buffer, flags: I) |
| `device.queue.fill` | `0rIrrrIIIiI_v` | (device, queue_affinity: I, wait_fence, signal_fence, target_buffer, target_offset: I, length: I, pattern: I, pattern_length: i, flags: I) |
| `device.queue.update` | `0rIrrrIrIII_v` | (device, queue_affinity: I, wait_fence, signal_fence, source_buffer: !vm.buffer, source_offset: I, target_buffer, target_offset: I, length: I, flags: I) |
| `device.queue.copy` | `0rIrrrIrIII_v` | (device, queue_affinity: I, wait_fence, signal_fence, source_buffer, source_offset: I, target_buffer, target_offset: I, length: I, flags: I) |
| `device.queue.read` | `0rIrrrIrIII_v` | (device, queue_affinity: I, wait_fence, signal_fence, source_file, source_offset: I, target_buffer, target_offset: I, length: I, flags: I) |
| `device.queue.write` | `0rIrrrIrIII_v` | (device, queue_affinity: I, wait_fence, signal_fence, source_buffer, source_offset: I, target_file, target_offset: I, length: I, flags: I) |
| `device.queue.barrier` | `0rIrrI_v` | (device, queue_affinity: I, wait_fence, signal_fence, flags: I) |
| `device.queue.execute` | `0rIrrrI_v` | (device, queue_affinity: I, wait_fence, signal_fence, command_buffer, flags: I) |
| `device.queue.execute.indirect` | `0rIrrrICrIID_v` | (device, queue_affinity: I, wait_fence, signal_fence, command_buffer, flags: I, binding_table: span of (buffer (may be null), offset: I, length: I)) |
| `device.queue.flush` | `0rI_v` | (device, queue_affinity: I) |
| `devices.count` | `0v_i` | () → count: i |
| `devices.get` | `0i_r` | (index: i) → device (null if out of range) |
| `executable.create` | `0rIrrr_r` | (device, queue_affinity: I, executable_format: !vm.buffer, executable_data: !vm.buffer, constants: !vm.buffer or null) → executable |
| `executable.lookup.function` | `0rr_I` | (executable, function_name: !vm.buffer) → function_id: I |
| `fence.create` | `0rI_r` | (device, flags: I) → fence |
| `fence.join` | `0ICrD_r` | (flags: I, fences: span of fence (null allowed)) → fence (null if nothing to wait on) |
| `fence.query` | `0r_i` | (fence) → status code: i |
| `fence.signal` | `0r_v` | (fence) |
| `fence.fail` | `0ri_v` | (fence, status: i) |
| `fence.await` | `0iICrD_i` | (timeout_millis: i, flags: I, fences: span of fence (null allowed)) → status code: i |
| `ex.file.from_memory` | `0rIirIIi_r` | (device, queue_affinity: I, access: i, buffer: !vm.buffer, offset: I, length: I, flags: i) → file |
"""

ROW = re.compile(r"^\| `([a-z_.0-9]+)` \| `(0[A-Za-z_]*)` \|")


def abi_exports() -> dict[str, str]:
    table = {}
    for line in ABI_ROWS.splitlines():
        match = ROW.match(line)
        assert match, line
        table[match.group(1)] = match.group(2)
    return table


def test_the_copied_table_has_every_export():
    assert len(abi_exports()) == 58


def test_export_table_matches_hal_abi_section_3():
    module = HalModule([create_device("local-sync")])
    exported = {e.name: e.cconv for e in module.exports()}
    assert exported == abi_exports()


def test_exports_are_sorted_bytewise():
    names = [e.name for e in HalModule([create_device("local-sync")]).exports()]
    assert names == sorted(names, key=lambda n: n.encode())


def test_identity():
    module = HalModule([create_device("local-sync")])
    assert module.name == "hal" and module.version == 7
    assert module.dependencies == ()
    assert module.flags & FLAG_SYNCHRONOUS   # always forced on at version 7


@pytest.mark.parametrize("name", ["hal.allocator", "hal.buffer", "hal.buffer_view",
                                  "hal.channel", "hal.command_buffer", "hal.device",
                                  "hal.event", "hal.executable", "hal.fence", "hal.file",
                                  "hal.semaphore"])
def test_ref_types_registered(name):
    assert lookup_ref_type(name) is not None


def test_default_device_is_local_sync():
    module = HalModule()
    assert [d.id for d in module.devices] == ["local-sync"]


def test_module_needs_devices():
    with pytest.raises(status.InvalidArgumentError):
        HalModule([])
    with pytest.raises(status.InvalidArgumentError):
        HalModule(["local-sync"])
    with pytest.raises(status.InvalidArgumentError):
        HalModule([create_device("local-sync")], flags=0x10)


def test_devices_count_and_get():
    devices = [create_device("local-sync"), create_device("local-sync")]
    with Context([HalModule(devices)]) as ctx:
        assert ctx.lookup_function("hal.devices.count")() == (2,)
        get = ctx.lookup_function("hal.devices.get")
        assert get(0) == (devices[0],) and get(1) == (devices[1],)
        assert get(2) == (None,) and get(-1) == (None,)


def test_one_executable_cache_per_device_per_context():
    device = create_device("local-sync")
    module = HalModule([device])
    with Context([module]) as a, Context([module]) as b:
        state_a = a.find_state("hal").user_state
        state_b = b.find_state("hal").user_state
        assert state_a.executable_cache(device) is not state_b.executable_cache(device)
        assert state_a.executable_cache(create_device("local-sync")) is None


def test_executables_are_cached_per_context():
    device = create_device("local-sync")
    module = HalModule([device])
    ha, hb = HalHarness.__new__(HalHarness), HalHarness.__new__(HalHarness)
    for h in (ha, hb):
        h.device, h.module, h.context = device, module, Context([module])
    first = create_executable(ha)
    assert create_executable(ha) is first          # same context: cache hit
    assert create_executable(hb) is not first      # another context: its own cache


@pytest.mark.parametrize("signal, trims", [(SUSPEND, True), (LOW_MEMORY, True),
                                           (RESUME, False), (FORK, False)])
def test_notifications_trim(signal, trims):
    h = HalHarness("local-sync")
    buffer = h.buffer(1 << 16)
    del buffer
    gc.collect()
    create_executable(h)
    cache = h.context.find_state("hal").user_state.executable_caches[0]
    assert h.allocator.statistics().reserved_bytes > 0
    h.context.notify(signal)
    assert (h.allocator.statistics().reserved_bytes == 0) == trims
    assert (len(cache) == 0) == trims
    h.close()


def test_retain_profile_metadata_flag():
    h = HalHarness("local-sync", flags=FLAG_RETAIN_COMMAND_BUFFER_PROFILE_METADATA)
    cb = h("command_buffer.create", h.device, 1, 3, -1, 0)
    assert cb.mode == 0x81
    h.close()
    h = HalHarness("local-sync")
    assert h("command_buffer.create", h.device, 1, 3, -1, 0).mode == 0x1
    h.close()


def test_module_keeps_no_per_invocation_resources(hal):
    # Nothing the module returned stays referenced by the module or its state.
    buffer = hal.buffer(64)
    view = hal("buffer_view.create", buffer, 0, 64, 0x21000020, 1, [16])
    fence = hal("fence.create", hal.device, 0)
    refs = [weakref.ref(o) for o in (buffer, view, fence)]
    del buffer, view, fence
    gc.collect()
    assert all(r() is None for r in refs)
    hal.close()


def test_errors_are_annotated_with_the_export_name(sync_hal):
    with fails(status.InvalidArgumentError, "ref is null") as info:
        sync_hal("buffer.length", None)
    assert "while invoking native function hal.buffer.length" in info.value.annotations


def test_message_buffers_are_text(sync_hal):
    buffer = sync_hal.buffer(4)
    with fails(status.InvalidArgumentError) as info:
        sync_hal("buffer.assert", buffer, text("caf\u00e9 ".encode() + b"\xff"),
                 sync_hal.allocator, 8, 0, 0)
    assert info.value.message.startswith("caf\u00e9 \ufffd buffer byte length 4")
