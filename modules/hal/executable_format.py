"""The ``pyree-kernels-v1`` executable format: parsing and validation (spec/executables.md).

``parse(format, data)`` reads the serialized description (UTF-8 JSON) and returns an
``ir.ExecutableDesc`` whose every field has been checked: unknown formats are NOT_FOUND;
anything malformed is INVALID_ARGUMENT naming the function and the field's JSON path.
The description is declarative: no field is ever code, and nothing in it reaches the
generated kernel source except numbers the code generator formats itself.

``copy``, ``fill`` and ``transpose`` bodies are sugar: they are lowered here to elementwise
bodies, so one code generator serves them all.

This module is pure Python and never imports numba.
"""

from __future__ import annotations

import json
import math

from pyree.status import InvalidArgumentError, NotFoundError

from .kernels import ir
from .kernels.expr import Checker, parse_node, typed_constant
from .kernels.expr import binding_ref as _binding_ref
from .kernels.host_format import parse_op_body
from .kernels.spatial_format import parse_conv, parse_epilogue, parse_pool
from .kernels.types import HOST_TYPES, PUSH_TYPES

FORMAT = "pyree-kernels-v1"
SUPPORTED_FORMATS = (FORMAT,)

MAX_DATA_BYTES = 64 << 20
MAX_FUNCTIONS = 4096
MAX_BINDINGS = 32
MAX_PUSH_CONSTANTS = 64
MAX_CONSTANTS = 1024
MAX_RANK = 8
MAX_SIZE_LITERAL = (1 << 62) - 1
MAX_NAME = 256
REDUCE_OPS = ("sum", "prod", "max", "min", "mean")
ACCESS = ("read", "write", "readwrite")
SPATIAL = {"conv": parse_conv, "pool": parse_pool}   # spec 6.5, 6.6


def is_supported(format: str) -> bool:
    return format in SUPPORTED_FORMATS


def serialize(description: dict) -> bytes:
    """Canonical bytes of a description (sorted keys, no whitespace): equal descriptions
    serialize equally, so executable caches hit."""
    return json.dumps(description, sort_keys=True, separators=(",", ":"),
                      allow_nan=False).encode()


def parse(format: str, data) -> ir.ExecutableDesc:
    if not isinstance(format, str) or format not in SUPPORTED_FORMATS:
        raise NotFoundError(f"no executable loader for format {format!r}; supported: "
                            f"{', '.join(SUPPORTED_FORMATS)}")
    data = bytes(data)
    if len(data) > MAX_DATA_BYTES:
        raise InvalidArgumentError(f"executable data is {len(data)} bytes > {MAX_DATA_BYTES}")
    try:
        raw = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidArgumentError(f"executable data is not valid {FORMAT} JSON: {exc}") \
            from None
    top = Checker("<executable>")
    top.obj(raw, "executable", ("version", "functions"), ("constants",))
    top.int_(raw["version"], "version", 1, 1)
    constants = top.int_(raw.get("constants", 0), "constants", 0, MAX_CONSTANTS)
    functions_raw = raw["functions"]
    if not isinstance(functions_raw, list) or len(functions_raw) > MAX_FUNCTIONS:
        top.fail("functions", f"expected a list of at most {MAX_FUNCTIONS} functions")
    functions, names = [], set()
    for i, fn_raw in enumerate(functions_raw):
        fn = _function(fn_raw, i, constants)
        if fn.name in names:
            raise InvalidArgumentError(f"executable function '{fn.name}': functions[{i}].name: "
                                       "duplicate function name")
        names.add(fn.name)
        functions.append(fn)
    return ir.ExecutableDesc(constants, tuple(functions))


def _reject_constant(name):
    raise ValueError(f"non-standard JSON constant {name}")


def _function(raw, i: int, constants: int) -> ir.Function:
    path = f"functions[{i}]"
    name = raw.get("name") if isinstance(raw, dict) else None
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
        Checker(f"<#{i}>").fail(path + ".name", f"expected a name of 1..{MAX_NAME} characters")
    chk = Checker(name)
    chk.obj(raw, path, ("name", "bindings", "items_per_workgroup", "body"),
            ("push_constants",))
    pcs = raw.get("push_constants", [])
    if not isinstance(pcs, list) or len(pcs) > MAX_PUSH_CONSTANTS or \
            not all(isinstance(p, str) and len(p) <= MAX_NAME for p in pcs):
        chk.fail(path + ".push_constants",
                 f"expected a list of at most {MAX_PUSH_CONSTANTS} names (strings)")
    sizes = _Sizes(chk, len(pcs), constants)
    bindings_raw = raw["bindings"]
    if not isinstance(bindings_raw, list) or len(bindings_raw) > MAX_BINDINGS:
        chk.fail(path + ".bindings", f"expected a list of at most {MAX_BINDINGS} bindings")
    body_raw = raw["body"]
    host = isinstance(body_raw, dict) and body_raw.get("kind") == "op"
    bindings = sorted((_binding(chk, sizes, b, f"{path}.bindings[{j}]", host)
                       for j, b in enumerate(bindings_raw)), key=lambda b: b.index)
    for j, b in enumerate(bindings):
        if b.index != j:
            chk.fail(path + ".bindings", f"binding indices must be 0..{len(bindings) - 1} "
                                         f"without gaps or duplicates; missing {j}")
    bindings = tuple(bindings)
    items = sizes.expr(raw["items_per_workgroup"], path + ".items_per_workgroup")
    if items.static() == 0:
        chk.fail(path + ".items_per_workgroup", "must be at least 1")
    body = _body(chk, sizes, raw["body"], path + ".body", bindings, len(pcs))
    return ir.Function(name, tuple(pcs), bindings, items, body)


class _Sizes:
    def __init__(self, chk: Checker, push: int, constants: int):
        self.chk, self.push, self.constants = chk, push, constants

    def expr(self, raw, path: str, depth: int = 0) -> ir.SizeExpr:
        chk = self.chk
        if depth > 16:
            chk.fail(path, "size expression deeper than 16")
        if not isinstance(raw, dict):
            return ir.SizeExpr("int", chk.int_(raw, path, 0, MAX_SIZE_LITERAL))
        if len(raw) != 1:
            chk.fail(path, "a size expression object has exactly one of pc, ec, add, mul")
        (kind, arg), = raw.items()
        if kind == "pc":
            if self.push == 0:
                chk.fail(path + ".pc", "function declares no push constants")
            return ir.SizeExpr("pc", chk.int_(arg, path + ".pc", 0, self.push - 1))
        if kind == "ec":
            if self.constants == 0:
                chk.fail(path + ".ec", "executable declares no constants")
            return ir.SizeExpr("ec", chk.int_(arg, path + ".ec", 0, self.constants - 1))
        if kind in ("add", "mul"):
            if not isinstance(arg, list) or not 1 <= len(arg) <= 16:
                chk.fail(f"{path}.{kind}", "expected a list of 1..16 size expressions")
            return ir.SizeExpr(kind, args=tuple(
                self.expr(a, f"{path}.{kind}[{k}]", depth + 1) for k, a in enumerate(arg)))
        chk.fail(f"{path}.{kind}", "unknown size expression; expected pc, ec, add or mul")

    def dims(self, raw, path: str, rank: int | None = None) -> tuple:
        if not isinstance(raw, list) or len(raw) > MAX_RANK:
            self.chk.fail(path, f"expected a list of at most {MAX_RANK} size expressions")
        if rank is not None and len(raw) != rank:
            self.chk.fail(path, f"expected {rank} entries (the rank of shape), got {len(raw)}")
        return tuple(self.expr(d, f"{path}[{k}]") for k, d in enumerate(raw))


def _binding(chk: Checker, sizes: _Sizes, raw, path: str, host: bool) -> ir.Binding:
    chk.obj(raw, path, ("index", "type", "access", "shape"), ("strides", "offset"))
    index = chk.int_(raw["index"], path + ".index", 0, MAX_BINDINGS - 1)
    etype = chk.type_(raw["type"], path + ".type", HOST_TYPES if host else None)
    access = chk.choice(raw["access"], path + ".access", ACCESS, "access")
    shape = sizes.dims(raw["shape"], path + ".shape")
    strides = None
    if "strides" in raw:
        strides = sizes.dims(raw["strides"], path + ".strides", len(shape))
    offset = sizes.expr(raw.get("offset", 0), path + ".offset")
    return ir.Binding(index, etype, access, shape, strides, offset)




def _same_type(chk, path, *bindings):
    for b in bindings[1:]:
        if b.type != bindings[0].type:
            chk.fail(path, f"type mismatch: binding {bindings[0].index} is "
                           f"{bindings[0].type.name}, binding {b.index} is {b.type.name}")


def _body(chk, sizes, raw, path, bindings, push_count):
    kinds = ("elementwise", "copy", "fill", "transpose", "reduce", "softmax", "matmul", "op",
             *SPATIAL)
    kind = chk.choice(raw.get("kind") if isinstance(raw, dict) else None, path + ".kind",
                      kinds, "body kind")
    if kind == "op":        # host library bodies (spec: "Host library bodies")
        return parse_op_body(chk, raw, path, bindings, push_count)
    if kind in SPATIAL:
        return SPATIAL[kind](chk, sizes, raw, path, bindings)
    if kind == "elementwise":
        chk.obj(raw, path, ("kind", "shape", "outputs"))
        shape = sizes.dims(raw["shape"], path + ".shape")
        outs_raw = raw["outputs"]
        if not isinstance(outs_raw, list) or not 1 <= len(outs_raw) <= MAX_BINDINGS:
            chk.fail(path + ".outputs", f"expected a list of 1..{MAX_BINDINGS} outputs")
        outputs = []
        for k, out in enumerate(outs_raw):
            opath = f"{path}.outputs[{k}]"
            chk.obj(out, opath, ("binding", "value"))
            target = _binding_ref(chk, out["binding"], opath + ".binding", bindings, write=True)
            if any(o.binding == target.index for o in outputs):
                chk.fail(opath + ".binding", f"binding {target.index} is written twice")
            value = parse_node(chk, out["value"], opath + ".value", bindings, len(shape),
                               push_count)
            if value.type != target.type:
                chk.fail(opath + ".value", f"type mismatch: value is {value.type.name}, "
                                           f"binding {target.index} is {target.type.name}")
            outputs.append(ir.Output(target.index, value))
        body = ir.Elementwise(shape, tuple(outputs))
    elif kind in ("copy", "transpose"):
        chk.obj(raw, path, ("kind", "source", "target", *(("perm",) if kind == "transpose"
                                                          else ())))
        source = _binding_ref(chk, raw["source"], path + ".source", bindings, read=True)
        target = _binding_ref(chk, raw["target"], path + ".target", bindings, write=True)
        _same_type(chk, path + ".target", source, target)
        load = {"op": "load", "binding": source.index}
        if kind == "transpose":
            load["perm"] = raw["perm"]
            if len(source.shape) != len(target.shape):
                chk.fail(path + ".target", "transpose source and target ranks differ")
        value = parse_node(chk, load, path + (".perm" if kind == "transpose" else ".source"),
                           bindings, len(target.shape), push_count)
        body = ir.Elementwise(target.shape, (ir.Output(target.index, value),))
    elif kind == "fill":
        chk.obj(raw, path, ("kind", "target", "value"))
        target = _binding_ref(chk, raw["target"], path + ".target", bindings, write=True)
        value_raw = raw["value"]
        if isinstance(value_raw, dict):
            chk.obj(value_raw, path + ".value", ("push",))
            if target.type.name not in PUSH_TYPES:
                chk.fail(path + ".value", f"a push-constant fill needs a 32-bit target, got "
                                          f"{target.type.name}")
            value = parse_node(chk, {"op": "push", "index": value_raw["push"],
                                     "type": target.type.name}, path + ".value.push",
                               bindings, len(target.shape), push_count)
        else:
            number = chk.number(value_raw, path + ".value")
            value = ir.Node("const", target.type,
                            value=typed_constant(chk, number, target.type, path + ".value"))
        body = ir.Elementwise(target.shape, (ir.Output(target.index, value),))
    elif kind in ("reduce", "softmax"):
        extra = ("op", "keepdims") if kind == "reduce" else ()
        chk.obj(raw, path, ("kind", "source", "target", "axis", *extra))
        source = _binding_ref(chk, raw["source"], path + ".source", bindings, read=True)
        target = _binding_ref(chk, raw["target"], path + ".target", bindings, write=True)
        _same_type(chk, path + ".target", source, target)
        rank = len(source.shape)
        if rank == 0:
            chk.fail(path + ".source", f"binding {source.index} has rank 0")
        axis = chk.int_(raw["axis"], path + ".axis", 0, rank - 1)
        if kind == "softmax":
            if not source.type.is_float:
                chk.fail(path + ".source", f"softmax needs f32 or f64, got {source.type.name}")
            want = rank
            body = ir.Softmax(source.index, target.index, axis)
        else:
            op = chk.choice(raw["op"], path + ".op", REDUCE_OPS, "reduction")
            if op == "mean" and not source.type.is_float:
                chk.fail(path + ".op", f"mean needs f32 or f64, got {source.type.name}")
            if source.type.kind == "bool":
                chk.fail(path + ".source", "reductions do not accept i1")
            keepdims = chk.bool_(raw["keepdims"], path + ".keepdims")
            want = rank if keepdims else rank - 1
            body = ir.Reduce(op, source.index, target.index, axis, keepdims)
        if len(target.shape) != want:
            chk.fail(path + ".target", f"binding {target.index} has rank {len(target.shape)}, "
                                       f"expected {want}")
    else:
        chk.obj(raw, path, ("kind", "lhs", "rhs", "out"),
                ("transpose_lhs", "transpose_rhs", "alpha", "beta", "epilogue",
                 "column_block", "rhs_packed"))
        lhs = _binding_ref(chk, raw["lhs"], path + ".lhs", bindings, read=True)
        rhs = _binding_ref(chk, raw["rhs"], path + ".rhs", bindings, read=True)
        out = _binding_ref(chk, raw["out"], path + ".out", bindings, write=True)
        _same_type(chk, path + ".out", lhs, rhs, out)
        if not lhs.type.is_float:
            chk.fail(path + ".lhs", f"matmul needs f32 or f64, got {lhs.type.name}")
        for name, b in (("lhs", lhs), ("rhs", rhs), ("out", out)):
            if len(b.shape) not in (2, 3):
                chk.fail(f"{path}.{name}", f"binding {b.index} has rank {len(b.shape)}; "
                                           "matmul operands have rank 2 or 3")
            if b.strides is not None:
                chk.fail(f"{path}.{name}", f"binding {b.index}: matmul operands are dense "
                                           "row-major and take no strides")
        alpha = chk.number(raw.get("alpha", 1.0), path + ".alpha")
        beta = chk.number(raw.get("beta", 0.0), path + ".beta")
        for name, v in (("alpha", alpha), ("beta", beta)):
            if not math.isfinite(v):
                chk.fail(f"{path}.{name}", "must be finite")
        if beta != 0 and not out.readable:
            chk.fail(path + ".out", f"beta != 0 reads binding {out.index}, which is "
                                    f"'{out.access}'")
        block = None
        if "column_block" in raw:
            block = sizes.expr(raw["column_block"], path + ".column_block")
            if block.static() == 0:
                chk.fail(path + ".column_block", "must be at least 1")
        transpose_rhs = chk.bool_(raw.get("transpose_rhs", False), path + ".transpose_rhs")
        packed = chk.bool_(raw.get("rhs_packed", False), path + ".rhs_packed")
        if packed and transpose_rhs:
            chk.fail(path + ".rhs_packed", "a packed rhs is not transposed (its panels are "
                                           "op(rhs) already)")
        if packed and len(rhs.shape) != 3:
            chk.fail(path + ".rhs", f"binding {rhs.index} has rank {len(rhs.shape)}; a packed "
                                    "rhs is [panels, K, panel width]")
        body = ir.Matmul(lhs.index, rhs.index, out.index,
                         chk.bool_(raw.get("transpose_lhs", False), path + ".transpose_lhs"),
                         transpose_rhs, float(alpha), float(beta),
                         parse_epilogue(chk, raw.get("epilogue", []), path + ".epilogue",
                                        bindings, out), block, packed)
    return body
