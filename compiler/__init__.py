"""pyree's compiler: ONNX -> tensor IR -> folded, partitioned dispatch regions with a buffer
plan -> pyree-kernels-v1 dispatches and a bytecode module (``compile_model`` in ``api``;
``emit``: region lowerings and host-program emission).

Modules: ``ir`` (graph, values, nodes), ``dtypes``, ``verify``, ``ops`` (the op table:
inference, numpy reference, ONNX import rule per op), ``onnx_import``, ``passes``
(shape inference, constant folding, DCE, partitioning, buffer planning), ``pipeline``,
``reference`` (the numpy evaluator), ``coverage`` (the ONNX backend test sweep).
"""


def __getattr__(name):  # the API without importing onnx for every compiler submodule
    if name in ("compile_model", "compile_file", "compile_to_module"):
        from pyree.compiler import api

        return getattr(api, name)
    raise AttributeError(f"module 'pyree.compiler' has no attribute '{name}'")
