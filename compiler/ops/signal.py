"""Signal processing: DFT (forward, inverse, one-sided) on ONNX's real/complex layout.

A signal is ``[..., 1]`` (real) or ``[..., 2]`` (interleaved real, imaginary); the
transform runs along ``axis`` over ``length`` points (zero-padded or truncated) and
yields ``[..., 2]`` (or ``[..., 1]`` for the inverse of a one-sided spectrum).
"""

from __future__ import annotations

import numpy as np
from pyree.compiler.ops.common import axis as norm_axis
from pyree.compiler.ops.common import tt
from pyree.compiler.ops.registry import define, onnx_rule

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


@onnx_rule(FAMILY, "DFT")
def _dft_rule(ctx):
    t = ctx.type(0)
    if ctx.opset >= 20:
        ax = ctx.ints(2, "axis")[0] if ctx.has_input(2) else -2
    else:
        ax = ctx.attr("axis", 1)
    ax = norm_axis(ctx, ax, t.rank)
    if ax == t.rank - 1:
        ctx.invalid("axis must not be the last (real/imaginary) dimension")
    inverse, onesided = ctx.attr("inverse", 0), ctx.attr("onesided", 0)
    if ctx.has_input(1):
        length = ctx.ints(1, "dft_length")[0]
    else:
        length = 2 * (t.shape[ax] - 1) if inverse and onesided else t.shape[ax]
    ctx.forward("dft", [ctx.input(0)], axis=ax, length=length, inverse=inverse,
                onesided=onesided)
