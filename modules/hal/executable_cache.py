"""The per-device executable cache (hal-abi.md 3.7, 5.4).

``ExecutableCache.prepare(format, data, constants)`` returns the cached ``Executable`` for
(format, sha256 of data, constants) or creates one. Immutable data (``bytes``, a read-only
memoryview such as module rodata) is hashed in place; anything else is copied first, so the
key and the parsed executable come from the same bytes. Unknown formats are NOT_FOUND before
any parsing. Creation compiles every kernel (or loads it from the on-disk kernel cache); the
cache holds its executables until ``trim()``, which a device calls on SUSPEND/LOW_MEMORY.
"""

from __future__ import annotations

import hashlib
import threading

import attrs

from pyree.status import NotFoundError

from . import executable_format
from .executable import Executable, _constants


@attrs.define(eq=False)
class ExecutableCache:
    _entries: dict = attrs.field(factory=dict)
    _lock: threading.Lock = attrs.field(factory=threading.Lock)
    hits: int = 0
    misses: int = 0

    @staticmethod
    def can_prepare_format(format: str) -> bool:
        return executable_format.is_supported(format)

    @property
    def formats(self) -> tuple:
        return executable_format.SUPPORTED_FORMATS

    def prepare(self, format: str, data, constants=None) -> Executable:
        if not self.can_prepare_format(format):
            raise NotFoundError(f"no executable loader for format {format!r}; supported: "
                                f"{', '.join(executable_format.SUPPORTED_FORMATS)}")
        if not (type(data) is bytes or type(data) is memoryview and data.readonly and
                data.c_contiguous):
            data = bytes(data)      # mutable (or odd) data: key and parse one snapshot
        key = (format, hashlib.sha256(data).digest(), _constants(constants))
        with self._lock:
            found = self._entries.get(key)
            if found is not None and not found.released:
                self.hits += 1
                return found
            self.misses += 1
            executable = Executable.create(format, data, key[2])
            self._entries[key] = executable
            return executable

    def trim(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
