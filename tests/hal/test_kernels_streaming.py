"""The streaming-store path of elementwise kernels (kernels/streaming.py): which items it
stores with non-temporal vector stores, that its results equal the ordinary kernel's and
numpy's exactly, that it compiles to aligned non-temporal vector stores, and that the
threshold and the helper's source are part of the kernel source (and so of the cache key).

The threshold is lowered (``elementwise.STREAM_ABOVE``) so that small dispatches stream.
"""

from __future__ import annotations

import hashlib
import pathlib
import re

import numpy as np
import pytest
from pyree.modules.hal import executable_format as fmt
from pyree.modules.hal.executable import Executable
from pyree.modules.hal.kernels import compiler, config, layout
from pyree.modules.hal.kernels.library import elementwise

NP = {"f32": np.float32, "f64": np.float64}
VECTOR = 32         # bytes per streaming store, and the alignment of its target
SCRATCH = 4096      # bytes per batch


def _fma(t: str, rank: int, per: int, out_type: str | None = None) -> dict:
    """``a * b + c`` over ``[rows, cols]`` (rank 2; ``c`` is a row broadcast over the rows,
    so the rows stay rows) or ``[n]`` (rank 1); sizes in push constants."""
    shape = [{"pc": 0}, {"pc": 1}] if rank == 2 else [{"pc": 0}]
    c_shape = shape[-1:]
    binds = [{"index": i, "type": t, "access": "read", "shape": shape} for i in (0, 1)]
    binds.append({"index": 2, "type": t, "access": "read", "shape": c_shape})
    binds.append({"index": 3, "type": out_type or t, "access": "write", "shape": shape})
    load = [{"op": "load", "binding": i} for i in range(3)]
    value = {"op": "add", "args": [{"op": "mul", "args": load[:2]}, load[2]]}
    if out_type == "i1":
        value = {"op": "cmp", "pred": "lt", "args": [value, load[0]]}
    return {"name": f"fma_{t}_{rank}_{per}_{out_type}",
            "push_constants": ["rows", "cols"][:rank], "bindings": binds,
            "items_per_workgroup": per,
            "body": {"kind": "elementwise", "shape": shape,
                     "outputs": [{"binding": 3, "value": value}]}}


def _function(desc: dict):
    data = fmt.serialize({"version": 1, "functions": [desc]})
    return fmt.parse(fmt.FORMAT, data).functions[0], data


_MARKING: dict = {}     # source -> compiled marking kernel (the source does not name
                        # items_per_workgroup, so the cases of one rank share a compile)


def _marking_kernel(fn, parallel: bool):
    """The kernel of ``fn`` with ``stream_store`` replaced by a numba function that stores
    value + 1 where the target is 32-byte aligned and value - 1 where it is not: the items
    the streaming loop wrote are then visible in the output."""
    numba = config.import_numba()
    from pyree.modules.hal.kernels import streaming

    source = compiler.generate(fn, parallel=parallel).replace("cache=True", "cache=False")
    if source in _MARKING:
        return _MARKING[source]
    namespace: dict = {"__name__": "pyree_streaming_test_kernel"}
    exec(compile(source, "<streaming test kernel>", "exec"), namespace)

    @numba.njit
    def marking_store(dst, di, src, si):
        width = 32 // dst.itemsize
        start = np.int64(di)
        aligned = (streaming.address(dst) + start * dst.itemsize) % 32 == 0
        for k in range(width):
            value = src[np.int64(si) + k]
            dst[start + k] = value + 1 if aligned else value - 1

    namespace["stream_store"] = marking_store
    kernel = namespace["kernel"]
    kernel.compile(compiler.signature(fn))
    _MARKING[source] = kernel
    return kernel


def _expected_marks(cols: int, per: int, n: int, address: int, size: int,
                    above: int) -> np.ndarray:
    """Which items the streaming loop stores: a model of the generated loop (runs of the
    innermost dim cut at workgroup ends; ordinary stores up to the first 32-byte boundary,
    then batches of whole vectors, then ordinary stores)."""
    marks = np.zeros(n, bool)
    if n * size < above or cols < 64:
        return marks
    width, batch = VECTOR // size, SCRATCH // size
    for start in range(0, n, per):
        end = min(start + per, n)
        pos = start
        while pos < end:
            stop = min((pos // cols + 1) * cols, end)
            lim = min(pos + ((-(address + pos * size)) % VECTOR) // size, stop)
            u = lim
            while stop - u >= width:
                m = min(batch, (stop - u) // width * width)
                marks[u:u + m] = True
                u += m
            pos = stop
    return marks


def _inputs(t: str, rows: int, cols: int, seed: int):
    rng = np.random.default_rng(seed)
    dtype = NP[t]
    a = rng.random((rows, cols)).astype(dtype)
    b = rng.random((rows, cols)).astype(dtype)
    c = rng.random(cols).astype(dtype)
    return a, b, c


def _output(n: int, dtype, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """A zeroed output of ``n`` items starting ``offset`` items past a 64-byte boundary
    (the backing array, the view)."""
    size = np.dtype(dtype).itemsize
    backing = np.zeros(n * size + 256, np.uint8)
    skip = (-backing.ctypes.data) % 64 + offset * size
    return backing, backing[skip:skip + n * size].view(dtype)


@pytest.mark.parametrize("t,parallel", [("f32", False), ("f32", True), ("f64", False)])
def test_streamed_items_are_the_aligned_interior_of_each_run(monkeypatch, t, parallel):
    monkeypatch.setattr(elementwise, "STREAM_ABOVE", 0)
    dtype = NP[t]
    size = np.dtype(dtype).itemsize
    cases = [(1, 64, 64), (1, 1000, 333), (1, 4099, 4099), (1, 20000, 4096),
             (3, 70, 100), (5, 131, 77), (4, 300, 1000), (6, 10, 7)]
    streamed = 0
    for rank in (1, 2):
        for k, (rows, cols, wg) in enumerate(cases):
            fn, _ = _function(_fma(t, rank, wg))
            kernel = _marking_kernel(fn, parallel)
            a, b, c = _inputs(t, rows, cols, k)
            n = rows * cols
            want = (a * b + c).reshape(-1)
            push = [rows, cols] if rank == 2 else [n]
            c_arg = c if rank == 2 else np.tile(c, rows)
            row = cols if rank == 2 else n
            for offset in (0, 1, 3, 32 // size - 1):
                _, out = _output(n, dtype, offset)
                launch = layout.plan(fn, (-(-n // wg), 1, 1), push, ())
                kernel(a.reshape(-1), b.reshape(-1), c_arg, out, launch.params,
                       launch.fparams)
                marks = _expected_marks(row, wg, n, out.ctypes.data, size, 0)
                streamed += bool(marks.any())
                plus = (want.astype(np.float64) + 1).astype(dtype)
                np.testing.assert_array_equal(out[marks], plus[marks])
                np.testing.assert_array_equal(out[~marks], want[~marks])
    assert streamed >= 2 * 4 * 5        # the model is not vacuous


def _run(exe, fn_name: str, arrays, push, groups):
    exe.dispatch(exe.lookup_function(fn_name), groups, push,
                 [x.reshape(-1).view(np.uint8) for x in arrays])


def _executables(monkeypatch, descs, above: int):
    """(streaming executable, ordinary executable) for ``descs``; the streaming one with
    ``STREAM_ABOVE = above``."""
    data = fmt.serialize({"version": 1, "functions": descs})
    monkeypatch.setattr(elementwise, "STREAM_ABOVE", above)
    streaming = Executable.create(fmt.FORMAT, data)
    monkeypatch.setattr(elementwise, "STREAM_ABOVE", 1 << 62)
    ordinary = Executable.create(fmt.FORMAT, data)
    return streaming, ordinary


@pytest.mark.parametrize("t", ["f32", "f64"])
def test_streaming_dispatch_equals_ordinary_kernel_and_numpy(monkeypatch, t):
    """Real streaming stores through ``Executable.dispatch``, parallel and serial plans:
    bit-identical to the ordinary kernel, equal to numpy (NaN, inf, -0.0 and subnormal
    inputs included), every output offset modulo 32 bytes, lengths around the vector and
    batch sizes and tiny ones."""
    dtype = NP[t]
    size = np.dtype(dtype).itemsize
    descs = [_fma(t, 1, 4096), _fma(t, 2, 999), _fma(t, 1, 50)]
    streaming, ordinary = _executables(monkeypatch, descs, 0)
    special = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, np.finfo(dtype).tiny / 4, 1e30,
                        -1e30, 3.0], dtype)
    lengths = [1, 7, 8, 9, 63, 64, 65, 71, 1000, SCRATCH // size + 3, 4099, 70001]
    for k, n in enumerate(lengths):
        for rank, name, per in ((1, descs[0]["name"], 4096), (2, descs[1]["name"], 999),
                                (1, descs[2]["name"], 50)):
            rows = 3 if rank == 2 and n >= 192 else 1
            cols = n // rows
            a, b, c = _inputs(t, rows, cols, 100 + k)
            a.reshape(-1)[:len(special)] = special[:a.size]
            b.reshape(-1)[-len(special):] = special[-b.size:]
            c[:3] = special[3:6][:c.size]
            with np.errstate(invalid="ignore", over="ignore"):
                want = a * b + c
            push = [rows, cols] if rank == 2 else [rows * cols]
            groups = (-(-(rows * cols) // per), 1, 1)
            for offset in range(VECTOR // size):
                outs = []
                for exe in (streaming, ordinary):
                    backing, out = _output(rows * cols, dtype, offset)
                    backing[:] = 0xA5
                    _run(exe, name, [a, b, c.reshape(1, -1), out], push, groups)
                    outs.append(out)
                    # the bytes around the output are untouched
                    start = out.ctypes.data - backing.ctypes.data
                    assert np.all(backing[:start] == 0xA5)
                    assert np.all(backing[start + out.nbytes:] == 0xA5)
                np.testing.assert_array_equal(outs[0].view(f"u{size}"),
                                              outs[1].view(f"u{size}"))
                np.testing.assert_array_equal(outs[0], want.reshape(-1))


def test_serial_and_parallel_plans_both_stream(monkeypatch):
    """A dispatch big enough for the parallel kernel and the same dispatch forced onto the
    serial kernel give the same exact result with streaming on."""
    desc = _fma("f32", 1, 8192)
    n = 100003
    a, b, c = _inputs("f32", 1, n, 5)
    want = (a * b + c).reshape(-1)
    for serial_below in (1 << 62, 1):
        monkeypatch.setattr(config, "SERIAL_BELOW", serial_below)
        streaming, _ = _executables(monkeypatch, [desc], 0)
        for offset in (0, 5):
            _, out = _output(n, np.float32, offset)
            _run(streaming, desc["name"], [a, b, c, out], [n], (-(-n // 8192), 1, 1))
            np.testing.assert_array_equal(out, want)


def test_threshold_is_bytes_of_output(monkeypatch):
    """Below ``STREAM_ABOVE`` bytes of output the ordinary stores run (no marks); at it,
    the streaming loop runs."""
    monkeypatch.setattr(elementwise, "STREAM_ABOVE", 4096)
    fn, _ = _function(_fma("f32", 1, 4096))
    kernel = _marking_kernel(fn, parallel=False)
    for n, streams in ((1023, False), (1024, True), (5000, True)):
        a, b, c = _inputs("f32", 1, n, n)
        _, out = _output(n, np.float32, 0)
        launch = layout.plan(fn, (1 + n // 4096, 1, 1), [n], ())
        kernel(a.reshape(-1), b.reshape(-1), c, out, launch.params, launch.fparams)
        want = (a * b + c).reshape(-1)
        marked = out != want
        assert marked.any() == streams
        np.testing.assert_array_equal(out[~marked], want[~marked])
        if streams:
            np.testing.assert_array_equal(out[marked], (want + np.float32(1))[marked])


def test_other_outputs_keep_ordinary_stores(monkeypatch):
    """Integer, boolean and multi-output bodies have no streaming loop and stay exact with
    the threshold at 0."""
    monkeypatch.setattr(elementwise, "STREAM_ABOVE", 0)
    int_desc = _fma("f32", 1, 64)
    int_desc["name"] = "i32"
    for b in int_desc["bindings"]:
        b["type"] = "i32"
    bool_desc = _fma("f32", 1, 64, out_type="i1")
    two = _fma("f64", 1, 64)
    two["name"] = "two"
    two["bindings"].append({"index": 4, "type": "f64", "access": "write",
                            "shape": [{"pc": 0}]})
    two["body"]["outputs"].append({"binding": 4, "value": {"op": "load", "binding": 0}})
    for desc in (int_desc, bool_desc, two):
        fn, _ = _function(desc)
        assert "stream_store" not in compiler.generate(fn)
    exe = Executable.create(fmt.FORMAT, fmt.serialize(
        {"version": 1, "functions": [int_desc, bool_desc, two]}))
    n = 1000
    rng = np.random.default_rng(3)
    a, b, c = (rng.integers(-1000, 1000, n).astype(np.int32) for _ in range(3))
    out = np.zeros(n, np.int32)
    _run(exe, "i32", [a, b, c, out], [n], (16, 1, 1))
    np.testing.assert_array_equal(out, a * b + c)
    a, b, c = (rng.random(n).astype(np.float32) for _ in range(3))
    flags = np.zeros(n, np.uint8)
    _run(exe, bool_desc["name"], [a, b, c, flags], [n], (16, 1, 1))
    np.testing.assert_array_equal(flags, (a * b + c < a).astype(np.uint8))
    a, b, c = (rng.random(n) for _ in range(3))
    out, copy = np.zeros(n), np.zeros(n)
    _run(exe, "two", [a, b, c, out, copy], [n], (16, 1, 1))
    np.testing.assert_array_equal(out, a * b + c)
    np.testing.assert_array_equal(copy, a)


@pytest.mark.parametrize("t,store,arith,parallel", [("f32", "movntps", "mulps", False),
                                                    ("f32", "movntps", "mulps", True),
                                                    ("f64", "movntpd", "mulpd", False)])
def test_assembly_has_aligned_nontemporal_vector_stores(t, store, arith, parallel):
    """The compiled kernel stores with non-temporal vector stores (ymm registers with AVX)
    after vector arithmetic, and fences them. Without AVX the 32-byte store is split into
    two 16-byte ``movntps``; the exactness tests above cover that build too."""
    numba = config.import_numba()
    fn, _ = _function(_fma(t, 1, 4096))
    source = compiler.generate(fn, parallel=parallel).replace("cache=True", "cache=False")
    namespace: dict = {"__name__": "pyree_streaming_asm_kernel"}
    exec(compile(source, "<streaming asm kernel>", "exec"), namespace)
    kernel = namespace["kernel"]
    kernel.compile(compiler.signature(fn))
    asm = "\n".join(kernel.inspect_asm().values())
    from llvmlite import binding
    avx = binding.get_host_cpu_features().get("avx", False) and \
        numba.config.CPU_FEATURES in (None, "")
    if avx:
        assert re.search(rf"\bv{store}\s+%ymm\d+, ", asm), "no 32-byte non-temporal store"
        assert re.search(rf"\bv{arith}\s+.*%ymm", asm), "arithmetic is not vectorized"
    else:
        assert re.search(rf"\b{store}\b", asm)
    assert re.search(r"\bsfence\b", asm)


def test_source_carries_threshold_and_helper_digest(monkeypatch):
    """The threshold and a digest of streaming.py are in the kernel source, whose hash names
    the cached kernel: changing either changes the cache key."""
    fn, _ = _function(_fma("f32", 1, 4096))
    helper = pathlib.Path(elementwise.__file__).parent.parent / "streaming.py"
    digest = hashlib.sha256(helper.read_bytes()).hexdigest()[:16]
    monkeypatch.setattr(elementwise, "STREAM_ABOVE", 48 << 20)
    source = compiler.generate(fn)
    assert f"# streaming.py {digest}" in source
    assert f"n >= {(48 << 20) // 4} " in source
    monkeypatch.setattr(elementwise, "STREAM_ABOVE", 1 << 20)
    assert compiler.generate(fn) != source
    monkeypatch.setattr(elementwise, "STREAM_ABOVE", 48 << 20)
    monkeypatch.setattr(elementwise, "_STREAMING_DIGEST", "0" * 16)
    assert compiler.generate(fn) != source


def test_threshold_environment_override(monkeypatch):
    monkeypatch.setenv("PYREE_NUMBA_STREAM_ABOVE", "12345")
    assert elementwise._stream_above() == 12345
    monkeypatch.setenv("PYREE_NUMBA_STREAM_ABOVE", "0")
    assert elementwise._stream_above() == 0
    for bad in ("", "lots", "-5"):
        monkeypatch.setenv("PYREE_NUMBA_STREAM_ABOVE", bad)
        assert elementwise._stream_above() == (0 if bad == "-5" else 48 << 20)
    monkeypatch.delenv("PYREE_NUMBA_STREAM_ABOVE")
    assert elementwise._stream_above() == 48 << 20
