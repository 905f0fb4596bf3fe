"""``vm.list``: a growable array with a size and a capacity (``vm-runtime.md`` section 6).

Storage mode is fixed at construction from the element type:

* VALUE (``i8`` .. ``f64``): an ``array.array`` of raw register values (signed ints of the
  element width; f32/f64 as signed bit patterns, so NaN payloads are kept bit-exact);
* REF (a :class:`~pyree.vm.ref.RefType`): a Python list of objects of exactly that class
  or None;
* VARIANT (:data:`~pyree.vm.ref.VARIANT`, ``!vm.opaque``): a Python list of None (empty),
  :class:`~pyree.vm.ref.TypedValue` or ref objects of any registered type.

Invariants: the storage always holds exactly ``capacity`` elements and every element at or
beyond ``size`` is zero / None, so growing exposes zeros and never stale values; shrinking
drops (releases) the removed refs. Capacity grows to max(round_up(request, 64), 2 * old),
capped by ``MAX_LIST_ELEMENTS`` (default 2**24, env ``PYREE_MAX_LIST_ELEMENTS``,
:func:`set_limits`); larger requests fail with RESOURCE_EXHAUSTED "capacity overflow".

Instruction API (called by the interpreter after its own "list is null" check, see
:func:`check_list`): ``get_i32/get_i64/get_f32/get_f64(index)``, ``set_*(index, value)``,
``get_ref(index, ref_type, move)``, ``set_ref(index, obj)``, ``reserve(n)``, ``resize(n)``,
``size``. Indices, sizes and capacities are s32 register values read as u32; values follow
the raw register convention of :mod:`pyree.vm.list_ops`. Errors are checked in the order of
``vm-isa.md`` 5.3: index >= size (OUT_OF_RANGE), then storage mode (FAILED_PRECONDITION),
then ref type (INVALID_ARGUMENT).

Host API: ``len``, indexing (Python-style negative indices allowed), ``append``,
``extend``, ``to_list``, ``get_variant``, ``clone``, ``VmList.of("i32", values)``. Python numbers
are converted numerically to the element type; an explicit :class:`TypedValue` follows the
VM conversion table exactly; a variant list stores Python ints as i64 and floats as f64.
A list is always truthy (a non-null ref), even when empty.
"""

from __future__ import annotations

import operator
import os
from array import array

import attrs

from pyree.status import (FailedPreconditionError, InvalidArgumentError, OutOfRangeError,
                          ResourceExhaustedError)
from pyree.vm.list_ops import (CONVERT, F32, F64, I32, I64, WRAP, host_raw, host_variant,
                               make_typed_value, raw_to_python, typed_value_raw, wrap32,
                               wrap64)
from pyree.vm.ref import (_BY_CLS, VARIANT, RefType, TypedValue, ValueType,
                          element_type_name, register_ref_type, resolve_type_name, type_name)

VALUE, REF, VARIANT_MODE = 0, 1, 2
_M32 = 0xFFFFFFFF
_TYPECODES = {ValueType.I8: "b", ValueType.I16: "h", ValueType.I32: "i", ValueType.I64: "q",
              ValueType.F32: "i", ValueType.F64: "q"}
if array("i").itemsize != 4 or array("q").itemsize != 8 or array("h").itemsize != 2:
    raise ImportError("pyree.vm.list needs 2/4/8-byte array typecodes 'h'/'i'/'q'")


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if not text:
        return default
    try:
        return int(text, 0)
    except ValueError:
        raise InvalidArgumentError(f"{name} must be an integer, got {text!r}") from None


MAX_LIST_ELEMENTS: int = _env_int("PYREE_MAX_LIST_ELEMENTS", 1 << 24)


def set_limits(*, max_elements: int | None = None) -> dict:
    """Sets the list capacity cap; returns the previous values (usable as kwargs)."""
    global MAX_LIST_ELEMENTS
    previous = {"max_elements": MAX_LIST_ELEMENTS}
    if max_elements is not None:
        if max_elements < 0:
            raise InvalidArgumentError(f"max_elements must be >= 0, got {max_elements}")
        MAX_LIST_ELEMENTS = int(max_elements)
    return previous


def _out_of_bounds(index: int, size: int) -> OutOfRangeError:
    return OutOfRangeError(f"index {index & _M32} out of bounds ({size})")


def _not_values() -> FailedPreconditionError:
    return FailedPreconditionError("list does not store values")


def _not_a_value(index: int) -> FailedPreconditionError:
    return FailedPreconditionError(f"variant at index {index} is not a value type")


def check_list(obj) -> VmList:
    """Returns ``obj`` if it is a list, else INVALID_ARGUMENT "list is null"."""
    if type(obj) is not VmList:
        raise InvalidArgumentError("list is null")
    return obj


@attrs.define(eq=False, init=False, repr=False)
class VmList:
    """A ``vm.list`` of one element type (a ValueType, a RefType or VARIANT)."""

    _element_type: object
    _mode: int
    _value_type: ValueType | None
    _ref_cls: type | None
    _items: object
    _size: int
    _typecode: str | None
    _get_conv: dict | None
    _set_conv: dict | None

    def __init__(self, element_type, capacity: int = 0):
        if isinstance(element_type, str):
            element_type = resolve_type_name(element_type)
        if element_type is ValueType.NONE:
            element_type = VARIANT
        self._element_type = element_type
        self._value_type = self._ref_cls = self._typecode = None
        self._get_conv = self._set_conv = None
        if isinstance(element_type, ValueType):
            self._mode = VALUE
            self._value_type = element_type
            self._typecode = _TYPECODES[element_type]
            self._items = array(self._typecode)
            self._get_conv = {dst: CONVERT[element_type][dst] for dst in (I32, I64, F32, F64)}
            self._set_conv = {src: CONVERT[src][element_type] for src in (I32, I64, F32, F64)}
        elif isinstance(element_type, RefType):
            self._mode = REF
            self._ref_cls = element_type.cls
            self._items = []
        elif element_type is VARIANT:
            self._mode = VARIANT_MODE
            self._items = []
        else:
            raise InvalidArgumentError(
                f"invalid list element type {element_type!r}: expected a ValueType, a "
                "RefType or VARIANT")
        self._size = 0
        if capacity:
            self.reserve(capacity)

    # -- shape ---------------------------------------------------------------------------------

    @property
    def element_type(self):
        return self._element_type

    @property
    def element_type_name(self) -> str:
        return element_type_name(self._element_type)

    @property
    def size(self) -> int:
        return self._size

    @property
    def capacity(self) -> int:
        return len(self._items)

    def reserve(self, minimum_capacity: int) -> None:
        """Ensures capacity >= u32(minimum_capacity); the size is unchanged."""
        request = minimum_capacity & _M32
        old = len(self._items)
        if request <= old:
            return
        if request > MAX_LIST_ELEMENTS:
            raise ResourceExhaustedError(
                f"capacity overflow: list of {request} elements exceeds the limit of "
                f"{MAX_LIST_ELEMENTS}")
        new = min(max((request + 63) & ~63, 2 * old), MAX_LIST_ELEMENTS)
        try:
            if self._typecode is not None:
                self._items.frombytes(bytes((new - old) * self._items.itemsize))
            else:
                self._items.extend([None] * (new - old))
        except MemoryError:
            raise ResourceExhaustedError(
                f"list allocation of {new} elements failed") from None

    def resize(self, new_size: int) -> None:
        """Sets the size to u32(new_size): zeros appear when growing, refs drop when shrinking."""
        new = new_size & _M32
        old = self._size
        if new > len(self._items):
            self.reserve(new)
        elif new < old:
            items = self._items
            if self._typecode is not None:
                items[new:old] = array(self._typecode, bytes((old - new) * items.itemsize))
            else:
                items[new:old] = [None] * (old - new)
        self._size = new

    # -- list.get.T / list.set.T ---------------------------------------------------------------

    def _get_value(self, index: int, access: ValueType) -> int:
        if not 0 <= index < self._size:
            raise _out_of_bounds(index, self._size)
        mode = self._mode
        if mode == VALUE:
            return self._get_conv[access](self._items[index])
        if mode == REF:
            raise _not_values()
        element = self._items[index]
        if type(element) is not TypedValue:
            raise _not_a_value(index)
        return CONVERT[element.type][access](typed_value_raw(element))

    def _set_value(self, index: int, access: ValueType, value: int) -> None:
        if not 0 <= index < self._size:
            raise _out_of_bounds(index, self._size)
        mode = self._mode
        if mode == VALUE:
            # The interpreter passes register bit patterns (u32/u64): make them signed so
            # that widening (list.set.i32 on an i64 list) sign-extends.
            self._items[index] = self._set_conv[access](WRAP[access](value))
        elif mode == REF:
            raise FailedPreconditionError("list cannot store values")
        else:
            self._items[index] = make_typed_value(access, value)

    def get_i32(self, index: int) -> int:
        if self._value_type is I32 and 0 <= index < self._size:
            return self._items[index]
        return self._get_value(index, I32)

    def get_i64(self, index: int) -> int:
        if self._value_type is I64 and 0 <= index < self._size:
            return self._items[index]
        return self._get_value(index, I64)

    def get_f32(self, index: int) -> int:
        if self._value_type is F32 and 0 <= index < self._size:
            return self._items[index]
        return self._get_value(index, F32)

    def get_f64(self, index: int) -> int:
        if self._value_type is F64 and 0 <= index < self._size:
            return self._items[index]
        return self._get_value(index, F64)

    def set_i32(self, index: int, value: int) -> None:
        if self._value_type is I32 and 0 <= index < self._size:
            try:
                self._items[index] = value
            except OverflowError:
                self._items[index] = wrap32(value)
        else:
            self._set_value(index, I32, value)

    def set_i64(self, index: int, value: int) -> None:
        if self._value_type is I64 and 0 <= index < self._size:
            try:
                self._items[index] = value
            except OverflowError:
                self._items[index] = wrap64(value)
        else:
            self._set_value(index, I64, value)

    def set_f32(self, index: int, value: int) -> None:
        if self._value_type is F32 and 0 <= index < self._size:
            try:
                self._items[index] = value
            except OverflowError:
                self._items[index] = wrap32(value)
        else:
            self._set_value(index, F32, value)

    def set_f64(self, index: int, value: int) -> None:
        if self._value_type is F64 and 0 <= index < self._size:
            try:
                self._items[index] = value
            except OverflowError:
                self._items[index] = wrap64(value)
        else:
            self._set_value(index, F64, value)

    # -- list.get.ref / list.set.ref -----------------------------------------------------------

    def get_ref(self, index: int, ref_type=None, move: bool = False):
        """``list.get.ref``: the element if it is a ref of exactly ``ref_type``, else None.

        ``ref_type`` None (or VARIANT, or a ValueType) stands for ``!vm.opaque`` and yields
        None for every non-null element. ``move`` empties the slot before the type check,
        so a moving get with the wrong type drops the element.
        """
        if not 0 <= index < self._size:
            raise _out_of_bounds(index, self._size)
        mode = self._mode
        if mode == VALUE:
            raise FailedPreconditionError("list does not store refs")
        items = self._items
        element = items[index]
        if element is None:
            return None
        if mode == VARIANT_MODE and type(element) is TypedValue:
            raise FailedPreconditionError("")
        if move:
            items[index] = None
        if _BY_CLS.get(type(element)) is not ref_type:
            return None
        return element

    def set_ref(self, index: int, obj) -> None:
        """``list.set.ref``: stores ``obj`` (None empties the element)."""
        if not 0 <= index < self._size:
            raise _out_of_bounds(index, self._size)
        mode = self._mode
        if mode == REF:
            if obj is not None and type(obj) is not self._ref_cls:
                raise InvalidArgumentError("source ref type mismatch")
        elif mode == VALUE:
            raise FailedPreconditionError("list cannot store refs")
        elif obj is not None and type(obj) not in _BY_CLS:
            raise InvalidArgumentError(
                f"list<!vm.opaque> element {index}: got {type_name(obj)}, not a ref")
        self._items[index] = obj


    # -- host API ------------------------------------------------------------------------------

    @classmethod
    def of(cls, element_type, values=()) -> VmList:
        """A list of ``element_type`` (a type-table name such as ``"i32"``, ``"!vm.buffer"``,
        ``"!vm.opaque"``, or an element type object) holding ``values``."""
        result = cls(element_type)
        result.extend(values)
        return result

    def __len__(self) -> int:
        return self._size

    def __bool__(self) -> bool:
        # A list is a non-null ref even when empty.
        return True

    def _host_index(self, index) -> int:
        position = operator.index(index)
        if position < 0:
            position += self._size
        if not 0 <= position < self._size:
            raise OutOfRangeError(f"index {index} out of bounds ({self._size})")
        return position

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._size))]
        position = self._host_index(index)
        element = self._items[position]
        if self._mode == VALUE:
            return raw_to_python(self._value_type, element)
        if type(element) is TypedValue:
            return element.value
        return element

    def get_variant(self, index):
        """Element ``index`` as a variant: None, a :class:`TypedValue` or a ref."""
        position = self._host_index(index)
        element = self._items[position]
        if self._mode == VALUE:
            return make_typed_value(self._value_type, element)
        return element

    def __setitem__(self, index, value) -> None:
        position = self._host_index(index)
        mode = self._mode
        if mode == VALUE:
            if type(value) is TypedValue:
                raw = CONVERT[value.type][self._value_type](typed_value_raw(value))
            else:
                raw = host_raw(self._value_type, value, position)
            self._items[position] = raw
        elif mode == REF:
            if value is not None and type(value) not in _BY_CLS:
                raise FailedPreconditionError("list cannot store values")
            self.set_ref(position, value)
        else:
            self._items[position] = host_variant(value, position)

    def __iter__(self):
        for position in range(self._size):
            yield self[position]

    def append(self, value) -> None:
        position = self._size
        self.resize(position + 1)
        try:
            self[position] = value
        except BaseException:
            self.resize(position)
            raise

    def extend(self, values) -> None:
        for value in values:
            self.append(value)

    def clear(self) -> None:
        self.resize(0)

    def to_list(self) -> list:
        if self._mode == VALUE and not self._value_type.is_float:
            return self._items[:self._size].tolist()
        return [self[position] for position in range(self._size)]

    def clone(self) -> VmList:
        """A new list with the same element type and elements (refs are shared)."""
        result = VmList(self._element_type, self._size)
        size = self._size
        result._items[:size] = self._items[:size]
        result._size = size
        return result

    def __repr__(self) -> str:
        shown = ", ".join(repr(self[i]) for i in range(min(self._size, 16)))
        more = ", ..." if self._size > 16 else ""
        return f"VmList<{self.element_type_name}>[{shown}{more}]"


VM_LIST = register_ref_type("vm.list", VmList)
