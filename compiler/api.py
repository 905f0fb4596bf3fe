"""``compile_model``: an ONNX model -> a ``.pyrm`` module that runs it.

    model --import_model--> Graph --compile_graph--> CompiledGraph
          --lower regions (emit.lowering registry)--> --emit.host--> ModuleDef
          --verify--> --container.write--> bytes

``progress(done, total, what)``, when given, is called as regions are lowered (``what``
names the region's ONNX nodes; ``done == total`` at the end).
"""

from __future__ import annotations

import os

from pyree.bytecode import container, verifier
from pyree.compiler.emit.host import emit_module, lower_all
from pyree.compiler.onnx_import import ImportOptions, import_model, load_model
from pyree.compiler.pipeline import compile_graph

from pyree.model_info import ModelInfo, TensorInfo

MODULE_NAME = "module"


def model_info(model, options: ImportOptions, graph) -> ModelInfo:
    """ONNX input/output names (in ``main``'s argument/result order) with their IR types."""
    inits = {t.name for t in model.graph.initializer}
    names = [v.name for v in model.graph.input
             if v.name not in inits and v.name not in options.constant_inputs]
    if len(names) != len(graph.inputs):
        names = list(graph.inputs)
    outs = [v.name for v in model.graph.output]
    if len(outs) != len(graph.outputs):
        outs = list(graph.outputs)

    def info(name, value):
        t = graph.type_of(value)
        return TensorInfo(name, t.dtype, t.shape)

    return ModelInfo(tuple(info(n, v) for n, v in zip(names, graph.inputs)),
                     tuple(info(n, v) for n, v in zip(outs, graph.outputs)))


def compile_to_module(model, *, options: ImportOptions | None = None, progress=None,
                      name: str = MODULE_NAME):
    """The verified ``ModuleDef`` of ``model`` (an ``onnx.ModelProto``, a path or bytes)."""
    options = options or ImportOptions()
    proto, _ = load_model(model)
    source = os.path.basename(os.fspath(model)) if isinstance(model, (str, os.PathLike)) \
        else f"{proto.graph.name or 'model'}.onnx"
    graph = import_model(model, options)
    compiled = compile_graph(graph, max_fold_elements=options.max_fold_elements)
    info = model_info(proto, options, compiled.graph)
    lowered = lower_all(compiled, progress)
    module = emit_module(compiled, info, name=name, source=source, lowered=lowered)
    verifier.verify(module)
    return module


def compile_model(model, *, options: ImportOptions | None = None, progress=None) -> bytes:
    """``.pyrm`` bytes of ``model`` (``onnx.ModelProto``, path, or serialized bytes)."""
    module = compile_to_module(model, options=options, progress=progress)
    return container.write(module)


def compile_file(src, dst, **kwargs) -> None:
    """Compiles the ONNX file ``src`` into the ``.pyrm`` file ``dst`` (written atomically)."""
    data = compile_model(src, **kwargs)
    tmp = os.fspath(dst) + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, dst)
