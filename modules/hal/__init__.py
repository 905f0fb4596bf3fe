"""pyree's HAL: buffers, allocators, semaphores, fences and the objects built on them.

Layering (``STYLE.md``): the HAL plugs into the VM only as a native module (``hal``) and
through the ref type registry. Importing this package must stay light: numpy and attrs,
never numba (kernels live in ``kernels/`` and are imported by executables on demand).

Core objects, one per file (each module docstring is its contract):

* ``enums.py``, ``element_type.py``: ABI enums and flags (``hal-abi.md`` section 4).
* ``pool.py``: the pooling host-memory allocator (LIFO size classes, poisoning, trim).
* ``allocation.py``, ``raw_range.py``: pool blocks / imported memory, and borrowed ranges.
* ``buffer.py``, ``buffer_validation.py``, ``buffer_params.py``: ``hal.buffer``.
* ``allocator.py``: ``hal.allocator`` (CPU heap coercion, import, compatibility).
* ``buffer_view.py``: ``hal.buffer_view`` (numpy / DLPack exchange).
* ``semaphore.py``, ``fence.py``: ``hal.semaphore``, ``hal.fence``.
* ``resource_set.py``: how asynchronous work retains resources (read this first).

Ref types registered when this package is imported: ``hal.allocator``, ``hal.buffer``,
``hal.buffer_view``, ``hal.semaphore``, ``hal.fence``.

Registered by the files that define them (not here, not yet): ``hal.device``,
``hal.command_buffer``, ``hal.executable``, ``hal.channel``, ``hal.event``, ``hal.file``.
Each such file calls ``pyree.vm.ref.register_ref_type("hal.NAME", Class)`` at import.
"""

from .allocation import Allocation
from .allocator import CompatibilityResult, HalAllocator
from .buffer import HalBuffer
from .buffer_params import BufferParams
from .buffer_view import HalBufferView
from .element_type import ElementType, EncodingType, NumericalType
from .enums import (WHOLE_BUFFER, BufferCompatibility, BufferUsage, CommandBufferMode,
                    CommandCategory, DispatchFlags, ExecutionStage, MemoryAccess, MemoryType,
                    SemaphoreFlags)
from .fence import HalFence
from .pool import MemoryPool, PoolStatistics
from .raw_range import RawRange
from .resource_set import ResourceSet
from .semaphore import HalSemaphore

__all__ = [
    "Allocation", "BufferCompatibility", "BufferParams", "BufferUsage", "CommandBufferMode",
    "CommandCategory", "CompatibilityResult", "DispatchFlags", "ElementType", "EncodingType",
    "ExecutionStage", "HalAllocator", "HalBuffer", "HalBufferView", "HalFence",
    "HalSemaphore", "MemoryAccess", "MemoryPool", "MemoryType", "NumericalType",
    "PoolStatistics", "RawRange", "ResourceSet", "SemaphoreFlags", "WHOLE_BUFFER",
]
