"""pyree's compiler: ONNX -> tensor IR -> folded, partitioned dispatch regions with a buffer
plan (next: pyree-kernels-v1 executables and VM bytecode).

Modules: ``ir`` (graph, values, nodes), ``dtypes``, ``verify``, ``ops`` (the op table:
inference, numpy reference, ONNX import rule per op), ``onnx_import``, ``passes``
(shape inference, constant folding, DCE, partitioning, buffer planning), ``pipeline``,
``reference`` (the numpy evaluator), ``coverage`` (the ONNX backend test sweep).
"""
