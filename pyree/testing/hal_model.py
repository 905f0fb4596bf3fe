"""A numpy model of a HAL device running a :class:`~pyree.testing.hal_ops.HalProgram`.

Written from ``hal-abi.md`` (3.5, 3.6, 5.5), ``spec/executables.md`` and
``spec/hal-runtime-api.md``, not from the HAL's code. For every operation :meth:`Model.step`
returns an :class:`Expect`: success, or the status codes one of which the device must raise
and where (``record``: the recording call; ``submit``: ``queue_execute``; ``execute``:
while the command buffer runs, i.e. ``queue_execute`` on ``local-sync`` or the signal fence
on ``local-task``). When an operation has several defects the order of the checks is not
specified, so any of their codes is accepted. The model then applies what the device must
have done: recorded commands run at submission (inline command buffers while recording),
in order, and a command that fails at execution stops its command buffer with the commands
before it done and nothing of it or after it.

A command buffer created UNVALIDATED skips the checks that protect the program (debug
group balance, categories, memory type / usage / access of buffers, copy overlap and
length agreement) but never those that protect memory (ranges, released storage, binding
lengths and alignment, dispatch shapes); the model follows, and mismatched copy lengths
are then refused when the copy runs.

Buffer contents are bytes plus a ``known`` mask: bytes the model cannot predict exactly are
unknown (float results that are NaN, since payloads are unspecified; outputs that partly
alias their inputs, which parallel workgroups may read before or after they are written;
matmul results, whose summation order is the GEMM's). Matmul rows (``matmul_f32``, and
``matmul_packed_f32``, whose panels the model unpacks) are checked approximately
instead (:attr:`Model.approx`, within a bound from ``sum |a||b|``) as long as nothing
overwrites them.
"""

from __future__ import annotations

import attrs
import numpy as np

from pyree.testing import hal_ops as ops

M64 = (1 << 64) - 1
IA, OOR, PD, FP, NF = ("INVALID_ARGUMENT", "OUT_OF_RANGE", "PERMISSION_DENIED",
                       "FAILED_PRECONDITION", "NOT_FOUND")
ONE_SHOT, INLINE, UNVALIDATED = 0x1, 0x10, 0x20
TRANSFER, DISPATCH = 0x1, 0x2
MAX_WORKGROUPS = 1 << 48


@attrs.frozen
class Expect:
    codes: frozenset = frozenset()   # empty: the operation must succeed
    phase: str = "record"            # record | submit | execute
    skip: bool = False               # names a dropped buffer: not performed

    @property
    def ok(self) -> bool:
        return not self.codes


OK = Expect()
SKIP = Expect(skip=True)


def fails(*codes, phase="record") -> Expect:
    return Expect(frozenset(codes), phase)


def initial_contents(spec: ops.BufferSpec) -> np.ndarray:
    return np.random.default_rng(spec.seed).integers(0, 256, spec.size, dtype=np.uint8)


def resolve(size: int, offset: int, length: int):
    """``(offset, length)`` of an ``I`` range in a buffer of ``size`` bytes, or None."""
    o, n = offset & M64, length & M64
    if o > size:
        return None
    if n == M64:
        return o, size - o
    if n and o + n - 1 >= size:
        return None
    return o, n


# What a reference needs from a buffer kind, as the defects it has.
def _kind_defects(kind: str, need: str) -> set:
    defects = set()
    if kind == "host":
        defects.add(PD)                       # not DEVICE_VISIBLE
    if kind == "transfer" and need.startswith("dispatch"):
        defects.add(PD)                       # no DISPATCH usage
    if kind == "readonly" and need in ("transfer_write", "dispatch_write"):
        defects.add(PD)                       # no WRITE access
    return defects


@attrs.define
class CommandBuffer:
    mode: int
    categories: int
    inline: bool
    validated: bool = True       # UNVALIDATED skips the checks that protect the program
    capacity: int = 0
    requirements: dict = attrs.field(factory=dict)   # slot -> [needs, extent, alignment]
    state: str = "recording"
    depth: int = 0
    commands: list = attrs.field(factory=list)
    submitted: bool = False


class Model:
    def __init__(self, program: ops.HalProgram):
        self.program = program
        self.sync = program.driver == "local-sync"
        self.specs = program.buffers
        self.data = [initial_contents(s) for s in program.buffers]
        self.known = [np.ones(s.size, dtype=bool) for s in program.buffers]
        self.live = [True] * len(program.buffers)
        self.released = [False] * len(program.buffers)
        self.referenced: set = set()
        self.approx: list = []     # (buffer, byte offset, wanted f32 values, error bounds)
        self.cb = self._new_cb(program.mode, program.categories, program.capacity)
        self.bound: dict = {}      # slot -> (buffer, offset, length) of the running submission
        self._pending: list = []   # slot requirements of the command being recorded

    def _new_cb(self, mode, categories, capacity=0) -> CommandBuffer:
        return CommandBuffer(mode, categories, self.sync and bool(mode & INLINE),
                             not mode & UNVALIDATED, capacity & 0xFFFFFFFF)

    # -- stepping --------------------------------------------------------------------------

    def step(self, op) -> Expect:
        if any(not self.live[b] for b in ops.buffers_of(op)):
            return SKIP
        return getattr(self, "_" + type(op).__name__.lower())(op)

    def _create(self, op) -> Expect:
        if op.mode & INLINE and (not op.mode & ONE_SHOT or op.capacity):
            return fails(IA)
        self.cb = self._new_cb(op.mode, op.categories, op.capacity)
        return OK

    def _drop(self, op) -> Expect:
        self.live[op.buffer] = False
        return OK

    def _dealloca(self, op) -> Expect:
        if op.buffer in self.referenced:
            return SKIP         # releasing memory recorded commands use is a program error
        if self.specs[op.buffer].kind != "readonly":   # readonly buffers are not alloca'd
            self.released[op.buffer] = True
        return OK

    def _churn(self, op) -> Expect:
        return OK

    def _flush(self, op) -> Expect:
        return OK

    def _recording(self, category: int) -> set:
        cb = self.cb
        if cb.state != "recording":
            return {FP}
        if cb.categories & category != category and cb.validated:
            return {FP}
        return set()

    def _begin(self, op) -> Expect:
        return fails(FP)

    def _barrier(self, op) -> Expect:
        return fails(*self._recording(0)) if self._recording(0) else OK

    def _begingroup(self, op) -> Expect:
        if self._recording(0):
            return fails(FP)
        self.cb.depth += 1
        return OK

    def _endgroup(self, op) -> Expect:
        if self._recording(0) or self.cb.depth <= 0 and self.cb.validated:
            return fails(FP)
        self.cb.depth = max(self.cb.depth - 1, 0)
        return OK

    def _finalize(self, op) -> Expect:
        if self.cb.state != "recording" or self.cb.depth and self.cb.validated:
            return fails(FP)
        self.cb.state = "executable"
        return OK

    def _submit(self, op) -> Expect:
        cb = self.cb
        if cb.state != "executable" or (cb.mode & ONE_SHOT and cb.submitted):
            return fails(FP, phase="submit")
        self.bound = {}
        if cb.requirements:
            defects = self._bind(cb, op.table)
            if defects:
                return fails(*defects, phase="submit")
        cb.submitted = True
        for command in cb.commands:
            code = self._execute(command)
            if code:
                return fails(code, phase="execute")
        return OK

    def _bind(self, cb: CommandBuffer, table) -> set:
        """Checks a submission's binding table against the slot requirements (hal-abi 3.6:
        always, UNVALIDATED or not); fills :attr:`bound`."""
        if table is None:
            return {IA}
        if len(table) < max(cb.requirements) + 1:
            return {OOR}
        defects = set()
        for slot, (needs, extent, alignment) in cb.requirements.items():
            b, offset, length = table[slot]
            if b is None:
                defects.add(IA)
                continue
            for need in needs:
                defects |= _kind_defects(self.specs[b].kind, need)
            where = resolve(self.specs[b].size, offset, length)
            if where is None:
                defects.add(OOR)
                continue
            if extent > where[1]:
                defects.add(OOR)
            if where[0] % alignment:
                defects.add(IA)
            if self.released[b]:
                defects.add(FP)
            self.bound[slot] = (b, *where)
            self.referenced.add(b)
        return defects

    # -- recording ---------------------------------------------------------------------------

    def _ref(self, defects: set, b: int, offset: int, length: int, need: str, *,
             required: int | None = None, alignment: int = 1):
        """Checks one reference: a buffer (returns ``("d", b, (offset, length))``), or a
        binding-table slot (``("s", slot, offset, length)``, its requirement kept for
        :meth:`_record`); None when out of range."""
        slot = ops.slot(b)
        if slot is not None:
            if slot >= self.cb.capacity:
                defects.add(OOR)
                return None
            offset, length = offset & M64, length & M64
            if length == M64:
                extent = offset + (required or 0)
            else:
                extent = offset + length
                if required is not None and length < required:
                    defects.add(OOR)
            self._pending.append((slot, need, extent, alignment))
            return ("s", slot, offset, length)
        if self.cb.validated:
            defects |= _kind_defects(self.specs[b].kind, need)
        if self.released[b]:
            defects.add(FP)
        where = resolve(self.specs[b].size, offset, length)
        if where is None:
            defects.add(OOR)
            return None
        if required is not None and where[1] < required:
            defects.add(OOR)
        return ("d", b, where)

    def _record(self, category: int, defects: set, command) -> Expect:
        pending, self._pending = self._pending, []
        state = self._recording(category)
        if state or defects:
            return fails(*(state or defects))
        for slot, need, extent, alignment in pending:   # a refused command leaves no trace
            entry = self.cb.requirements.setdefault(slot, [set(), 0, 1])
            entry[0].add(need)
            entry[1] = max(entry[1], extent)
            entry[2] = max(entry[2], alignment)
        for b in _command_buffers(command):
            self.referenced.add(b)
        if self.cb.inline:
            code = self._execute(command)
            return fails(code) if code else OK
        self.cb.commands.append(command)
        return OK

    def _fill(self, op) -> Expect:
        defects = set()
        n = op.pattern_length & 0xFFFFFFFF
        if n not in (1, 2, 4) or (op.offset & M64) % n or ((op.length & M64) != M64 and (op.length & M64) % n):
            defects.add(IA)
        ref = self._ref(defects, op.buffer, op.offset, op.length, "transfer_write",
                        alignment=n if n in (1, 2, 4) else 1)
        return self._record(TRANSFER, defects, ("fill", ref, op.pattern, n))

    def _update(self, op) -> Expect:
        defects = set()
        source = resolve(len(op.data), op.source_offset, op.length)
        if source is None:
            defects.add(OOR)
            data = b""
        else:
            data = op.data[source[0]:source[0] + source[1]]
        ref = self._ref(defects, op.buffer, op.offset, len(data), "transfer_write")
        return self._record(TRANSFER, defects, ("update", ref, data))

    def _copy(self, op) -> Expect:
        defects = set()
        sref = self._ref(defects, op.source, op.source_offset, op.length, "copy_source")
        tref = self._ref(defects, op.target, op.target_offset, op.length, "transfer_write")
        if sref and tref and sref[0] == tref[0] == "d" and self.cb.validated:
            src, dst = sref[2], tref[2]
            if src[1] != dst[1] or op.source == op.target and src[1] and \
                    src[0] < dst[0] + dst[1] and dst[0] < src[0] + src[1]:
                defects.add(IA)
        return self._record(TRANSFER, defects, ("copy", sref, tref))

    def _dispatch(self, op) -> Expect:
        defects = set()
        if len(op.bindings) > 32:
            defects.add(OOR)
        kernel = ops.KERNELS[op.function] if 0 <= op.function < len(ops.KERNELS) else None
        if kernel is None:
            defects.add(NF)
        counts = op.workgroups
        if len(counts) != 3 or not all(0 <= c <= 0xFFFFFFFF for c in counts):
            defects.add(IA)
        elif counts[0] * counts[1] * counts[2] > MAX_WORKGROUPS:
            defects.add(OOR)
        push = None
        if kernel is not None:
            if len(op.push) != kernel[2] or \
                    not all(-(1 << 31) <= v < (1 << 32) for v in op.push):
                defects.add(IA)
            else:
                push = tuple(v & 0xFFFFFFFF for v in op.push)
            if len(op.bindings) != len(kernel[3]):
                defects.add(IA)
            if push is not None and kernel[0] == "matmul_packed_f32" and \
                    push[3] != panels(push[2]):
                defects.add(IA)     # P is not ceil(N / 16): whatever the grid (6.4)
        needs = [None] * len(op.bindings)
        if push is not None and not defects & {IA, OOR, NF}:
            needs = list(required_bytes(op.function, push, _covered(op.function, push, counts)))
        refs = []
        for i, (b, offset, length) in enumerate(op.bindings):
            writes = kernel is not None and i < len(kernel[3]) and kernel[3][i]
            refs.append(self._ref(defects, b, offset, length,
                                  "dispatch_write" if writes else "dispatch_read",
                                  required=needs[i], alignment=ops.ITEMSIZE))
        return self._record(DISPATCH, defects,
                            ("dispatch", op.function, push, counts, tuple(refs)))

    # -- execution ---------------------------------------------------------------------------

    def _write(self, b: int, start: int, values: np.ndarray, known: np.ndarray) -> None:
        end = start + len(values)
        self.data[b][start:end] = values
        self.known[b][start:end] = known
        self.approx = [a for a in self.approx
                       if a[0] != b or a[1] >= end or a[1] + 4 * len(a[2]) <= start]

    def _read(self, b: int, where) -> tuple:
        o, n = where
        return self.data[b][o:o + n].copy(), self.known[b][o:o + n].copy()

    def _resolve(self, ref):
        """``(buffer, (offset, length))`` of a recorded reference, None if out of range."""
        if ref[0] == "d":
            return ref[1], ref[2]
        _, slot, offset, length = ref
        b, base, size = self.bound[slot]
        where = resolve(size, offset, length)
        return None if where is None else (b, (base + where[0], where[1]))

    def _execute(self, command) -> str | None:
        kind = command[0]
        refs = command[1:2] if kind in ("fill", "update") else \
            command[1:3] if kind == "copy" else command[4]
        resolved = [self._resolve(r) for r in refs]
        if None in resolved:
            return OOR
        if kind == "fill":
            (b, (o, n)), (_, _, pattern, size) = resolved[0], command
            if n % size:
                return IA
            unit = np.frombuffer((pattern & ((1 << (8 * size)) - 1)).to_bytes(size, "little"),
                                 dtype=np.uint8)
            self._write(b, o, np.tile(unit, n // size), np.ones(n, dtype=bool))
        elif kind == "update":
            (b, (o, n)), data = resolved[0], command[2]
            self._write(b, o, np.frombuffer(data, dtype=np.uint8), np.ones(n, dtype=bool))
        elif kind == "copy":
            (sb, src), (tb, dst) = resolved
            if src[1] != dst[1]:        # recorded UNVALIDATED: refused when it runs
                return IA
            values, known = self._read(sb, src)
            self._write(tb, dst[0], values, known)
        else:
            _, function, push, counts, _ = command
            bindings = resolved
            if any(w[0] % ops.ITEMSIZE for _, w in bindings):
                return IA
            self._kernel(function, push, _covered(function, push, counts), bindings)
        return None

    def _kernel(self, function: int, push, items: int, bindings) -> None:
        if not items:
            return
        name = ops.KERNEL_NAMES[function]
        ins = [self._read(b, w) for b, w in bindings[:-1]]
        out_b, (out_o, _) = bindings[-1]
        elementwise = name in ("copy_i32", "add_f32")
        aliased = any(b == out_b and _overlap(w, bindings[-1][1]) and
                      not (elementwise and w[0] == out_o) for b, w in bindings[:-1])
        approx = None
        if name == "copy_i32":
            values, known = ins[0][0][:4 * items], ins[0][1][:4 * items]
        elif name == "add_f32":
            a, b = (np.frombuffer(v[:4 * items].tobytes(), dtype="<f4") for v, _ in ins)
            with np.errstate(all="ignore"):
                result = (a + b).astype("<f4")
            known = _words(ins[0][1], items) & _words(ins[1][1], items) & ~np.isnan(result)
            values, known = result.view(np.uint8), np.repeat(known, 4)
        elif name == "sum_f32":
            cols = push[1]
            rows = np.frombuffer(ins[0][0][:4 * items * cols].tobytes(),
                                 dtype="<f4").reshape(items, cols)
            result = np.zeros(items, dtype="<f4")
            with np.errstate(all="ignore"):
                for c in range(cols):
                    result = (result + rows[:, c]).astype("<f4")
            row_known = _words(ins[0][1], items * cols).reshape(items, cols).all(axis=1)
            known = np.repeat(row_known & ~np.isnan(result), 4)
            values = result.view(np.uint8)
        else:
            values, known, approx = self._matmul(push, items, ins, aliased,
                                                 name == "matmul_packed_f32")
        if aliased:
            known = np.zeros(len(values), dtype=bool)
        self._write(out_b, out_o, values, known)
        if approx is not None:
            want, bound = approx
            if np.all(np.abs(want) < 1e30) and np.all(bound < 1e30):
                self.approx.append((out_b, out_o, want, bound + 1e-30))

    def _matmul(self, push, rows: int, ins, aliased: bool, packed: bool = False):
        """``matmul_f32``, or with ``packed`` ``matmul_packed_f32``: its rhs is ``[p, k,
        16]`` panels, element ``(q, j, c)`` = ``B[j, 16 q + c]``; the whole panels are read
        (the padding past N too, so it must be known and finite like the rest)."""
        m, k, n = push[:3]
        values = np.zeros(4 * rows * n, dtype=np.uint8)
        known = np.zeros(len(values), dtype=bool)
        width = push[3] * ops.PANEL if packed else n
        lhs = np.frombuffer(ins[0][0][:4 * m * k].tobytes(), dtype="<f4").astype(np.float64)
        rhs = np.frombuffer(ins[1][0][:4 * k * width].tobytes(),
                            dtype="<f4").astype(np.float64)
        inputs_known = ins[0][1][:4 * m * k].all() and ins[1][1][:4 * k * width].all()
        if k == 0:          # an empty contraction is exactly zero
            return values, np.ones(len(values), dtype=bool), None
        if aliased or not inputs_known or not (np.isfinite(lhs).all() and
                                                np.isfinite(rhs).all()):
            return values, known, None
        if packed:          # unpack the panels: [p, k, 16] -> [k, 16 p] -> [k, n]
            rhs = rhs.reshape(push[3], k, ops.PANEL).transpose(1, 0, 2).reshape(k, width)
        a, b = lhs.reshape(m, k)[:rows], rhs.reshape(k, width)[:, :n]
        with np.errstate(all="ignore"):
            want, bound = a @ b, np.abs(a) @ np.abs(b)
        return values, known, (want.ravel(), bound.ravel() * 1e-6 * (k + 1))


def _overlap(a, b) -> bool:
    return a[1] and b[1] and a[0] < b[0] + b[1] and b[0] < a[0] + a[1]


def _words(known: np.ndarray, count: int) -> np.ndarray:
    return known[:4 * count].reshape(count, 4).all(axis=1)


def _command_buffers(command) -> tuple:
    refs = command[4] if command[0] == "dispatch" else \
        command[1:3] if command[0] == "copy" else command[1:2]
    return tuple(r[1] for r in refs if r[0] == "d")


def _covered(function: int, push, counts) -> int:
    """Items a dispatch computes: ``min(items, workgroups * items_per_workgroup)``."""
    groups = counts[0] * counts[1] * counts[2]
    name = ops.KERNEL_NAMES[function]
    items, per = {"add_f32": (push[0], 4), "copy_i32": (push[0], 4),
                  "sum_f32": (push[0], 2), "matmul_f32": (push[0], 1),
                  "matmul_packed_f32": (push[0], 1)}[name]
    return min(items, groups * per)


def required_bytes(function: int, push, items: int) -> tuple:
    """Bytes each binding of a dispatch covering ``items`` items needs (executables.md 4)."""
    name = ops.KERNEL_NAMES[function]
    if name in ("add_f32", "copy_i32"):
        return (4 * items,) * len(ops.KERNELS[function][3])
    if name == "sum_f32":
        cols = push[1]
        return (4 * items * cols if items and cols else 0, 4 * items)
    m, k, n = push[:3]
    whole = items > 0
    rhs = 4 * k * (push[3] * ops.PANEL if name == "matmul_packed_f32" else n)
    return (4 * m * k if whole else 0, rhs if whole else 0, 4 * items * n)


def panels(n: int) -> int:
    """P, the 16-column panels of ``n`` f32 columns (``kernels/panels.py``)."""
    return -(-n // ops.PANEL)
