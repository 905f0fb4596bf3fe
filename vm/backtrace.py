"""VM backtraces from Python tracebacks through translated code.

Translated functions keep one line per emitted statement and a line map back to (function
ordinal, pc), so a failure costs nothing until it happens: the traceback's frames are
then read off into VM frames. The format follows IREE (``vm-runtime.md`` section 4), one
line per frame from innermost to outermost::

    [DD] TTTTTTTT NAME:PC LOCATION

Unlike IREE, pyree keeps the failing frame itself (at the pc of the failing instruction);
caller frames show the pc just after their call instruction.
"""

from __future__ import annotations

import threading
import weakref

_registry: dict[str, tuple] = {}
#: Code of native frames -> their label (None: the frame's ``label`` local names it).
_native_codes: dict = {}
_lock = threading.Lock()


def register(translated, module) -> None:
    with _lock:
        _registry[translated.filename] = (translated.line_info, weakref.ref(module))


def register_native_code(code, label: str | None = None) -> None:
    """A native frame's code. With ``label``, ``code`` is a native export's own function,
    which translated code calls directly (no adapter frame): it is a VM frame only where
    it follows a bytecode frame (under an adapter, or under another export, it is not)."""
    _native_codes[code] = label


def frames_from_traceback(tb) -> list[tuple[str, str, int | None, str | None]]:
    """VM frames (kind, name, pc, location), outermost first."""
    frames = []
    previous = None
    while tb is not None:
        if tb.tb_frame is previous:
            # A frame that re-raised (a native wrapper annotating the error) has one entry
            # per raise; it is one VM frame. Keep its innermost entry.
            if frames and frames[-1][3] is previous:
                frames.pop()
        previous = tb.tb_frame
        code = tb.tb_frame.f_code
        entry = _registry.get(code.co_filename)
        if entry is not None:
            line_info, module_ref = entry
            module = module_ref()
            idx = tb.tb_lineno - 1
            info = line_info[idx] if 0 <= idx < len(line_info) else None
            if module is not None and info is not None:
                frames.append(["bytecode", module, info, tb.tb_frame])
        elif code in _native_codes:
            label = _native_codes[code]
            if label is None:
                frames.append(["native", tb.tb_frame.f_locals.get("label", "?"), None,
                               tb.tb_frame])
            elif frames and frames[-1][0] == "bytecode" and frames[-1][3] is not tb.tb_frame:
                frames.append(["native", label, None, tb.tb_frame])
        tb = tb.tb_next
    out = []
    for i, (kind, what, info, _) in enumerate(frames):
        if kind == "native":
            out.append(("native", what, None, None))
            continue
        innermost = i == len(frames) - 1
        pc = info.pc if innermost else info.next_pc
        out.append(("bytecode", what.function_label(info.function), pc,
                    what.location(info.function, info.pc)))
    return out


def format_frames(frames) -> list[str]:
    lines = []
    n = len(frames)
    for depth in range(n - 1, -1, -1):
        kind, name, pc, location = frames[depth]
        where = f"{name}:{pc}" if pc is not None else name
        lines.append(f"[{depth:2d}] {kind:>8s} {where} {location or '-'}")
    return lines
