"""RNN, GRU and LSTM, unrolled at import over the (static) sequence length.

With static shapes a recurrence is a fixed chain: the input projection of every step
is one matmul (``X @ W^T + Wb`` for the whole sequence), and each step adds
``H_{t-1} @ R^T`` and applies the gates with elementwise ops, which partitioning fuses
into the step's matmul epilogue. Directions run independently and are concatenated as
ONNX lays them out. ``sequence_lens`` must be a constant equal to the sequence length
for every batch entry (ragged batches are UNIMPLEMENTED).
"""

from __future__ import annotations

import numpy as np
from pyree.compiler.ops.common import np_dtype
from pyree.compiler.ops.registry import onnx_rule

FAMILY = "nn"
_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
_DEFAULT_ACTS = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}
_UNARY = {"Sigmoid": "sigmoid", "Tanh": "tanh", "Relu": "relu", "Softsign": "softsign",
          "Softplus": "softplus"}
_ALPHA = {"LeakyRelu": ("leaky_relu", 0.01), "Elu": ("elu", 1.0),
          "ThresholdedRelu": ("thresholded_relu", 1.0)}


class _Builder:
    def __init__(self, ctx, dtype):
        self.ctx, self.dtype = ctx, dtype

    def const(self, value, hint="c"):
        return self.ctx.constant(np.asarray(value, np_dtype(self.dtype)), hint)

    def slice(self, value, shape, axis, start, stop):
        triples = [(0, d, 1) for d in shape]
        triples[axis] = (start, stop, 1)
        return self.ctx.emit("slice", [value], slices=tuple(triples))

    def reshape(self, value, shape):
        return self.ctx.emit("reshape", [value], shape=tuple(shape))

    def op(self, name, *inputs, **attrs):
        return self.ctx.emit(name, list(inputs), **attrs)


def _activations(ctx, kind, dirs):
    names = list(ctx.attr("activations", ())) or _DEFAULT_ACTS[kind] * dirs
    alphas = list(ctx.attr("activation_alpha", ()))
    betas = list(ctx.attr("activation_beta", ()))
    out = []
    for name in names:
        if name in _UNARY:
            out.append((_UNARY[name], {}))
        elif name in _ALPHA:
            op, default = _ALPHA[name]
            out.append((op, {"alpha": alphas.pop(0) if alphas else default}))
        elif name == "HardSigmoid":
            out.append(("hard_sigmoid", {"alpha": alphas.pop(0) if alphas else 0.2,
                                         "beta": betas.pop(0) if betas else 0.5}))
        else:
            ctx.fail(f"activation '{name}' is not supported")
    per = len(_DEFAULT_ACTS[kind])
    return [out[d * per:(d + 1) * per] for d in range(dirs)]


def _apply(b, act, value, clip):
    if clip is not None:
        value = b.op("clip", value, b.const(-clip, "lo"), b.const(clip, "hi"))
    return b.op(act[0], value, **act[1])


@onnx_rule(FAMILY, "RNN", "GRU", "LSTM")
def _recurrent_rule(ctx):
    kind = ctx.op_type
    gates = _GATES[kind]
    layout = ctx.attr("layout", 0)
    x_t = ctx.type(0)
    b = _Builder(ctx, x_t.dtype)
    x = ctx.input(0)
    if layout:
        x = b.op("transpose", x, perm=(1, 0, 2))
    seq, batch, _ = (x_t.shape[1], x_t.shape[0], x_t.shape[2]) if layout else x_t.shape
    hidden = ctx.attr("hidden_size") or ctx.type(2).shape[-1]
    direction = ctx.attr("direction", "forward")
    dirs = 2 if direction == "bidirectional" else 1
    if ctx.has_input(4):
        lens = ctx.require_const(4, "sequence_lens")
        if np.any(np.asarray(lens) != seq):
            ctx.fail("sequence_lens shorter than the sequence are not supported")
    if kind == "LSTM" and ctx.attr("input_forget", 0):
        ctx.fail("input_forget is not supported")
    clip = ctx.attr("clip")
    acts = _activations(ctx, kind, dirs)
    ys, hs, cs = [], [], []
    for d in range(dirs):
        reverse = direction == "reverse" or d == 1
        w_shape, r_shape = ctx.type(1).shape, ctx.type(2).shape
        w = b.reshape(b.slice(ctx.input(1), w_shape, 0, d, d + 1), w_shape[1:])
        r = b.reshape(b.slice(ctx.input(2), r_shape, 0, d, d + 1), r_shape[1:])
        proj = b.op("matmul", x, w, transpose_b=1)  # [seq, batch, gates*H]
        rbias = None
        if ctx.has_input(3):
            bias = b.reshape(b.slice(ctx.input(3), ctx.type(3).shape, 0, d, d + 1),
                             (2 * gates * hidden,))
            wb = b.slice(bias, (2 * gates * hidden,), 0, 0, gates * hidden)
            rbias = b.slice(bias, (2 * gates * hidden,), 0, gates * hidden,
                            2 * gates * hidden)
            proj = b.op("add", proj, wb)
        state = [b.const(np.zeros((batch, hidden)), "h0")]
        for i in (5, 6) if kind == "LSTM" else (5,):
            if ctx.has_input(i):
                t = ctx.type(i)
                state_i = b.reshape(b.slice(ctx.input(i), t.shape, 0, d, d + 1), t.shape[1:])
                if i == 5:
                    state[0] = state_i
                else:
                    state.append(state_i)
            elif i == 6:
                state.append(b.const(np.zeros((batch, hidden)), "c0"))
        peep = None
        if kind == "LSTM" and ctx.has_input(7):
            pt = ctx.type(7)
            peep = b.reshape(b.slice(ctx.input(7), pt.shape, 0, d, d + 1), (3 * hidden,))
        steps = []
        order = range(seq - 1, -1, -1) if reverse else range(seq)
        for t in order:
            xt = b.reshape(b.slice(proj, (seq, batch, gates * hidden), 0, t, t + 1),
                           (batch, gates * hidden))
            state = _STEP[kind](ctx, b, xt, state, r, rbias, peep, acts[d], clip, hidden,
                                batch)
            steps.append((t, state[0]))
        steps.sort()
        ys.append(b.op("concat", *[b.reshape(h, (1, 1, batch, hidden)) for _, h in steps],
                       axis=0))
        hs.append(b.reshape(state[0], (1, batch, hidden)))
        if kind == "LSTM":
            cs.append(b.reshape(state[1], (1, batch, hidden)))
    y = ys[0] if dirs == 1 else b.op("concat", *ys, axis=1)
    yh = hs[0] if dirs == 1 else b.op("concat", *hs, axis=0)
    yc = (cs[0] if dirs == 1 else b.op("concat", *cs, axis=0)) if cs else None
    if layout:
        y = b.op("transpose", y, perm=(2, 0, 1, 3))
        yh = b.op("transpose", yh, perm=(1, 0, 2))
        yc = b.op("transpose", yc, perm=(1, 0, 2)) if yc else None
    ctx.set_output(0, y)
    ctx.set_output(1, yh)
    if yc:
        ctx.set_output(2, yc)


def _recur(b, h, r, rbias, gates, hidden, batch):
    value = b.op("matmul", h, r, transpose_b=1)
    return b.op("add", value, rbias) if rbias else value


def _split(b, value, n, hidden, batch):
    return [b.slice(value, (batch, n * hidden), 1, k * hidden, (k + 1) * hidden)
            for k in range(n)]


def _rnn_step(ctx, b, xt, state, r, rbias, peep, acts, clip, hidden, batch):
    pre = b.op("add", xt, _recur(b, state[0], r, rbias, 1, hidden, batch))
    return [_apply(b, acts[0], pre, clip)]


def _gru_step(ctx, b, xt, state, r, rbias, peep, acts, clip, hidden, batch):
    h = state[0]
    xz, xr, xh = _split(b, xt, 3, hidden, batch)
    r_shape = (3 * hidden, hidden)
    rz, rr, rh = (b.slice(r, r_shape, 0, k * hidden, (k + 1) * hidden) for k in range(3))
    rb = [b.slice(rbias, (3 * hidden,), 0, k * hidden, (k + 1) * hidden)
          for k in range(3)] if rbias else [None] * 3
    z = _apply(b, acts[0], b.op("add", xz, _recur(b, h, rz, rb[0], 1, hidden, batch)), clip)
    rg = _apply(b, acts[0], b.op("add", xr, _recur(b, h, rr, rb[1], 1, hidden, batch)), clip)
    if ctx.attr("linear_before_reset", 0):
        hh = b.op("mul", rg, _recur(b, h, rh, rb[2], 1, hidden, batch))
    else:
        hh = _recur(b, b.op("mul", rg, h), rh, rb[2], 1, hidden, batch)
    cand = _apply(b, acts[1], b.op("add", xh, hh), clip)
    one = b.const(1.0, "one")
    new = b.op("add", b.op("mul", b.op("sub", one, z), cand), b.op("mul", z, h))
    return [new]


def _lstm_step(ctx, b, xt, state, r, rbias, peep, acts, clip, hidden, batch):
    h, c = state
    pre = b.op("add", xt, _recur(b, h, r, rbias, 4, hidden, batch))
    i, o, f, g = _split(b, pre, 4, hidden, batch)
    if peep:
        pi, po, pf = (b.slice(peep, (3 * hidden,), 0, k * hidden, (k + 1) * hidden)
                      for k in range(3))
        i = b.op("add", i, b.op("mul", pi, c))
        f = b.op("add", f, b.op("mul", pf, c))
    i = _apply(b, acts[0], i, clip)
    f = _apply(b, acts[0], f, clip)
    g = _apply(b, acts[1], g, clip)
    c = b.op("add", b.op("mul", f, c), b.op("mul", i, g))
    if peep:
        o = b.op("add", o, b.op("mul", po, c))
    o = _apply(b, acts[0], o, clip)
    return [b.op("mul", o, _apply(b, acts[2], c, None)), c]


_STEP = {"RNN": _rnn_step, "GRU": _gru_step, "LSTM": _lstm_step}
