"""docs/onnx-coverage.md is generated; its op lists must match the op table."""

import pathlib

from pyree.compiler.ops import ONNX_RULES, OPS

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "onnx-coverage.md"


def _section(title):
    lines = DOC.read_text().splitlines()
    return lines[lines.index(f"## {title}") + 2]


def test_documented_onnx_ops_match_the_import_rules():
    listed = _section("ONNX ops with an import rule").split(", ")
    assert listed[:-2] == sorted(ONNX_RULES) and listed[-2:] == ["If", "Scan"], (
        "stale: run python -m pyree.compiler.coverage --models --write docs/onnx-coverage.md")


def test_documented_ir_ops_match_the_op_table():
    assert _section("IR ops").split(", ") == sorted(OPS)
