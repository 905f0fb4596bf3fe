"""ONNX ``ModelProto`` -> tensor IR (``ir.Graph``), opset-aware.

Import walks the ONNX graph in topological order. Each node goes through the import
rule of its op type (``compiler.ops.ONNX_RULES``), which emits IR nodes through a
:class:`NodeContext`; every emitted node gets its output types inferred at once and is
folded at once when its inputs are constants or its op folds from types (shape
arithmetic), so operands that decide shapes (``Reshape``'s shape, ``Slice``'s starts,
``Expand``'s shape ...) are known when the rule needs them. An op type with no rule
whose ONNX schema defines a function body (``LeakyRelu``, ``LayerNormalization`` for
older opsets, ``Attention``, the losses ...) is expanded into that body and imported
node by node. Anything else - and any rule that meets an input it cannot handle - raises
UNIMPLEMENTED naming the node and the op: never a wrong answer.

Dynamic dimensions are resolved from ``ImportOptions``: explicit ``input_shapes``, named
``dim_params``, and otherwise ``default_dim`` (1, so a free batch dimension becomes 1;
``default_dim=None`` makes any unresolved dimension an error).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping

import attrs
import numpy as np
import onnx
import onnx.defs
from pyree.compiler import dtypes
from pyree.compiler.ir import Attributes, Graph, Node, TensorType
from pyree.compiler.onnx_context import NodeContext
from pyree.compiler.onnx_control import import_if, import_scan
from pyree.compiler.onnx_functions import expand_function
from pyree.compiler.onnx_tensors import tensor_to_array
from pyree.compiler.ops import ONNX_RULES
from pyree.compiler.passes.constant_folding import MAX_FOLD_ELEMENTS

from pyree.status import InvalidArgumentError, PyreeError, UnimplementedError

DEFAULT_DOMAINS = ("", "ai.onnx")
CONTROL_FLOW = {"If": import_if, "Scan": import_scan}
# Attributes without effect on inference results (training-only or advisory).
IGNORABLE_ATTRIBUTES = {
    "Dropout": ("seed", "ratio", "is_test"), "BatchNormalization": ("momentum", "is_test"),
    "Cast": ("round_mode",), "TopK": ("sorted",),  # pyree's top-k output is always sorted
}


@attrs.frozen
class ImportOptions:
    """How to resolve the model's free dimensions and how eagerly to fold.

    ``constant_inputs`` specializes the program: those graph inputs become constants with
    the given values (for operands that decide shapes, like a Reshape target fed as an
    input), and the compiled graph no longer takes them.
    """

    input_shapes: Mapping[str, tuple[int, ...]] = attrs.field(factory=dict)
    constant_inputs: Mapping[str, np.ndarray] = attrs.field(factory=dict)
    dim_params: Mapping[str, int] = attrs.field(factory=dict)
    default_dim: int | None = 1
    max_fold_elements: int = MAX_FOLD_ELEMENTS


def load_model(source) -> tuple[onnx.ModelProto, str | None]:
    if isinstance(source, onnx.ModelProto):
        return source, None
    if isinstance(source, (bytes, bytearray)):
        return onnx.load_from_string(bytes(source)), None
    path = os.fspath(source)
    return onnx.load(path, load_external_data=False), os.path.dirname(path)


def import_model(source, options: ImportOptions | None = None, **kwargs) -> Graph:
    """Imports an ONNX model (proto, bytes or path) into a verified IR graph."""
    from pyree.compiler.verify import verify

    model, base_dir = load_model(source)
    options = options or ImportOptions(**kwargs)
    importer = Importer(model, options, base_dir)
    graph = importer.run()
    verify(graph)
    return graph


class Importer:
    def __init__(self, model: onnx.ModelProto, options: ImportOptions, base_dir):
        self.model = model
        self.options = options
        self.base_dir = base_dir
        self.graph = Graph(model.graph.name or "main")
        self.env: dict[str, str] = {}
        self.opset = self._default_opset(model)
        self._counter = itertools.count()

    @staticmethod
    def _default_opset(model) -> int:
        for entry in model.opset_import:
            if entry.domain in DEFAULT_DOMAINS:
                return int(entry.version)
        return 0  # no default-domain op can appear; other domains are UNIMPLEMENTED

    # -- driver ---------------------------------------------------------------------------
    def run(self) -> Graph:
        g = self.model.graph
        for init in g.initializer:
            name = self.graph.fresh_name(init.name)
            self.graph.add_constant(name, tensor_to_array(init, self.base_dir))
            self.env[init.name] = name
        for value in g.input:
            if value.name in self.env:
                continue  # an initializer listed as an input (IR version < 4)
            if value.name in self.options.constant_inputs:
                name = self.graph.fresh_name(value.name)
                self.graph.add_constant(name, np.array(self.options.constant_inputs[value.name]))
                self.env[value.name] = name
                continue
            type_ = self._input_type(value)
            name = self.graph.fresh_name(value.name)
            self.graph.add_input(name, type_)
            self.env[value.name] = name
        self.import_nodes(g.node, self.opset)
        outputs = []
        for value in g.output:
            if value.name not in self.env:
                raise InvalidArgumentError(f"graph output '{value.name}' is never produced")
            outputs.append(self.env[value.name])
        self.graph.outputs = outputs
        self._name_outputs([v.name for v in g.output])
        return self.graph

    def _input_type(self, value: onnx.ValueInfoProto) -> TensorType:
        if not value.type.HasField("tensor_type"):
            raise UnimplementedError(f"graph input '{value.name}' is not a tensor")
        tt = value.type.tensor_type
        dtype = dtypes.from_onnx(tt.elem_type)
        if value.name in self.options.input_shapes:
            return TensorType(dtype, self.options.input_shapes[value.name])
        if not tt.HasField("shape"):
            raise InvalidArgumentError(
                f"graph input '{value.name}' has no shape; pass input_shapes")
        shape = []
        for i, dim in enumerate(tt.shape.dim):
            if dim.HasField("dim_value"):
                shape.append(int(dim.dim_value))
            elif dim.dim_param in self.options.dim_params:
                shape.append(int(self.options.dim_params[dim.dim_param]))
            elif self.options.default_dim is not None:
                shape.append(int(self.options.default_dim))
            else:
                raise InvalidArgumentError(
                    f"graph input '{value.name}' dimension {i} "
                    f"('{dim.dim_param or '?'}') is dynamic; pass input_shapes, "
                    "dim_params or default_dim")
        return TensorType(dtype, shape)

    def _name_outputs(self, onnx_names: list[str]) -> None:
        """Gives graph outputs their ONNX names where the IR named them otherwise (an
        intermediate that took the name first is renamed out of the way)."""
        graph = self.graph
        producers = graph.producers()
        rename: dict[str, str] = {}
        taken = set(graph.types)
        for ir_name, onnx_name in zip(graph.outputs, onnx_names):
            if (ir_name == onnx_name or ir_name not in producers
                    or graph.outputs.count(ir_name) != 1 or onnx_name in rename.values()):
                continue
            if onnx_name in taken:
                if onnx_name in graph.inputs or onnx_name in graph.outputs \
                        or onnx_name in rename:
                    continue
                i = 1
                while f"{onnx_name}__{i}" in taken:
                    i += 1
                rename[onnx_name] = f"{onnx_name}__{i}"
                taken.add(rename[onnx_name])
            rename[ir_name] = onnx_name
        if rename:
            from pyree.compiler.rewrite import rename_values
            rename_values(graph, rename)

    # -- nodes ----------------------------------------------------------------------------
    def lookup(self, onnx_name: str) -> str:
        try:
            return self.env[onnx_name]
        except KeyError:
            raise InvalidArgumentError(f"value '{onnx_name}' is used before it is defined") \
                from None

    def import_nodes(self, nodes, opset: int) -> None:
        for proto in _toposorted(nodes, set(self.env)):
            self.import_node(proto, opset)

    def import_node(self, proto: onnx.NodeProto, opset: int) -> None:
        name = proto.name or f"{proto.op_type}_{next(self._counter)}"
        where = f"node '{name}' ({proto.op_type})"
        if proto.domain not in DEFAULT_DOMAINS:
            raise UnimplementedError(
                f"{where}: operator domain '{proto.domain}' is not supported")
        try:
            ctx = NodeContext(self, proto, name, opset)
            check_arity(ctx)
            rule = ONNX_RULES.get(proto.op_type)
            if proto.op_type in CONTROL_FLOW:
                CONTROL_FLOW[proto.op_type](self, ctx)
            elif rule is not None and opset >= rule.since:
                rule.rule(ctx)
                ctx.check_attributes_read(IGNORABLE_ATTRIBUTES.get(proto.op_type, ()))
            elif not expand_function(self, ctx):
                raise UnimplementedError(
                    f"{where}: op '{proto.op_type}' (opset {opset}) is not supported")
            ctx.check_outputs_bound()
        except PyreeError as exc:
            if where not in str(exc):
                exc.annotate(f"in {where}")
            raise
        except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as exc:
            # A malformed node the rule's own checks did not anticipate.
            raise InvalidArgumentError(
                f"{where}: cannot import: {type(exc).__name__}: {exc}") from exc

    def bind(self, onnx_name: str, ir_name: str) -> None:
        if onnx_name:
            self.env[onnx_name] = ir_name

    def emit(self, node: Node) -> None:
        from pyree.compiler.passes.constant_folding import try_fold
        from pyree.compiler.passes.shape_inference import infer_node

        in_types = [self.graph.types[n] if n else None for n in node.inputs]
        out_types = infer_node(node, in_types)
        arrays = try_fold(node, in_types, out_types, self.graph.constants,
                          self.options.max_fold_elements)
        if arrays is not None:
            for out, array in zip(node.outputs, arrays):
                if out:
                    self.graph.add_constant(out, array)
            return
        for out, type_ in zip(node.outputs, out_types):
            if out:
                self.graph.types[out] = type_
        self.graph.nodes.append(node)


def check_arity(ctx: NodeContext) -> None:
    """Input/output counts and required operands, from the op's ONNX schema."""
    try:
        schema = onnx.defs.get_schema(ctx.op_type, ctx.opset, "")
    except onnx.defs.SchemaError:
        return
    single = onnx.defs.OpSchema.FormalParameterOption.Single
    for kind, actual, formal, lo, hi in (
            ("inputs", list(ctx.proto.input), schema.inputs, schema.min_input,
             schema.max_input),
            ("outputs", list(ctx.proto.output), schema.outputs, schema.min_output,
             schema.max_output)):
        if not lo <= len(actual) <= hi:
            ctx.invalid(f"takes {lo}..{hi} {kind}, got {len(actual)}")
        for i, param in enumerate(formal):
            if param.option == single and (i >= len(actual) or not actual[i]):
                ctx.invalid(f"{kind[:-1]} {i} ('{param.name}') is required")


def _toposorted(nodes, defined: set[str]):
    """ONNX requires sorted nodes; tolerate unsorted ones (outer-scope names are given)."""
    nodes = list(nodes)
    produced = {o for n in nodes for o in n.output}
    done, pending, out = set(defined), nodes, []
    while pending:
        rest = []
        for n in pending:
            needs = [i for i in n.input if i and i in produced]
            if all(i in done for i in needs):
                out.append(n)
                done.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            out.extend(rest)  # a cycle: let the lookup report the undefined value
            break
        pending = rest
    return out


__all__ = ["Attributes", "ImportOptions", "Importer", "import_model", "load_model"]
