"""Single conv layers: pyree next to onnxruntime (issue 4: at most 2x ORT latency).

    python benchmarks/conv_bench.py [--repeat 20] [--driver local-task] [--layers a,b]
                                    [--cpu-time] [--split auto|rows]

Each layer is a one-node ONNX model (Conv with bias + Relu, f32, batch 1, random input and
weights), compiled with ``compile_model`` and run with ``load_module`` on the chosen
driver; onnxruntime CPU runs the same model with its default threads. Outputs are checked
against onnxruntime (rtol 1e-3) before timing; each latency is the median of ``--repeat``
calls after two warm-up calls, and the minimum (steadier on a loaded machine). Prints one line per layer and the load average.

``--split rows`` compiles with whole-group row workgroups only (the policy before output
channel blocks, ``lower_conv.conv_split``), for A/B runs against the default ``auto``.

``--cpu-time`` measures CPU time (``time.process_time``, robust to preemption on a loaded
machine) of one-thread runs instead: pyree's serial kernels (``PYREE_NUMBA_PARALLEL=0``
unless set) on local-sync, onnxruntime with ``intra_op_num_threads=1``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# name: (Cin, Cout, H, W, kernel, stride, pad, group)
LAYERS = {
    "resnet_3x3_64": (64, 64, 56, 56, 3, 1, 1, 1),
    "fire_squeeze_1x1_128_16": (128, 16, 55, 55, 1, 1, 0, 1),
    "fire_expand_1x1_16_64": (16, 64, 55, 55, 1, 1, 0, 1),
    "fire_expand_3x3_16_64": (16, 64, 55, 55, 3, 1, 1, 1),
    "resnet_1x1_256_64": (256, 64, 56, 56, 1, 1, 0, 1),
    "resnet_3x3_128_s2": (128, 128, 56, 56, 3, 2, 1, 1),
    "stem_7x7_s2": (3, 64, 224, 224, 7, 2, 3, 1),
    "resnet_3x3_256_14x14": (256, 256, 14, 14, 3, 1, 1, 1),
    "resnet_1x1_2048_512_7x7": (2048, 512, 7, 7, 1, 1, 0, 1),
    "resnet_3x3_512_7x7": (512, 512, 7, 7, 3, 1, 1, 1),
    "resnet_1x1_512_2048_7x7": (512, 2048, 7, 7, 1, 1, 0, 1),
    "squeezenet_1x1_512_1000_13x13": (512, 1000, 13, 13, 1, 1, 0, 1),
    "depthwise_3x3_128": (128, 128, 28, 28, 3, 1, 1, 128),
    "depthwise_3x3_232_s2": (232, 232, 28, 28, 3, 2, 1, 232),
    "tiny_1x1_8_8_4x4": (8, 8, 4, 4, 1, 1, 0, 1),      # the fixed cost of one dispatch
}


def layer_model(cin, cout, h, w, k, s, p, g) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    wt = (rng.standard_normal((cout, cin // g, k, k)) / np.sqrt(cin // g * k * k))
    b = rng.standard_normal(cout) * 0.1
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[k, k],
                              strides=[s, s], pads=[p] * 4, group=g),
             helper.make_node("Relu", ["c"], ["y"])]
    graph = helper.make_graph(
        nodes, "layer", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, h, w])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, cout, oh, ow])],
        initializer=[numpy_helper.from_array(wt.astype(np.float32), "w"),
                     numpy_helper.from_array(b.astype(np.float32), "b")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def rows_only(planes, plane_rows, width, mg, work_per_channel, itemsize=4, taps=1):
    """``lower_conv.conv_split`` without output channel blocks."""
    from pyree.compiler.emit.lower_conv import rows_per_workgroup
    return rows_per_workgroup(planes * plane_rows, width, max(1, work_per_channel * mg)), mg


def times_ms(fn, repeat: int, clock=time.perf_counter) -> tuple[float, float]:
    """(median, minimum) of ``repeat`` calls after two warm-up calls, in ms."""
    fn()
    fn()
    times = []
    for _ in range(repeat):
        t = clock()
        fn()
        times.append(clock() - t)
    return statistics.median(times) * 1e3, min(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--driver", default="local-task")
    ap.add_argument("--layers", default=",".join(LAYERS))
    ap.add_argument("--cpu-time", action="store_true",
                    help="one-thread CPU time (serial pyree kernels, onnxruntime 1 thread)")
    ap.add_argument("--split", choices=("auto", "rows"), default="auto",
                    help="rows: whole-group row workgroups only (no channel blocks)")
    args = ap.parse_args()
    clock = time.perf_counter
    if args.cpu_time:
        os.environ.setdefault("PYREE_NUMBA_PARALLEL", "0")    # read when pyree loads
        clock = time.process_time
        if args.driver == "local-task":
            args.driver = "local-sync"

    import onnxruntime as ort
    from pyree.compiler.api import compile_model
    from pyree.compiler.emit import lower_conv

    if args.split == "rows":
        lower_conv.conv_split = rows_only

    from pyree.runtime import load_module

    print(f"load average {os.getloadavg()[0]:.2f}, driver {args.driver}, split {args.split}"
          + (", CPU time, one thread" if args.cpu_time else ""))
    print(f"{'layer':28s} {'pyree ms':>9s} {'ort ms':>8s} {'ratio':>6s}   "
          f"{'min: pyree':>10s} {'ort':>7s} {'ratio':>6s}")
    for name in args.layers.split(","):
        model = layer_model(*LAYERS[name])
        cin, _, h, w = LAYERS[name][:4]
        x = np.random.default_rng(1).standard_normal((1, cin, h, w)).astype(np.float32)
        module = load_module(compile_model(model), device=args.driver)
        options = ort.SessionOptions()
        if args.cpu_time:
            options.intra_op_num_threads = 1
        session = ort.InferenceSession(model.SerializeToString(), options,
                                       providers=["CPUExecutionProvider"])
        want = session.run(None, {"x": x})[0]
        got = np.asarray(module.main(x))
        if not np.allclose(got, want, rtol=1e-3, atol=1e-4):
            raise SystemExit(f"{name}: output differs from onnxruntime "
                             f"(max |diff| {np.abs(got - want).max():.3g})")
        ours, ours_min = times_ms(lambda m=module, x=x: m.main(x), args.repeat, clock)
        theirs, theirs_min = times_ms(lambda s=session, x=x: s.run(None, {"x": x}),
                                      args.repeat, clock)
        print(f"{name:28s} {ours:9.3f} {theirs:8.3f} {ours / theirs:6.2f}   "
              f"{ours_min:10.3f} {theirs_min:7.3f} {ours_min / theirs_min:6.2f}", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
