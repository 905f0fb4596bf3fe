"""Conv and pool regions as pyree-kernels-v1 ``conv`` / ``pool`` dispatches
(spec/executables.md 6.5, 6.6).

A conv region (``conv`` + epilogue nodes) becomes one ``conv`` dispatch whose epilogue
takes the conv's bias input and each epilogue node in order, when every node maps onto
a step of the body:

* ``add`` / ``mul`` / ``sub`` (``x - c`` only) with an operand that broadcasts per output
  channel (all dims 1 except the channel; ``[C, 1, 1]`` as batch normalization's folded
  scale and shift, or a scalar) -> ``channel_add`` / ``channel_mul`` / ``channel_sub``;
* ``add`` / ``mul`` with an operand of the output's shape (a residual) -> ``add`` / ``mul``;
* ``relu``, ``sigmoid``, ``leaky_relu`` (its ``alpha``), ``clip`` with constant scalar
  bounds -> the activation steps.

Anything else (conv_transpose, other dtypes than f32/f64, more than 3 spatial dims, an
epilogue node outside this set, a max pool whose indices are used) returns ``None`` and
the next lowering (the host-library fallback) takes the region.

Every size is a push constant (the rows per workgroup and the output channel block
last), so the description depends only on the dtype, the spatial rank and the epilogue
structure: one numba compile serves every conv of a network that shares them.
``conv_split`` picks the work split: rows of whole groups, or for small planes (7x7 to
14x14) blocks of output channels over the whole plane, so that the GEMM call gets many
positions.
"""

from __future__ import annotations

import math

from .epilogue import activation_step
from .lowering import Dispatch, Lowered, Operand, label, lowering

FLOATS = ("f32", "f64")
U32 = 1 << 32
ACTIVATIONS = ("relu", "sigmoid", "leaky_relu", "clip")
TARGET_POSITIONS = 2048     # output positions per workgroup, about
MIN_WORK = 1 << 17          # multiply-adds per workgroup, at least
SPLIT_BELOW_ROWS = 16        # planes with fewer output rows split by output channels
GEMM_ROWS = 6               # the GEMM's small micro-kernels' rows, gemm.SUB (its MR, 6
                            # or 12 on AVX-512, is a multiple; the compiler does not
                            # import kernels/gemm.py, which loads numba)
PANEL_BYTES = 64            # the GEMM's panels are this many bytes wide (panels.width)
GEMM_KC = 320               # the GEMM's K block, at most (gemm.KC)
PATCH_BYTES = 1 << 18       # a K block of a workgroup's patch matrix, at most (panel_rows)
DIRECT_BELOW = 8            # fewer output channels per group: no GEMM (spatial_layout)
MIN_SPLIT_CHANNELS = 24     # fewer output channels per group are not split (conv_split)
SHARE_SLACK = 0.02          # thread shares this close are as good (balanced_rows)
BLOCK_CHANNELS = 96         # 4 channel blocks from 4x this many channels, else 2
POOL_WORKGROUPS = 16        # a pool's rows split into about this many workgroups
POOL_MIN_TAPS = 1 << 15     # window taps per pool workgroup, at least


def rows_per_workgroup(rows: int, width: int, work_per_position: int) -> int:
    """Output rows per workgroup: about 16 workgroups, each at least ``MIN_WORK``
    multiply-adds and at most ``TARGET_POSITIONS`` positions (the im2col tile stays in
    cache), unless that is less than a row; then evened out (``balanced_rows``)."""
    total = rows * width
    floor = -(-MIN_WORK // max(work_per_position, 1))
    positions = max(floor, min(TARGET_POSITIONS, -(-total // 16)))
    if work_per_position * total < 1 << 16:
        positions = total            # too little work to share
    return balanced_rows(rows, max(1, min(rows, -(-positions // max(width, 1)))))


def _first_run(count: int) -> int:
    """Workgroups the first of two kernel threads runs when numba's static schedule hands
    out ``count`` of them: contiguous runs of ``ceil(count / 2)``, the second thread the
    rest (tests/compiler/test_lower_conv.py measures it). The first thread is therefore
    never the less busy one."""
    return -(-count // 2)


def _thread_share(rows: int, per: int) -> float:
    """The share of ``rows`` the busier of two kernel threads gets from workgroups of
    ``per`` rows (the last one short); 1/2 is perfect."""
    return min(rows, _first_run(-(-rows // per)) * per) / rows


def balanced_rows(rows: int, per: int) -> int:
    """``per`` or a little less, so that two kernel threads get about equal rows.

    A dispatch's workgroups are split by numba's static schedule, one contiguous run per
    thread, so an odd workgroup count leaves one of two threads idle for up to a whole
    workgroup: vgg19's first conv made 23 workgroups of 10 of its 224 rows, 120 rows for
    one core and 104 for the other (28 of 8 share them 112 + 112). Of the row counts
    from 2/3 ``per`` to ``per``, the largest whose 2-thread share is within
    ``SHARE_SLACK`` of the best wins (more and smaller workgroups cost a little each: a
    smaller GEMM call, one more patch matrix)."""
    if per >= rows:
        return per
    candidates = range(max(1, -(-2 * per // 3)), per + 1)
    best = min(_thread_share(rows, p) for p in candidates)
    return max(p for p in candidates if _thread_share(rows, p) <= best + SHARE_SLACK)


def pool_rows_per_workgroup(rows: int, width: int, taps: int) -> int:
    """Output rows per workgroup of a pool: ``POOL_WORKGROUPS`` workgroups, fewer when each
    would have fewer than ``POOL_MIN_TAPS`` window taps, and an even count above one. A
    pool row costs 0.05-0.1 us (kernels/library/pool.py), so conv's ``MIN_WORK`` made 3 to
    7 workgroups of squeezenet's pools, and numba's threads split 3 or 7 unevenly (2 + 1,
    4 + 3)."""
    count = min(POOL_WORKGROUPS, rows, rows * width * taps // POOL_MIN_TAPS)
    if count > 1:
        count -= count % 2
    return -(-rows // max(count, 1))


def conv_split(planes: int, plane_rows: int, width: int, mg: int,
               work_per_channel: int, itemsize: int = 4, taps: int = 1) -> tuple[int, int]:
    """(rows per workgroup, output channels per item) of a conv with ``planes`` ``(n, g)``
    planes of ``plane_rows`` rows of ``width`` positions, ``mg`` output channels per group,
    ``work_per_channel`` multiply-adds per output value and ``taps`` kernel taps per input
    channel.

    A workgroup's product is one GEMM call per segment whose N is its positions, and a
    GEMM's throughput drops for small N (one-row segments of a 13x13 plane: 13 positions
    per call). A plane of fewer than ``SPLIT_BELOW_ROWS`` rows (7x7 to 14x14) with at least
    ``MIN_SPLIT_CHANNELS`` channels can therefore be split by output channels instead, each
    block a workgroup over the whole plane: 2 blocks, or 4 from ``4 * BLOCK_CHANNELS``
    channels, an even count so that numba's two threads get equal work (3 blocks kept
    one of them idle for a third of inception_v1's 13x13 3x3 convs), each a multiple of
    the GEMM's micro-kernel rows (``GEMM_ROWS``) with the tiles shared out evenly (128
    channels are 66 + 62: 11 tiles each). Blocks split a single-tap (1x1) conv, whose
    patch matrix is the input block itself or a strided copy of it, and a conv whose half
    plane is less than one GEMM panel of positions. A conv with more taps splits its
    rows: each channel block builds the whole plane's patch matrix again, 13-28% of a
    3x3 conv's time on a 14x14 plane, so that two blocks cost each thread a whole patch
    matrix where two row halves cost it half of one (one thread per workgroup sequence,
    best of 7: inception_v2's 192->256 14x14 984 -> 892 us, vgg19's 512->512 14x14 5375
    -> 4663, zfnet512's 512->512 12x12 3841 -> 3230, 512->512 7x7 1684 -> 1412 in rows
    of 4 + 3).
    pyree's GEMM computes every output element alike (``kernels/gemm.py``), so any split
    gives every channel bit for bit the value the unsplit call gives it, and channels
    with equal weights stay equal: light_squeezenet's classifier has equal weights, and
    its softmax turns a 1-ulp difference between its 1000 logits (~6.8e9) into 0.002
    instead of 0.001 (with OpenBLAS's sgemm only one-row segments kept them equal, so the
    compiler once kept them for a classifier's logits). Larger planes keep
    ``rows_per_workgroup``, fitted to the GEMM's panels (``panel_rows``) when the conv is
    a GEMM (at least ``DIRECT_BELOW`` output channels per group) of ``itemsize``-byte
    elements."""
    work = work_per_channel * mg
    blocks_pay = taps == 1 or -(-plane_rows // 2) * width < PANEL_BYTES // itemsize
    if plane_rows < SPLIT_BELOW_ROWS and mg >= MIN_SPLIT_CHANNELS and blocks_pay and \
            work * plane_rows * width >= 2 * MIN_WORK:
        blocks = 4 if mg >= 4 * BLOCK_CHANNELS else 2
        tiles = -(-mg // GEMM_ROWS)
        return plane_rows, -(-tiles // blocks) * GEMM_ROWS
    per = rows_per_workgroup(planes * plane_rows, width, max(1, work))
    if mg >= DIRECT_BELOW:
        per = panel_rows(planes * plane_rows, plane_rows, width, per, work_per_channel,
                         itemsize)
    return per, mg


def _two_thread_panels(rows: int, plane_rows: int, width: int, per: int, panel: int) -> int:
    """GEMM panels (``panel`` positions each, the last of a call zero-padded) that the
    busier of two kernel threads computes when ``rows`` rows (planes of ``plane_rows``
    rows of ``width`` positions) are split into workgroups of ``per`` rows, one GEMM call
    per plane segment, under numba's static schedule (``_first_run``)."""
    count = -(-rows // per)
    run = _first_run(count)
    totals = [0, 0]
    for i in range(count):
        lo, hi = i * per, min(rows, (i + 1) * per)
        while lo < hi:
            end = min(hi, (lo // plane_rows + 1) * plane_rows)
            totals[i >= run] += -(-(end - lo) * width // panel)
            lo = end
    return max(totals)


def panel_rows(rows: int, plane_rows: int, width: int, per: int, depth: int,
               itemsize: int) -> int:
    """Rows per workgroup of a GEMM conv whose patch matrix has ``depth`` rows of
    ``itemsize``-byte elements: of ``per / 2`` rows up to ``per`` or, if more, as many as
    keep a K block of the patch matrix within ``PATCH_BYTES``, the count that gives the
    busier of two threads the fewest GEMM panels (``_two_thread_panels``), then the
    largest; at least two workgroups, unless ``per`` made one.

    A workgroup's product is a GEMM call over its positions, in panels of
    ``PANEL_BYTES // itemsize`` columns, the last zero-padded: 2 rows of a 28-wide plane
    are 56 positions in 4 panels (64 columns, 12% wasted), 7 rows are 196 in 13 (2%).
    That padding, with the odd workgroup counts ``balanced_rows`` evens out, was 5-13%
    of the nine real models' conv work. The patch matrix bound keeps the K block that
    the GEMM copies into panels in L2 (``gemm.KC`` rows of it: 200 f32 positions)."""
    if per >= rows:
        return per                  # one workgroup: too little work to share
    kc = min(depth, GEMM_KC) * itemsize
    top = min(-(-rows // 2), max(per, PATCH_BYTES // (kc * max(width, 1))))
    panel = PANEL_BYTES // itemsize
    return min(range(max(1, -(-per // 2)), max(top, per) + 1),
               key=lambda p: (_two_thread_panels(rows, plane_rows, width, p, panel), -p))


class _Consts:
    """Push constants: each distinct use gets a slot; a SIZE refers to it."""

    def __init__(self):
        self.values: list[int] = []
        self.names: list[str] = []

    def __call__(self, value: int, name: str) -> dict:
        self.values.append(int(value))
        self.names.append(name)
        return {"pc": len(self.values) - 1}

    def many(self, values, name: str) -> list:
        return [self(v, f"{name}{i}") for i, v in enumerate(values)]


def _fits(*values) -> bool:
    return all(0 <= int(v) < U32 for v in values)


def _channel_shape(shape, out_shape) -> int | None:
    """M (per channel), 1 (scalar) or None: how ``shape`` broadcasts against the output."""
    rank = len(out_shape)
    if len(shape) > rank:
        return None
    full = (1,) * (rank - len(shape)) + tuple(shape)
    if any(d != 1 for i, d in enumerate(full) if i != 1):
        return None
    if full[1] == out_shape[1]:
        return out_shape[1]
    return 1 if full[1] == 1 else None


def _step(graph, node, cur: str, out_shape, dtype, bindings: list) -> dict | None:
    """The epilogue step of ``node`` applied to ``cur``; appends its operand binding."""
    op = node.op
    if op in ACTIVATIONS:
        return activation_step(graph, node, cur)
    if op not in ("add", "mul", "sub") or len(node.inputs) != 2 or \
            node.inputs.count(cur) != 1:
        return None
    other = node.inputs[1] if node.inputs[0] == cur else node.inputs[0]
    if op == "sub" and node.inputs[0] != cur:
        return None
    t = graph.types[other]
    if t.dtype != dtype:
        return None
    channels = _channel_shape(t.shape, out_shape)
    if channels is not None:
        bindings.append((other, [channels], "channel"))
        return {"op": f"channel_{op}", "binding": None}
    if tuple(t.shape) == tuple(out_shape) and op != "sub":
        bindings.append((other, None, "tensor"))
        return {"op": op, "binding": None}
    return None


@lowering("conv")
def lower_conv(region, graph):
    node = region.nodes[0]
    if node.op != "conv":
        return None
    x_t, w_t = graph.types[node.inputs[0]], graph.types[node.inputs[1]]
    out_t = graph.types[node.outputs[0]]
    dtype = out_t.dtype
    nd = x_t.rank - 2
    if dtype not in FLOATS or x_t.dtype != dtype or w_t.dtype != dtype or not 1 <= nd <= 3:
        return None
    tail = region.nodes[-1].outputs[0]
    if tuple(region.outputs) != (tail,) or graph.types[tail].shape != out_t.shape or \
            graph.types[tail].dtype != dtype:
        return None
    out_shape = out_t.shape
    extra: list = []             # (value, channel shape or None, kind)
    steps: list = []
    if len(node.inputs) > 2 and node.inputs[2]:
        if graph.types[node.inputs[2]].dtype != dtype:
            return None
        extra.append((node.inputs[2], [out_shape[1]], "channel"))
        steps.append({"op": "channel_add", "binding": None})
    cur = node.outputs[0]
    for e in region.nodes[1:]:
        step = _step(graph, e, cur, out_shape, dtype, extra)
        if step is None:
            return None
        steps.append(step)
        cur = e.outputs[0]
    if len(steps) > 16:
        return None
    group = node.attr("group", 1)
    strides, dilations, pads = (tuple(node.attr(a)) for a in ("strides", "dilations", "pads"))
    if out_t.size == 0:
        return Lowered(())
    if not _fits(*x_t.shape, *w_t.shape, *out_shape, group, *strides, *dilations, *pads):
        return None
    plane_rows = math.prod(out_shape[2:-1])
    mg = out_shape[1] // group
    per, cb = conv_split(out_shape[0] * group, plane_rows, out_shape[-1], mg,
                         w_t.shape[1] * math.prod(w_t.shape[2:]), 8 if dtype == "f64" else 4,
                         math.prod(w_t.shape[2:]))
    rows = out_shape[0] * group * -(-mg // cb) * plane_rows
    pc = _Consts()
    n, m = pc(x_t.shape[0], "N"), pc(out_shape[1], "M")
    x_shape = [n, pc(x_t.shape[1], "C"), *pc.many(x_t.shape[2:], "I")]
    w_shape = [m, pc(w_t.shape[1], "Cg"), *pc.many(w_t.shape[2:], "K")]
    o_shape = [n, m, *pc.many(out_shape[2:], "O")]
    body = {"kind": "conv", "input": 0, "weights": 1, "output": 2,
            "group": pc(group, "group"), "strides": pc.many(strides, "S"),
            "dilations": pc.many(dilations, "D"), "pads": pc.many(pads, "P"),
            "channel_block": pc(cb, "channel_block")}
    bindings = [{"index": 0, "type": dtype, "access": "read", "shape": x_shape},
                {"index": 1, "type": dtype, "access": "read", "shape": w_shape},
                {"index": 2, "type": dtype, "access": "write", "shape": o_shape}]
    operands = [Operand(node.inputs[0]), Operand(node.inputs[1]), Operand(tail)]
    k = 0
    for step in steps:
        if "binding" not in step:
            continue
        value, channels, kind = extra[k]
        k += 1
        shape = [m if channels[0] != 1 else 1] if kind == "channel" else o_shape
        step["binding"] = len(bindings)
        bindings.append({"index": len(bindings), "type": dtype, "access": "read",
                         "shape": shape})
        operands.append(Operand(value))
    if steps:
        body["epilogue"] = steps
    items = pc(per, "rows")
    function = {"push_constants": pc.names, "bindings": bindings,
                "items_per_workgroup": items, "body": body}
    return Lowered((Dispatch(function, tuple(operands), (-(-rows // per), 1, 1),
                             tuple(pc.values), label(region)),))


POOL_OPS = {"max_pool": "max", "average_pool": "average", "lp_pool": "lp"}


@lowering("pool")
def lower_pool(region, graph):
    node = region.nodes[0]
    kind = POOL_OPS.get(node.op)
    if kind is None or len(region.nodes) != 1:
        return None
    x_t, out_t = graph.types[node.inputs[0]], graph.types[node.outputs[0]]
    dtype = x_t.dtype
    nd = x_t.rank - 2
    if dtype not in FLOATS or out_t.dtype != dtype or not 1 <= nd <= 3:
        return None
    if tuple(region.outputs) != (node.outputs[0],):
        return None              # max pool indices are used: not computed here
    if out_t.size == 0:
        return Lowered(())
    kernel, strides, dilations, pads = (tuple(node.attr(a)) for a in
                                        ("kernel", "strides", "dilations", "pads"))
    if not _fits(*x_t.shape, *out_t.shape, *kernel, *strides, *dilations, *pads):
        return None
    rows = math.prod(out_t.shape[:-1])
    per = pool_rows_per_workgroup(rows, out_t.shape[-1], math.prod(kernel))
    pc = _Consts()
    n, c = pc(x_t.shape[0], "N"), pc(x_t.shape[1], "C")
    # the window as literals: the kernel is generated for it (spec/executables.md 6.6)
    body = {"kind": "pool", "op": kind, "input": 0, "output": 1,
            "kernel": [int(v) for v in kernel], "strides": [int(v) for v in strides],
            "dilations": [int(v) for v in dilations], "pads": [int(v) for v in pads]}
    if kind == "average":
        body["count_include_pad"] = bool(node.attr("count_include_pad", 0))
    if kind == "lp":
        body["p"] = node.attr("p", 2)
    if nd == 2 and strides == dilations == (1, 1) and out_t.shape[2:] == x_t.shape[2:]:
        body["whole_planes"] = True      # the plane pass (spec/executables.md 6.6)
    bindings = [{"index": 0, "type": dtype, "access": "read",
                 "shape": [n, c, *pc.many(x_t.shape[2:], "I")]},
                {"index": 1, "type": dtype, "access": "write",
                 "shape": [n, c, *pc.many(out_t.shape[2:], "O")]}]
    function = {"push_constants": pc.names, "bindings": bindings,
                "items_per_workgroup": pc(per, "rows"), "body": body}
    return Lowered((Dispatch(function, (Operand(node.inputs[0]), Operand(node.outputs[0])),
                             (-(-rows // per), 1, 1), tuple(pc.values), label(region)),))
