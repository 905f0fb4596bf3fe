"""pyree's module container: the ``.pyrm`` file format (specified in ``spec/bytecode.md``).

A ``.pyrm`` file stores one :class:`~pyree.bytecode.module_def.ModuleDef`. It is pyree's
own versioned format, not IREE's FlatBuffer ``.vmfb``:

* a 32-byte header: magic, container version, a CRC-32 of everything after the first 16
  bytes, the file length and the section count;
* a directory of tagged sections (tag, flags, offset, length), so later versions can add
  sections: an unknown section is skipped unless its REQUIRED flag is set;
* the sections themselves, 8-aligned; rodata segments are 64-aligned *in the file*, so
  a memory-mapped file exposes them to numpy without copying.

:func:`read` is total on untrusted input: anything malformed raises :class:`ContainerError`
(an ``INVALID_ARGUMENT``) naming the section and the absolute byte offset at fault, or
:class:`ChecksumError` (``DATA_LOSS``) when the CRC does not match. Every count and
length is checked against the bytes that remain before anything is allocated. Rodata
segments of the result are read-only ``memoryview`` slices of the input (no copy);
function bodies are ``bytes``. ``read(write(m)) == m`` and ``write(read(b)) == b`` for
every ``b`` produced by :func:`write`.

:func:`read` does not verify bytecode; that is :mod:`pyree.bytecode.verifier`'s job. It
does check the bytecode version (major 17, minor <= 0), as the loader must.
"""

from __future__ import annotations

import itertools
import mmap
import os
import struct
import tempfile
import zlib

from pyree.bytecode import container_sections as _sections
from pyree.bytecode.module_def import ModuleDef

from pyree.status import (
    DataLossError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    StatusCode,
    UnavailableError,
)

MAGIC = b"\x89PYRM\r\n\x1a"
CONTAINER_VERSION = (1, 0)
FILE_EXTENSION = ".pyrm"
HEADER_SIZE = 32
DIRECTORY_ENTRY_SIZE = 24
#: Section flag: a reader that does not know the section must reject the file.
SECTION_REQUIRED = 1
#: Alignment of every section, and of the rodata section and each of its segments.
SECTION_ALIGNMENT = 8
RODATA_ALIGNMENT = 64

_HEADER = struct.Struct("<8sHHIQII")
_ENTRY = struct.Struct("<4sIQQ")


class ContainerError(InvalidArgumentError):
    """A malformed or unwritable ``.pyrm`` container.

    ``section`` is the four-letter tag (or ``"header"`` / ``"directory"``) and ``offset``
    the absolute byte offset in the file at fault (``None`` when writing).
    """

    def __init__(self, detail: str, section: str | None = None, offset: int | None = None,
                 **kwargs):
        if offset is not None:
            prefix = f"malformed .pyrm container (section {section}, byte offset {offset}): "
        else:
            prefix = f".pyrm section {section}: " if section else ""
        super().__init__(prefix + detail, **kwargs)
        self.detail = detail
        self.section = section
        self.offset = offset

    def __reduce__(self):
        return (_rebuild, (type(self), self.detail, self.section, self.offset,
                           self.annotations))


class ChecksumError(ContainerError, DataLossError):
    """The payload CRC-32 does not match the header (``DATA_LOSS``)."""

    code = StatusCode.DATA_LOSS


def _rebuild(cls, detail, section, offset, annotations):
    return cls(detail, section, offset, annotations=annotations)


# The sections of container version 1.0, in file order. All are required.
SECTION_TAGS = ("MODL", "TYPE", "IMPT", "EXPT", "DEPS", "FUNC", "DBUG", "CODE", "RODA")


def _align(n: int, alignment: int) -> int:
    return (n + alignment - 1) & -alignment


def write(module: ModuleDef) -> bytes:
    """Serialise ``module`` to ``.pyrm`` bytes (deterministic: equal modules, equal bytes)."""
    if not isinstance(module, ModuleDef):
        raise ContainerError(f"cannot write {type(module).__name__}; expected a ModuleDef")
    try:
        bodies = _sections.encode_sections(module)
    except _sections.SectionError as e:
        raise ContainerError(f"cannot write module: {e.detail}", e.section) from None
    return pack_sections([(tag, SECTION_REQUIRED, bodies[tag]) for tag in SECTION_TAGS])


def pack_sections(sections) -> bytes:
    """Lay out (tag, flags, body) sections behind a header and directory, in the given
    order: each section 8-aligned (RODA 64-aligned), zero padding, CRC over the payload.
    :func:`write` uses it; tests use it to build files with extra sections."""
    count = len(sections)
    pos = HEADER_SIZE + count * DIRECTORY_ENTRY_SIZE
    entries, chunks = [], []
    for tag, flags, body in sections:
        start = _align(pos, RODATA_ALIGNMENT if tag == "RODA" else SECTION_ALIGNMENT)
        chunks.append(bytes(start - pos))
        chunks.append(body)
        entries.append(_ENTRY.pack(tag.encode("ascii"), flags, start, len(body)))
        pos = start + len(body)
    payload = b"".join(entries) + b"".join(chunks)
    length = HEADER_SIZE + len(payload)
    tail = struct.pack("<QII", length, count, 0) + payload
    major, minor = CONTAINER_VERSION
    return MAGIC + struct.pack("<HHI", major, minor, zlib.crc32(tail)) + tail


def read(data, *, verify_checksum: bool = True) -> ModuleDef:
    """Parse ``.pyrm`` bytes (``bytes``, ``memoryview``, ``mmap``, ...) into a ModuleDef.

    Rodata segments in the result are read-only views into ``data``; keep ``data`` alive
    (and unmodified) as long as the module. ``verify_checksum=False`` skips the CRC (for
    very large memory-mapped files whose integrity is known).
    """
    try:
        view = memoryview(data)
    except TypeError:
        raise ContainerError(f"cannot read a container from {type(data).__name__}; "
                             "expected a bytes-like object") from None
    try:
        view = view.cast("B") if (view.format, view.ndim) != ("B", 1) else view
    except TypeError:
        raise ContainerError("container buffer is not C-contiguous") from None
    view = view.toreadonly()
    tables = _read_directory(view, verify_checksum)
    try:
        return _sections.decode_sections(view, tables)
    except _sections.SectionError as e:
        raise ContainerError(e.detail, e.section, e.offset) from None


def _read_directory(view: memoryview, verify_checksum: bool) -> dict[str, tuple[int, int]]:
    size = len(view)
    if size < HEADER_SIZE:
        raise ContainerError(f"file is {size} bytes, shorter than the {HEADER_SIZE}-byte "
                             "header", "header", size)
    magic, major, minor, crc, length, count, reserved = _HEADER.unpack_from(view, 0)
    if magic != MAGIC:
        raise ContainerError(f"bad magic {bytes(magic).hex()}; expected {MAGIC.hex()} "
                             "(not a .pyrm file)", "header", 0)
    if major != CONTAINER_VERSION[0]:
        raise ContainerError(f"unsupported container version {major}.{minor}; this reader "
                             f"supports {CONTAINER_VERSION[0]}.x", "header", 8)
    if length != size:
        raise ContainerError(f"header says the file is {length} bytes, but it is {size} "
                             "(truncated or padded)", "header", 16)
    if verify_checksum and zlib.crc32(view[16:]) != crc:
        raise ChecksumError(f"payload CRC-32 mismatch: header has {crc:08x}, payload "
                            f"hashes to {zlib.crc32(view[16:]):08x}", "header", 12)
    if reserved != 0:
        raise ContainerError(f"reserved header word is {reserved}, expected 0", "header", 28)
    directory_end = HEADER_SIZE + count * DIRECTORY_ENTRY_SIZE
    if directory_end > size:
        raise ContainerError(f"{count} directory entries need {directory_end} bytes; the "
                             f"file has {size}", "header", 24)
    tables: dict[str, tuple[int, int]] = {}
    spans = []
    for i in range(count):
        at = HEADER_SIZE + i * DIRECTORY_ENTRY_SIZE
        raw_tag, flags, offset, sec_len = _ENTRY.unpack_from(view, at)
        tag = raw_tag.decode("latin-1")
        if flags & ~SECTION_REQUIRED:
            raise ContainerError(f"section {tag!r} has unknown flags 0x{flags:x}",
                                 "directory", at + 4)
        if offset < directory_end or offset + sec_len > size:
            raise ContainerError(f"section {tag!r} spans [{offset}, {offset + sec_len}) "
                                 f"outside the file body [{directory_end}, {size})",
                                 "directory", at + 8)
        if tag in tables:
            raise ContainerError(f"duplicate section {tag!r}", "directory", at)
        if tag not in SECTION_TAGS:
            if flags & SECTION_REQUIRED:
                raise ContainerError(f"unknown required section {tag!r} (written by a newer "
                                     "pyree?)", "directory", at)
            continue
        alignment = RODATA_ALIGNMENT if tag == "RODA" else SECTION_ALIGNMENT
        if offset % alignment:
            raise ContainerError(f"section {tag} at offset {offset} is not {alignment}-byte "
                                 "aligned", "directory", at + 8)
        tables[tag] = (offset, sec_len)
        spans.append((offset, sec_len, tag, at))
    spans.sort()
    for (o1, l1, t1, _), (o2, _, t2, at2) in itertools.pairwise(spans):
        if o2 < o1 + l1:
            raise ContainerError(f"section {t2} overlaps section {t1}", "directory", at2 + 8)
    missing = [t for t in SECTION_TAGS if t not in tables]
    if missing:
        raise ContainerError(f"missing required section(s) {', '.join(missing)}",
                             "directory", HEADER_SIZE)
    return tables


def save_file(path, module: ModuleDef) -> None:
    """Write ``module`` to ``path`` atomically (temporary file + rename)."""
    data = write(module)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".pyrm-", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as e:
        raise _os_error(e, path, "write") from e


def load_file(path, *, use_mmap: bool = True, verify_checksum: bool = True) -> ModuleDef:
    """Read a ``.pyrm`` file; by default the file is memory-mapped, so rodata segments are
    zero-copy views of the mapping (kept alive by the returned module's rodata)."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            if use_mmap and os.fstat(f.fileno()).st_size > 0:
                data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            else:
                data = f.read()
    except OSError as e:
        raise _os_error(e, path, "read") from e
    try:
        return read(data, verify_checksum=verify_checksum)
    except ContainerError as e:
        raise e.annotate(f"while loading {path!r}")


def _os_error(e: OSError, path: str, verb: str):
    text = f"cannot {verb} {path!r}: {e.strerror or e}"
    if isinstance(e, FileNotFoundError):
        return NotFoundError(text)
    if isinstance(e, PermissionError):
        return PermissionDeniedError(text)
    return UnavailableError(text)
