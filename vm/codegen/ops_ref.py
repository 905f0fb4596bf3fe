"""Ref handlers: constants, assign/cast, comparisons, select/switch, discard, ref globals.

Ref registers hold Python objects (``None`` is null); Python's reference count is the
VM's: dropping a register's reference is the release. A ref type check compares the
object's class with ``_TC{type}``, the class the type table names (a class no object has
for ``!vm.opaque`` and value types, so that only null passes, as vm-isa.md 5.1 says).
"""

from __future__ import annotations

from pyree.bytecode import isa
from pyree.vm.codegen.emit import emitter


def _r(ordinal: int) -> str:
    return f"r{ordinal & isa.REF_INDEX_MASK}"


def _moved(ordinal: int) -> bool:
    return bool(ordinal & isa.MOVE_BIT)


def _check(var: str, type_id: int) -> str:
    return f"if {var} is not None and {var}.__class__ is not _TC{type_id}: _type_mismatch()"


def _drops_temp(fn):
    """The temporary ``_v`` must not keep a ref alive past its instruction (a discarded
    register must really release its object, even while the frame is suspended)."""
    def emit(t, ins):
        return fn(t, ins) + ["_v = None"]
    emit.__name__ = fn.__name__
    return emit


def _release_if_moved(src: int, dst: int | None = None) -> list[str]:
    if _moved(src) and (dst is None or _r(src) != _r(dst)):
        return [f"{_r(src)} = None"]
    return []


@emitter("const.ref.zero")
def _const_ref_zero(t, ins):
    return [f"{_r(ins.arg('result'))} = None"]


@emitter("const.ref.rodata")
def _const_ref_rodata(t, ins):
    return [f"{_r(ins.arg('value'))} = _ro{ins.arg('rodata')}"]


@emitter("assign.ref")
def _assign_ref(t, ins):
    src, dst = ins.arg("source"), ins.arg("result")
    return [f"{_r(dst)} = {_r(src)}", *_release_if_moved(src, dst)]


@emitter("cast.any.ref")
@_drops_temp
def _cast_any_ref(t, ins):
    src, dst = ins.arg("operand"), ins.arg("result")
    return [f"_v = {_r(src)}", _check("_v", ins.arg("result_type")), f"{_r(dst)} = _v",
            *_release_if_moved(src, dst)]


@emitter("cmp.eq.ref")
def _cmp_eq_ref(t, ins):
    return t.layout.w32(ins.arg("result"), f"{_r(ins.arg('left'))} is {_r(ins.arg('right'))}")


@emitter("cmp.ne.ref")
def _cmp_ne_ref(t, ins):
    return t.layout.w32(ins.arg("result"),
                        f"{_r(ins.arg('left'))} is not {_r(ins.arg('right'))}")


@emitter("cmp.nz.ref")
def _cmp_nz_ref(t, ins):
    return t.layout.w32(ins.arg("result"), f"{_r(ins.arg('operand'))} is not None")


@emitter("select.ref")
@_drops_temp
def _select_ref(t, ins):
    cond = t.layout.r32(ins.arg("condition"))
    a, b, dst = ins.arg("true_value"), ins.arg("false_value"), ins.arg("result")
    type_id = ins.arg("true_value_type_def")
    out = [f"if {cond}:", "<indent>", f"_v = {_r(a)}", _check("_v", type_id),
           *_release_if_moved(a, dst), *_release_if_moved(b, dst), "<dedent>",
           "else:", "<indent>", f"_v = {_r(b)}", _check("_v", type_id),
           *_release_if_moved(b, dst), *_release_if_moved(a, dst), "<dedent>",
           f"{_r(dst)} = _v"]
    return out


@emitter("switch.ref")
@_drops_temp
def _switch_ref(t, ins):
    index = t.layout.r32(ins.arg("index"))
    default, values, dst = ins.arg("default_value"), ins.arg("values"), ins.arg("result")
    type_id = ins.arg("type_def")
    out = [f"_t = {index}"]
    for k, v in enumerate(values):
        out += [f"{'if' if k == 0 else 'elif'} _t == {k}:", "<indent>", f"_v = {_r(v)}",
                _check("_v", type_id), *_release_if_moved(v, dst), "<dedent>"]
    body = [f"_v = {_r(default)}", _check("_v", type_id), *_release_if_moved(default, dst)]
    out += (["else:", "<indent>", *body, "<dedent>"] if values else body)
    return out + [f"{_r(dst)} = _v"]


@emitter("discard.refs")
def _discard_refs(t, ins):
    return [f"{_r(o)} = None" for o in ins.arg("refs") if o & isa.REF_BIT]


# -- ref globals -------------------------------------------------------------------------
@emitter("global.load.ref")
def _global_load_ref(t, ins):
    # Loaded into the register and checked there: a mismatch raises, which ends the frame
    # and its registers alike, so no temporary is needed.
    index, dst = ins.arg("global"), ins.arg("value")
    out = [f"{_r(dst)} = _rg[{index}]", _check(_r(dst), ins.arg("type_def"))]
    if _moved(dst):
        out.append(f"_rg[{index}] = None")
    return out


@emitter("global.store.ref")
@_drops_temp
def _global_store_ref(t, ins):
    index, src = ins.arg("global"), ins.arg("value")
    return [f"_v = {_r(src)}", _check("_v", ins.arg("type_def")), f"_rg[{index}] = _v",
            *_release_if_moved(src)]


def _ref_index_check(t, ins) -> list[str]:
    reg = t.layout.r32(ins.arg("global"))
    return [f"_t = {reg} & 0xFFFFFFFF",
            f"if _t >= _rg_len: _global_ref_range(_t, _rg_len)"]


@emitter("global.load.indirect.ref")
@_drops_temp
def _global_load_indirect_ref(t, ins):
    dst = ins.arg("value")
    out = _ref_index_check(t, ins) + ["_v = _rg[_t]", _check("_v", ins.arg("type_def"))]
    if _moved(dst):
        out.append("_rg[_t] = None")
    return out + [f"{_r(dst)} = _v"]


@emitter("global.store.indirect.ref")
@_drops_temp
def _global_store_indirect_ref(t, ins):
    src = ins.arg("value")
    return _ref_index_check(t, ins) + [
        f"_v = {_r(src)}", _check("_v", ins.arg("type_def")), "_rg[_t] = _v",
        *_release_if_moved(src)]
