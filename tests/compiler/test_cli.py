"""`python -m pyree.compiler`: compile a model and print what the front half produced."""

import subprocess
import sys

from onnx import helper
from pyree.compiler import testsuite

from .helpers import F32, model


def _run(*args):
    return subprocess.run([sys.executable, "-m", "pyree.compiler", *args],
                          check=False, capture_output=True, text=True, timeout=120)


def test_summary_names_outputs_as_the_model_does():
    path, _, _ = testsuite.light_case("squeezenet")
    out = _run(path, "--regions")
    assert out.returncode == 0, out.stderr
    assert "outputs: softmaxout_1: tensor<1x1000x1x1xf32>" in out.stdout
    assert "region    0 conv" in out.stdout and "transient arena:" in out.stdout


def test_unsupported_ops_and_unresolved_dims_exit_1_with_a_status_message(tmp_path):
    bad = tmp_path / "nms.onnx"
    bad.write_bytes(model([helper.make_node("NonMaxSuppression", ["x", "x"], ["y"],
                                            name="nms")],
                          [("x", F32, [1, 2, 4])], [("y", F32, None)]).SerializeToString())
    out = _run(str(bad))
    assert out.returncode == 1 and "UNIMPLEMENTED" in out.stderr and "'nms'" in out.stderr
    dyn = tmp_path / "dyn.onnx"
    dyn.write_bytes(model([helper.make_node("Relu", ["x"], ["y"])], [("x", F32, ["N", 2])],
                          [("y", F32, None)]).SerializeToString())
    assert "x: tensor<4x2xf32>" in _run(str(dyn), "--dim", "N=4").stdout
    refused = _run(str(dyn), "--default-dim", "none")
    assert refused.returncode == 1 and "dynamic" in refused.stderr
