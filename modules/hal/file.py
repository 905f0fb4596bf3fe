"""HalFile (``hal.file``): a read-only byte range of host memory for queue reads (``hal-abi.md``
3.9, 3.6).

``ex.file.from_memory`` wraps bytes ``[offset, offset + length)`` of a ``!vm.buffer``
(zero-copy; the file keeps the VM buffer alive). Only READ access is supported: any other
access bit is PERMISSION_DENIED "only read-only memory can be accessed via a file handle
(today)"; the range is checked (OUT_OF_RANGE). ``queue_read`` copies file bytes into a
buffer; ``queue_write`` into a file is PERMISSION_DENIED (no writable files exist).
"""

from __future__ import annotations

import attrs
import numpy as np
from pyree.vm.buffer import VmBuffer
from pyree.vm.ref import register_ref_type

from pyree.status import InvalidArgumentError, PermissionDeniedError

from .buffer_validation import calculate_range, device_size, flags32
from .enums import MemoryAccess
from .raw_range import RawRange

_READ = int(MemoryAccess.READ)


@attrs.define(eq=False, repr=False)
class HalFile:
    memory: np.ndarray          # read-only uint8 view of the file's bytes
    source: object              # keeps the memory alive (the !vm.buffer)
    access: int = _READ
    queue_affinity: int = -1

    @classmethod
    def from_memory(cls, device, queue_affinity, access, buffer, offset=0, length=-1,
                    flags=0) -> HalFile:
        access = flags32(access)
        if access & ~_READ:
            raise PermissionDeniedError(
                "only read-only memory can be accessed via a file handle (today)")
        if type(buffer) is VmBuffer:
            data = buffer.data
        else:
            try:
                data = memoryview(buffer).cast("B")
            except TypeError:
                raise InvalidArgumentError(
                    f"file memory must be a !vm.buffer, got {type(buffer).__name__}") from None
        offset, length = calculate_range(len(data), device_size(offset), device_size(length))
        memory = np.frombuffer(data, dtype=np.uint8)[offset:offset + length]
        if memory.flags.writeable:
            memory = memory.view()
            memory.flags.writeable = False
        return cls(memory, buffer, access, int(queue_affinity))

    @property
    def length(self) -> int:
        return len(self.memory)

    def borrow(self, offset, length) -> RawRange:
        offset, length = calculate_range(len(self.memory), device_size(offset),
                                         device_size(length))
        return RawRange(self.memory, offset, length)

    def require_writable(self) -> None:
        if not self.access & int(MemoryAccess.WRITE):
            raise PermissionDeniedError(
                "file does not support the requested access type; file allows READ, "
                "operation requires WRITE")

    def __repr__(self) -> str:
        return f"<HalFile length={self.length} access=READ>"


HAL_FILE = register_ref_type("hal.file", HalFile)
