"""From a validated function description to a compiled numba kernel, cached on disk.

Caching choice: the kernel source is generated, so it is written to
``<cache>/kernels/k_<sha256 of the source>.py`` (written once, atomically, never touched
again so its mtime stays stable) and imported from there; the kernel is ``@njit(cache=True)``
and numba's own cache does the rest. numba keys its index on that file (its path, mtime and
size), the argument types, and the target machine's CPU name and features, and drops
entries written by another numba version. Together with the file name this keys compiled
code on (description hash, numba version, CPU name/features) without a second cache of
ours. The source hash covers the numba flags too (they are written into the decorator).

Every function has two kernels when ``PARALLEL`` is on: the parallel one (workgroups in a
``prange``) and a serial variant (the same source with ``parallel=False``) for dispatches
too small to pay numba's thread wake-up (``config.SERIAL_BELOW``). Both are compiled (or
loaded from the cache) when the executable is created, never on a dispatch.

Every kernel is compiled for its one signature when the executable is created
(``Dispatcher.compile``), then further compilation is disabled, so a dispatch never
compiles: a call whose argument types do not match fails instead of compiling.

``STATS`` counts kernels compiled in this process and kernels loaded from numba's disk
cache; tests use it to prove a second process does not recompile.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import threading

from pyree.status import InternalError

from . import config
from .ir import Conv, Elementwise, Function, Matmul, Pool
from .library import conv, elementwise, matmul, pool, rows, skeleton

STATS = {"compiled": 0, "cache_hits": 0, "memory_hits": 0}

_LOCK = threading.Lock()
_KERNELS: dict[tuple, object] = {}  # (source hash, binding types) -> compiled dispatcher


def generate(fn: Function, *, parallel: bool | None = None) -> str:
    """The Python source of ``fn``'s kernel (``parallel`` overrides the configured flag:
    ``parallel=False`` is the serial variant, whose ``prange`` is a plain ``range``)."""
    body = fn.body
    if isinstance(body, Elementwise):
        lines, _ = elementwise.emit(fn)
    elif isinstance(body, Matmul):
        lines, _ = matmul.emit(fn)
    elif isinstance(body, Conv):
        lines, _ = conv.emit(fn)
    elif isinstance(body, Pool):
        lines, _ = pool.emit(fn)
    else:
        lines, _ = rows.emit(fn)
    if parallel is not None:
        lines = [skeleton.decorator(parallel) if line.startswith("@njit(") else line
                 for line in lines]
    return "\n".join(lines) + "\n"


def signature(fn: Function):
    numba = config.import_numba()
    types = numba.types
    args = []
    for b in fn.bindings:
        dtype = getattr(types, b.type.dtype)
        args.append(types.Array(dtype, 1, "C", readonly=not b.writable))
    args.append(types.Array(types.int64, 1, "C", readonly=True))
    args.append(types.Array(types.float64, 1, "C", readonly=True))
    return tuple(args)


def compile_function(fn: Function, *, parallel: bool | None = None):
    """The compiled kernel (a numba dispatcher) for ``fn``; cached in memory and on disk.
    ``parallel=False`` compiles the serial variant (a source, and so a cache entry, of its
    own)."""
    source = generate(fn, parallel=parallel)
    digest = hashlib.sha256(source.encode()).hexdigest()[:40]
    # One source can serve several signatures (a copy's text names no element type), and a
    # kernel is compiled for exactly one: the memory cache keys on both.
    key = (digest, tuple((b.type.dtype, b.writable) for b in fn.bindings))
    with _LOCK:
        kernel = _KERNELS.get(key)
        if kernel is not None:
            STATS["memory_hits"] += 1
            return kernel
        kernel = _load(digest, source, fn)
        _KERNELS[key] = kernel
        return kernel


def _load(digest: str, source: str, fn: Function):
    config.import_numba()
    directory = config.kernel_source_dir()
    path = directory / f"k_{digest}.py"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != source:
            fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                f.write(source)
            os.replace(tmp, path)
    except OSError as exc:
        raise InternalError(f"cannot write kernel source for '{fn.name}' to {path}: {exc}") \
            from None
    name = f"pyree_kernel_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        kernel = module.kernel
        sig = signature(fn)
        kernel.compile(sig)
    except Exception as exc:  # a compile failure is pyree's bug, never user input
        sys.modules.pop(name, None)
        raise InternalError(f"compiling kernel for executable function '{fn.name}' failed: "
                            f"{type(exc).__name__}: {exc}") from exc
    stats = kernel.stats
    if sum(stats.cache_hits.values()):
        STATS["cache_hits"] += 1
    else:
        STATS["compiled"] += 1
    kernel.disable_compile()
    return kernel


def entry_point(kernel):
    """The compiled entry point of a kernel's one signature: a builtin that unboxes its
    arguments as that signature declares without checking their types, so callers must
    pass exactly the declared arrays (``Executable.dispatch_planned`` does). The
    dispatcher itself if it has no single overload."""
    overloads = list(kernel.overloads.values())
    return overloads[0].entry_point if len(overloads) == 1 else kernel
