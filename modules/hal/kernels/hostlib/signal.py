"""Signal processing: DFT (forward, inverse, one-sided) on ONNX's real/complex layout.

A signal is ``[..., 1]`` (real) or ``[..., 2]`` (interleaved real, imaginary); the
transform runs along ``axis`` over ``length`` points (zero-padded or truncated) and
yields ``[..., 2]`` (or ``[..., 1]`` for the inverse of a one-sided spectrum).

The host library's rows for these ops (shape/type inference and numpy semantics):
host-library ``op`` bodies execute them, and ``compiler/ops/signal.py`` (which keeps the
ONNX import rules) takes its ``infer``/``reference`` from here through
``registry.hosted``; the compiler depends on the HAL, never the reverse.
"""

from __future__ import annotations

import numpy as np

from .common import tt
from .registry import define

FAMILY = "signal"


def _dft(node, x):
    ax, n = node.attr("axis"), node.attr("length")
    inverse, onesided = node.attr("inverse"), node.attr("onesided")
    signal = x[..., 0]  # numpy's FFT keeps single precision, as onnx's reference does
    if x.shape[-1] == 2:
        signal = signal + 1j * x[..., 1]
    if inverse:
        if onesided:
            return np.fft.irfft(signal, n=n, axis=ax)[..., None].astype(x.dtype)
        out = np.fft.ifft(signal, n=n, axis=ax)
    else:
        out = np.fft.fft(signal, n=n, axis=ax)
        if onesided:
            out = np.take(out, np.arange(n // 2 + 1), axis=ax)
    return np.stack([out.real, out.imag], axis=-1).astype(x.dtype)


def _infer_dft(node, types):
    shape = list(types[0].shape)
    ax, n = node.attr("axis"), node.attr("length")
    inverse, onesided = node.attr("inverse"), node.attr("onesided")
    shape[ax] = n // 2 + 1 if onesided and not inverse else n
    shape[-1] = 1 if inverse and onesided else 2
    return [tt(types[0].dtype, shape)]


define("dft", FAMILY, "library", _infer_dft, _dft)
