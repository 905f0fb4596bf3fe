"""``NodeContext``: what an ONNX import rule sees of the node it imports.

A rule reads the node's attributes (``attr``), its operands as IR value names
(``input``), their types (``type``) and, when they are constants, their values
(``const`` / ``require_const``). It emits IR nodes (``emit``, ``emit_multi``, ``forward``)
and binds each ONNX output to an IR value (``set_output``). A rule that meets something
it cannot compile calls ``fail``: UNIMPLEMENTED naming the node and op.
"""

from __future__ import annotations

import numpy as np
from pyree.compiler.ir import Attributes, Node, TensorType
from pyree.compiler.onnx_tensors import attribute_value

from pyree.status import InvalidArgumentError, UnimplementedError


class NodeContext:
    def __init__(self, importer, proto, name: str, opset: int):
        self.importer = importer
        self.proto = proto
        self.name = name
        self.op_type = proto.op_type
        self.opset = opset
        self.inputs = [importer.lookup(n) if n else "" for n in proto.input]
        self.outputs = list(proto.output)
        self._attrs = {a.name: a for a in proto.attribute}
        self._read: set[str] = set()
        self._bound = [False] * len(self.outputs)

    @property
    def graph(self):
        return self.importer.graph

    # -- reading --------------------------------------------------------------------------
    def attr(self, key: str, default=None):
        self._read.add(key)
        a = self._attrs.get(key)
        return default if a is None else attribute_value(a, self.importer.base_dir)

    def has_attr(self, key: str) -> bool:
        self._read.add(key)
        return key in self._attrs

    def check_attributes_read(self, ignorable=frozenset()) -> None:
        """A rule that never looked at an attribute the node sets would silently ignore
        it: refuse instead (UNIMPLEMENTED), unless it is known not to matter."""
        unread = sorted(set(self._attrs) - self._read - set(ignorable))
        if unread:
            self.fail(f"attribute{'s' if len(unread) > 1 else ''} "
                      f"{', '.join(repr(a) for a in unread)} not supported")

    def input(self, i: int) -> str:
        return self.inputs[i] if i < len(self.inputs) else ""

    def has_input(self, i: int) -> bool:
        return bool(self.input(i))

    def type(self, i: int) -> TensorType | None:
        name = self.input(i)
        return self.graph.types[name] if name else None

    def const(self, i: int) -> np.ndarray | None:
        name = self.input(i)
        return self.graph.constants.get(name) if name else None

    def require_const(self, i: int, what: str) -> np.ndarray:
        if not self.has_input(i):
            self.invalid(f"input {i} ({what}) is missing")
        value = self.const(i)
        if value is None:
            self.fail(f"input {i} '{self.proto.input[i]}' ({what}) must be a compile-time "
                      "constant")
        return value

    def ints(self, i: int, what: str) -> tuple[int, ...]:
        return tuple(int(v) for v in np.asarray(self.require_const(i, what)).reshape(-1))

    def where(self) -> str:
        return f"node '{self.name}' ({self.op_type})"

    describe = where  # so the ops' shared checks (``ops.common``) can name the node

    def fail(self, message: str):
        raise UnimplementedError(f"{self.where()}: {message}")

    def invalid(self, message: str):
        raise InvalidArgumentError(f"{self.where()}: {message}")

    # -- emitting -------------------------------------------------------------------------
    def _fresh(self, hint: str) -> str:
        name = self.graph.fresh_name(hint or self.name)
        self.graph.types.setdefault(name, None)  # reserve until inferred
        return name

    def emit_multi(self, op: str, inputs, n_out: int, hints=None, **attrs) -> list[str]:
        hints = list(hints or []) + [""] * n_out
        outs = []
        for i in range(n_out):
            if hints[i] is None:  # an output the rule does not want
                outs.append("")
            else:
                outs.append(self._fresh(hints[i] or (self.outputs[0] if self.outputs else "")))
        node = Node(op, tuple(inputs), tuple(outs), Attributes.of(attrs), self.name)
        try:
            self.importer.emit(node)
        except BaseException:
            for o in outs:
                if o and self.graph.types.get(o, 0) is None:
                    del self.graph.types[o]
            raise
        return outs

    def emit(self, op: str, inputs, hint: str = "", **attrs) -> str:
        return self.emit_multi(op, inputs, 1, [hint], **attrs)[0]

    def constant(self, array, hint: str = "const") -> str:
        name = self.graph.fresh_name(f"{self.name}/{hint}")
        self.graph.add_constant(name, np.asarray(array))
        return name

    def set_output(self, i: int, ir_name: str) -> None:
        if i < len(self.outputs) and self.outputs[i]:
            self.importer.bind(self.outputs[i], ir_name)
            self._bound[i] = True

    def forward(self, op: str, inputs=None, n_out: int | None = None, **attrs) -> list[str]:
        """Emits one IR node taking ``inputs`` (default: all) and binds its outputs."""
        inputs = self.inputs if inputs is None else inputs
        n_out = len(self.outputs) if n_out is None else n_out
        hints = [o if o else None for o in self.outputs[:n_out]]
        outs = self.emit_multi(op, inputs, n_out, hints, **attrs)
        for i, out in enumerate(outs):
            if out:
                self.set_output(i, out)
        return outs

    def check_outputs_bound(self) -> None:
        for i, (name, bound) in enumerate(zip(self.outputs, self._bound)):
            if name and not bound:
                self.fail(f"output {i} ('{name}') is not supported")
