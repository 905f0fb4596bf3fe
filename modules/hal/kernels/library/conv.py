"""Convolution (spec/executables.md 6.5): N-D NC... conv with groups, strides, dilations,
pads and a fused epilogue, always generated as a 3-D kernel (1-D and 2-D convs run with
leading unit spatial dims), so one source serves every shape of a given dtype and epilogue.

Items are output rows ``(n, g, b, od, oh)`` (C order; a row is ``OW`` output positions of
the ``mb`` output channels of block ``b`` of group ``g``: channels ``[b*cb, b*cb + mb)`` of
the group, ``cb`` the channel block (``channel_block``, the whole group ``Mg`` unless the
body splits it; ``mb = min(cb, Mg - b*cb)``, ``nb`` blocks per group). A workgroup walks
its items one ``(n, g, b)`` segment at a time, over positions ``[r0*OW, r1*OW)``: the
segment's product is one ``conv_tile`` call with ``mb`` output channels and the block's
weight rows, so a channel block over a whole small plane gives the BLAS call a large N
(positions) where one-row items would give it ``OW``. Blocks of the same group build the
same patch matrix each (duplicated work, small next to the product).

The product is written straight into the output binding (``dst`` = the output, ``ldd``
= its channel stride) and the epilogue then runs in place over it; when a tensor (``add``
/ ``mul``) operand is read, the product goes to a workgroup scratch ``t`` first, since a
residual may share the output's bytes. ``direct`` (chosen by ``spatial_layout``):

* ``0`` (im2col): one BLAS ``xgemm`` of the group's weight matrix ``[Mg, Cg*K]`` by the
  input patches: the input block itself for a 1x1 stride-1 unpadded conv (row stride the
  channel size), else a ``[Cg*K, npos]`` patch matrix copied into the workgroup scratch
  ``cols`` (zeros where a tap falls into padding).
* ``1``: each tap accumulates ``w * x`` row by row over its in-range columns.
* ``2``: the same over zero-padded, stride-phase-split copies of the input rows (in
  ``cols``), so every tap is one bounds-free loop (depthwise convs).

``clen``, the ``cols`` length, comes from the layout (the patch matrix or
``conv_tile.plane_len``).

Both compute in the element type (f32 convs: f32 products and sums, as onnxruntime does;
f64 convs: f64). The im2col product is pyree's GEMM (``kernels/gemm.py``), which computes
every output channel alike: channels with equal weights come out bit for bit equal
wherever a channel block or a row split puts them, and any channel block gives the
unsplit call's values. light_squeezenet needs that: its last conv's weights are all
equal (ConstantOfShape), so its 1000 logits are mathematically equal (~6.8e9) and its
softmax turns a 1-ulp difference between channels into 0.001 -> 0 or 0.002 (OpenBLAS's
Haswell sgemm rounded columns 6-11 of each 12-column panel differently from columns 0-5
once a call covered 16 or more positions). The segment's product comes from
``conv_tile.conv_tile``, one function compiled once per input type and shared by every conv
kernel, so an epilogue variant compiles only its loop and epilogue. Then the epilogue steps
are applied to each value in order and it is stored (no loop without steps). Every input
index is formed from coordinates proven inside the input (taps in padding are skipped or
read zeros from the padded copy); ``spatial_layout`` has proven each touched ``(n, g)``
block inside every binding.
"""

from __future__ import annotations

from .. import config
from ..ir import Function
from . import skeleton

# The kernel source names the digest of the shared tile function and its GEMM, so that
# editing either changes every conv kernel's cache key (numba's cache does not track
# callees).
_TILE_DIGEST = config.source_digest("conv_tile.py", "gemm.py", "gemm_ir.py")

NAMES = ("n", "nwg", "per", "G", "Cg", "Mg", "ID", "IH", "IW", "OD", "OH", "OW", "KD", "KH",
         "KW", "SD", "SH", "SW", "DD", "DH", "DW", "PD", "PH", "PW", "xo", "wo", "oo",
         "direct", "clen", "cb", "nb")


def _epilogue(fn: Function, T: str, value: str, indent: str) -> list[str]:
    """Lines applying the epilogue to ``v`` (initialised from ``value``) and storing it."""
    lines = [f"v = {T}({value})", *skeleton.epilogue_steps(fn.body.epilogue, T, "ch", "oi"),
             f"b{fn.body.output}[np.uint64(oo + oi)] = v"]
    return [indent + line for line in lines]


def _extras(fn: Function, T: str) -> list[str]:
    lines = [f"{name} = p[{k}]" for k, name in enumerate(NAMES)]
    lines += skeleton.epilogue_params(fn.body.epilogue, T, len(NAMES))
    return ["    " + line for line in lines]


def emit(fn: Function) -> tuple[list[str], tuple]:
    body = fn.body
    etype = fn.bindings[body.output].type
    T = etype.ctor
    x, wt, out = f"b{body.input}", f"b{body.weights}", f"b{body.output}"
    params = ", ".join([f"b{b.index}" for b in fn.bindings] + ["p", "fp"])
    lines = skeleton.header(("fmin", "fmax"))
    lines.insert(lines.index(""),
                 "from pyree.modules.hal.kernels.conv_tile import conv_tile")
    lines.insert(2, f"# conv_tile.py, gemm.py, gemm_ir.py sha256 {_TILE_DIGEST}")
    lines.append(f"def kernel({params}):")
    lines += _extras(fn, T)
    # A tensor operand (a residual) may share the output's bytes, so the product goes to a
    # scratch when one is read; otherwise straight into the output, finished in place.
    scratch = any(s.op in ("add", "mul") for s in body.epilogue)
    dst, do, ldd = ("t", "0", "npos") if scratch else (out, "oo + ob", "OS")
    lines += [
        "    C = G * Cg",
        "    M = G * Mg",
        "    IS = ID * IH * IW",
        "    OS = OD * OH * OW",
        "    KK = KD * KH * KW",
        "    CK = Cg * KK",
        "    rows = OD * OH",
        "    last = (n - 1) // (rows * nb) if n > 0 else 0",
        "    wl = (min(G - 1, last) + 1) * Mg * CK",
        f"    w64 = {wt}[wo:wo + wl]",
        "    segpos = min(per, rows) * OW",
        "    for w in prange(nwg):",
        f"        cols = np.empty(clen, {x}.dtype)",
        *([f"        t = np.empty(cb * segpos, {x}.dtype)"] if scratch else []),
        "        start = w * per",
        "        end = min(start + per, n)",
        "        row = start",
        "        while row < end:",
        "            seg = row // rows",
        "            r0 = row - seg * rows",
        "            r1 = min(rows, r0 + (end - row))",
        "            ng = seg // nb",
        "            m0 = (seg - ng * nb) * cb",
        "            mb = min(cb, Mg - m0)",
        "            ni = ng // G",
        "            g = ng - ni * G",
        "            npos = (r1 - r0) * OW",
        "            xb = xo + (ni * C + g * Cg) * IS",
        "            wb = (g * Mg + m0) * CK",
        "            ob = (ni * M + g * Mg + m0) * OS + r0 * OW",
        (f"            conv_tile({x}, w64, xb, wb, r0, r1, Cg, mb, ID, IH, IW, OD, OH, OW, KD, "
         f"KH, KW, SD, SH, SW, DD, DH, DW, PD, PH, PW, direct, cols, {dst}, {do}, {ldd})"),
    ]
    if body.epilogue:
        lines += [
            "            for m in range(mb):",
            "                ch = g * Mg + m0 + m",
            f"                src = {do} + m * {ldd}",
            "                for q in range(npos):",
            "                    oi = ob + m * OS + q",
            *_epilogue(fn, T, f"{dst}[np.uint64(src + q)]", "                    "),
        ]
    lines.append("            row += r1 - r0")
    return lines, ()
