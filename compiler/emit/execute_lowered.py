"""Running a :class:`Lowered` directly against the HAL's executables, without the VM.

A test and fuzzing harness: :func:`run_lowered` binds every value name to a numpy-backed
byte buffer (inputs copied in, outputs and scratch allocated and poisoned with ``0xA5`` so a
byte the dispatches never write shows up), creates one executable holding the dispatches'
distinct function descriptions and dispatches them in order (each dispatch completes
before the next starts, as emission's barriers guarantee). :func:`run_region` lowers one
region first; :func:`run_partition` runs a whole partitioned graph region by region (view
regions alias their input's bytes as emission does).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
from pyree.compiler import dtypes
from pyree.compiler.ir import TensorType

from pyree.status import InternalError

from . import lowerings  # noqa: F401  (registers the lowerings)
from .lowering import Lowered, lower_region

FORMAT = "pyree-kernels-v1"
POISON = 0xA5


def _buffer(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array).reshape(-1).view(np.uint8).copy()


def executable_for(lowered: Lowered):
    """(executable, function index per dispatch) with identical descriptions shared."""
    from pyree.modules.hal import executable_format
    from pyree.modules.hal.executable import Executable

    functions, index, ids = [], {}, []
    for d in lowered.dispatches:
        key = json.dumps(d.function, sort_keys=True)
        if key not in index:
            index[key] = len(functions)
            functions.append({"name": f"f{len(functions)}", **d.function})
        ids.append(index[key])
    data = executable_format.serialize({"version": 1, "functions": functions})
    return Executable.create(FORMAT, data), ids


def run_lowered(lowered: Lowered, inputs: Mapping[str, np.ndarray],
                results: Mapping[str, TensorType]) -> dict[str, np.ndarray]:
    """Runs ``lowered`` with ``inputs`` bound by value name; returns the ``results`` (name
    -> type) as arrays."""
    buffers = {name: _buffer(a) for name, a in (*inputs.items(), *lowered.derived)}
    for name, t in results.items():
        buffers[name] = np.full(t.nbytes, POISON, np.uint8)
    for s in lowered.scratch:
        buffers[s.name] = np.full(s.nbytes, POISON, np.uint8)
    if lowered.dispatches:
        exe, ids = executable_for(lowered)
        for d, fid in zip(lowered.dispatches, ids):
            bound = []
            for op in d.operands:
                if op.value not in buffers:
                    raise InternalError(f"dispatch '{d.label}' binds unknown value "
                                        f"'{op.value}'")
                buf = buffers[op.value]
                end = len(buf) if op.byte_length is None else op.byte_offset + op.byte_length
                bound.append(buf[op.byte_offset:end])
            exe.dispatch(fid, d.workgroups, d.constants, bound)
    return {name: buffers[name].view(dtypes.to_numpy(t.dtype)).reshape(t.shape).copy()
            for name, t in results.items()}


def run_region(region, graph, env: Mapping[str, np.ndarray],
               lowered: Lowered | None = None) -> dict[str, np.ndarray]:
    """Lowers ``region`` (unless ``lowered`` is given) and runs it on the values of
    ``env`` (graph constants are added); returns the region's outputs."""
    lowered = lower_region(region, graph) if lowered is None else lowered
    inputs = {n: graph.constants[n] if n in graph.constants else env[n]
              for n in region.inputs}
    return run_lowered(lowered, inputs, {n: graph.types[n] for n in region.outputs})


def run_partition(partition, inputs) -> list[np.ndarray]:
    """Runs a partitioned graph region by region through the registered lowerings (view
    regions reinterpret their input); ``inputs`` in graph-input order or by name."""
    graph = partition.graph
    env = dict(inputs) if isinstance(inputs, Mapping) else dict(zip(graph.inputs, inputs))
    env = {n: np.asarray(a) for n, a in env.items()}
    for region in partition.regions:
        if region.dispatches:
            env.update(run_region(region, graph, env))
            continue
        for node in region.nodes:
            src = env[node.inputs[0]] if node.inputs[0] not in graph.constants \
                else graph.constants[node.inputs[0]]
            t = graph.types[node.outputs[0]]
            raw = np.ascontiguousarray(src).reshape(-1).view(np.uint8)
            env[node.outputs[0]] = raw.view(dtypes.to_numpy(t.dtype)).reshape(t.shape)
    return [graph.constants[n] if n in graph.constants else env[n] for n in graph.outputs]
