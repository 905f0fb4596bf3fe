"""Assembly errors: every one names ``file:line:column`` (both 1-based)."""

from __future__ import annotations

from pyree.status import InvalidArgumentError, OutOfRangeError, StatusCode, UnimplementedError


class AssemblyError(InvalidArgumentError):
    """Malformed ``.vmasm`` input (``INVALID_ARGUMENT``).

    ``str(err)`` reads ``INVALID_ARGUMENT; file:line:column: message; at line N``.
    """

    def __init__(self, message: str, *, filename: str = "<vmasm>", line: int = 0,
                 column: int = 0, **kwargs):
        self.filename = filename
        self.line = line
        self.column = column
        self.reason = message
        super().__init__(f"{filename}:{line}:{column}: {message}", **kwargs)
        if not self.annotations:
            self.annotate(f"at line {line}")

    def __reduce__(self):
        return (_rebuild, (type(self), self.reason, self.filename, self.line, self.column))


def _rebuild(cls, reason, filename, line, column):
    return cls(reason, filename=filename, line=line, column=column)


class AssemblyRangeError(AssemblyError, OutOfRangeError):
    """A numeric literal or ordinal out of range (``OUT_OF_RANGE``)."""

    code = StatusCode.OUT_OF_RANGE


class AssemblyUnimplementedError(AssemblyError, UnimplementedError):
    """Valid syntax the assembler does not support, e.g. nonzero global initialisers."""

    code = StatusCode.UNIMPLEMENTED


class SyntaxIssue(Exception):
    """Raised by the parsing helpers with a column offset; the driver converts it into an
    :class:`AssemblyError` carrying the file name and line."""

    def __init__(self, message: str, column: int, kind: type[AssemblyError] = AssemblyError):
        super().__init__(message)
        self.message = message
        self.column = column
        self.kind = kind
