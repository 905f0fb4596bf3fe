"""Executables: loaded kernel descriptions whose functions are dispatched over a 3-D grid.

An ``Executable`` is created from (format, data, constants) (hal-abi.md 3.7): the data is
parsed and validated (``executable_format``), and every exported function is compiled to a
numba kernel *at creation* (``kernels.compiler``; loaded from the disk cache when possible),
plus its serial variant when kernels are parallel, so no dispatch ever pays compile time. Functions are identified by their index in the
export table (``lookup_function``).

``dispatch(function_id, workgroup_count, constants, bindings)`` is the entry point (command
buffers run ``dispatch_ranges``, ``dispatch_planned`` on borrowed ranges, with the plan they
validated when recording). Before any kernel runs it validates, in Python:

* the function id (NOT_FOUND) and that the executable is alive (UseAfterReleaseError);
* the workgroup counts (each a u32, the product at most ``MAX_WORKGROUPS``) and the push
  constants (exactly the declared count; each an i32 or u32 value, read as u32 bits);
* the bindings: exactly the declared count (more than 32 is OUT_OF_RANGE), each a 1-D
  contiguous uint8 array, writable where the function writes it (PERMISSION_DENIED),
  aligned to its element type (INVALID_ARGUMENT) and long enough for every element the
  kernel will touch given the shapes, strides, offsets, constants and grid (OUT_OF_RANGE
  naming the binding and the required and available bytes).

Then it views each binding as a typed array (zero-copy) and calls the kernel once; the
kernel loops over the workgroups itself, in parallel. ``validate_dispatch`` runs the same
checks at record time and returns the byte extent each binding slot needs, so a command
buffer can check indirect bindings when the binding table arrives. Plans (kernel parameters
and extents) are memoized per (function, grid, push constants).

Verify once: the :class:`DispatchRequirements` that ``validate_dispatch`` returns is also the
proof a recorded dispatch carries to execution. It holds the kernel together with the
parameters and extents derived for it, so :meth:`Executable.dispatch_planned` skips the
function, grid and push-constant checks and only checks the arrays against the extents
(``dispatch`` is ``validate_dispatch`` + ``dispatch_planned``). The array checks are cheap
(type, dtype, rank, contiguity, length, writability; alignment through the typed view's
``aligned`` flag where the dtype's alignment is its size); anything unusual takes the full
checks, which raise the errors above. The kernel then gets exactly the arrays its signature
declares (1-D, C-contiguous, aligned views of the declared dtypes, plus the plan's int64 and
float64 parameter arrays), so a serial kernel is entered through its compiled entry point,
without numba's per-call type dispatch (~1 us).

Parallel kernels are called under one process-wide lock: numba's fallback threading layer
(workqueue) must not be entered from two threads at once, and a parallel kernel already uses
every core. A dispatch with little work (``config.SERIAL_BELOW``) or a single workgroup runs
the function's serial kernel instead, without the lock (the choice is part of the plan).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import attrs
import numpy as np

from pyree.status import (
    InvalidArgumentError,
    NotFoundError,
    OutOfRangeError,
    PermissionDeniedError,
    UseAfterReleaseError,
)

from . import executable_format
from .kernels import config, layout
from .kernels.ir import OpBody

MAX_BINDINGS = 32
MAX_WORKGROUP_COUNT = 0xFFFFFFFF
MAX_WORKGROUPS = 1 << 48
INVALID_FUNCTION = 0xFFFFFFFFFFFFFFFF
PLAN_CACHE_SIZE = 4096  # validated dispatch plans kept per executable: a compiled module has
#                         one function per dispatch site, and re-records every site per call

_KERNEL_LOCK = threading.Lock()
_NDARRAY = np.ndarray
_U8 = np.dtype(np.uint8)


@attrs.frozen
class DispatchRequirements:
    """What one dispatch needs from its bindings (``validate_dispatch``), and the plan
    ``dispatch_planned`` runs: kernel, parameters and extents derived together."""

    function: str
    required_bytes: tuple       # per binding: bytes from the start of the bound range
    alignment: tuple            # per binding: element size in bytes
    writes: tuple               # per binding: True if the kernel may write it
    launch: layout.Launch
    fn: object = attrs.field(eq=False, repr=False)          # the ir.Function
    kernel: object = attrs.field(eq=False, repr=False)      # its compiled kernel
    dtypes: tuple = attrs.field(eq=False, repr=False)       # per binding: numpy dtype
    fast_align: bool = attrs.field(eq=False, repr=False)    # every dtype aligned to its size
    parallel: bool = attrs.field(eq=False, repr=False)      # kernel is the parallel variant


def _constants(raw) -> tuple:
    if raw is None:
        return ()
    if isinstance(raw, (bytes, bytearray, memoryview)):
        data = bytes(raw)
        if len(data) % 4:
            raise InvalidArgumentError("constant buffer data must contain 4-byte elements but "
                                       f"data length is {len(data)}")
        return tuple(int(v) for v in np.frombuffer(data, dtype="<u4"))
    values = []
    for i, v in enumerate(raw):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or \
                not -(1 << 31) <= v < (1 << 32):
            raise InvalidArgumentError(f"executable constant {i}: expected a 32-bit integer, "
                                       f"got {v!r}")
        values.append(int(v) & 0xFFFFFFFF)
    return tuple(values)


@attrs.define(eq=False)
class Executable:
    format: str
    desc: object = attrs.field(repr=False)
    constants: tuple = attrs.field(repr=False)
    kernels: tuple = attrs.field(repr=False)
    _names: dict = attrs.field(repr=False)
    released: bool = False
    _plans: dict = attrs.field(factory=dict, repr=False)
    serial_kernels: tuple = attrs.field(default=(), repr=False)  # () when PARALLEL is off
    # The compiled entry point of each serial kernel (``kernels`` when PARALLEL is off).
    _serial_entries: tuple = attrs.field(default=(), repr=False)

    @classmethod
    def create(cls, format: str, data, constants=None) -> Executable:
        desc = executable_format.parse(format, data)
        consts = _constants(constants)
        if len(consts) != desc.constants:
            raise InvalidArgumentError(f"executable declares {desc.constants} constants, "
                                       f"{len(consts)} given")
        kernels, serial, entries = _compile(desc.functions)
        names = {fn.name: i for i, fn in enumerate(desc.functions)}
        return cls(format, desc, consts, kernels, names, serial_kernels=serial,
                   serial_entries=entries)

    @property
    def function_names(self) -> tuple:
        return tuple(fn.name for fn in self.desc.functions)

    def lookup_function(self, name) -> int:
        if isinstance(name, (bytes, bytearray, memoryview)):
            name = bytes(name).decode("utf-8", "replace")
        index = self._names.get(name)
        if index is None:
            raise NotFoundError(f"executable has no function named {name!r}")
        return index

    def release(self) -> None:
        self.released = True

    def _function(self, function_id):
        if self.released:
            raise UseAfterReleaseError("executable used after release")
        functions = self.desc.functions
        if function_id.__class__ is int and 0 <= function_id < len(functions):
            return functions[function_id]
        if isinstance(function_id, bool) or not isinstance(function_id, (int, np.integer)) \
                or not 0 <= function_id < len(self.desc.functions):
            raise NotFoundError(f"executable has no function {function_id!r} (it exports "
                                f"{len(self.desc.functions)})")
        return self.desc.functions[function_id]

    def validate_dispatch(self, function_id: int, workgroup_count: Sequence[int],
                          constants: Sequence[int],
                          binding_lengths: Sequence[int | None] | None = None
                          ) -> DispatchRequirements:
        """Check a dispatch without running it. ``binding_lengths`` (bytes, or None for a
        slot not known yet) are checked against the required extents when given."""
        fn = self._function(function_id)
        counts = _workgroups(fn, workgroup_count)
        push = _push(fn, constants)
        key = (int(function_id), counts, push)
        reqs = self._plans.get(key)
        if reqs is None:
            launch = layout.plan(fn, counts, push, self.constants)
            dtypes = tuple(b.type.np_dtype for b in fn.bindings)
            kernel, parallel = self.kernels[key[0]], config.PARALLEL
            if isinstance(fn.body, OpBody):
                parallel = False
            if not parallel or launch.work < config.SERIAL_BELOW or \
                    int(launch.params[1]) <= 1:
                kernel, parallel = self._serial_entries[key[0]], False
            reqs = DispatchRequirements(
                fn.name, launch.required, tuple(d.itemsize for d in dtypes),
                tuple(b.writable for b in fn.bindings), launch, fn, kernel, dtypes,
                all(d.alignment == d.itemsize for d in dtypes), parallel)
            if len(self._plans) >= PLAN_CACHE_SIZE:
                self._plans.clear()
            self._plans[key] = reqs
        if binding_lengths is not None:
            self.validate_binding_lengths(reqs, binding_lengths)
        return reqs

    @staticmethod
    def validate_binding_lengths(reqs: DispatchRequirements,
                                 binding_lengths: Sequence[int | None]) -> None:
        """The binding count, and each known length (bytes) against its extent."""
        fn = reqs.fn
        _binding_count(fn, len(binding_lengths))
        for i, (required, length) in enumerate(zip(reqs.required_bytes, binding_lengths)):
            if length is not None and length < required:
                _covers(fn, i, required, length)

    def dispatch(self, function_id: int, workgroup_count: Sequence[int],
                 constants: Sequence[int], bindings: Sequence[np.ndarray]) -> None:
        self.dispatch_planned(self.validate_dispatch(function_id, workgroup_count, constants),
                              bindings)

    def dispatch_planned(self, reqs: DispatchRequirements,
                         bindings: Sequence[np.ndarray]) -> None:
        """Runs the dispatch ``reqs`` (from ``validate_dispatch``) planned on ``bindings``:
        only the arrays are checked (see the module doc)."""
        if self.released:
            raise UseAfterReleaseError("executable used after release")
        arrays = None
        if reqs.fast_align and len(bindings) == len(reqs.dtypes):
            arrays = []
            for raw, required, writes, dtype in zip(bindings, reqs.required_bytes,
                                                    reqs.writes, reqs.dtypes):
                if raw.__class__ is not _NDARRAY or raw.dtype is not _U8 or raw.ndim != 1:
                    arrays = None
                    break
                flags = raw.flags
                n = raw.shape[0]
                size = dtype.itemsize
                if not flags.c_contiguous or n < required or n < size or \
                        (writes and not flags.writeable):
                    arrays = None
                    break
                typed = (raw[:n - n % size] if n % size else raw).view(dtype)
                if not typed.flags.aligned:     # dtype.alignment == size: exact
                    arrays = None
                    break
                arrays.append(typed)
        if arrays is None:
            arrays = _checked_arrays(reqs.fn, reqs, bindings)
        self._launch(reqs, arrays)

    def dispatch_ranges(self, reqs: DispatchRequirements, ranges: Sequence) -> None:
        """:meth:`dispatch_planned` on borrowed ranges (objects with ``memory``, ``offset``
        and ``length``: a RawRange): each typed view is sliced from the backing array
        directly, and the same checks are made on it (a 1-D uint8 backing array; the view
        C-contiguous, aligned, writable where written, long enough). Anything else takes
        :meth:`dispatch_planned` on the plain byte slices, which raises the errors."""
        if self.released:
            raise UseAfterReleaseError("executable used after release")
        arrays = None
        if reqs.fast_align and len(ranges) == len(reqs.dtypes):
            arrays = []
            for raw, required, writes, dtype in zip(ranges, reqs.required_bytes,
                                                    reqs.writes, reqs.dtypes):
                memory = raw.memory
                length = raw.length
                size = dtype.itemsize
                if memory.__class__ is not _NDARRAY or memory.dtype is not _U8 or \
                        memory.ndim != 1:
                    arrays = None
                    break
                start = raw.offset
                typed = memory[start:start + length - length % size].view(dtype)
                flags = typed.flags
                # A range shorter than one element gives an empty view, which numpy calls
                # aligned whatever its address (an empty slice even forgets its offset):
                # such ranges take the checked path, which checks their starts first.
                if typed.nbytes < required or length < size or not flags.aligned or \
                        not flags.c_contiguous or (writes and not flags.writeable):
                    arrays = None
                    break
                arrays.append(typed)
        if arrays is None:
            for i, (raw, size) in enumerate(zip(ranges, reqs.alignment)):
                if raw.length < size and raw.memory.__class__ is _NDARRAY:
                    _check_start(reqs.fn, i, raw.memory, raw.offset, size)
            self.dispatch_planned(reqs, [raw.memory[raw.offset:raw.offset + raw.length]
                                         for raw in ranges])
            return
        self._launch(reqs, arrays)

    @staticmethod
    def _launch(reqs: DispatchRequirements, arrays: list) -> None:
        launch = reqs.launch
        if not launch.items:
            return
        if reqs.parallel:
            with _KERNEL_LOCK:
                reqs.kernel(*arrays, launch.params, launch.fparams)
        else:
            reqs.kernel(*arrays, launch.params, launch.fparams)


def _compile(functions) -> tuple:
    """(kernels, serial kernels, serial entry points) per function: numba kernels, and the
    host-library runner for ``op`` bodies (numba is imported only when a function needs
    it)."""
    kernels, serial, entries = [], [], []
    for fn in functions:
        if isinstance(fn.body, OpBody):
            from .kernels import host

            run = host.runner(fn)
            kernels.append(run)
            serial.append(run)
            entries.append(run)
            continue
        from .kernels import compiler  # imports numba: only when an executable is loaded

        kernel = compiler.compile_function(fn)
        kernels.append(kernel)
        one = compiler.compile_function(fn, parallel=False) if config.PARALLEL else kernel
        serial.append(one)
        entries.append(compiler.entry_point(one))
    return tuple(kernels), tuple(serial) if config.PARALLEL else (), tuple(entries)


def _checked_arrays(fn, reqs: DispatchRequirements, bindings) -> list:
    """Typed views of the bindings after every check (the errors of the module doc)."""
    _binding_count(fn, len(bindings))
    arrays = []
    for i, (decl, raw) in enumerate(zip(fn.bindings, bindings)):
        if not isinstance(raw, np.ndarray) or raw.dtype != np.uint8 or raw.ndim != 1 or \
                not raw.flags.c_contiguous:
            raise InvalidArgumentError(
                f"dispatch of executable function '{fn.name}': binding {i} must be a "
                f"contiguous 1-D uint8 array, got {_describe(raw)}")
        _covers(fn, i, reqs.required_bytes[i], raw.nbytes)
        if decl.writable and not raw.flags.writeable:
            raise PermissionDeniedError(
                f"dispatch of executable function '{fn.name}': binding {i} is written by "
                "the kernel but the bound range is read-only")
        size = decl.type.itemsize
        address = raw.__array_interface__["data"][0]
        if address % size:
            raise InvalidArgumentError(
                f"dispatch of executable function '{fn.name}': binding {i} "
                f"({decl.type.name}) must be {size}-byte aligned; bound range starts at "
                f"address {address:#x}")
        arrays.append(raw[:raw.nbytes - raw.nbytes % size].view(decl.type.np_dtype))
    return arrays


def _check_start(fn, index: int, memory: np.ndarray, start: int, size: int) -> None:
    """A bound range must start aligned to its element, even when it is empty."""
    address = memory.__array_interface__["data"][0] + start
    if address % size:
        raise InvalidArgumentError(
            f"dispatch of executable function '{fn.name}': binding {index} "
            f"({fn.bindings[index].type.name}) must be {size}-byte aligned; bound range "
            f"starts at address {address:#x}")


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.ndim}-D {value.dtype} array" + \
            ("" if value.flags.c_contiguous else " (not contiguous)")
    return type(value).__name__


def _workgroups(fn, counts) -> tuple:
    if counts.__class__ is tuple and len(counts) == 3:     # fast path: three plain ints
        x, y, z = counts
        if x.__class__ is int and y.__class__ is int and z.__class__ is int and \
                0 <= x <= MAX_WORKGROUP_COUNT and 0 <= y <= MAX_WORKGROUP_COUNT and \
                0 <= z <= MAX_WORKGROUP_COUNT and x * y * z <= MAX_WORKGROUPS:
            return counts
    try:
        counts = tuple(counts)
    except TypeError:
        counts = None
    if counts is None or len(counts) != 3 or not all(
            isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in counts):
        raise InvalidArgumentError(f"dispatch of executable function '{fn.name}': workgroup "
                                   "count must be three integers")
    for axis, c in zip("xyz", counts):
        if not 0 <= c <= MAX_WORKGROUP_COUNT:
            raise InvalidArgumentError(f"dispatch of executable function '{fn.name}': "
                                       f"workgroup count {axis} = {c} is not a u32")
    total = int(counts[0]) * int(counts[1]) * int(counts[2])
    if total > MAX_WORKGROUPS:
        raise OutOfRangeError(f"dispatch of executable function '{fn.name}': {total} "
                              f"workgroups > {MAX_WORKGROUPS}")
    return tuple(int(c) for c in counts)


def _push(fn, constants) -> tuple:
    if constants.__class__ is tuple and len(constants) == len(fn.push_constants):
        for v in constants:                                # fast path: plain u32 ints
            if v.__class__ is not int or not 0 <= v <= 0xFFFFFFFF:
                break
        else:
            return constants
    constants = tuple(constants)
    if len(constants) != len(fn.push_constants):
        raise InvalidArgumentError(f"dispatch of executable function '{fn.name}': expected "
                                   f"{len(fn.push_constants)} push constants, got "
                                   f"{len(constants)}")
    values = []
    for i, v in enumerate(constants):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or \
                not -(1 << 31) <= v < (1 << 32):
            raise InvalidArgumentError(f"dispatch of executable function '{fn.name}': push "
                                       f"constant {i} must be a 32-bit integer, got {v!r}")
        values.append(int(v) & 0xFFFFFFFF)
    return tuple(values)


def _binding_count(fn, count: int) -> None:
    if count > MAX_BINDINGS:
        raise OutOfRangeError(f"binding count {count} > {MAX_BINDINGS}")
    if count != len(fn.bindings):
        raise InvalidArgumentError(f"dispatch of executable function '{fn.name}': expected "
                                   f"{len(fn.bindings)} bindings, got {count}")


def _covers(fn, index: int, required: int, available: int) -> None:
    if available < required:
        raise OutOfRangeError(
            f"dispatch of executable function '{fn.name}': binding {index} "
            f"({fn.bindings[index].type.name}) needs {required} bytes for the elements the "
            f"kernel touches, but the bound range has {available} bytes")
