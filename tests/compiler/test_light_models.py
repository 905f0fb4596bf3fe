"""Real models (onnx's light_* models): import + reference evaluation match the shipped
outputs. CI runs the two smallest; `python -m pyree.compiler.coverage --models` runs all."""

import pytest

pytest.importorskip("onnx")

from pyree.compiler import reference, testsuite
from pyree.compiler.onnx_import import import_model


@pytest.mark.parametrize("name", ["squeezenet", "shufflenet"])
def test_light_model_matches_expected_output(name):
    path, inputs, expected = testsuite.light_case(name)
    graph = import_model(path)
    got = reference.evaluate(graph, inputs)
    assert reference.allclose(expected, got, rtol=1e-3, atol=1e-7) == []


def test_all_nine_light_models_are_listed():
    assert set(testsuite.light_models()) == {
        "bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50",
        "shufflenet", "squeezenet", "vgg19", "zfnet512"}
