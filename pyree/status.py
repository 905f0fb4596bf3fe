"""pyree's error taxonomy, modelled on IREE's canonical status codes.

Every error pyree raises is a :class:`PyreeError` carrying a :class:`StatusCode`. Each
code has its own subclass, which also subclasses the builtin exception a caller would
naturally catch (``OutOfRangeError`` is an ``IndexError``, ``ResourceExhaustedError`` a
``MemoryError``, ...), so ``except IndexError`` keeps working around pyree calls.

An error has a message and a list of annotations appended as it propagates (IREE's
``; annotation`` chain), plus an optional backtrace (one line per VM frame). ``str(err)``
renders like IREE: ``CODE_NAME; message[; annotation]*`` followed by the backtrace.

This module sits below every layer (``bytecode``, ``vm``, ``modules.hal``, ``compiler``).
"""

from __future__ import annotations

import enum


class StatusCode(enum.IntEnum):
    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16
    DEFERRED = 17
    INCOMPATIBLE = 18


class PyreeError(Exception):
    """Base of all pyree errors. ``code`` is a :class:`StatusCode` (or a raw 5-bit int)."""

    code: StatusCode = StatusCode.UNKNOWN

    def __init__(self, message: str = "", *, code: int | None = None,
                 annotations: list[str] | None = None, backtrace: list[str] | None = None):
        super().__init__(message)
        if code is not None:
            self.code = _as_code(code)
        self.message = message
        self.annotations: list[str] = list(annotations or ())
        self.backtrace: list[str] = list(backtrace or ())

    @property
    def code_name(self) -> str:
        code = self.code
        return code.name if isinstance(code, StatusCode) else f"CODE_{int(code)}"

    def annotate(self, text: str) -> PyreeError:
        self.annotations.append(text)
        return self

    def __str__(self) -> str:
        parts = [self.code_name, self.message, *self.annotations]
        text = "; ".join(parts)
        if self.backtrace:
            text += "\n" + "\n".join(self.backtrace)
        return text

    def __reduce__(self):
        return (_rebuild, (type(self), self.message, int(self.code), self.annotations,
                           self.backtrace))


def _rebuild(cls, message, code, annotations, backtrace):
    return cls(message, code=code, annotations=annotations, backtrace=backtrace)


def _as_code(code: int) -> StatusCode | int:
    try:
        return StatusCode(code)
    except ValueError:
        return code


class CancelledError(PyreeError):
    code = StatusCode.CANCELLED


class UnknownError(PyreeError, RuntimeError):
    code = StatusCode.UNKNOWN


class InvalidArgumentError(PyreeError, ValueError):
    code = StatusCode.INVALID_ARGUMENT


class DeadlineExceededError(PyreeError, TimeoutError):
    code = StatusCode.DEADLINE_EXCEEDED


class NotFoundError(PyreeError, LookupError):
    code = StatusCode.NOT_FOUND


class AlreadyExistsError(PyreeError, ValueError):
    code = StatusCode.ALREADY_EXISTS


class PermissionDeniedError(PyreeError, PermissionError):
    code = StatusCode.PERMISSION_DENIED


class ResourceExhaustedError(PyreeError, MemoryError):
    code = StatusCode.RESOURCE_EXHAUSTED


class FailedPreconditionError(PyreeError, RuntimeError):
    code = StatusCode.FAILED_PRECONDITION


class AbortedError(PyreeError, RuntimeError):
    code = StatusCode.ABORTED


class OutOfRangeError(PyreeError, IndexError):
    code = StatusCode.OUT_OF_RANGE


class UnimplementedError(PyreeError, NotImplementedError):
    code = StatusCode.UNIMPLEMENTED


class InternalError(PyreeError, RuntimeError):
    code = StatusCode.INTERNAL


class UnavailableError(PyreeError, RuntimeError):
    code = StatusCode.UNAVAILABLE


class DataLossError(PyreeError, ValueError):
    code = StatusCode.DATA_LOSS


class UnauthenticatedError(PyreeError, PermissionError):
    code = StatusCode.UNAUTHENTICATED


class IncompatibleError(PyreeError, ValueError):
    code = StatusCode.INCOMPATIBLE


class OkStatusFailure(PyreeError):
    """A ``vm.fail`` whose status has low 5 bits 0 (IREE prints it as ``OK``)."""

    code = StatusCode.OK


class UseAfterReleaseError(FailedPreconditionError):
    """An object was used after it was released or destroyed (like trio's ClosedResourceError)."""


class BusyResourceError(FailedPreconditionError):
    """An object is in use by another operation that forbids concurrent access."""


_BY_CODE: dict[int, type[PyreeError]] = {
    cls.code: cls
    for cls in (CancelledError, UnknownError, InvalidArgumentError, DeadlineExceededError,
                NotFoundError, AlreadyExistsError, PermissionDeniedError,
                ResourceExhaustedError, FailedPreconditionError, AbortedError,
                OutOfRangeError, UnimplementedError, InternalError, UnavailableError,
                DataLossError, UnauthenticatedError, IncompatibleError, OkStatusFailure)
}


def error_class(code: int) -> type[PyreeError]:
    """The error class for a status code (5-bit masked, as ``vm.fail`` does)."""
    return _BY_CODE.get(code & 0x1F, PyreeError)


def make_error(code: int, message: str) -> PyreeError:
    code &= 0x1F
    cls = error_class(code)
    return cls(message, code=code) if cls is PyreeError else cls(message)
