"""Expansion of ONNX ops defined as functions (``LeakyRelu``, ``Attention``, the losses...).

When no import rule exists for an op type, the op's schema may define its semantics as
a function body (plain, or built for the node's attributes and input types:
"context-dependent"). The body is instantiated - formal inputs and outputs renamed to
the caller's values, internal values given a unique prefix, attribute references
(``ref_attr_name``) replaced by the caller's attributes or the schema defaults - and
imported node by node under the body's own opset.
"""

from __future__ import annotations

import itertools

import onnx
import onnx.defs
from pyree.compiler.onnx_tensors import type_proto

_counter = itertools.count()


def _pick(versions, opset: int) -> int | None:
    versions = sorted(versions)
    if not versions:
        return None
    below = [v for v in versions if v <= opset]
    return below[-1] if below else versions[0]


def _function_body(ctx) -> onnx.FunctionProto | None:
    try:
        schema = onnx.defs.get_schema(ctx.op_type, ctx.opset, "")
    except onnx.defs.SchemaError:
        return None
    if schema.has_function:
        version = _pick(schema.function_opset_versions, ctx.opset)
        if version is not None:
            body = schema.get_function_with_opset_version(version)
            if isinstance(body, bytes):
                parsed = onnx.FunctionProto()
                parsed.ParseFromString(body)
                body = parsed
            return body
    if schema.has_context_dependent_function:
        version = _pick(schema.context_dependent_function_opset_versions, ctx.opset)
        if version is None:
            return None
        types = []
        for i in range(len(ctx.proto.input)):
            t = ctx.type(i)
            types.append((type_proto(t.dtype, t.shape) if t else onnx.TypeProto())
                         .SerializeToString())
        try:
            data = schema.get_context_dependent_function_with_opset_version(
                version, ctx.proto.SerializeToString(), types)
        except Exception:  # noqa: BLE001 - onnx could not build a body for these types
            return None
        if not data:
            return None
        body = onnx.FunctionProto()
        body.ParseFromString(data)
        return body
    return None


def _defaults(ctx) -> dict[str, onnx.AttributeProto]:
    schema = onnx.defs.get_schema(ctx.op_type, ctx.opset, "")
    out = {}
    for name, attr in schema.attributes.items():
        default = attr.default_value
        if default is not None and default.type != onnx.AttributeProto.UNDEFINED:
            out[name] = default
    return out


def _instantiate(node, prefix, rename, caller, defaults) -> onnx.NodeProto:
    """A copy of a body node with renamed values (inside subgraphs too) and resolved
    attribute references."""
    new = onnx.NodeProto()
    new.CopyFrom(node)
    new.name = prefix + (node.name or node.op_type)
    del new.input[:]
    del new.output[:]
    new.input.extend(rename(n) for n in node.input)
    new.output.extend(rename(n) for n in node.output)
    del new.attribute[:]
    for attr in node.attribute:
        if attr.ref_attr_name:
            source = caller.get(attr.ref_attr_name) or defaults.get(attr.ref_attr_name)
            if source is None:
                continue
            resolved = onnx.AttributeProto()
            resolved.CopyFrom(source)
            resolved.name = attr.name
            new.attribute.append(resolved)
        elif attr.type == onnx.AttributeProto.GRAPH:
            resolved = onnx.AttributeProto()
            resolved.CopyFrom(attr)
            sub = resolved.g
            inner = [_instantiate(n, prefix, rename, caller, defaults) for n in sub.node]
            del sub.node[:]
            sub.node.extend(inner)
            for value in list(sub.input) + list(sub.output):
                value.name = rename(value.name)
            for init in sub.initializer:
                init.name = rename(init.name)
            new.attribute.append(resolved)
        else:
            new.attribute.append(attr)
    return new


def expand_function(importer, ctx) -> bool:
    """Imports ``ctx``'s node as its function body; False if it has none."""
    body = _function_body(ctx)
    if body is None:
        return False
    prefix = f"{ctx.name}::{next(_counter)}::"
    names: dict[str, str] = {}
    for formal, actual in zip(body.input, ctx.proto.input):
        names[formal] = actual
    for formal in body.input[len(ctx.proto.input):]:
        names[formal] = ""
    for formal, actual in zip(body.output, ctx.proto.output):
        names[formal] = actual or prefix + formal
    caller = {a.name: a for a in ctx.proto.attribute}
    defaults = _defaults(ctx)

    def rename(n: str) -> str:
        return (names.get(n, prefix + n)) if n else ""

    nodes = [_instantiate(node, prefix, rename, caller, defaults) for node in body.node]
    opset = next((int(o.version) for o in body.opset_import if o.domain in ("", "ai.onnx")),
                 ctx.opset)
    importer.import_nodes(nodes, opset)
    for i, out in enumerate(ctx.proto.output):
        if out:
            ctx.set_output(i, importer.lookup(out))
    return True
