"""The compiler tests need the `onnx` extra (installed by `.[test]`); without it the ONNX
tests are skipped rather than failing to import."""

import importlib.util

collect_ignore_glob = [] if importlib.util.find_spec("onnx") else ["test_*onnx*.py",
                                                                   "test_light_*.py",
                                                                   "test_node_*.py",
                                                                   "test_ops_vs_*.py"]
