"""Host-program emission: a ``CompiledGraph`` -> a bytecode module that runs it.

The module (``spec/compiled-modules.md``) has:

* ``__init``: picks device 0, checks it runs ``pyree-kernels-v1``, creates the one
  executable holding every dispatch's function (``executable_table.py``) and makes each
  constant's buffer (rodata imported without copy, splats filled; ``constants.py``)
  (``host_init.py``); then records the model's commands once, as IREE memoizes them: a
  reusable command buffer with every region's dispatches in region order, execution
  barriers where ranges conflict (``hazards.py``), less copies onto their own bytes (a
  concat operand already planned in place; ``noop_copies.py``), and copies of graph outputs
  that are inputs, constants or views. Constants are bound directly; inputs, outputs and
  the transient arena through binding-table slots. Everything is kept in ref globals;
* ``main(view, ...) -> (view, ...)``: one argument per graph input and one result per
  graph output, in graph order. It asserts each input view (the message names the ONNX
  input), allocates the graph outputs and one transient arena (per call: concurrent calls
  never share bytes), executes the recorded command buffer with ``queue.execute.indirect``
  and the binding table of this call's buffers, awaits the fence and returns views of the
  outputs. It records nothing;
* a rodata segment with the model metadata (``pyree.model_info``).

Every dispatch site calls a function of its own named after the dispatch's label (the
ONNX node names; ``executable_table.py``), so traces and a dispatch failing at run time
name the node on both drivers; every instruction recording it carries the label as its
debug location, so the backtrace of a failure raised while recording names the node too.
"""

from __future__ import annotations

import attrs
import numpy as np
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
DEVICE_GLOBAL, EXECUTABLE_GLOBAL, ALLOCATOR_GLOBAL, COMMAND_BUFFER_GLOBAL = 0, 1, 2, 3
FIRST_CONSTANT_GLOBAL = 4


def lower_all(compiled, progress=None) -> dict:
    """region index -> ``Lowered`` for every dispatching region, reporting progress; the
    constants the lowerings derive join the graph's."""
    regions = [r for r in compiled.partition.regions if r.dispatches]
    out = {}
    for done, region in enumerate(regions):
        if progress is not None:
            progress(done, len(regions), region_label(region))
        out[region.index] = add_derived(compiled.graph, lower_region(region, compiled.graph))
    if progress is not None:
        progress(len(regions), len(regions), "lowered")
    return out


def add_derived(graph, lowered):
    """``lowered`` with the constants it derives added to ``graph``: two regions packing one
    shared weight derive one constant; a name the graph already uses for other data (a
    model may name a tensor ``w.panels``) gets a fresh one in the dispatches."""
    renamed = {}
    for name, array in lowered.derived:
        existing = graph.constants.get(name)
        if existing is not None and existing.dtype == array.dtype and \
                np.array_equal(existing, array):
            continue
        if name in graph.types:
            renamed[name] = name = graph.fresh_name(name)
        graph.add_constant(name, array)
    if not renamed:
        return lowered
    dispatches = tuple(attrs.evolve(d, operands=tuple(
        attrs.evolve(o, value=renamed.get(o.value, o.value)) for o in d.operands))
        for d in lowered.dispatches)
    return attrs.evolve(lowered, dispatches=dispatches, derived=tuple(
        (renamed.get(n, n), a) for n, a in lowered.derived))


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
        self.slots: dict[tuple, int] = {}       # per-call buffer key -> binding-table slot
        self.nbytes: dict[tuple, int] = {}      # per-call buffer key -> its byte length
        self.buffer_regs: dict[tuple, str] = {}

    def run(self, filename):
        main = self.mw.function("main", [VIEW] * len(self.graph.inputs),
                                [VIEW] * len(self.graph.outputs))
        init = self.mw.function("__init", [], [])
        dispatches, copies = self._plan()
        plans = [plan_constant(n, self.graph.constants[n]) for n in self.const_slots]
        device, exe, const_regs = emit_init(
            init, self.mw, FORMAT, self.table.serialize() if dispatches else None, plans,
            self.const_slots)
        self._record(init, device, exe, const_regs, dispatches, copies)
        self._main(main)
        return self.mw.assemble(filename)

    def _plan(self):
        """The commands (dispatches in region order, output copies), the constants they use
        and the binding-table slot of every per-call buffer: inputs, outputs, arena."""
        g, buffers = self.graph, self.buffers
        dispatches = []  # (region index, Dispatch, label, ordinal)
        for region in self.compiled.partition.regions:
            if region.index in self.lowered:
                for d in self.lowered[region.index].dispatches:
                    if is_noop_copy(d, self._byte_start(region.index)):
                        continue
                    label = d.label or region_label(region)
                    dispatches.append((region.index, d, label,
                                       self.table.add(d.function, label)))
        copies = buffers.output_sources()
        used_consts = {p.key[1] for p in self._all_places(dispatches, copies)
                       if p.key[0] == "const"}
        for n in g.constants:
            if n in used_consts:
                self.const_slots[n] = FIRST_CONSTANT_GLOBAL + len(self.const_slots)
        for i, name in enumerate(g.inputs):
            self._add_slot(("input", i), g.type_of(name).nbytes)
        for name in list(buffers.computed_outputs) + list(copies):
            self._add_slot(("output", name), g.type_of(name).nbytes)
        if buffers.arena_size:
            self._add_slot(("arena",), buffers.arena_size)
        return dispatches, copies

    def _add_slot(self, key, nbytes):
        self.slots[key] = len(self.slots)
        self.nbytes[key] = nbytes

    # -- __init: the memoized command buffer --------------------------------------------
    def _record(self, f, device, exe, const_regs, dispatches, copies):
        """Records every command once into a reusable command buffer kept in
        ``.refs[COMMAND_BUFFER_GLOBAL]``: constants bound directly, every per-call buffer
        through its binding-table slot."""
        f.loc = "__init: command buffer"
        self.zero, self.zero32 = f.const_i64(0), f.const_i32(0)
        minus1 = f.const_i64(-1)
        for name, reg in const_regs.items():
            self.buffer_regs[("const", name)] = reg
        self.null = f.zero_ref()
        cmd = f.ref()
        f.call("hal.command_buffer.create",
               [device, f.const_i32(H.MODE_REUSABLE), f.const_i32(H.CATEGORY_ANY), minus1,
                f.const_i32(len(self.slots))], [cmd])
        hazards = HazardTracker()
        for region_index, d, label, ordinal in dispatches:
            self._dispatch(f, cmd, exe, hazards, region_index, d, label, ordinal)
        for name, src in copies.items():
            self._copy_output(f, cmd, hazards, name, src)
        f.loc = "__init: command buffer"
        f.call("hal.command_buffer.finalize", [cmd])
        f.global_store(cmd, COMMAND_BUFFER_GLOBAL, "!hal.command_buffer")
        f.ret()

    def _buffer(self, f, key) -> tuple[str, str]:
        """(slot register, buffer register) of a command operand: a constant's buffer, or
        a null buffer and the binding-table slot of a per-call buffer."""
        slot = self.slots.get(key)
        if slot is None:
            return self.zero32, self.buffer_regs[key]
        return f.const_i32(slot), self.null

    # -- main ------------------------------------------------------------------------------
    def _main(self, f):
        g = self.graph
        f.loc = "main"
        device = f.global_load(DEVICE_GLOBAL, "!hal.device")
        allocator = f.global_load(ALLOCATOR_GLOBAL, "!hal.allocator")
        cmd = f.global_load(COMMAND_BUFFER_GLOBAL, "!hal.command_buffer")
        zero, minus1 = f.const_i64(0), f.const_i64(-1)
        self.zero, self.zero32 = zero, f.const_i32(0)
        regs = {}
        for i, name in enumerate(g.inputs):
            regs[("input", i)] = self._assert_input(f, i, name, allocator)
        f.loc = "main: allocate"
        for key in self.slots:
            if key[0] != "input":
                regs[key] = self._allocate(f, allocator, minus1, self.nbytes[key])
        f.loc = "main: submit"
        fence = f.ref()
        f.call("hal.fence.create", [device, zero], [fence])
        table = []
        for key in self.slots:
            table += [regs[key], zero, f.const_i64(self.nbytes[key])]
        f.call_variadic("hal.device.queue.execute.indirect", [0] * 6 + [len(self.slots)],
                        [device, minus1, f.zero_ref(), fence, cmd, zero, *table])
        f.await_fences(f.const_i32(-1), [fence], "the model's commands did not complete")
        f.loc = "main: results"
        results = []
        for name in g.outputs:
            t = g.type_of(name)
            view = f.ref()
            dims = [f.const_i64(d) for d in t.shape]
            f.call_variadic("hal.buffer_view.create", [0, 0, 0, 0, 0, len(dims)],
                            [regs[("output", name)], zero, f.const_i64(t.nbytes),
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
        for region_index, d, _label, _ordinal in dispatches:
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
        return buf

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

    def _dispatch(self, f, cmd, exe, hazards, region_index, d, label, ordinal):
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
                args += [self.zero32, *self._buffer(f, key), f.const_i64(start),
                         f.const_i64(length)]
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
            src_slot, src_buf = self._buffer(f, src.key)
            dst_slot, dst_buf = self._buffer(f, dst)
            f.call("hal.command_buffer.copy_buffer",
                   [cmd, src_slot, dst_slot, src_buf, f.const_i64(src.offset), dst_buf,
                    self.zero, f.const_i64(nbytes), self.zero])
