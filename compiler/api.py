"""``compile_model``: an ONNX model -> a ``.pyrm`` module that runs it.

    model --import_model--> Graph --compile_graph--> CompiledGraph
          --lower regions (emit.lowering registry)--> --emit.host--> ModuleDef
          --verify--> --container.write--> bytes

``progress(done, total, what)``, when given, is called as regions are lowered (``what``
names the region's ONNX nodes; ``done == total`` at the end) and, with
``prepare_kernels=True``, again as each kernel is compiled into the on-disk cache.
"""

from __future__ import annotations

import json
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


def prepare_kernels(functions, progress=None) -> None:
    """Compiles each executable function's kernel now (numba; written to the on-disk
    kernel cache), so that loading the module on this machine finds them compiled.
    Functions differing only in name (one per dispatch site) share a kernel and are
    prepared once. ``progress(done, total, name)`` is called before each kernel."""
    from pyree.compiler.emit.executable_table import FORMAT
    from pyree.modules.hal.executable import Executable

    distinct = {}
    for fn in functions:
        key = json.dumps({k: v for k, v in fn.items() if k != "name"}, sort_keys=True)
        distinct.setdefault(key, fn)
    functions = list(distinct.values())
    for done, fn in enumerate(functions):
        if progress is not None:
            progress(done, len(functions), fn["name"])
        data = json.dumps({"version": 1, "functions": [fn]}, sort_keys=True,
                          separators=(",", ":")).encode()
        Executable.create(FORMAT, data).release()
    if progress is not None:
        progress(len(functions), len(functions), "kernels prepared")


def compile_to_module(model, *, options: ImportOptions | None = None, progress=None,
                      name: str = MODULE_NAME, prepare: bool = False):
    """The verified ``ModuleDef`` of ``model`` (an ``onnx.ModelProto``, a path or bytes);
    ``prepare``: also compile its kernels into the on-disk cache (:func:`prepare_kernels`)."""
    options = options or ImportOptions()
    proto, _ = load_model(model)
    source = os.path.basename(os.fspath(model)) if isinstance(model, (str, os.PathLike)) \
        else f"{proto.graph.name or 'model'}.onnx"
    graph = import_model(model, options)
    compiled = compile_graph(graph, max_fold_elements=options.max_fold_elements)
    info = model_info(proto, options, compiled.graph)
    lowered = lower_all(compiled, progress)
    functions: list = []
    module = emit_module(compiled, info, name=name, source=source, lowered=lowered,
                         functions=functions)
    verifier.verify(module)
    if prepare:
        prepare_kernels(functions, progress)
    return module


def compile_model(model, *, options: ImportOptions | None = None, progress=None,
                  prepare_kernels: bool = False) -> bytes:
    """``.pyrm`` bytes of ``model`` (``onnx.ModelProto``, path, or serialized bytes).

    ``prepare_kernels=True`` also compiles every kernel now (reported through
    ``progress`` as a second pass), so the first load on this machine is fast."""
    module = compile_to_module(model, options=options, progress=progress,
                               prepare=prepare_kernels)
    return container.write(module)


def compile_file(src, dst, **kwargs) -> None:
    """Compiles the ONNX file ``src`` into the ``.pyrm`` file ``dst`` (written atomically)."""
    data = compile_model(src, **kwargs)
    tmp = os.fspath(dst) + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, dst)
