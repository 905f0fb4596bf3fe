"""The hal module's imports and enum values emitted programs use (``hal-abi.md``)."""

from __future__ import annotations

from pyree.compiler import dtypes
from pyree.modules.hal.element_type import bit_count, from_numpy_dtype, numerical_type

from pyree.status import UnimplementedError

IMPORTS = {
    "hal.allocator.allocate": "0rIiiI_r",
    "hal.allocator.import": "0riIiirII_r",
    "hal.buffer.assert": "0rrrIii_v",
    "hal.buffer_view.assert": "0rriiCID_v",
    "hal.buffer_view.buffer": "0r_r",
    "hal.buffer_view.create": "0rIIiiCID_r",
    "hal.command_buffer.copy_buffer": "0riirIrIII_v",
    "hal.command_buffer.create": "0riiIi_r",
    "hal.command_buffer.dispatch": "0rrIiiiICiDCiirIID_v",
    "hal.command_buffer.execution_barrier": "0riiI_v",
    "hal.command_buffer.fill_buffer": "0rrIIiIiI_v",
    "hal.command_buffer.finalize": "0r_v",
    "hal.device.allocator": "0r_r",
    "hal.device.query.i64": "0rrr_iI",
    "hal.device.queue.execute": "0rIrrrI_v",
    "hal.device.queue.execute.indirect": "0rIrrrICrIID_v",
    "hal.devices.count": "0v_i",
    "hal.devices.get": "0i_r",
    "hal.executable.create": "0rIrrr_r",
    "hal.fence.await": "0iICrD_i",
    "hal.fence.create": "0rI_r",
}

DEVICE_LOCAL = 0x30
USAGE_DEFAULT = 0xC03  # TRANSFER | DISPATCH_STORAGE
USAGE_CONSTANT = 0x80C03  # SHARING_IMMUTABLE | DISPATCH_STORAGE | TRANSFER (dispatch binds storage)
ENCODING_DENSE = 1
MODE_ONE_SHOT_INLINE = 0x11  # ONE_SHOT | ALLOW_INLINE_EXECUTION
MODE_REUSABLE = 0  # recorded once, executed with a binding table per call
CATEGORY_ANY = 3
BARRIER_SOURCE = 0x1C  # DISPATCH | TRANSFER | COMMAND_RETIRE
BARRIER_TARGET = 0x0D  # COMMAND_ISSUE | DISPATCH | TRANSFER

def element_type(dtype: str) -> int:
    """The HAL element type of a pyree element type, as ``element_type.from_numpy_dtype``
    maps the numpy arrays a caller passes (signed integers as signless; bf16 and the f8
    types as their own codes through ml_dtypes). Types without a numpy form, and the
    sub-byte ones (the compiler keeps one element per byte; the HAL's are packed), have
    none."""
    try:
        np_dtype = dtypes.to_numpy(dtype)
        code = None if np_dtype is None else from_numpy_dtype(np_dtype)
    except Exception:  # noqa: BLE001 - a type without numpy form
        code = None
    if code is None or numerical_type(code) == 0 or bit_count(code) != np_dtype.itemsize * 8:
        raise UnimplementedError(f"element type '{dtype}' has no HAL element type "
                                 "for emitted programs")
    return code


def i32(value: int) -> int:
    """A 32-bit value (signed or unsigned) as the signed i32 vmasm writes."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value
