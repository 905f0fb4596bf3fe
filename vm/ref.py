"""Ref types, value types and variants (``vm-runtime.md`` sections 5 and 5.1).

Ownership: a ref is a Python reference. A register, list slot or global holding an object
holds one reference; "release" means dropping it (storing ``None``); "move" means the source
slot is set to ``None`` by whoever owns it. The null ref is ``None``. There is no manual
retain/release and nothing here counts references.

Ref types live in one process-wide registry: :func:`register_ref_type` maps a stable name
(``vm.buffer``, ``hal.fence``, ...) to exactly one Python class, and a type check is an exact
class lookup (``type(obj)``), never ``isinstance``: the VM has no subtyping. The built-ins
``vm.buffer`` (:class:`~pyree.vm.buffer.VmBuffer`) and ``vm.list``
(:class:`~pyree.vm.list.VmList`) are registered when this module is imported.

Values: :class:`ValueType` numbers the primitive element types. A *variant* (a variant-list
element, an invocation argument) is ``None`` (empty), a :class:`TypedValue` or a ref object.
:data:`VARIANT` is the element type of variant lists, spelled ``!vm.opaque`` in type tables;
as a ref type check it matches only null.
"""

from __future__ import annotations

import enum
import threading

import attrs

from pyree.status import AlreadyExistsError, InvalidArgumentError, NotFoundError


class ValueType(enum.IntEnum):
    NONE = 0
    I8 = 1
    I16 = 2
    I32 = 3
    I64 = 4
    F32 = 5
    F64 = 6

    @property
    def type_name(self) -> str:
        """The type-table spelling: ``i8`` ... ``f64`` (``none`` for NONE)."""
        return self.name.lower()

    @property
    def byte_size(self) -> int:
        return _VALUE_SIZES[self]

    @property
    def is_float(self) -> bool:
        return self is ValueType.F32 or self is ValueType.F64


_VALUE_SIZES = {ValueType.NONE: 0, ValueType.I8: 1, ValueType.I16: 2, ValueType.I32: 4,
                ValueType.I64: 8, ValueType.F32: 4, ValueType.F64: 8}
_VALUE_TYPES_BY_NAME = {vt.type_name: vt for vt in ValueType if vt is not ValueType.NONE}


@attrs.frozen
class TypedValue:
    """A primitive value with its type, as held by a variant.

    ``value`` is an ``int`` for integer types (the signed value of that width) and a
    ``float`` for ``F32``/``F64`` (an F32 value is read as if rounded to binary32).
    """

    type: ValueType
    value: int | float

    def __repr__(self) -> str:
        return f"{self.type.type_name}({self.value!r})"


@attrs.frozen
class RefType:
    """A registered ref type: a stable ``name`` bound to exactly one Python class."""

    name: str
    cls: type = attrs.field(eq=False)

    @property
    def type_name(self) -> str:
        """The type-table spelling, ``!`` + name."""
        return "!" + self.name

    def __repr__(self) -> str:
        return f"RefType({self.name!r}, {self.cls.__qualname__})"


class _VariantType:
    """Sentinel element type of variant lists (``!vm.opaque``)."""

    __slots__ = ()
    name = "vm.opaque"
    type_name = "!vm.opaque"

    def __repr__(self) -> str:
        return "VARIANT"

    def __reduce__(self):
        return "VARIANT"


VARIANT = _VariantType()

_lock = threading.Lock()
_BY_NAME: dict[str, RefType] = {}
_BY_CLS: dict[type, RefType] = {}


def register_ref_type(name: str, cls: type) -> RefType:
    """Registers ``cls`` as the ref type ``name`` and returns its :class:`RefType`.

    Idempotent for the same ``(name, cls)``. A name already bound to another class, or a
    class already registered under another name, fails with ALREADY_EXISTS.
    """
    if not isinstance(name, str) or not name or name.startswith("!"):
        raise InvalidArgumentError(f"invalid ref type name {name!r}")
    if not isinstance(cls, type):
        raise InvalidArgumentError(f"ref type '{name}' must be a class, got {cls!r}")
    with _lock:
        existing = _BY_NAME.get(name)
        if existing is not None:
            if existing.cls is cls:
                return existing
            raise AlreadyExistsError(
                f"ref type '{name}' is already registered to {existing.cls.__qualname__}")
        other = _BY_CLS.get(cls)
        if other is not None:
            raise AlreadyExistsError(
                f"class {cls.__qualname__} is already registered as ref type '{other.name}'")
        ref_type = RefType(name, cls)
        _BY_NAME[name] = ref_type
        _BY_CLS[cls] = ref_type
        return ref_type


def ref_type_of(obj) -> RefType | None:
    """The ref type of ``obj`` by exact class (no subtyping); None for null/unregistered."""
    return _BY_CLS.get(type(obj))


def lookup_ref_type(name: str) -> RefType | None:
    """The ref type registered as ``name`` (without ``!``), or None."""
    return _BY_NAME.get(name)


def is_ref(obj) -> bool:
    """True if ``obj`` is an instance (exact class) of a registered ref type."""
    return type(obj) in _BY_CLS


def ref_type_matches(obj, type_def) -> bool:
    """The VM's ref type check (``vm-isa.md`` 5.1): null, or exactly ``type_def``'s type.

    ``type_def`` is what :func:`resolve_type_name` returned; VARIANT (``!vm.opaque``) or a
    ValueType therefore accept only null.
    """
    return obj is None or _BY_CLS.get(type(obj)) is type_def


def check_ref_type(obj, type_def):
    """Returns ``obj`` if :func:`ref_type_matches`, else INVALID_ARGUMENT
    "source ref type mismatch" (globals, ``cast.any.ref``)."""
    if obj is not None and _BY_CLS.get(type(obj)) is not type_def:
        raise InvalidArgumentError("source ref type mismatch")
    return obj


def type_name(obj) -> str:
    """A short type spelling for messages.

    ``null`` for None, ``!vm.buffer`` style for registered refs, ``i32`` style for a
    :class:`TypedValue`, ``python <qualname>`` for anything else.
    """
    if obj is None:
        return "null"
    ref_type = _BY_CLS.get(type(obj))
    if ref_type is not None:
        return "!" + ref_type.name
    if type(obj) is TypedValue:
        return obj.type.type_name
    return "python " + type(obj).__qualname__


def element_type_name(element_type) -> str:
    """Type-table spelling of a list element type (ValueType, RefType or VARIANT)."""
    if isinstance(element_type, ValueType):
        return element_type.type_name
    return element_type.type_name


def resolve_type_name(name: str) -> ValueType | RefType | _VariantType:
    """Maps a type-table name (``vmasm.md`` section 6) to an element type.

    ``i8`` .. ``f64`` -> :class:`ValueType`; ``!vm.opaque`` -> :data:`VARIANT`;
    ``!vm.list...`` -> the ``vm.list`` ref type; ``!NAME`` -> the registered ref type NAME.
    Anything else fails with NOT_FOUND "no type registered with name '...'".
    """
    if not isinstance(name, str):
        raise InvalidArgumentError(f"type name must be a string, got {name!r}")
    value_type = _VALUE_TYPES_BY_NAME.get(name)
    if value_type is not None:
        return value_type
    if name == "!vm.opaque":
        return VARIANT
    ref_type = None
    if name.startswith("!vm.list"):
        ref_type = _BY_NAME.get("vm.list")
    elif name.startswith("!"):
        ref_type = _BY_NAME.get(name[1:])
    if ref_type is None:
        raise NotFoundError(f"no type registered with name '{name}'")
    return ref_type


# Register the built-in ref types. Each module registers its own class on import; the
# imports sit at the bottom so that they see this module fully initialised.
from pyree.vm import buffer as _buffer  # noqa: F401
from pyree.vm import list as _list  # noqa: F401
