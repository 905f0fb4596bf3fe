"""RawRange: a *borrowed* reference to bytes of a buffer's memory.

A :class:`RawRange` is ``(memory, offset, length)``: the backing ``uint8`` array (a pool
arena, or the array over imported memory), the absolute byte offset into it and the byte
length. It is what commands that do **not** retain their resources hold (inline execution,
UNRETAINED command buffers, dispatches with BORROW_RESOURCE_LIFETIMES): it keeps the arena's
bytes addressable (so a bug can never touch unmapped memory) but not the buffer or its
allocation. Once the last buffer referencing the allocation is gone the block goes back to
the pool and is reused, and a stale range then reads and writes the new owner's data (or
0xCD poison): a lifetime bug shows up as wrong data, as it would on a real device.

Obtain one with ``HalBuffer.borrow(offset, length)``, which validates the range; a RawRange
itself checks nothing further except in :meth:`subrange`.
"""

from __future__ import annotations

import attrs
import numpy as np

from pyree.status import OutOfRangeError


@attrs.frozen(eq=False)
class RawRange:
    memory: np.ndarray  # 1-D uint8 backing array (arena or imported memory)
    offset: int         # absolute byte offset into ``memory``
    length: int         # byte length

    def array(self) -> np.ndarray:
        """A ``uint8`` view of the bytes (no copy)."""
        return self.memory[self.offset:self.offset + self.length]

    def subrange(self, offset: int, length: int) -> RawRange:
        """Bytes ``[offset, offset + length)`` relative to this range (OUT_OF_RANGE if not
        inside it)."""
        if offset < 0 or length < 0 or offset + length > self.length:
            raise OutOfRangeError(
                f"raw subrange (offset={offset}, length={length}) outside of a range of "
                f"{self.length} bytes")
        return RawRange(self.memory, self.offset + offset, length)

    @property
    def address(self) -> int:
        """Host address of the first byte (for alignment checks and debugging)."""
        return self.memory.ctypes.data + self.offset

    def __len__(self) -> int:
        return self.length
