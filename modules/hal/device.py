"""HalDevice (``hal.device``): allocator, command buffers, executables and queue operations.

``create_device(driver)`` builds a device on one of :data:`DRIVERS` (``drivers/``):
``local-sync`` runs every queue operation on the calling thread; ``local-task`` runs them on
worker threads once their wait fences are reached (``hal-abi.md`` 5.7).

Queue operations (3.6) share one model (``queue.py``): wait for ``wait_fence``, do the
work, signal ``signal_fence``, or fail its semaphores with the error. Arguments are
validated when the operation is submitted; a validation error is raised to the caller *and*
fails the signal fence (so no waiter hangs on an operation that never ran). Errors during
execution fail the signal fence; ``local-sync`` also raises them.

Transfers (fill, update, copy, read) are one-shot command buffers recorded here and
submitted like ``queue_execute``, so they get command-buffer validation and execution. On
``local-task`` the command buffer retains its buffers and the submission retains the
command buffer; on ``local-sync`` they are UNRETAINED (the call frame keeps everything
alive). ``queue_alloca`` allocates at once from the device allocator's pool and returns the
buffer; ``queue_dealloca`` returns the storage of an alloca'd buffer to the pool after its
wait fence (the buffer object stays valid; a buffer not made by ``queue_alloca`` is only a
barrier). Submissions retain their command buffer, binding-table buffers (unless
BORROW_BINDING_TABLE_LIFETIME), buffers, files and fences until they signal.

``query_i64`` answers ``hal.device.id`` (glob against the id), ``hal.executable.format``,
and ``concurrency`` of ``hal.device`` / ``hal.dispatch``; anything else is ``(0, 0)``.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import weakref

import attrs
from pyree.vm.ref import register_ref_type

from pyree import tracing as _tracing
from pyree.status import InvalidArgumentError, PyreeError, UnimplementedError

from .allocator import HalAllocator
from .buffer import HalBuffer
from .buffer_validation import device_size, message_text
from .channel import HalChannel
from .command_buffer import ONE_SHOT, UNRETAINED, HalCommandBuffer
from .commands import TRANSFER
from .drivers import DRIVERS, create_queue
from .enums import ExecuteFlags
from .executable import Executable
from .executable_cache import ExecutableCache
from .fence import HalFence
from .file import HalFile
from .queue import Submission, retain

_BORROW_TABLE = int(ExecuteFlags.BORROW_BINDING_TABLE_LIFETIME)


@contextlib.contextmanager
def _failing(signal_fence):
    """Raises submission-time errors after failing the signal fence with them."""
    try:
        yield
    except PyreeError as e:
        if signal_fence is not None:
            signal_fence.fail(e)
        raise


def _fences(wait_fence, signal_fence) -> None:
    for name, fence in (("wait", wait_fence), ("signal", signal_fence)):
        if fence is not None and type(fence) is not HalFence:
            raise InvalidArgumentError(
                f"{name} fence must be a hal.fence or None, got {type(fence).__name__}")


def _buffer(buffer, what: str) -> HalBuffer:
    if type(buffer) is not HalBuffer:
        got = "null" if buffer is None else type(buffer).__name__
        raise InvalidArgumentError(f"{what} must be a hal.buffer, got {got}")
    return buffer


@attrs.define(eq=False, repr=False)
class HalDevice:
    id: str
    allocator: HalAllocator
    _queue: object

    @property
    def driver(self) -> str:
        return self.id

    @property
    def concurrency(self) -> int:
        return self._queue.concurrency

    def query_i64(self, category, key) -> tuple[int, int]:
        """``device.query.i64``: ``(ok, value)``; never fails."""
        category = message_text(category)
        key = message_text(key)
        if category == "hal.device.id":
            return 1, int(fnmatch.fnmatchcase(self.id, key))
        if category == "hal.executable.format":
            return 1, int(ExecutableCache.can_prepare_format(key))
        if category in ("hal.device", "hal.dispatch") and key == "concurrency":
            return 1, self._queue.concurrency
        return 0, 0

    # Object creation.

    def create_command_buffer(self, mode, categories, queue_affinity=-1,
                              binding_capacity=0) -> HalCommandBuffer:
        return HalCommandBuffer.create(
            self, mode, categories, queue_affinity, binding_capacity,
            inline_capable=self._queue.inline_command_buffers)

    def create_executable_cache(self) -> ExecutableCache:
        return ExecutableCache()

    def create_channel(self, queue_affinity=-1, flags=0, id=None, group=None, rank=-1,
                       count=-1) -> HalChannel:
        return HalChannel.create(self, queue_affinity, flags, id, group, rank, count)

    def file_from_memory(self, queue_affinity, access, buffer, offset=0, length=-1,
                         flags=0) -> HalFile:
        return HalFile.from_memory(self, queue_affinity, access, buffer, offset, length, flags)

    # Queue operations.

    def _submit(self, label, wait_fence, signal_fence, work, retained=(), args=()) -> None:
        """Runs or queues ``work(*args)`` (None: nothing to run) between the fences."""
        queue = self._queue
        if queue.inline_command_buffers and _tracing.TRACER is None:
            # local-sync: no record, nothing retained (SyncQueue.run is submit inlined)
            return queue.run(label, wait_fence, signal_fence, work, args)
        if args and work is not None:       # run later: bind its arguments now
            work = functools.partial(work, *args)
        submission = Submission(label, signal_fence, work)
        if not queue.inline_command_buffers:    # asynchronous: retain until signalled
            submission.resources = retain((*retained, wait_fence, signal_fence))
        if _tracing.TRACER is not None:     # one "hal.queue" event (pyree/tracing.py)
            with _tracing.TRACER.span("queue." + label, "hal.queue", {"driver": self.driver}):
                return queue.submit(submission, wait_fence)
        queue.submit(submission, wait_fence)

    def _transfer(self) -> HalCommandBuffer:
        mode = ONE_SHOT | (UNRETAINED if self._queue.inline_command_buffers else 0)
        return HalCommandBuffer.create(self, mode, TRANSFER)

    def _submit_transfer(self, label, wait_fence, signal_fence, cb) -> None:
        cb.finalize()
        cb.prepare_submission(None)
        self._submit(label, wait_fence, signal_fence, cb.execute, (cb,))

    def queue_alloca(self, queue_affinity, wait_fence, signal_fence, pool, memory_types,
                     buffer_usage, allocation_size, flags) -> HalBuffer:
        try:        # what _failing does, without a context manager on this hot path
            if wait_fence is not None and type(wait_fence) is not HalFence or \
                    signal_fence is not None and type(signal_fence) is not HalFence:
                _fences(wait_fence, signal_fence)
            if (pool or pool.__class__ is not int) and device_size(pool) != 0:
                raise UnimplementedError("VM queue allocation pools are not supported")
            buffer = self.allocator.allocate(memory_types, buffer_usage, allocation_size)
            buffer.allocation.queue_owner = self
            if self._queue.inline_command_buffers and _tracing.TRACER is None and (
                    wait_fence is None or wait_fence.reached()):
                # local-sync with nothing to wait for: all SyncQueue.run does is signal
                if signal_fence is not None:
                    try:
                        signal_fence.signal()
                    except PyreeError as e:   # already signalled past / failed by someone
                        signal_fence.fail(e)
                return buffer
            self._submit("alloca", wait_fence, signal_fence, None, (buffer,))
        except PyreeError as e:
            if signal_fence is not None:
                signal_fence.fail(e)
            raise
        return buffer

    def queue_dealloca(self, queue_affinity, wait_fence, signal_fence, buffer, flags) -> None:
        with _failing(signal_fence):
            _fences(wait_fence, signal_fence)
            allocation = _buffer(buffer, "queue.dealloca buffer").allocation
            work = allocation.release if allocation.queue_owner is self else None
            self._submit("dealloca", wait_fence, signal_fence, work, (buffer,))

    def queue_fill(self, queue_affinity, wait_fence, signal_fence, target_buffer,
                   target_offset, length, pattern, pattern_length, flags) -> None:
        with _failing(signal_fence):
            _fences(wait_fence, signal_fence)
            cb = self._transfer()
            cb.fill_buffer(_buffer(target_buffer, "queue.fill target"), target_offset,
                           length, 0, pattern, pattern_length, 0)
            self._submit_transfer("fill", wait_fence, signal_fence, cb)

    def queue_update(self, queue_affinity, wait_fence, signal_fence, source, source_offset,
                     target_buffer, target_offset, length, flags) -> None:
        with _failing(signal_fence):
            _fences(wait_fence, signal_fence)
            cb = self._transfer()
            cb.update_buffer(source, source_offset,
                             _buffer(target_buffer, "queue.update target"), target_offset,
                             length, 0, 0)
            self._submit_transfer("update", wait_fence, signal_fence, cb)

    def queue_copy(self, queue_affinity, wait_fence, signal_fence, source_buffer,
                   source_offset, target_buffer, target_offset, length, flags) -> None:
        with _failing(signal_fence):
            _fences(wait_fence, signal_fence)
            cb = self._transfer()
            cb.copy_buffer(0, 0, _buffer(source_buffer, "queue.copy source"), source_offset,
                           _buffer(target_buffer, "queue.copy target"), target_offset,
                           length, 0)
            self._submit_transfer("copy", wait_fence, signal_fence, cb)

    def queue_read(self, queue_affinity, wait_fence, signal_fence, source_file,
                   source_offset, target_buffer, target_offset, length, flags) -> None:
        with _failing(signal_fence):
            _fences(wait_fence, signal_fence)
            cb = self._transfer()
            cb.read_file(source_file, source_offset,
                         _buffer(target_buffer, "queue.read target"), target_offset, length)
            self._submit_transfer("read", wait_fence, signal_fence, cb)

    def queue_write(self, queue_affinity, wait_fence, signal_fence, source_buffer,
                    source_offset, target_file, target_offset, length, flags) -> None:
        with _failing(signal_fence):
            _fences(wait_fence, signal_fence)
            if type(target_file) is not HalFile:
                raise InvalidArgumentError(
                    f"queue.write target must be a hal.file, got {type(target_file).__name__}")
            _buffer(source_buffer, "queue.write source").resolve_range(source_offset, length)
            target_file.require_writable()

    def queue_barrier(self, queue_affinity, wait_fence, signal_fence, flags) -> None:
        with _failing(signal_fence):
            _fences(wait_fence, signal_fence)
            self._submit("barrier", wait_fence, signal_fence, None)

    def queue_execute(self, queue_affinity, wait_fence, signal_fence, command_buffer,
                      binding_table=None, flags=0) -> None:
        try:        # what _failing does, without a context manager on this hot path
            if wait_fence is not None and type(wait_fence) is not HalFence or \
                    signal_fence is not None and type(signal_fence) is not HalFence:
                _fences(wait_fence, signal_fence)
            if type(command_buffer) is not HalCommandBuffer:
                got = "null" if command_buffer is None else type(command_buffer).__name__
                raise InvalidArgumentError(
                    f"queue.execute command buffer must be a hal.command_buffer, got {got}")
            slots, buffers = command_buffer.prepare_submission(binding_table)
            if (flags or flags.__class__ is not int) and device_size(flags) & _BORROW_TABLE:
                buffers = ()
            if command_buffer.inline:
                work = None
            else:       # a reusable command buffer's replay plan runs itself (what execute does)
                replay = command_buffer._replay
                work = command_buffer.execute if replay is None else replay.run
            queue = self._queue
            if queue.inline_command_buffers and _tracing.TRACER is None:
                # _submit's local-sync branch (nothing retained) without its frame
                return queue.run("execute", wait_fence, signal_fence, work,
                                 () if slots is None else (slots,))
            self._submit("execute", wait_fence, signal_fence, work,
                         (command_buffer, *buffers) if buffers else (command_buffer,),
                         () if slots is None else (slots,))
        except PyreeError as e:
            if signal_fence is not None:
                signal_fence.fail(e)
            raise

    def queue_flush(self, queue_affinity) -> None:
        return None

    # Lifecycle.

    def wait_idle(self, timeout: float | None = None) -> None:
        self._queue.wait_idle(timeout)

    def trim(self) -> None:
        """Releases pooled memory (SUSPEND / LOW_MEMORY)."""
        self.allocator.trim()

    def close(self) -> None:
        """Stops ``local-task`` workers (waiting submissions fail with CANCELLED)."""
        self._queue.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<HalDevice {self.id!r} {self._queue!r}>"


def create_device(driver: str = "local-sync", *, poison: bool = False,
                  workers: int | None = None, arena_bytes: int | None = None) -> HalDevice:
    """A device on ``driver`` with its own pooling allocator (``poison`` fills freed blocks
    with 0xCD; ``workers`` is the local-task worker count)."""
    queue = create_queue(driver, workers)
    if queue is None:
        raise InvalidArgumentError(
            f"unknown HAL driver {driver!r}; available: {', '.join(DRIVERS)}")
    kwargs = {} if arena_bytes is None else {"arena_bytes": arena_bytes}
    device = HalDevice(driver, HalAllocator.create(poison=poison, **kwargs), queue)
    if hasattr(queue, "shutdown"):
        weakref.finalize(device, queue.shutdown)
    return device


HAL_DEVICE = register_ref_type("hal.device", HalDevice)
HAL_EXECUTABLE = register_ref_type("hal.executable", Executable)
