"""Host-program emission: a ``CompiledGraph`` -> a bytecode module that runs it.

The module (``spec/compiled-modules.md``) has:

* ``__init``: picks device 0, checks it runs ``pyree-kernels-v1``, creates the one
  executable holding every dispatch's function (``executable_table.py``) and makes each
  constant's buffer (rodata imported without copy, splats filled; ``constants.py``), all
  kept in ref globals;
* ``main(view, ...) -> (view, ...)``: one argument per graph input and one result per
  graph output, in graph order. It asserts each input view (the message names the ONNX
  input), allocates the graph outputs and one transient arena, records every region's
  dispatches into one command buffer in region order with execution barriers where
  ranges conflict (``hazards.py``), less copies onto their own bytes (a concat operand
  already planned in place; ``noop_copies.py``), copies graph outputs that are inputs,
  constants or views, submits, awaits the fence and returns views of the outputs;
* a rodata segment with the model metadata (``pyree.model_info``).

Every dispatch site calls a function of its own named after the dispatch's label (the
ONNX node names; ``executable_table.py``), so traces and a dispatch failing at run time
name the node on both drivers; every instruction recording it carries the label as its
debug location, so the backtrace of a failure raised while recording (or executing
inline) names the node too.
"""

from __future__ import annotations

from pyree.compiler.emit import hal_abi as H
from pyree.compiler.emit import lowerings  # noqa: F401 - registers every region lowering
from pyree.compiler.emit.buffers import Buffers, Place
from pyree.compiler.emit.constants import plan_constant
from pyree.compiler.emit.executable_table import FORMAT, ExecutableTable
from pyree.compiler.emit.hazards import HazardTracker
from pyree.compiler.emit.host_init import emit_init
from pyree.compiler.emit.lowering import label as region_label
from pyree.compiler.emit.lowering import lower_region
from pyree.compiler.emit.noop_copies import is_noop_copy
from pyree.compiler.emit.vmasm_writer import ModuleWriter

VIEW = "!hal.buffer_view"
DEVICE_GLOBAL, EXECUTABLE_GLOBAL, FIRST_CONSTANT_GLOBAL = 0, 1, 2


def lower_all(compiled, progress=None) -> dict:
    """region index -> ``Lowered`` for every dispatching region, reporting progress."""
    regions = [r for r in compiled.partition.regions if r.dispatches]
    out = {}
    for done, region in enumerate(regions):
        if progress is not None:
            progress(done, len(regions), region_label(region))
        out[region.index] = lower_region(region, compiled.graph)
    if progress is not None:
        progress(len(regions), len(regions), "lowered")
    return out


def emit_module(compiled, info, *, name: str = "module", source: str | None = None,
                lowered: dict | None = None, progress=None, functions: list | None = None):
    """The ``ModuleDef`` of ``compiled`` with model metadata ``info`` (a ModelInfo).
    ``functions``, when given, receives the executable's function descriptions."""
    if lowered is None:
        lowered = lower_all(compiled, progress)
    emitter = _Emitter(compiled, info, lowered, name)
    module = emitter.run(source or f"{name}.vmasm")
    if functions is not None:
        functions.extend(emitter.table.functions)
    return module


class _Emitter:
    def __init__(self, compiled, info, lowered, name):
        self.graph = compiled.graph
        self.compiled = compiled
        self.info = info
        self.lowered = lowered
        self.buffers = Buffers(compiled, lowered)
        self.table = ExecutableTable()
        self.mw = ModuleWriter(name)
        for imp, cconv in H.IMPORTS.items():
            self.mw.import_(imp, cconv)
        self.mw.add_rodata(info.encode(), dedupe=False)
        self.const_slots: dict[str, int] = {}
        self.buffer_regs: dict[tuple, str] = {}

    def run(self, filename):
        main = self.mw.function("main", [VIEW] * len(self.graph.inputs),
                                [VIEW] * len(self.graph.outputs))
        init = self.mw.function("__init", [], [])
        self._main(main)
        plans = [plan_constant(n, self.graph.constants[n]) for n in self.const_slots]
        emit_init(init, self.mw, FORMAT, self.table.serialize() if self.table.functions
                  else None, plans, self.const_slots)
        return self.mw.assemble(filename)

    # -- main ------------------------------------------------------------------------------
    def _main(self, f):
        g, buffers = self.graph, self.buffers
        dispatches = []  # (region index, Dispatch)
        for region in self.compiled.partition.regions:
            if region.index in self.lowered:
                dispatches.extend((region.index, d) for d in self.lowered[region.index].dispatches
                                  if not is_noop_copy(d, self._byte_start(region.index)))
        copies = buffers.output_sources()
        used_consts = {p.key[1] for p in self._all_places(dispatches, copies)
                       if p.key[0] == "const"}
        for n in g.constants:
            if n in used_consts:
                self.const_slots[n] = FIRST_CONSTANT_GLOBAL + len(self.const_slots)

        f.loc = "main"
        device = f.global_load(DEVICE_GLOBAL, "!hal.device")
        exe = f.global_load(EXECUTABLE_GLOBAL, "!hal.executable") if dispatches else None
        zero, minus1, zero32 = f.const_i64(0), f.const_i64(-1), f.const_i32(0)
        self.zero, self.zero32 = zero, zero32
        allocator = f.ref()
        f.call("hal.device.allocator", [device], [allocator])
        for i, name in enumerate(g.inputs):
            self._assert_input(f, i, name, allocator)
        f.loc = "main"
        for name, slot in self.const_slots.items():
            self.buffer_regs[("const", name)] = f.global_load(slot, "!hal.buffer")
        f.loc = "main: allocate"
        out_names = list(buffers.computed_outputs) + [n for n in copies]
        for name in out_names:
            self.buffer_regs[("output", name)] = self._allocate(f, allocator, minus1,
                                                                g.type_of(name).nbytes)
        if buffers.arena_size:
            self.buffer_regs[("arena",)] = self._allocate(f, allocator, minus1,
                                                          buffers.arena_size)
        cmd = f.ref()
        f.call("hal.command_buffer.create",
               [device, f.const_i32(H.MODE_ONE_SHOT_INLINE), f.const_i32(H.CATEGORY_ANY),
                minus1, zero32], [cmd])
        hazards = HazardTracker()
        for region_index, d in dispatches:
            self._dispatch(f, cmd, exe, hazards, region_index, d)
        for name, src in copies.items():
            self._copy_output(f, cmd, hazards, name, src)
        f.loc = "main: submit"
        f.call("hal.command_buffer.finalize", [cmd])
        fence = f.ref()
        f.call("hal.fence.create", [device, zero], [fence])
        f.call("hal.device.queue.execute", [device, minus1, f.zero_ref(), fence, cmd, zero])
        f.await_fences(f.const_i32(-1), [fence], "the model's commands did not complete")
        f.loc = "main: results"
        results = []
        for name in g.outputs:
            t = g.type_of(name)
            view = f.ref()
            dims = [f.const_i64(d) for d in t.shape]
            f.call_variadic("hal.buffer_view.create", [0, 0, 0, 0, 0, len(dims)],
                            [self.buffer_regs[("output", name)], zero, f.const_i64(t.nbytes),
                             f.const_i32(H.element_type(t.dtype)),
                             f.const_i32(H.ENCODING_DENSE), *dims], [view])
            results.append(view)
        f.ret(results)

    def _byte_start(self, region_index):
        def start(op):
            place = self.buffers.place(op.value, region_index)
            return place.key, place.offset + op.byte_offset
        return start

    def _all_places(self, dispatches, copies):
        for region_index, d in dispatches:
            for op in d.operands:
                yield self.buffers.place(op.value, region_index)
        yield from copies.values()

    def _assert_input(self, f, i, name, allocator):
        """The view's element type, encoding and shape, then its buffer's length (a view
        may claim more elements than its buffer holds), each failure naming the input."""
        t = self.graph.type_of(name)
        onnx_name = self.info.inputs[i].name if i < len(self.info.inputs) else name
        f.loc = f"input '{onnx_name}'"
        buf = f.ref()
        with f.scope():
            msg = f.rodata(self.mw.text_rodata(f"input '{onnx_name}'"))
            dims = [f.const_i64(d) for d in t.shape]
            f.call_variadic("hal.buffer_view.assert", [0, 0, 0, 0, len(dims)],
                            [f"%r{i}", msg, f.const_i32(H.element_type(t.dtype)),
                             f.const_i32(H.ENCODING_DENSE), *dims])
            f.call("hal.buffer_view.buffer", [f"%r{i}"], [buf])
            f.call("hal.buffer.assert", [buf, msg, allocator, f.const_i64(t.nbytes),
                                         self.zero32, self.zero32])
        self.buffer_regs[("input", i)] = buf

    def _allocate(self, f, allocator, minus1, nbytes):
        buf = f.ref()
        with f.scope():
            f.call("hal.allocator.allocate",
                   [allocator, minus1, f.const_i32(H.DEVICE_LOCAL),
                    f.const_i32(H.USAGE_DEFAULT), f.const_i64(nbytes)], [buf])
        return buf

    def _barrier_if_needed(self, f, cmd, hazards, reads, writes):
        if hazards.needs_barrier(reads, writes):
            f.call("hal.command_buffer.execution_barrier",
                   [cmd, f.const_i32(H.BARRIER_SOURCE), f.const_i32(H.BARRIER_TARGET),
                    self.zero])
            hazards.barrier()
        hazards.record(reads, writes)

    def _dispatch(self, f, cmd, exe, hazards, region_index, d):
        region = self.compiled.partition.regions[region_index]
        label = d.label or region_label(region)
        ordinal = self.table.add(d.function, label)
        access = {b["index"]: b.get("access", "read") for b in d.function["bindings"]}
        bindings, reads, writes = [], [], []
        for k, op in enumerate(d.operands):
            place = self.buffers.place(op.value, region_index)
            length = op.byte_length
            if length is None:
                length = self.buffers.nbytes(op.value, region_index) - op.byte_offset
            start = place.offset + op.byte_offset
            rng = (place.key, start, start + length)
            if access.get(k, "read") in ("read", "readwrite"):
                reads.append(rng)
            if access.get(k, "read") in ("write", "readwrite"):
                writes.append(rng)
            bindings.append((place.key, start, length))
        f.loc = label
        with f.scope():
            self._barrier_if_needed(f, cmd, hazards, reads, writes)
            consts = [f.const_i32(H.i32(c)) for c in d.constants]
            args = [cmd, exe, f.const_i64(ordinal),
                    *(f.const_i32(H.i32(w)) for w in d.workgroups), self.zero, *consts]
            for key, start, length in bindings:
                args += [self.zero32, self.zero32, self.buffer_regs[key],
                         f.const_i64(start), f.const_i64(length)]
            f.call_variadic("hal.command_buffer.dispatch",
                            [0] * 7 + [len(consts), len(bindings)], args)

    def _onnx_output_name(self, name: str) -> str:
        index = self.graph.outputs.index(name)
        return self.info.outputs[index].name if index < len(self.info.outputs) else name

    def _copy_output(self, f, cmd, hazards, name, src: Place):
        nbytes = self.graph.type_of(name).nbytes
        f.loc = f"output '{self._onnx_output_name(name)}'"
        dst = ("output", name)
        if not nbytes:
            return
        with f.scope():
            self._barrier_if_needed(f, cmd, hazards, [(src.key, src.offset, src.offset + nbytes)],
                                    [(dst, 0, nbytes)])
            f.call("hal.command_buffer.copy_buffer",
                   [cmd, self.zero32, self.zero32, self.buffer_regs[src.key],
                    f.const_i64(src.offset), self.buffer_regs[dst], self.zero,
                    f.const_i64(nbytes), self.zero])
