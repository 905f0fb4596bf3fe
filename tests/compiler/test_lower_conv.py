"""Conv and pool regions lowered to the pyree-kernels-v1 ``conv`` / ``pool`` bodies
(``compiler/emit/lower_conv.py``): small ONNX graphs are compiled, their regions lowered and
the dispatches run directly on numpy-backed buffers (``execute_lowered``), then compared
with the reference evaluator. Regions the bodies cannot express fall through to the next
lowering.

The conv graphs share one epilogue structure (bias, batch norm, residual, relu) so that one
numba compile serves every geometry.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper
from pyree.compiler import reference
from pyree.compiler.emit import execute_lowered
from pyree.compiler.emit.lower_conv import (GEMM_KC, GEMM_ROWS, PANEL_BYTES, PATCH_BYTES,
                                            _two_thread_panels, balanced_rows, conv_split,
                                            lower_conv, lower_pool, panel_rows,
                                            pool_rows_per_workgroup)
from pyree.compiler.emit.lowering import lower_region
from pyree.compiler.onnx_import import import_model
from pyree.compiler.pipeline import compile_graph

from .helpers import F32, model


def _compile(nodes, inputs, params):
    return compile_graph(import_model(model(nodes, inputs, [("y", F32, None)], params)))


def _run(compiled, feeds):
    want = reference.evaluate(compiled.graph, feeds)
    got = execute_lowered.run_partition(compiled.partition, feeds)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=1e-4)


def _bodies(compiled) -> list:
    out = []
    for region in compiled.partition.regions:
        if region.dispatches:
            out += [d.function["body"]["kind"]
                    for d in lower_region(region, compiled.graph).dispatches]
    return out


CONVS = {   # x shape, w shape, attributes
    "2d": ((2, 4, 9, 9), (8, 4, 3, 3), {"pads": [1, 1, 1, 1]}),
    "2d-strided-dilated": ((1, 4, 11, 10), (8, 2, 3, 2),
                           {"strides": [2, 1], "dilations": [1, 2], "group": 2,
                            "pads": [2, 0, 1, 1]}),
    "2d-same-upper": ((1, 3, 8, 7), (6, 3, 4, 4), {"strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    "depthwise": ((1, 6, 8, 8), (6, 1, 3, 3), {"group": 6, "pads": [1, 1, 1, 1]}),
    "1x1": ((1, 16, 5, 5), (12, 16, 1, 1), {}),
    "1d": ((2, 3, 12), (4, 3, 3), {"strides": [2], "pads": [1, 1]}),
    "3d": ((1, 2, 4, 5, 6), (4, 2, 2, 2, 3), {"pads": [0, 1, 1, 1, 0, 1]}),
    # items over output channel blocks: a 4x4 plane (2 blocks of 24) and a 1x1 conv with
    # 7x7 outputs, 2 groups, batch 2 and stride 2 (2 blocks of 24 per (n, g))
    "4x4-channel-blocks": ((1, 64, 4, 4), (48, 64, 3, 3), {"pads": [1, 1, 1, 1]}),
    "7x7-channel-blocks-grouped": ((2, 256, 13, 13), (96, 128, 1, 1),
                                   {"strides": [2, 2], "group": 2}),
}


@pytest.mark.parametrize("case", sorted(CONVS))
def test_conv_bias_batchnorm_residual_relu_is_one_conv_dispatch(case):
    xs, ws, attrs = CONVS[case]
    rng = np.random.default_rng(1)
    m = ws[0]
    params = {"w": rng.standard_normal(ws).astype(np.float32),
              "bias": rng.standard_normal(m).astype(np.float32),
              "s": (rng.random(m) + 0.5).astype(np.float32),
              "b": rng.standard_normal(m).astype(np.float32),
              "mean": rng.standard_normal(m).astype(np.float32),
              "var": (rng.random(m) + 0.5).astype(np.float32)}
    x = rng.standard_normal(xs).astype(np.float32)
    plain = _compile([helper.make_node("Conv", ["x", "w", "bias"], ["y"], **attrs)],
                     [("x", F32, list(xs))], params)
    out_shape = list(plain.graph.types["y"].shape)
    nodes = [helper.make_node("Conv", ["x", "w", "bias"], ["c"], **attrs),
             helper.make_node("BatchNormalization", ["c", "s", "b", "mean", "var"], ["n"]),
             helper.make_node("Add", ["n", "r"], ["a"]),
             helper.make_node("Relu", ["a"], ["y"])]
    compiled = _compile(nodes, [("x", F32, list(xs)), ("r", F32, out_shape)], params)
    assert _bodies(compiled) == ["conv"]
    (d,) = lower_region(compiled.partition.regions[0], compiled.graph).dispatches
    assert [s["op"] for s in d.function["body"]["epilogue"]] == \
        ["channel_add", "channel_mul", "channel_add", "add", "relu"]
    _run(compiled, [x, rng.standard_normal(out_shape).astype(np.float32)])


def test_conv_with_clip_leaky_relu_and_sigmoid_epilogue():
    rng = np.random.default_rng(2)
    params = {"w": rng.standard_normal((5, 3, 3, 3)).astype(np.float32),
              "lo": np.array(-0.5, np.float32), "hi": np.array(6.0, np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Clip", ["c", "lo", "hi"], ["k"]),
             helper.make_node("LeakyRelu", ["k"], ["l"], alpha=0.3),
             helper.make_node("Sigmoid", ["l"], ["y"])]
    compiled = _compile(nodes, [("x", F32, [1, 3, 6, 7])], params)
    assert _bodies(compiled) == ["conv"]
    _run(compiled, [rng.standard_normal((1, 3, 6, 7)).astype(np.float32)])


def test_plain_conv():
    rng = np.random.default_rng(3)
    compiled = _compile([helper.make_node("Conv", ["x", "w"], ["y"], strides=[2, 2])],
                        [("x", F32, [2, 3, 9, 8])],
                        {"w": rng.standard_normal((10, 3, 3, 3)).astype(np.float32)})
    assert _bodies(compiled) == ["conv"]
    _run(compiled, [rng.standard_normal((2, 3, 9, 8)).astype(np.float32)])


POOLS = {   # ONNX op, x shape, attributes
    "max-ceil": ("MaxPool", (2, 3, 9, 10), {"kernel_shape": [3, 3], "strides": [2, 2],
                                             "ceil_mode": 1}),
    "max-1d-dilated": ("MaxPool", (1, 2, 13), {"kernel_shape": [3], "dilations": [2],
                                               "pads": [2, 1]}),
    "average-cip": ("AveragePool", (1, 2, 7, 8), {"kernel_shape": [3, 2], "pads": [1, 1, 1, 0],
                                                  "count_include_pad": 1, "strides": [2, 2]}),
    "average-3d": ("AveragePool", (1, 2, 5, 6, 7), {"kernel_shape": [2, 2, 3],
                                                    "pads": [1, 0, 1, 0, 1, 1],
                                                    "ceil_mode": 1, "strides": [2, 2, 2]}),
    "lp": ("LpPool", (1, 3, 8, 8), {"kernel_shape": [2, 2], "strides": [2, 2], "p": 3}),
}


@pytest.mark.parametrize("case", sorted(POOLS))
def test_pool_is_one_pool_dispatch(case):
    op, xs, attrs = POOLS[case]
    compiled = _compile([helper.make_node(op, ["x"], ["y"], **attrs)], [("x", F32, list(xs))],
                        {})
    assert _bodies(compiled) == ["pool"]
    _run(compiled, [np.random.default_rng(4).standard_normal(xs).astype(np.float32)])


@pytest.mark.parametrize("rows, width, taps, workgroups", [
    (64 * 55, 55, 9, 16), (128 * 27, 27, 9, 16), (256 * 13, 13, 9, 10),   # squeezenet
    (2048, 1, 49, 2),           # resnet50's 7x7 global average: 100K taps
    (5, 7, 4, 1),               # 140 taps: one workgroup
    (3, 10000, 9, 2)])          # three rows with much work: an even count, at most rows
def test_pool_rows_split_into_an_even_number_of_workgroups(rows, width, taps, workgroups):
    per = pool_rows_per_workgroup(rows, width, taps)
    assert -(-rows // per) == workgroups


def _region(compiled, kind):
    return next(r for r in compiled.partition.regions if r.kind == kind)


def test_what_the_bodies_cannot_express_falls_through():
    rng = np.random.default_rng(5)
    w = rng.standard_normal((3, 4, 3, 3)).astype(np.float32)
    # conv_transpose
    ct = _compile([helper.make_node("ConvTranspose", ["x", "w"], ["y"])],
                  [("x", F32, [1, 3, 5, 5])], {"w": w})
    assert lower_conv(_region(ct, "conv"), ct.graph) is None
    # an epilogue op outside the closed set, and a subtraction from a constant
    for tail in (helper.make_node("Tanh", ["c"], ["y"]),
                 helper.make_node("Sub", ["k", "c"], ["y"])):
        g = _compile([helper.make_node("Conv", ["x", "w"], ["c"]), tail],
                     [("x", F32, [1, 4, 5, 5])],
                     {"w": w.reshape(3, 4, 3, 3), "k": np.ones((3, 1, 1), np.float32)})
        assert [n.op for n in _region(g, "conv").nodes][1:] == [tail.op_type.lower()]
        assert lower_conv(_region(g, "conv"), g.graph) is None
    # max pool indices used
    mp = compile_graph(import_model(model(
        [helper.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[2, 2])],
        [("x", F32, [1, 2, 4, 4])], [("y", F32, None), ("i", 7, None)])))
    assert lower_pool(_region(mp, "pool"), mp.graph) is None


def test_light_squeezenet_through_the_conv_and_pool_bodies_matches_its_shipped_output():
    """light_squeezenet's last conv has equal weights, so its 1000 logits must come out
    bit for bit equal, split into channel blocks over the whole 13x13 plane as they are:
    pyree's GEMM computes every channel alike (with OpenBLAS's sgemm such blocks made 502
    softmax outputs 0.002)."""
    from pyree.compiler import testsuite

    path, inputs, expected = testsuite.light_case("squeezenet")
    compiled = compile_graph(import_model(path))
    kinds = [r.kind for r in compiled.partition.regions]
    assert _bodies(compiled).count("conv") == kinds.count("conv") == 26
    assert _bodies(compiled).count("pool") == kinds.count("pool") == 3
    got = execute_lowered.run_partition(compiled.partition, inputs)
    assert reference.allclose(expected, got, rtol=1e-3, atol=1e-7) == []
    np.testing.assert_array_equal(got[0], reference.evaluate(compiled.graph, inputs)[0])


def _conv_dispatch(xs, ws, attrs, head=()):
    """(channel block, rows per workgroup, workgroups) of a conv, followed by ``head``
    (op types applied in a chain to its output)."""
    rng = np.random.default_rng(0)
    names = ["c"] + [f"h{i}" for i in range(len(head))]
    nodes = [helper.make_node("Conv", ["x", "w"], [names[0] if head else "y"], **attrs)]
    for i, op in enumerate(head):
        nodes.append(helper.make_node(op, [names[i]], [names[i + 1] if i + 1 < len(head)
                                                       else "y"]))
    compiled = _compile(nodes, [("x", F32, list(xs))],
                        {"w": rng.standard_normal(ws).astype(np.float32)})
    (d,) = lower_region(_region(compiled, "conv"), compiled.graph).dispatches
    body = d.function["body"]
    block = d.constants[body["channel_block"]["pc"]]
    per = d.constants[d.function["items_per_workgroup"]["pc"]]
    return block, per, d.workgroups[0]


@pytest.mark.parametrize("xs, ws, attrs, want", [
    # 1x1 2048 -> 512 at 7x7: 4 blocks of 132 (22 micro-kernel tiles each; the last 116),
    # each over the whole plane
    ((1, 2048, 7, 7), (512, 2048, 1, 1), {}, (132, 7, 4)),
    # 1x1 at 13x13, 1000 channels
    ((1, 512, 13, 13), (1000, 512, 1, 1), {}, (252, 13, 4)),
    # 1x1 stride 2: 2 groups x 2 images x 2 blocks of 24
    ((2, 256, 13, 13), (96, 128, 1, 1), {"strides": [2, 2], "group": 2}, (24, 7, 8)),
    # 1x1, 320 channels: 2 blocks of 162 + 158, not 3 of 108; 128: 66 + 62 (11 tiles
    # each), not 72 + 56
    ((1, 160, 13, 13), (320, 160, 1, 1), {}, (162, 13, 2)),
    ((1, 512, 14, 14), (128, 512, 1, 1), {}, (66, 14, 2)),
    # a 3x3 conv whose half plane is less than a GEMM panel (2 rows of 4 positions)
    ((1, 256, 4, 4), (256, 256, 3, 3), {"pads": [1, 1, 1, 1]}, (132, 4, 2)),
])
def test_small_planes_of_single_tap_convs_split_by_output_channel_blocks(xs, ws, attrs,
                                                                          want):
    assert _conv_dispatch(xs, ws, attrs) == want


@pytest.mark.parametrize("xs, ws, attrs, want", [
    # 3x3 at 7x7: rows 4 + 3 (each channel block would build the whole patch matrix)
    ((1, 512, 7, 7), (512, 512, 3, 3), {"pads": [1, 1, 1, 1]}, (512, 4, 2)),
    ((1, 256, 14, 14), (256, 256, 3, 3), {"pads": [1, 1, 1, 1]}, (256, 7, 2)),
    ((1, 160, 13, 13), (320, 160, 3, 3), {"pads": [1, 1, 1, 1]}, (320, 7, 2)),
    # half a 6x6 plane is 18 positions, more than a panel
    ((1, 192, 6, 6), (384, 192, 3, 3), {"pads": [1, 1, 1, 1]}, (384, 3, 2)),
    # 5x5
    ((1, 32, 13, 13), (128, 32, 5, 5), {"pads": [2, 2, 2, 2]}, (128, 7, 2)),
])
def test_small_planes_of_multi_tap_convs_split_rows(xs, ws, attrs, want):
    assert _conv_dispatch(xs, ws, attrs) == want


@pytest.mark.parametrize("head", [
    ("Relu", "GlobalAveragePool", "Flatten", "Softmax"),    # light_squeezenet's classifier
    ("GlobalMaxPool", "LogSoftmax"),
    ("Relu", "GlobalAveragePool"),
])
def test_a_classifiers_logits_split_by_channel_blocks_like_any_conv(head):
    """Channel blocks keep equal channels equal (the GEMM computes every element alike),
    so a conv whose channels are a classifier's logits splits as any other does."""
    assert _conv_dispatch((1, 512, 13, 13), (1000, 512, 1, 1), {}, head) == (252, 13, 4)


@pytest.mark.parametrize("xs, ws, attrs, want", [
    # 16 rows and more: row workgroups of all the channels, 2 of 8 rows (8 panels each;
    # 16 of 1 row would be as many panels, in 8x the GEMM calls)
    ((1, 256, 16, 16), (256, 256, 3, 3), {"pads": [1, 1, 1, 1]}, (256, 8, 2)),
    # too few channels for two blocks: rows, 4 + 3 (5 + 2 left one thread idle)
    ((1, 32, 7, 7), (16, 32, 3, 3), {"pads": [1, 1, 1, 1]}, (16, 4, 2)),
    # too little work to share: one workgroup
    ((1, 8, 7, 7), (32, 8, 1, 1), {}, (32, 7, 1)),
])
def test_larger_planes_and_small_convs_keep_whole_groups(xs, ws, attrs, want):
    assert _conv_dispatch(xs, ws, attrs) == want


@pytest.mark.parametrize("mg", [24, 32, 48, 128, 160, 288, 320, 352, 383, 384, 512, 1000])
def test_channel_blocks_are_an_even_count_of_whole_tiles_shared_evenly(mg):
    per, cb = conv_split(1, 7, 7, mg, 1 << 12)     # a 1x1 conv (one tap)
    blocks = [min(cb, mg - b) for b in range(0, mg, cb)]
    assert per == 7 and len(blocks) in (2, 4)
    assert cb % GEMM_ROWS == 0
    tiles = [-(-b // GEMM_ROWS) for b in blocks]
    half = len(tiles) // 2
    assert abs(sum(tiles[:half]) - sum(tiles[half:])) <= 2    # two threads, even work


def test_the_gemm_constants_are_the_gemms():
    from pyree.modules.hal.kernels import gemm, panels, spatial_layout
    from pyree.compiler.emit import lower_conv

    assert (GEMM_ROWS, GEMM_KC) == (gemm.SUB, gemm.KC) and gemm.MR % GEMM_ROWS == 0
    assert all(PANEL_BYTES // size == panels.width(size) for size in (4, 8))
    assert lower_conv.DIRECT_BELOW == spatial_layout.DIRECT_BELOW


@pytest.mark.parametrize("rows, plane_rows, width, per, depth, want", [
    (28, 28, 28, 2, 864, 7),        # inception_v2's 96 -> 96 3x3 at 28x28: 4 x 196 positions
    (27, 27, 27, 2, 1152, 7),       # inception_v1's 128 -> 192 3x3 at 27x27: 4 x 189
    (56, 56, 56, 4, 576, 4),        # 64 -> 192 3x3 at 56x56: 224 positions, 14 whole panels
    (1, 1, 5, 1, 10, 1),            # one row
])
def test_panel_rows_fills_the_gemms_panels(rows, plane_rows, width, per, depth, want):
    assert panel_rows(rows, plane_rows, width, per, depth, 4) == want


def test_two_thread_panels_counts_each_plane_segment_and_the_busier_thread():
    # 2 planes of 3 rows of 10: workgroups of 2 rows are [0,2) [2,4) [4,6); [2,4) crosses
    # the plane boundary, so it is two calls of 10 positions (1 panel each, 16 wide)
    assert _two_thread_panels(6, 3, 10, 2, 16) == 2 + 2      # thread 0: [0,2) and [2,4)
    assert _two_thread_panels(6, 3, 10, 3, 16) == 2          # one 30-position call each


@given(st.integers(1, 300), st.integers(1, 60), st.integers(1, 80), st.integers(1, 64),
       st.integers(1, 5000), st.sampled_from([4, 8]))
@settings(max_examples=200, deadline=None)
def test_panel_rows_never_costs_the_busier_thread_more_panels(rows, plane_rows, width, per,
                                                              depth, itemsize):
    rows = max(rows, plane_rows)
    rows -= rows % plane_rows
    per = min(per, rows)
    got = panel_rows(rows, plane_rows, width, per, depth, itemsize)
    panel = PANEL_BYTES // itemsize
    assert -(-per // 2) <= got <= rows
    assert _two_thread_panels(rows, plane_rows, width, got, panel) <= \
        _two_thread_panels(rows, plane_rows, width, per, panel)
    if -(-rows // per) > 1:
        assert -(-rows // got) > 1
    if got > per:
        assert got * width * min(depth, GEMM_KC) * itemsize <= PATCH_BYTES


def _share(rows, per, threads):
    """The largest share of rows one thread gets, from numba's schedule as measured."""
    count = -(-rows // per)
    owner = _schedule(count, threads)
    return max(sum(min(per, rows - i * per) for i in range(count) if owner[i] == t)
               for t in range(threads)) / rows


@functools.cache
def _schedule(count, threads):
    """Which kernel thread runs each of ``count`` prange iterations (numba's static
    schedule), on a parallel kernel with ``threads`` threads."""
    from pyree.modules.hal.kernels import config

    numba = config.import_numba()
    numba.set_num_threads(threads)
    try:
        out = np.zeros(count, np.int64)
        _thread_ids()(count, out)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    return out.tolist()


@functools.cache
def _thread_ids():
    from pyree.modules.hal.kernels import config

    numba = config.import_numba()

    @numba.njit(parallel=True)
    def f(n, out):
        for i in numba.prange(n):
            out[i] = numba.get_thread_id()
    return f


def _threads():
    from pyree.modules.hal.kernels import config

    return min(2, config.import_numba().config.NUMBA_NUM_THREADS)


@pytest.mark.parametrize("rows, per", [(26, 2), (13, 2), (54, 5), (7, 5), (56, 4), (3136, 1),
                                       (100, 100), (9, 4)])
def test_balanced_rows_gives_two_threads_equal_rows(rows, per):
    """The picked row count is between 2/3 ``per`` and ``per``, and under numba's real
    schedule no thread gets more rows than with ``per``, nor more than half of them plus
    one workgroup. 54 rows of 5 are 11 workgroups, 30 rows for one thread and 24 for the
    other; 54 rows of 4 are 14 workgroups, 28 and 26."""
    threads = _threads()
    got = balanced_rows(rows, per)
    assert -(-2 * per // 3) <= got <= per
    assert _share(rows, got, threads) <= _share(rows, per, threads)
    assert _share(rows, got, threads) * rows <= -(-rows // threads) + got
    if (rows, per) == (54, 5) and threads == 2:
        assert got == 4 and _share(rows, got, 2) * rows == 28


@given(st.integers(1, 400), st.integers(1, 64))
@settings(max_examples=60, deadline=None)
def test_balanced_rows_never_worsens_the_two_thread_share(rows, per):
    per = min(per, rows)
    got = balanced_rows(rows, per)
    assert -(-2 * per // 3) <= got <= per
    assert _share(rows, got, _threads()) <= _share(rows, per, _threads()) + 1e-12
