"""Reproducers: failures saved by ``pyree fuzz``, replayed by ``pyree fuzz --replay`` and
by the test suite.

A reproducer is a small JSON file plus the input it names, side by side in a folder:

* ``NAME.json``: ``target``, ``input`` (the file name of the input), ``function`` and
  ``args`` for targets that run code, ``imports`` (``"host"``: the differential host
  functions), ``expected`` (what must happen: ``{"status": "OK"}``, ``{"status":
  ["OUT_OF_RANGE"]}``, ``{"reject": true, "rules": [...]}`` or ``{"pyree_errors_only":
  true}``), ``found`` (what pyree did when the failure was saved) and ``note``;
* the input: ``NAME.vmasm`` (the disassembly; assemble it to get the module back),
  ``NAME.pyrm`` (a module that cannot be written as vmasm, e.g. with a broken
  instruction stream) or ``NAME.bin`` (raw bytes for the loader); bytecode libraries
  the module imports from (``libraries`` in the JSON) as ``NAME.libK.vmasm``.

Arguments are JSON values: ints; ``{"f32": bits}`` / ``{"f64": bits}`` for floats (exact,
NaN payloads too); ``null``; ``{"buffer": "hex", "mutable": true}``;
``{"list": "i32", "values": [...]}``.

A replay passes when the target now behaves as ``expected``; a reproducer of a bug that is
not fixed yet lives in ``pending/`` below the folder, which replays skip unless asked.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import struct

import attrs

from pyree.bytecode import container
from pyree.bytecode.module_def import ModuleDef
from pyree.status import InvalidArgumentError

PENDING = "pending"


@attrs.frozen
class Reproducer:
    """A loaded reproducer: its record (the JSON object), its input and where it lives."""

    path: pathlib.Path
    record: dict
    module: ModuleDef | None = None
    data: bytes | None = None
    libraries: tuple = ()

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def target(self) -> str:
        return self.record["target"]

    @property
    def args(self) -> tuple:
        return tuple(decode_value(v) for v in self.record.get("args", ()))


# -- values -------------------------------------------------------------------------------

def encode_value(v):
    from pyree.testing.differential import BufferArg, ListArg

    if v is None or isinstance(v, (bool, int)):
        return v
    if isinstance(v, float):
        return {"f64": struct.unpack("<Q", struct.pack("<d", v))[0]}
    if isinstance(v, BufferArg):
        return {"buffer": v.data.hex(), "mutable": v.mutable}
    if isinstance(v, ListArg):
        return {"list": v.element, "values": list(v.values)}
    raise InvalidArgumentError(f"cannot save argument {v!r} in a reproducer")


def decode_value(v):
    from pyree.testing.differential import BufferArg, ListArg

    if isinstance(v, dict):
        if "f64" in v:
            return struct.unpack("<d", struct.pack("<Q", v["f64"]))[0]
        if "f32" in v:
            return struct.unpack("<f", struct.pack("<I", v["f32"]))[0]
        if "buffer" in v:
            return BufferArg(bytes.fromhex(v["buffer"]), v.get("mutable", True))
        if "list" in v:
            return ListArg(v["list"], tuple(v["values"]))
    return v


# -- where ----------------------------------------------------------------------------------

def default_folder(start: str | os.PathLike | None = None) -> pathlib.Path:
    """``tests/regressions`` of the pyree checkout containing ``start`` (default: the
    working directory), else ``./pyree-regressions``."""
    here = pathlib.Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and (folder / "tests").is_dir() and re.search(
                r'^name\s*=\s*"pyree"', pyproject.read_text("utf-8"), re.MULTILINE):
            return folder / "tests" / "regressions"
    return here / "pyree-regressions"


# -- saving and loading ---------------------------------------------------------------------

def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:60] or "failure"


def _module_file(module: ModuleDef) -> tuple[str, bytes]:
    """(suffix, bytes): the disassembly when it assembles back to the same module, else
    the container."""
    from pyree.bytecode.asm import assemble
    from pyree.bytecode.disasm import disassemble

    try:
        text = disassemble(module)
        round_trips = assemble(text) == module
    except Exception:  # noqa: BLE001 - broken modules are saved as containers
        round_trips = False
    if round_trips:
        return ".vmasm", text.encode("utf-8")
    return ".pyrm", container.write(module)


def save(folder, record: dict, *, module: ModuleDef | None = None,
         data: bytes | None = None, libraries=()) -> pathlib.Path:
    """Write a reproducer; returns the JSON path. The name is the target, a slug of
    ``record["signature"]`` and a digest of the content, so saving twice is harmless.
    ``libraries`` (modules registered before ``module``) are saved as ``NAME.libK.*``."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if module is not None:
        suffix, payload = _module_file(module)
    elif data is not None:
        suffix, payload = ".bin", bytes(data)
    else:
        raise InvalidArgumentError("a reproducer needs a module or bytes")
    libs = [_module_file(lib) for lib in libraries]
    digest = hashlib.sha256(b"".join([payload, *(p for _, p in libs)])
                            + json.dumps(record, sort_keys=True).encode()).hexdigest()
    stem = f"{record['target']}-{_slug(record.get('signature', ''))}-{digest[:10]}"
    (folder / (stem + suffix)).write_bytes(payload)
    record = dict(record, input=stem + suffix)
    if libs:
        names = [f"{stem}.lib{k}{lib_suffix}" for k, (lib_suffix, _) in enumerate(libs)]
        for name, (_, lib_payload) in zip(names, libs):
            (folder / name).write_bytes(lib_payload)
        record["libraries"] = names
    path = folder / (stem + ".json")
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", "utf-8")
    return path


def _read_module(source: pathlib.Path) -> ModuleDef:
    from pyree.bytecode.asm import assemble

    if source.suffix == ".vmasm":
        return assemble(source.read_text("utf-8"), str(source))
    return container.read(source.read_bytes(), verify_checksum=True)


def load(path) -> Reproducer:
    path = pathlib.Path(path)
    record = json.loads(path.read_text("utf-8"))
    source = path.parent / record["input"]
    module = data = None
    if source.suffix in (".vmasm", ".pyrm"):
        module = _read_module(source)
    else:
        data = source.read_bytes()
    libraries = tuple(_read_module(path.parent / name) for name in record.get("libraries", ()))
    return Reproducer(path, record, module, data, libraries)


def find(folder, *, pending: bool = False) -> list[pathlib.Path]:
    """The reproducers of a folder (and of ``pending/`` with ``pending=True``)."""
    folder = pathlib.Path(folder)
    paths = sorted(folder.glob("*.json"))
    if pending:
        paths += sorted((folder / PENDING).glob("*.json"))
    return paths


def replay(path) -> None:
    """Re-run one reproducer; raises (an AssertionError, or the target's own error) when
    the target still does not behave as the reproducer expects."""
    from pyree.testing import targets

    rep = load(path)
    targets.get(rep.target).replay(rep)

