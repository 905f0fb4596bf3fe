"""pyree behind ONNX's own Python conventions.

``pyree.onnx.backend`` is a backend module in the ONNX backend convention (as
``onnxruntime.backend``): ``prepare``, ``run_model``, ``run_node``, ``supports_device``,
``is_compatible``; ``onnx.backend.test.BackendTest(pyree.onnx.backend, __name__)`` runs
ONNX's backend test suite against pyree.

Every module of this package imports the real ``onnx`` package by its absolute name
(``import onnx``); nothing here is named like a top-level module it needs.
"""
