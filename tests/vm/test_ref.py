"""Ref type registry, value types and type-name resolution (vm-runtime.md 5, vmasm.md 6)."""

import pickle
import subprocess
import sys

import pytest

from pyree.status import AlreadyExistsError, InvalidArgumentError, NotFoundError, StatusCode
from pyree.vm import ref
from pyree.vm.buffer import VmBuffer
from pyree.vm.list import VmList
from pyree.vm.ref import (VARIANT, RefType, TypedValue, ValueType, lookup_ref_type,
                          ref_type_of, register_ref_type, resolve_type_name, type_name)


class _Thing:
    pass


class _OtherThing:
    pass


class _SubBuffer(VmBuffer):
    pass


def test_value_type_numbers():
    assert [int(v) for v in ValueType] == [0, 1, 2, 3, 4, 5, 6]
    assert [v.type_name for v in ValueType][1:] == ["i8", "i16", "i32", "i64", "f32", "f64"]
    assert [v.byte_size for v in ValueType] == [0, 1, 2, 4, 8, 4, 8]
    assert ValueType.F32.is_float and not ValueType.I64.is_float


def test_builtins_registered():
    buffer_type = lookup_ref_type("vm.buffer")
    list_type = lookup_ref_type("vm.list")
    assert buffer_type == RefType("vm.buffer", VmBuffer) and buffer_type.cls is VmBuffer
    assert list_type.cls is VmList
    assert buffer_type.type_name == "!vm.buffer"
    assert ref_type_of(VmBuffer.allocate(4)) is buffer_type
    assert ref_type_of(VmList(ValueType.I32)) is list_type


def test_builtins_registered_in_fresh_process():
    code = ("from pyree.vm.ref import lookup_ref_type as l; import sys;"
            "assert l('vm.buffer') and l('vm.list'); assert 'numba' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
    code = ("import pyree.vm.list as L; from pyree.vm.ref import resolve_type_name as r;"
            "assert r('!vm.list<i8>').cls is L.VmList; assert r('!vm.buffer')")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_register_is_idempotent_and_exclusive():
    thing = register_ref_type("test.thing", _Thing)
    assert register_ref_type("test.thing", _Thing) is thing
    assert lookup_ref_type("test.thing") is thing
    with pytest.raises(AlreadyExistsError) as info:
        register_ref_type("test.thing", _OtherThing)
    assert info.value.code == StatusCode.ALREADY_EXISTS
    with pytest.raises(AlreadyExistsError):
        register_ref_type("test.thing_alias", _Thing)
    assert lookup_ref_type("test.thing_alias") is None
    with pytest.raises(AlreadyExistsError):
        register_ref_type("vm.buffer", _OtherThing)


@pytest.mark.parametrize("name, cls", [("", _Thing), ("!x", _Thing), (3, _Thing),
                                       ("test.bad", 3)])
def test_register_rejects_bad_arguments(name, cls):
    with pytest.raises(InvalidArgumentError):
        register_ref_type(name, cls)


def test_ref_type_of_is_exact():
    assert ref_type_of(None) is None
    assert ref_type_of(3) is None
    assert ref_type_of(_SubBuffer.allocate(1)) is None
    assert not ref.is_ref(_SubBuffer.allocate(1))
    assert ref.is_ref(VmBuffer.allocate(1))


def test_type_name():
    assert type_name(None) == "null"
    assert type_name(VmBuffer.allocate(1)) == "!vm.buffer"
    assert type_name(VmList(ValueType.I8)) == "!vm.list"
    assert type_name(TypedValue(ValueType.F32, 1.0)) == "f32"
    assert type_name(1.5) == "python float"


@pytest.mark.parametrize("name, expected", [
    ("i8", ValueType.I8), ("i16", ValueType.I16), ("i32", ValueType.I32),
    ("i64", ValueType.I64), ("f32", ValueType.F32), ("f64", ValueType.F64),
])
def test_resolve_value_types(name, expected):
    assert resolve_type_name(name) is expected


def test_resolve_ref_types():
    assert resolve_type_name("!vm.opaque") is VARIANT
    assert resolve_type_name("!vm.buffer") is lookup_ref_type("vm.buffer")
    for name in ("!vm.list", "!vm.list<i32>", "!vm.list<!vm.list<?>>", "!vm.list<?>"):
        assert resolve_type_name(name) is lookup_ref_type("vm.list")
    register_ref_type("test.thing", _Thing)
    assert resolve_type_name("!test.thing").cls is _Thing


@pytest.mark.parametrize("name", ["?", "!vm.ref<?>", "i1", "vm.buffer", "!nope.nothing",
                                  "", "!", "f16", "none"])
def test_resolve_unknown(name):
    with pytest.raises(NotFoundError) as info:
        resolve_type_name(name)
    assert info.value.code == StatusCode.NOT_FOUND
    assert info.value.message == f"no type registered with name '{name}'"


def test_typed_value_is_frozen_value():
    a = TypedValue(ValueType.I32, 5)
    assert a == TypedValue(ValueType.I32, 5) and hash(a) == hash(TypedValue(ValueType.I32, 5))
    assert a != TypedValue(ValueType.I64, 5)
    with pytest.raises(AttributeError):
        a.value = 6
    assert repr(a) == "i32(5)"


def test_variant_sentinel():
    assert repr(VARIANT) == "VARIANT"
    assert VARIANT.type_name == "!vm.opaque"
    assert pickle.loads(pickle.dumps(VARIANT)) is VARIANT


def test_ref_type_check():
    buffer_type, list_type = lookup_ref_type("vm.buffer"), lookup_ref_type("vm.list")
    buf = VmBuffer.allocate(1)
    assert ref.check_ref_type(buf, buffer_type) is buf
    assert ref.check_ref_type(None, buffer_type) is None
    assert ref.check_ref_type(None, VARIANT) is None
    assert ref.ref_type_matches(None, list_type) and not ref.ref_type_matches(buf, list_type)
    for type_def in (list_type, VARIANT, ValueType.I32):
        with pytest.raises(InvalidArgumentError) as info:
            ref.check_ref_type(buf, type_def)
        assert info.value.message == "source ref type mismatch"
    with pytest.raises(InvalidArgumentError):
        ref.check_ref_type(_SubBuffer.allocate(1), buffer_type)


def test_resolve_rejects_non_strings():
    with pytest.raises(InvalidArgumentError):
        resolve_type_name(3)
