"""pyree-kernels-v1 descriptions: parsing, every validation error, lowering, and the
import-time promise that the HAL module does not import numba (spec/executables.md)."""

from __future__ import annotations

import copy
import json
import os
import pathlib
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyree.modules.hal import executable_format as fmt
from pyree.modules.hal.kernels import ir, ops

from pyree.status import InvalidArgumentError, NotFoundError, PyreeError

ROOT = pathlib.Path(__file__).resolve().parents[2]


def load(i):
    return {"op": "load", "binding": i}


def base() -> dict:
    """A valid executable: one elementwise function and one of each library kind."""
    vec = [{"pc": 0}]
    rw = [{"index": 0, "type": "f32", "access": "read", "shape": vec},
          {"index": 1, "type": "f32", "access": "read", "shape": [1]},
          {"index": 2, "type": "f32", "access": "write", "shape": vec}]
    mat = [{"index": 0, "type": "f32", "access": "read", "shape": [2, 3]},
           {"index": 1, "type": "f32", "access": "read", "shape": [3, 4]},
           {"index": 2, "type": "f32", "access": "readwrite", "shape": [2, 4]}]
    red = [{"index": 0, "type": "f32", "access": "read", "shape": [4, 5]},
           {"index": 1, "type": "f32", "access": "write", "shape": [4]}]
    sq = [{"index": 0, "type": "f32", "access": "read", "shape": [4, 5]},
          {"index": 1, "type": "f32", "access": "write", "shape": [5, 4]}]
    return {"version": 1, "constants": 1, "functions": [
        {"name": "ew", "push_constants": ["n"], "bindings": rw, "items_per_workgroup": 64,
         "body": {"kind": "elementwise", "shape": vec, "outputs": [{"binding": 2, "value": {
             "op": "add", "args": [load(0), {"op": "mul", "args": [
                 load(1), {"op": "const", "type": "f32", "value": 2.5}]}]}}]}},
        {"name": "mm", "bindings": mat, "items_per_workgroup": {"ec": 0},
         "body": {"kind": "matmul", "lhs": 0, "rhs": 1, "out": 2, "beta": 1.0}},
        {"name": "red", "bindings": red, "items_per_workgroup": 8,
         "body": {"kind": "reduce", "op": "sum", "source": 0, "target": 1, "axis": 1,
                  "keepdims": False}},
        {"name": "sm", "bindings": [dict(red[0]), dict(red[0], index=1, access="write")],
         "items_per_workgroup": 8,
         "body": {"kind": "softmax", "source": 0, "target": 1, "axis": 1}},
        {"name": "tr", "bindings": sq, "items_per_workgroup": 8,
         "body": {"kind": "transpose", "source": 0, "target": 1, "perm": [1, 0]}},
        {"name": "cp", "bindings": [dict(red[0]), dict(red[0], index=1, access="write",
                                                  strides=[1, 4])],
         "items_per_workgroup": 8, "body": {"kind": "copy", "source": 0, "target": 1}},
        {"name": "fill", "push_constants": ["value"],
         "bindings": [dict(red[0], access="write")], "items_per_workgroup": 8,
         "body": {"kind": "fill", "target": 0, "value": {"push": 0}}},
    ]}


def parse(desc):
    return fmt.parse(fmt.FORMAT, json.dumps(desc).encode())


def test_valid_description_parses_and_lowers_sugar():
    desc = parse(base())
    assert [f.name for f in desc.functions] == ["ew", "mm", "red", "sm", "tr", "cp", "fill"]
    assert desc.constants == 1
    tr = desc.functions[4].body
    assert isinstance(tr, ir.Elementwise) and tr.outputs[0].value.perm == (1, 0)
    cp = desc.functions[5].body
    assert isinstance(cp, ir.Elementwise) and cp.outputs[0].value.op == "load"
    fill = desc.functions[6].body.outputs[0].value
    assert fill.op == "push" and fill.type.name == "f32"
    assert isinstance(desc.functions[1].body, ir.Matmul)
    assert desc.functions[1].items_per_workgroup.evaluate((), (7,)) == 7


def test_serialize_is_canonical():
    a, b = base(), base()
    b["functions"][0] = dict(reversed(list(b["functions"][0].items())))
    assert fmt.serialize(a) == fmt.serialize(b)
    assert parse(a) == fmt.parse(fmt.FORMAT, fmt.serialize(a))


@pytest.mark.parametrize("name", ["embedded-elf-x86_64", "vmvx-bytecode-fb", "", "PYREE"])
def test_unknown_format_is_not_found(name):
    with pytest.raises(NotFoundError, match="no executable loader"):
        fmt.parse(name, fmt.serialize(base()))


@pytest.mark.parametrize("data", [b"", b"\xff\xfe", b"[1, 2", b"{\"version\": NaN}",
                                  b"[" * 100000, b"null", b"[]"])
def test_bad_data_is_invalid_argument(data):
    with pytest.raises(InvalidArgumentError):
        fmt.parse(fmt.FORMAT, data)


def _set(path, value):
    """A mutation that sets base()[path...] = value (value None with delete=True removes)."""
    def mutate(desc):
        node = desc
        for key in path[:-1]:
            node = node[key]
        if value is _DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value
    return mutate


_DELETE = object()


def _int_fn(desc, value):
    for b in desc["functions"][0]["bindings"]:
        b["type"] = "i32"
    desc["functions"][0]["body"]["outputs"][0]["value"] = value


def _deep(depth):
    node = load(0)
    for _ in range(depth):
        node = {"op": "neg", "args": [node]}
    return node


F0 = ("functions", 0)
EW = F0 + ("body", "outputs", 0, "value")
B0 = F0 + ("bindings", 0)

# (mutation, function name in the message, field path in the message)
MALFORMED = {
    "version": (_set(("version",), 2), "<executable>", "version"),
    "constants-type": (_set(("constants",), "1"), "<executable>", "constants"),
    "functions-type": (_set(("functions",), {}), "<executable>", "functions"),
    "top-unknown": (_set(("extra",), 1), "<executable>", "executable.'extra'"),
    "name-missing": (_set(F0 + ("name",), _DELETE), "<#0>", "functions[0].name"),
    "name-empty": (_set(F0 + ("name",), ""), "<#0>", "functions[0].name"),
    "name-dup": (_set(("functions", 1, "name"), "ew"), "ew", "functions[1].name"),
    "fn-unknown-field": (_set(F0 + ("code",), "x"), "ew", "functions[0].'code'"),
    "fn-missing-body": (_set(F0 + ("body",), _DELETE), "ew", "functions[0]"),
    "push-not-list": (_set(F0 + ("push_constants",), 3), "ew", "push_constants"),
    "push-not-str": (_set(F0 + ("push_constants",), [1]), "ew", "push_constants"),
    "bindings-not-list": (_set(F0 + ("bindings",), {}), "ew", "functions[0].bindings"),
    "bindings-too-many": (_set(F0 + ("bindings",), [{}] * 33), "ew", "functions[0].bindings"),
    "binding-index-dup": (_set(F0 + ("bindings", 1, "index"), 0), "ew", "bindings"),
    "binding-index-gap": (_set(F0 + ("bindings", 2, "index"), 5), "ew", "bindings"),
    "binding-index-bool": (_set(B0 + ("index",), False), "ew", "bindings[0].index"),
    "binding-type": (_set(B0 + ("type",), "f16"), "ew", "bindings[0].type"),
    "binding-access": (_set(B0 + ("access",), "rw"), "ew", "bindings[0].access"),
    "binding-shape-type": (_set(B0 + ("shape",), 4), "ew", "bindings[0].shape"),
    "binding-rank": (_set(B0 + ("shape",), [1] * 9), "ew", "bindings[0].shape"),
    "binding-dim-negative": (_set(B0 + ("shape",), [-1]), "ew", "bindings[0].shape[0]"),
    "binding-dim-float": (_set(B0 + ("shape",), [1.5]), "ew", "bindings[0].shape[0]"),
    "binding-dim-huge": (_set(B0 + ("shape",), [1 << 62]), "ew", "bindings[0].shape[0]"),
    "binding-strides-len": (_set(B0 + ("strides",), [1, 1]), "ew", "bindings[0].strides"),
    "binding-offset": (_set(B0 + ("offset",), -4), "ew", "bindings[0].offset"),
    "binding-unknown": (_set(B0 + ("layout",), "x"), "ew", "bindings[0].'layout'"),
    "size-pc-range": (_set(B0 + ("shape",), [{"pc": 1}]), "ew", "shape[0].pc"),
    "size-ec-range": (_set(B0 + ("shape",), [{"ec": 1}]), "ew", "shape[0].ec"),
    "size-unknown": (_set(B0 + ("shape",), [{"div": [1]}]), "ew", "shape[0].div"),
    "size-two-keys": (_set(B0 + ("shape",), [{"pc": 0, "ec": 0}]), "ew", "shape[0]"),
    "size-add-empty": (_set(B0 + ("shape",), [{"add": []}]), "ew", "shape[0].add"),
    "items-zero": (_set(F0 + ("items_per_workgroup",), 0), "ew", "items_per_workgroup"),
    "body-kind": (_set(F0 + ("body", "kind"), "conv9"), "ew", "body.kind"),
    "body-unknown": (_set(F0 + ("body", "fuse"), 1), "ew", "body.'fuse'"),
    "outputs-empty": (_set(F0 + ("body", "outputs"), []), "ew", "body.outputs"),
    "output-binding-range": (_set(F0 + ("body", "outputs", 0, "binding"), 3), "ew",
                             "outputs[0].binding"),
    "output-read-only": (_set(F0 + ("body", "outputs", 0, "binding"), 0), "ew",
                         "outputs[0].binding"),
    "output-type": (_set(F0 + ("bindings", 2, "type"), "f64"), "ew", "outputs[0].value"),
    "op-unknown": (_set(EW + ("op",), "fma"), "ew", "value.op"),
    "op-code-text": (_set(EW + ("op",), "__import__('os')"), "ew", "value.op"),
    "op-missing": (_set(EW + ("op",), _DELETE), "ew", "value.op"),
    "args-arity": (_set(EW + ("args",), [load(0)]), "ew", "value.args"),
    "args-type": (_set(EW + ("args",), load(0)), "ew", "value.args"),
    "load-binding-range": (_set(EW + ("args", 0, "binding"), 7), "ew", "args[0].binding"),
    "load-binding-str": (_set(EW + ("args", 0, "binding"), "b0"), "ew", "args[0].binding"),
    "load-write-only": (_set(EW + ("args", 0, "binding"), 2), "ew", "args[0].binding"),
    "load-perm": (_set(EW + ("args", 0, "perm"), [1]), "ew", "args[0].perm"),
    "load-unknown": (_set(EW + ("args", 0, "index"), 1), "ew", "args[0].'index'"),
    "const-type": (_set(EW + ("args", 1, "args", 1, "type"), "f8"), "ew", "args[1].type"),
    "const-value": (_set(EW + ("args", 1, "args", 1, "value"), "1.0"), "ew",
                    "args[1].value"),
    "const-overflow": (_set(EW + ("args", 1, "args", 1, "value"), 1e39), "ew",
                       "args[1].value"),
    "type-mismatch": (_set(EW + ("args", 1, "args", 1, "type"), "f64"), "ew",
                      "args[1].args[1]"),
    "float-op-on-int": (lambda d: _int_fn(d, {"op": "exp", "args": [load(0)]}), "ew",
                        "value.args"),
    "int-const-range": (lambda d: _int_fn(d, {"op": "add", "args": [load(0), {
        "op": "const", "type": "i32", "value": 1 << 31}]}), "ew", "args[1].value"),
    "int-const-fraction": (lambda d: _int_fn(d, {"op": "add", "args": [load(0), {
        "op": "const", "type": "i32", "value": 0.5}]}), "ew", "args[1].value"),
    "push-index": (_set(EW, {"op": "push", "index": 1, "type": "f32"}), "ew", "value.index"),
    "push-type": (_set(EW, {"op": "push", "index": 0, "type": "f64"}), "ew", "value.type"),
    "select-cond": (_set(EW, {"op": "select", "args": [load(0), load(0), load(0)]}), "ew",
                    "value.args[0]"),
    "select-branches": (_set(EW, {"op": "select", "args": [
        {"op": "cmp", "pred": "lt", "args": [load(0), load(0)]}, load(0),
        {"op": "const", "type": "f64", "value": 0}]}), "ew", "value.args[2]"),
    "cmp-pred": (_set(EW, {"op": "cmp", "pred": "<", "args": [load(0), load(0)]}), "ew",
                 "value.pred"),
    "cmp-no-pred": (_set(EW, {"op": "cmp", "args": [load(0), load(0)]}), "ew", "value"),
    "cast-no-type": (_set(EW, {"op": "cast", "args": [load(0)]}), "ew", "value"),
    "not-on-float": (_set(EW, {"op": "not", "args": [load(0)]}), "ew", "value.args"),
    "expr-depth": (_set(EW, _deep(70)), "ew", "expression deeper"),
    "mm-int": (lambda d: [b.update(type="i32") for b in d["functions"][1]["bindings"]], "mm",
               "body.lhs"),
    "mm-rank": (_set(("functions", 1, "bindings", 0, "shape"), [2]), "mm", "body.lhs"),
    "mm-strides": (_set(("functions", 1, "bindings", 1, "strides"), [4, 1]), "mm",
                   "body.rhs"),
    "mm-alpha": (_set(("functions", 1, "body", "alpha"), "inf"), "mm", "body.alpha"),
    "mm-transpose": (_set(("functions", 1, "body", "transpose_lhs"), 1), "mm",
                     "body.transpose_lhs"),
    "mm-beta-write-only": (_set(("functions", 1, "bindings", 2, "access"), "write"), "mm",
                           "body.out"),
    "mm-type-mismatch": (_set(("functions", 1, "bindings", 1, "type"), "f64"), "mm",
                         "body.out"),
    "mm-column-block-zero": (_set(("functions", 1, "body", "column_block"), 0), "mm",
                             "body.column_block"),
    "mm-column-block-text": (_set(("functions", 1, "body", "column_block"), "x"), "mm",
                             "body.column_block"),
    "red-op": (_set(("functions", 2, "body", "op"), "argmax"), "red", "body.op"),
    "red-axis": (_set(("functions", 2, "body", "axis"), 2), "red", "body.axis"),
    "red-axis-negative": (_set(("functions", 2, "body", "axis"), -1), "red", "body.axis"),
    "red-keepdims": (_set(("functions", 2, "body", "keepdims"), 0), "red", "body.keepdims"),
    "red-target-rank": (_set(("functions", 2, "body", "keepdims"), True), "red",
                        "body.target"),
    "red-mean-int": (lambda d: [b.update(type="i32") for b in d["functions"][2]["bindings"]]
                     and d["functions"][2]["body"].update(op="mean"), "red", "body.op"),
    "red-source-write-only": (_set(("functions", 2, "bindings", 0, "access"), "write"),
                              "red", "body.source"),
    "sm-int": (lambda d: [b.update(type="i64") for b in d["functions"][3]["bindings"]],
               "sm", "body.source"),
    "tr-perm": (_set(("functions", 4, "body", "perm"), [0, 0]), "tr", "body.perm"),
    "cp-type": (_set(("functions", 5, "bindings", 1, "type"), "i32"), "cp", "body.target"),
    "fill-push-f64": (_set(("functions", 6, "bindings", 0, "type"), "f64"), "fill",
                      "body.value"),
    "fill-value": (_set(("functions", 6, "body", "value"), [1]), "fill", "body.value"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_field_is_invalid_argument_naming_function_and_field(case):
    mutate, function, field = MALFORMED[case]
    desc = copy.deepcopy(base())
    mutate(desc)
    with pytest.raises(InvalidArgumentError) as info:
        parse(desc)
    message = str(info.value)
    assert f"'{function}'" in message and field in message, message


def test_every_op_in_the_table_is_accepted():
    for name, row in ops.OPS.items():
        kind = sorted(row.kinds)[-1] if "float" not in row.kinds else "float"
        tname = {"float": "f32", "sint": "i32", "uint": "ui32", "bool": "i1"}[kind]
        desc = base()
        fn = desc["functions"][0]
        for b in fn["bindings"]:
            b["type"] = tname
        args = [load(0)] * row.arity
        if name == "select":
            args[0] = {"op": "cmp", "pred": "eq", "args": [load(0), load(1)]}
        fn["body"]["outputs"][0]["value"] = {"op": name, "args": args, **(
            {"pred": "ne"} if name == "cmp" else {})}
        if row.result == "i1":
            fn["bindings"][2]["type"] = "i1"
        parse(desc)


@given(st.binary(max_size=200))
def test_random_bytes_only_raise_pyree_errors(data):
    try:
        fmt.parse(fmt.FORMAT, data)
    except PyreeError:
        pass


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 40) | st.floats(allow_nan=False) |
    st.sampled_from(["f32", "i32", "load", "add", "read", "write", "elementwise", "pc"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(
        ["op", "args", "binding", "type", "value", "shape", "pc", "index", "kind", "perm"]),
        inner, max_size=4), max_leaves=20)


@given(st.sampled_from(sorted(MALFORMED)), st.lists(st.tuples(st.integers(0, 10 ** 6), _json),
                                                    min_size=1, max_size=3))
def test_random_field_values_only_raise_pyree_errors(case, edits):
    desc = base()
    for pick, value in edits:
        node, parent, key = desc, None, None
        while isinstance(node, (dict, list)) and node:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            parent, key = node, keys[pick % len(keys)]
            node = node[key]
            pick //= max(len(keys), 1)
            if pick == 0:
                break
        if parent is not None:
            parent[key] = value
    try:
        parse(desc)
    except PyreeError:
        pass


def test_spec_operator_table_is_current():
    spec = (ROOT / "spec" / "executables.md").read_text()
    assert ops.render_table() in spec, "spec/executables.md operator table is stale; " \
        "paste pyree.modules.hal.kernels.ops.render_table()"


def test_importing_the_hal_module_does_not_import_numba():
    code = ("import sys\n"
            "import pyree.vm, pyree.modules.hal\n"
            "import pyree.modules.hal.executable, pyree.modules.hal.executable_cache\n"
            "import pyree.modules.hal.executable_format, pyree.modules.hal.kernels.layout\n"
            "from pyree.modules.hal import executable_format as f\n"
            "assert 'numba' not in sys.modules, 'numba imported'\n")
    env = dict(os.environ)
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)
