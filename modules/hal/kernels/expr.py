"""Parsing and type checking of elementwise expression trees (spec/executables.md 5).

``parse_node`` turns one JSON node into an ``ir.Node`` after checking its op against the
table in ``ops``, its operand count and types, and (for loads) the binding it names. Errors
are INVALID_ARGUMENT naming the function and the JSON path of the offending field.
"""

from __future__ import annotations

import math

from pyree.status import InvalidArgumentError

from . import ops
from .ir import Node
from .types import PUSH_TYPES, TYPES

MAX_DEPTH = 64
MAX_NODES = 4096


class Checker:
    """Validation context: the function being read and helpers that raise with its path."""

    def __init__(self, function: str):
        self.function = function
        self.nodes = 0

    def fail(self, path: str, message: str):
        raise InvalidArgumentError(
            f"executable function '{self.function}': {path}: {message}")

    def obj(self, value, path: str, required: tuple, optional: tuple = ()) -> dict:
        if not isinstance(value, dict):
            self.fail(path, f"expected an object, got {_kind(value)}")
        for key in required:
            if key not in value:
                self.fail(path, f"missing field '{key}'")
        for key in value:
            if key not in required and key not in optional:
                self.fail(f"{path}.{_show(key)}", "unknown field")
        return value

    def int_(self, value, path: str, lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, f"expected an integer, got {_kind(value)}")
        if not lo <= value <= hi:
            self.fail(path, f"{value} is out of range [{lo}, {hi}]")
        return value

    def bool_(self, value, path: str) -> bool:
        if not isinstance(value, bool):
            self.fail(path, f"expected true or false, got {_kind(value)}")
        return value

    def number(self, value, path: str) -> float | int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if value in ("nan", "inf", "-inf"):
                return float(value)
            self.fail(path, f"expected a number or \"nan\"/\"inf\"/\"-inf\", got {_kind(value)}")
        return value

    def choice(self, value, path: str, table, what: str):
        if not isinstance(value, str) or value not in table:
            self.fail(path, f"unknown {what} {_show(value)}; expected one of "
                            f"{', '.join(sorted(table))}")
        return value

    def type_(self, value, path: str, allowed=None):
        table = allowed or TYPES
        name = self.choice(value, path, table, "element type")
        return table[name] if isinstance(table, dict) else TYPES[name]


def binding_ref(chk: Checker, raw, path: str, bindings, *, read=False, write=False):
    """The binding whose index ``raw`` names, checked readable / writable as asked."""
    if not bindings:
        chk.fail(path, "function has no bindings")
    binding = bindings[chk.int_(raw, path, 0, len(bindings) - 1)]
    if read and not binding.readable:
        chk.fail(path, f"binding {binding.index} is '{binding.access}', not readable")
    if write and not binding.writable:
        chk.fail(path, f"binding {binding.index} is '{binding.access}', not writable")
    return binding


def typed_constant(chk: Checker, value, etype, path: str):
    """A literal converted to ``etype``'s value domain, or INVALID_ARGUMENT."""
    if etype.is_float:
        value = float(value)
        if etype.bits == 32 and math.isfinite(value) and abs(value) > 3.4028234663852886e38:
            chk.fail(path, f"{value} overflows {etype.name}")
        return value
    if isinstance(value, float):
        if not value.is_integer():
            chk.fail(path, f"{value} is not a {etype.name} value")
        value = int(value)
    lo, hi = etype.bounds()
    if not lo <= value <= hi:
        chk.fail(path, f"{value} is out of range of {etype.name} [{lo}, {hi}]")
    return value


def parse_node(chk: Checker, raw, path: str, bindings: tuple, rank: int, push_count: int,
               depth: int = 0) -> Node:
    if depth > MAX_DEPTH:
        chk.fail(path, f"expression deeper than {MAX_DEPTH}")
    chk.nodes += 1
    if chk.nodes > MAX_NODES:
        chk.fail(path, f"more than {MAX_NODES} expression nodes")
    if not isinstance(raw, dict):
        chk.fail(path, f"expected an expression object, got {_kind(raw)}")
    op = raw.get("op")
    leaf = ("load", "const", "push")
    chk.choice(op, path + ".op", set(ops.OPS) | {"cast", *leaf}, "op")
    if op == "load":
        chk.obj(raw, path, ("op", "binding"), ("perm",))
        index = chk.int_(raw["binding"], path + ".binding", 0, len(bindings) - 1) \
            if bindings else chk.fail(path + ".binding", "function has no bindings")
        binding = bindings[index]
        if not binding.readable:
            chk.fail(path + ".binding", f"binding {index} is '{binding.access}', not readable")
        perm = raw.get("perm")
        if perm is not None:
            if not isinstance(perm, list) or any(type(p) is not int for p in perm) or \
                    sorted(perm) != list(range(len(binding.shape))):
                chk.fail(path + ".perm", f"expected a permutation of 0..{len(binding.shape) - 1}")
            if len(perm) != rank:
                chk.fail(path + ".perm", f"permuted binding {index} has rank {len(perm)}, "
                                         f"iteration space has rank {rank}")
            perm = tuple(perm)
        elif len(binding.shape) > rank:
            chk.fail(path + ".binding", f"binding {index} has rank {len(binding.shape)} > "
                                        f"iteration rank {rank}")
        return Node("load", binding.type, binding=index, perm=perm)
    if op == "const":
        chk.obj(raw, path, ("op", "type", "value"))
        etype = chk.type_(raw["type"], path + ".type")
        value = chk.number(raw["value"], path + ".value")
        return Node("const", etype, value=typed_constant(chk, value, etype, path + ".value"))
    if op == "push":
        chk.obj(raw, path, ("op", "index", "type"))
        if push_count == 0:
            chk.fail(path + ".index", "function declares no push constants")
        index = chk.int_(raw["index"], path + ".index", 0, push_count - 1)
        return Node("push", chk.type_(raw["type"], path + ".type", PUSH_TYPES), index=index)
    extra = ("type",) if op == "cast" else ("pred",) if op == "cmp" else ()
    chk.obj(raw, path, ("op", "args", *extra))
    args_raw = raw["args"]
    arity = 1 if op == "cast" else ops.OPS[op].arity
    if not isinstance(args_raw, list) or len(args_raw) != arity:
        chk.fail(path + ".args", f"'{op}' takes {arity} operand(s), got "
                                 f"{len(args_raw) if isinstance(args_raw, list) else _kind(args_raw)}")
    args = tuple(parse_node(chk, a, f"{path}.args[{i}]", bindings, rank, push_count, depth + 1)
                 for i, a in enumerate(args_raw))
    if op == "cast":
        return Node("cast", chk.type_(raw["type"], path + ".type"), args=args)
    row = ops.OPS[op]
    compared = args[1:] if op == "select" else args
    if op == "select" and args[0].type.kind != "bool":
        chk.fail(path + ".args[0]", f"select condition must be i1, got {args[0].type.name}")
    first = compared[0].type
    for i, arg in enumerate(compared[1:], start=len(args) - len(compared) + 1):
        if arg.type != first:
            chk.fail(f"{path}.args[{i}]", f"type mismatch in '{op}': {first.name} vs "
                                          f"{arg.type.name}")
    if first.kind not in row.kinds:
        chk.fail(path + ".args", f"'{op}' does not accept {first.name} operands")
    pred = ""
    if op == "cmp":
        pred = chk.choice(raw["pred"], path + ".pred", ops.PREDICATES, "predicate")
    result = TYPES["i1"] if row.result == "i1" else first
    return Node(op, result, args=args, pred=pred)


def _kind(value) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
