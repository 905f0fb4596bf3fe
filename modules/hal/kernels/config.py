"""Every numba flag and the kernel cache directory, in one place (STYLE.md "numba kernels").

Flags (environment overrides in brackets, read once at import; "0"/"false"/"no"/"off" turn a
flag off, anything else on):

* ``CACHE`` [PYREE_NUMBA_CACHE, default on]: numba's on-disk cache of compiled kernels.
* ``PARALLEL`` [PYREE_NUMBA_PARALLEL, default on]: kernels loop over workgroups with prange.
* ``FASTMATH`` [PYREE_NUMBA_FASTMATH, default off]: off keeps IEEE semantics exact.
* ``BOUNDSCHECK`` [PYREE_NUMBA_BOUNDSCHECK, default off]: the Python wrapper proves every index
  in range before a kernel runs; turning this on is a debugging aid only.
* ``NOGIL`` [PYREE_NUMBA_NOGIL, default on].
* ``SERIAL_BELOW`` [PYREE_NUMBA_SERIAL_BELOW, default 32768]: with ``PARALLEL`` on, a
  dispatch whose work (items; items x reduced length for row kernels; rows x N x K for
  matmul) is below this, or that has a single workgroup, runs the serial variant of its
  kernel: waking numba's threads costs 30-100 us, a one-item kernel 1 us. 0 turns it off.

* ``gemm_vector_bytes()`` [PYREE_GEMM_VECTOR_BYTES, 32 or 64; default 64 when the CPU numba
  compiles for has AVX-512F, else 32]: the vectors of the GEMM's micro-kernels
  (``gemm_ir``). Either width computes the same bits (one fma chain per element); 64
  doubles the GEMM's throughput on AVX-512 cores. The setting is part of every GEMM
  kernel's cache key (``source_digest``).

The cache directory is ``$PYREE_CACHE_DIR`` or ``~/.cache/pyree``; generated kernel sources
live in ``<cache>/kernels`` and numba's own cache in ``<cache>/numba``. :func:`import_numba`
points ``NUMBA_CACHE_DIR`` there *before* numba is imported (unless the user set
``NUMBA_CACHE_DIR`` explicitly), so nothing is ever written into the repository. It also
sets ``OMP_WAIT_POLICY=PASSIVE`` and ``GOMP_SPINCOUNT=10000`` unless the user set them
(numba's OpenMP threading layer): idle kernel threads spin for about 200 us, then sleep.
The default active spin-wait made every parallel launch cost milliseconds on a busy 2-core
machine (16 ms measured vs 54 us passive), but a purely passive wait costs a futex wake
per launch: about 100 us on a quiet machine, against 2-3 us when the threads still spin
from the previous dispatch (light_shufflenet, 78 dispatches: 13.5-14.9 -> 9.0-10.9 ms).

Nothing here imports numba at module import time: ``import pyree.modules.hal`` must stay
free of it. numba is imported by :func:`import_numba`, called when an executable is loaded.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pathlib
import sys

_FALSE = {"0", "false", "no", "off", ""}


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() not in _FALSE


CACHE = _flag("PYREE_NUMBA_CACHE", True)
PARALLEL = _flag("PYREE_NUMBA_PARALLEL", True)
FASTMATH = _flag("PYREE_NUMBA_FASTMATH", False)
BOUNDSCHECK = _flag("PYREE_NUMBA_BOUNDSCHECK", False)
NOGIL = _flag("PYREE_NUMBA_NOGIL", True)


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    try:
        return default if value is None or not value.strip() else max(int(value), 0)
    except ValueError:
        return default


SERIAL_BELOW = _int("PYREE_NUMBA_SERIAL_BELOW", 1 << 15)


def cache_dir() -> pathlib.Path:
    """The root of pyree's on-disk caches (``$PYREE_CACHE_DIR`` or ``~/.cache/pyree``)."""
    root = os.environ.get("PYREE_CACHE_DIR")
    if root:
        return pathlib.Path(root).expanduser()
    return pathlib.Path.home() / ".cache" / "pyree"


def kernel_source_dir() -> pathlib.Path:
    return cache_dir() / "kernels"


def njit_options() -> dict:
    """Keyword arguments for every ``numba.njit`` of a pyree kernel.

    ``error_model="numpy"``: division by zero follows IEEE (floats) or the kernel's own
    guards (integers) instead of raising inside a kernel.
    """
    return {
        "cache": CACHE,
        "parallel": PARALLEL,
        "fastmath": FASTMATH,
        "boundscheck": BOUNDSCHECK,
        "nogil": NOGIL,
        "error_model": "numpy",
    }


VECTOR_BYTES_ENV = "PYREE_GEMM_VECTOR_BYTES"


@functools.cache
def gemm_vector_bytes() -> int:
    """Bytes per vector of the GEMM's micro-kernels: ``$PYREE_GEMM_VECTOR_BYTES`` (32 or
    64), else 64 when the CPU numba compiles for (``NUMBA_CPU_FEATURES``, else the host's)
    has AVX-512F, else 32. Call it after :func:`import_numba` (it asks LLVM)."""
    value = os.environ.get(VECTOR_BYTES_ENV, "").strip()
    if value:
        if value not in ("32", "64"):
            raise ValueError(f"{VECTOR_BYTES_ENV}={value!r}: expected 32 or 64")
        return int(value)
    numba = import_numba()
    features = numba.config.CPU_FEATURES
    if features is None:
        if numba.config.CPU_NAME:        # a named target without features: assume none
            return 32
        from llvmlite import binding
        features = binding.get_host_cpu_features().flatten()
    return 64 if "+avx512f" in features.split(",") else 32


@functools.cache
def source_digest(*names: str) -> str:
    """A digest of the kernel package's source files ``names`` (``"gemm.py"``, ...), read
    from disk without importing them (nor numba), and of ``$PYREE_GEMM_VECTOR_BYTES``
    (the GEMM's code depends on it; without it, on the CPU, which numba's cache keys);
    once per process."""
    h = hashlib.sha256()
    h.update(os.environ.get(VECTOR_BYTES_ENV, "").strip().encode() + b"\0")
    for name in names:
        h.update((pathlib.Path(__file__).parent / name).read_bytes())
    return h.hexdigest()[:16]


def cache_depends_on(dispatcher, *names: str) -> None:
    """Make numba's on-disk cache of ``dispatcher`` (a ``cache=True`` function) stale
    when any of the kernel source files ``names`` changes, not only its own file: numba
    stamps a function's cached code with its own file's mtime and size, while the code
    also holds every callee compiled into it (``conv_tile`` holds ``gemm.gemm``). The
    digest joins that stamp in the cache index; a mismatch recompiles and rewrites it."""
    cache_file = getattr(getattr(dispatcher, "_cache", None), "_cache_file", None)
    if cache_file is not None:
        cache_file._source_stamp = (cache_file._source_stamp, source_digest(*names))


def import_numba():
    """Import numba with its cache directory outside the repository; return the module."""
    if "numba" not in sys.modules and "NUMBA_CACHE_DIR" not in os.environ:
        os.environ["NUMBA_CACHE_DIR"] = str(cache_dir() / "numba")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")
    import numba

    if not numba.config.CACHE_DIR:
        numba.config.CACHE_DIR = str(cache_dir() / "numba")
    return numba
