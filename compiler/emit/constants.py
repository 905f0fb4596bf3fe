"""How each constant the program reads reaches a buffer.

* **rodata**: the constant's bytes (C order) become a rodata segment that ``__init``
  wraps with ``hal.allocator.import`` (no copy; SHARING_IMMUTABLE usage).
* **fill**: a splat (a ``np.broadcast_to`` view with zero strides over one element, as
  ``ConstantOfShape`` produces) whose bytes repeat a 1, 2 or 4-byte pattern is allocated
  and filled by ``command_buffer.fill_buffer`` in ``__init``: no rodata at all.
* **empty**: a zero-byte constant gets a zero-byte allocation.

Other broadcast views (a splat of an 8-byte value that is not a repeated 4-byte pattern,
a partial broadcast) are materialized into rodata.
"""

from __future__ import annotations

import attrs
import numpy as np


@attrs.frozen
class ConstantPlan:
    name: str
    kind: str  # "rodata" | "fill" | "empty"
    nbytes: int
    data: bytes = b""
    pattern: int = 0
    pattern_length: int = 0


def _splat_pattern(array: np.ndarray) -> tuple[int, int] | None:
    """(pattern, length) when every byte of ``array`` repeats one 1/2/4-byte pattern and
    the array is a zero-stride view of a single element (checked without materializing)."""
    if array.size == 0 or not any(s == 0 for s in array.strides):
        return None
    index = tuple(0 if s == 0 else slice(None) for s in array.strides)
    compact = array[index]
    if compact.size != 1:
        return None
    raw = np.ascontiguousarray(compact).tobytes()
    for length in (1, 2, 4):
        if len(raw) % length == 0 and raw == raw[:length] * (len(raw) // length):
            return int.from_bytes(raw[:length], "little"), length
    return None


def plan_constant(name: str, array: np.ndarray) -> ConstantPlan:
    nbytes = int(array.nbytes)
    if nbytes == 0:
        return ConstantPlan(name, "empty", 0)
    pattern = _splat_pattern(array)
    if pattern is not None:
        return ConstantPlan(name, "fill", nbytes, pattern=pattern[0], pattern_length=pattern[1])
    return ConstantPlan(name, "rodata", nbytes, data=np.ascontiguousarray(array).tobytes())
