"""Dispatch-time layout of ``conv`` and ``pool`` bodies: evaluate and check shapes, fill
the kernel parameters (``library.conv.NAMES`` / ``library.pool.NAMES`` order) and compute
the bytes every binding must cover. Pure Python with unbounded integers; no numba.

Both kernels are 3-D: a body with ``nd < 3`` spatial dims is padded with leading unit
spatial dims (kernel 1, stride 1, dilation 1, no padding).

Extents (spec/executables.md 6.5, 6.6) are exact for outputs and tensor epilogue operands
(the last covered row is the largest index written) and conservative, as for matmul, for
what items read through windows: each touched ``(n, g)`` (conv) or ``(n, c)`` (pool) needs
its whole input channel block, each touched group its whole weight block, each touched
output channel its per-channel operands. Conv items are rows of one output channel block
(``channel_block``, default the whole group): ``(n, g, b, row)``, ``nb`` blocks per group.
"""

from __future__ import annotations

import numpy as np

from pyree.status import ResourceExhaustedError

from .hostlib.nn_conv import out_dim
from .ir import Conv, Function, Pool
from .layout import (Launch, _checked, _fail, _frozen, blocks, epilogue_operands, view,
                     workgroups)

DIRECT_BELOW = 8   # output channels per group below which conv runs the direct loop
MAX_SCRATCH_BYTES = 1 << 30   # temporaries one conv workgroup may allocate (8 B/element)


def plan(fn: Function, counts, push, consts) -> Launch:
    if isinstance(fn.body, Conv):
        return _conv(fn, fn.body, counts, push, consts)
    return _pool(fn, fn.body, counts, push, consts)


def _window(fn, body, nd, push, consts):
    ev = [[_checked(fn, e.evaluate(push, consts), f"{name}[{k}]") for k, e in enumerate(es)]
          for name, es in (("strides", body.strides), ("dilations", body.dilations),
                           ("pads", body.pads))]
    strides, dilations, pads = ev
    for name, values in (("strides", strides), ("dilations", dilations)):
        if any(v < 1 for v in values):
            _fail(fn, f"{name} {values} must be at least 1")
    return strides, dilations, pads[:nd], pads[nd:]


def _pad3(values, fill) -> list:
    return [fill] * (3 - len(values)) + list(values)


def _require(fn, b: int, top: int) -> int:
    """Bytes binding ``b`` needs when its largest element index is ``top`` (-1: none)."""
    if top < 0:
        return 0
    return (_checked(fn, top, f"binding {b} element index") + 1) * \
        fn.bindings[b].type.itemsize


def _conv(fn, body: Conv, counts, push, consts) -> Launch:
    (xs, _, xo), (ws, _, wo), (os_, _, oo) = (
        view(fn, fn.bindings[b], push, consts) for b in (body.input, body.weights,
                                                          body.output))
    nd = len(xs) - 2
    group = _checked(fn, body.group.evaluate(push, consts), "group")
    strides, dilations, pb, pe = _window(fn, body, nd, push, consts)
    n, c, spatial = xs[0], xs[1], xs[2:]
    m, cg, kernel = ws[0], ws[1], ws[2:]
    if group < 1 or c != group * cg or m % group:
        _fail(fn, f"input {xs} and weights {ws} disagree for group {group}: need "
                  f"C = group * weights[1] and weights[0] divisible by group")
    if cg < 1 or any(k < 1 for k in kernel):
        _fail(fn, f"weights {ws} must have at least one input channel and tap per dim")
    want = [n, m] + [out_dim(spatial[i], kernel[i], strides[i], dilations[i], pb[i], pe[i])
                     for i in range(nd)]
    if os_ != want:
        _fail(fn, f"output binding {body.output} has shape {os_}, the convolution gives "
                  f"{want}")
    mg = m // group
    osz = 1
    for d in want[2:]:
        osz *= d
    isz = 1
    for d in spatial:
        isz *= d
    ksz = 1
    for d in kernel:
        ksz *= d
    rows = osz // want[-1] if want[-1] else 0
    # Output channels per item: a block of ``cb`` (the last of a group may be shorter);
    # ``nb`` blocks per group (one when the group has no channels).
    cb, nb = blocks(fn, body.channel_block, mg, "channel_block", push, consts)
    items = _checked(fn, n * group * nb * rows, "conv rows")
    covered, nwg, per = workgroups(fn, counts, push, consts, items)
    ow = want[-1]
    step_params, fparams, operands = epilogue_operands(fn, body.epilogue, m, want,
                                                       "per-channel", push, consts)
    required = [0] * len(fn.bindings)
    if covered:
        seg, r = divmod(covered - 1, rows)
        ng, b = divmod(seg, nb)
        ni, g = divmod(ng, group)
        gmax = group - 1 if ng >= group else g
        top_ch = g * mg + min(mg, (b + 1) * cb) - 1     # last channel of the last block
        out_top = (ni * m + top_ch) * osz + (r + 1) * ow - 1
        ch_top = m - 1 if ng >= group else top_ch
        tops = {body.output: oo + out_top,
                body.input: xo + (ni * c + g * cg + cg) * isz - 1 if isz else -1,
                body.weights: wo + (gmax + 1) * mg * cg * ksz - 1}
        for s, operand in zip(body.epilogue, operands):
            if operand is None:
                continue
            shape, off = operand
            top = off + (out_top if not s.op.startswith("channel_") else
                         ch_top if shape == [m] else 0)
            tops[s.binding] = max(tops.get(s.binding, -1), top)
        for b, top in tops.items():
            required[b] = max(required[b], _require(fn, b, top))
    k3, s3, d3, p3 = (_pad3(v, f) for v, f in ((kernel, 1), (strides, 1), (dilations, 1),
                                                (pb, 0)))
    seg_rows = min(per, rows)
    segment = seg_rows * ow                  # output positions of one workgroup segment
    direct, clen = _strategy(min(cb, mg), cg, ksz, segment, seg_rows, _pad3(spatial, 1),
                             _pad3(want[2:], 1), k3, s3, d3, p3)
    scratch = clen
    if any(s.op in ("add", "mul") for s in body.epilogue):
        scratch += cb * segment              # the product, when a residual is read
    if covered and scratch * 8 > MAX_SCRATCH_BYTES:
        _fail(fn, f"a workgroup needs up to {scratch * 8} bytes of scratch (patch matrix or "
                  f"padded input, and product) > {MAX_SCRATCH_BYTES}; use fewer items per "
                  f"workgroup", ResourceExhaustedError)
    win = [_pad3(spatial, 1), _pad3(want[2:], 1), k3, s3, d3, p3]
    params = [covered, nwg, per, group, cg, mg]
    for part in win:
        params += part
    params += [xo, wo, oo, direct, clen, cb, nb, *step_params]
    return Launch(_frozen(params, np.int64), _frozen(fparams, np.float64), covered,
                  tuple(required), covered * ow * min(cb, mg) * cg * ksz)


def _strategy(mg, cg, ksz, segment, seg_rows, ins, outs, kernel, strides, dilations,
              pads) -> tuple[int, int]:
    """(``direct`` parameter, scratch elements of one workgroup) of a conv (3-D lists);
    ``mg`` is the output channels one item computes (its channel block).

    0, im2col: a ``[cg*ksz, segment]`` patch matrix, none for a 1x1 stride-1 unpadded conv
    (``conv_tile.pointwise``: BLAS reads the input block as it lies). With fewer than
    ``DIRECT_BELOW`` output channels per group, 2 (padded planes, ``conv_tile.plane_len``)
    when the depth dim is trivial and the padded block stays within a few times the
    segment, else 1 (row by row, no scratch)."""
    (id_, ih, iw), (od, oh, ow), (kd, kh, kw), (sd, sh, sw), (_, dh, dw), (pd, ph, pw) = (
        ins, outs, kernel, strides, dilations, pads)
    if mg >= DIRECT_BELOW:
        pointwise = ksz == 1 and (sd, sh, sw) == (1, 1, 1) and (pd, ph, pw) == (0, 0, 0) \
            and (id_, ih, iw) == (od, oh, ow)
        return 0, 0 if pointwise else cg * ksz * segment
    # Input plane od feeds output plane od (od < ID: no end padding in depth).
    if kd == 1 and sd == 1 and pd == 0 and od <= id_ and segment:
        srows = min(seg_rows, oh)
        wq = ow + (kw - 1) * dw // sw
        qw, qh = (kw - 1) * dw // sw, (kh - 1) * dh // sh
        plane = sh * sw * ((srows + qh) * wq + qw) + mg * srows * wq    # plane_len
        if plane <= 4 * (mg + 1) * segment + 4096:
            return 2, plane
    return 1, 0


def _pool(fn, body: Pool, counts, push, consts) -> Launch:
    (xs, _, xo), (os_, _, oo) = (view(fn, fn.bindings[b], push, consts)
                                 for b in (body.input, body.output))
    nd = len(xs) - 2
    kernel = [_checked(fn, e.evaluate(push, consts), f"kernel[{k}]")
              for k, e in enumerate(body.kernel)]
    if any(k < 1 for k in kernel):
        _fail(fn, f"kernel {kernel} must be at least 1 per dim")
    strides, dilations, pb, pe = _window(fn, body, nd, push, consts)
    spatial = xs[2:]
    if os_[:2] != xs[:2]:
        _fail(fn, f"output binding {body.output} has shape {os_}; its first two dims must be "
                  f"the input's {xs[:2]}")
    for i in range(nd):
        args = (spatial[i], kernel[i], strides[i], dilations[i], pb[i], pe[i])
        lo, hi = out_dim(*args), out_dim(*args, ceil_mode=True)
        if not lo <= os_[2 + i] <= hi:
            _fail(fn, f"output binding {body.output} spatial dim {i} is {os_[2 + i]}; the "
                      f"pool gives {lo} (floor) or {hi} (ceil mode)")
    osz = 1
    for d in os_[2:]:
        osz *= d
    isz = 1
    for d in spatial:
        isz *= d
    ow = os_[-1]
    rows = osz // ow if ow else 0
    items = _checked(fn, xs[0] * xs[1] * rows, "pool rows")
    covered, nwg, per = workgroups(fn, counts, push, consts, items)
    required = [0] * len(fn.bindings)
    if covered:
        plane = (covered - 1) // rows
        required[body.output] = _require(fn, body.output, oo + covered * ow - 1)
        required[body.input] = max(required[body.input], _require(
            fn, body.input, xo + (plane + 1) * isz - 1 if isz else -1))
    params = [covered, nwg, per]
    for part, fill in ((spatial, 1), (os_[2:], 1), (kernel, 1), (strides, 1),
                       (dilations, 1), (pb, 0), (pe, 0)):
        params += _pad3(part, fill)
    params += [xo, oo, 1 if body.count_include_pad else 0]
    ksz = 1
    for d in kernel:
        ksz *= d
    return Launch(_frozen(params, np.int64), _frozen([body.p], np.float64), covered,
                  tuple(required), covered * ow * ksz)
