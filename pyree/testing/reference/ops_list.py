"""Lists (vm-isa.md 5.3, vm-runtime.md 6).

Capacity is not observable, so a list is just its elements; reserve and resize still
check the implementation's element limit (RESOURCE_EXHAUSTED or OUT_OF_RANGE, which the
documents leave open).
"""

from __future__ import annotations

from pyree.bytecode import isa
from pyree.status import StatusCode as S
from pyree.testing.reference import values as V
from pyree.testing.reference.machine import handler
from pyree.testing.reference.objects import VALUE_WIDTH, RList, ref_type_name, trap

_INTS = ("i8", "i16", "i32", "i64")


def _list(frame, ordinal: int) -> RList:
    obj = frame.get("ref", ordinal)
    if not isinstance(obj, RList):
        raise trap(S.INVALID_ARGUMENT, "list is null")
    return obj


def _index(lst: RList, frame, ordinal: int) -> int:
    i = frame.get("i32", ordinal) & V.M32
    if i >= len(lst.items):
        raise trap(S.OUT_OF_RANGE, f"index {i} out of bounds ({len(lst.items)})")
    return i


def convert(m, value: int, src: str, dst: str) -> int:
    """A stored value of type ``src`` as type ``dst`` (ints as signed values of their
    width, floats as bits): ints extend/truncate, f32 <-> f64 convert, int <-> float
    gives 0."""
    if src == dst:
        return value
    if src in _INTS and dst in _INTS:
        return V.sext(value, VALUE_WIDTH[dst])
    if src == "f32" and dst == "f64":
        return m.nan.r64(V.bits64(V.np.float64(V.f32(value))))
    if src == "f64" and dst == "f32":
        return m.nan.r32(V.f64_to_f32_bits(value))
    return 0


def _zero(lst: RList):
    return 0 if lst.kind == "value" else None


@handler("list.alloc")
def _alloc(m, frame, ins, depth):
    type_id, capacity, result = ins.args
    m.check_limit("max_list_elements", frame.get("i32", capacity) & V.M32)
    resolved = m.types[type_id]
    if resolved[0] == "value":
        lst = RList("value", resolved[1])
    elif resolved[0] == "ref":
        lst = RList("ref", resolved[1])
    else:
        lst = RList("variant", None)
    frame.set("ref", result, lst)


@handler("list.reserve")
def _reserve(m, frame, ins, depth):
    lst_reg, capacity = ins.args
    _list(frame, lst_reg)
    m.check_limit("max_list_elements", frame.get("i32", capacity) & V.M32)


@handler("list.size")
def _size(m, frame, ins, depth):
    lst_reg, result = ins.args
    frame.set("i32", result, len(_list(frame, lst_reg).items))


@handler("list.resize")
def _resize(m, frame, ins, depth):
    lst_reg, size = ins.args
    lst = _list(frame, lst_reg)
    n = frame.get("i32", size) & V.M32
    m.check_limit("max_list_elements", n)
    if n < len(lst.items):
        del lst.items[n:]
    else:
        lst.items.extend(_zero(lst) for _ in range(n - len(lst.items)))


def _get(t: str):
    def run(m, frame, ins, depth):
        lst_reg, index, result = ins.args
        lst = _list(frame, lst_reg)
        i = _index(lst, frame, index)
        if lst.kind == "ref":
            raise trap(S.FAILED_PRECONDITION, "list does not store values")
        if lst.kind == "variant":
            element = lst.items[i]
            if element is None or element[0] != "v":
                raise trap(S.FAILED_PRECONDITION, f"variant at index {i} is not a value type")
            value = convert(m, element[2], element[1], t)
        else:
            value = convert(m, lst.items[i], lst.element, t)
        frame.set(t, result, value)
    return run


def _set(t: str):
    def run(m, frame, ins, depth):
        lst_reg, index, value_reg = ins.args
        lst = _list(frame, lst_reg)
        i = _index(lst, frame, index)
        value = frame.get(t, value_reg)
        if lst.kind == "ref":
            raise trap(S.FAILED_PRECONDITION, "list cannot store values")
        if lst.kind == "variant":
            lst.items[i] = ("v", t, value)
        else:
            lst.items[i] = convert(m, value, t, lst.element)
    return run


for _t in ("i32", "i64", "f32", "f64"):
    handler(f"list.get.{_t}")(_get(_t))
    handler(f"list.set.{_t}")(_set(_t))


@handler("list.get.ref")
def _get_ref(m, frame, ins, depth):
    lst_reg, index, type_id, result = ins.args
    lst = _list(frame, lst_reg)
    i = _index(lst, frame, index)
    move = bool(result & isa.MOVE_BIT)
    if lst.kind == "value":
        raise trap(S.FAILED_PRECONDITION, "list does not store refs")
    element = lst.items[i]
    if lst.kind == "variant":
        if element is not None and element[0] == "v":
            raise trap(S.FAILED_PRECONDITION, "")
        obj = None if element is None else element[1]
    else:
        obj = element
    if move:
        lst.items[i] = None
    resolved = m.types[type_id]
    if obj is not None and not (resolved[0] == "ref" and resolved[1] == ref_type_name(obj)):
        obj = None
    frame.set("ref", result, obj)


@handler("list.set.ref")
def _set_ref(m, frame, ins, depth):
    lst_reg, index, value_reg = ins.args
    lst = _list(frame, lst_reg)
    i = _index(lst, frame, index)
    if lst.kind == "value":
        raise trap(S.FAILED_PRECONDITION, "list cannot store refs")
    obj = frame.get("ref", value_reg)
    if lst.kind == "ref" and obj is not None and ref_type_name(obj) != lst.element:
        raise trap(S.INVALID_ARGUMENT, "list element type mismatch")
    obj = frame.take_ref(value_reg)
    if lst.kind == "variant":
        lst.items[i] = None if obj is None else ("r", obj)
    else:
        lst.items[i] = obj
