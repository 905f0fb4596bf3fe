"""``pyree compile MODEL.onnx -o OUT.pyrm``: compile an ONNX model to a module.

The result is a ``.pyrm`` container whose ``main`` takes the model's inputs and returns its
outputs as ``!hal.buffer_view`` (``spec/compiled-modules.md``); run it with
``pyree run-module --module OUT.pyrm --function main --input ...``, time it with
``pyree benchmark-module``. ``-o`` defaults to MODEL with the suffix ``.pyrm``.

``--input-shape NAME=1x3x224x224`` (repeatable) fixes the shape of input NAME (a scalar is
``NAME=``); ``--dim NAME=N`` (repeatable) gives a symbolic dimension (``dim_param``) its
value; other free dimensions default to 1. The regions are lowered, then every kernel is
compiled into the on-disk kernel cache (numba), so that loading the module on this machine
compiles nothing (``--no-prepare-kernels`` leaves that to the first load). A progress bar
(``tqdm``) follows both phases on stderr when stderr is a terminal (``--progress`` /
``--no-progress`` force it on or off); it is never written into a pipe or a log file. On
success one line ``compiled MODEL -> OUT (N bytes, K dispatch regions, J kernels
prepared)`` goes to stdout.
"""

from __future__ import annotations

import argparse
import os
import sys

from pyree import status
from pyree.tools import add_command


def _shape(text: str) -> tuple[str, tuple[int, ...]]:
    name, eq, dims = text.rpartition("=")
    if not eq or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=DxDx..., got '{text}'")
    try:
        shape = tuple(int(d) for d in dims.split("x")) if dims else ()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}': dimensions must be integers separated by 'x'") from None
    if any(d < 0 for d in shape):
        raise argparse.ArgumentTypeError(f"'{text}': dimensions must be non-negative")
    return name, shape


def _dim(text: str) -> tuple[str, int]:
    name, eq, value = text.rpartition("=")
    try:
        number = int(value)
    except ValueError:
        number = -1
    if not eq or not name or number < 0:
        raise argparse.ArgumentTypeError(f"expected NAME=N (N >= 0), got '{text}'")
    return name, number


def add_parser(subparsers):
    p = add_command(subparsers, "compile", __doc__, "compile an ONNX model to a .pyrm module")
    p.add_argument("model", metavar="MODEL.onnx", help="ONNX model file")
    p.add_argument("-o", "--output", metavar="OUT.pyrm",
                   help="output module (default: MODEL with the suffix .pyrm)")
    p.add_argument("--input-shape", "--input_shape", action="append", type=_shape,
                   default=[], dest="input_shapes", metavar="NAME=DxDx...",
                   help="shape of input NAME (repeatable)")
    p.add_argument("--dim", action="append", type=_dim, default=[], dest="dims",
                   metavar="NAME=N", help="value of symbolic dimension NAME (repeatable)")
    p.add_argument("--prepare-kernels", action=argparse.BooleanOptionalAction, default=True,
                   help="compile the kernels into the on-disk cache now (default)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    p.set_defaults(run=run)
    return p


class ProgressBar:
    """``progress(done, total, what)`` of ``compile_model`` drawn as a tqdm bar."""

    def __init__(self, file):
        self.file = file
        self.bar = None
        self.phases = _Phases()

    def __call__(self, done: int, total: int, what: str) -> None:
        self.phases.update(done, total)
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, file=self.file, unit="kernel", leave=False,
                            dynamic_ncols=True, desc="compiling")
        self.bar.total = total
        self.bar.n = done
        self.bar.set_postfix_str(what, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _Phases:
    """The phases of ``compile_model``'s progress (regions lowered, then kernels
    prepared): each runs ``done`` from 0 to ``total``; ``totals`` has one entry per phase."""

    def __init__(self):
        self.totals: list[int] = []
        self._open = False

    def update(self, done: int, total: int) -> None:
        if not self._open:
            self.totals.append(total)
            self._open = True
        self.totals[-1] = total
        if done >= total:
            self._open = False


class _Count:
    """The progress callback when no bar is drawn: only remembers the totals."""

    def __init__(self):
        self.phases = _Phases()

    def __call__(self, done: int, total: int, what: str) -> None:
        self.phases.update(done, total)

    def close(self) -> None:
        pass


def default_output(model: str) -> str:
    root, ext = os.path.splitext(model)
    return (root if ext.lower() == ".onnx" else model) + ".pyrm"


def _check_model(path: str) -> None:
    """NOT_FOUND / INVALID_ARGUMENT for a missing file or one that is not an ONNX model."""
    if not os.path.isfile(path):
        raise status.NotFoundError(f"cannot read '{path}': no such file")
    import onnx

    try:
        onnx.load(path, load_external_data=False)
    except Exception as e:  # noqa: BLE001 - protobuf's DecodeError and friends
        raise status.InvalidArgumentError(
            f"'{path}' is not an ONNX model: {type(e).__name__}: {e}") from None


def run(args, out=None, err=None) -> int:
    from pyree import compiler
    from pyree.compiler.onnx_import import ImportOptions

    out = out or sys.stdout
    err = err or sys.stderr
    _check_model(args.model)
    dst = args.output or default_output(args.model)
    options = ImportOptions(input_shapes=dict(args.input_shapes), dim_params=dict(args.dims))
    show = args.progress if args.progress is not None else _is_tty(err)
    progress = ProgressBar(err) if show else _Count()
    try:
        kwargs = {"prepare_kernels": True} if args.prepare_kernels else {}
        compiler.compile_file(args.model, dst, options=options, progress=progress, **kwargs)
    finally:
        progress.close()
    size = os.path.getsize(dst)
    totals = progress.phases.totals
    regions = totals[0] if totals else 0
    summary = f"{size} bytes, {regions} dispatch region{'s' if regions != 1 else ''}"
    if args.prepare_kernels:
        kernels = totals[1] if len(totals) > 1 else 0
        summary += f", {kernels} kernel{'s' if kernels != 1 else ''} prepared"
    out.write(f"compiled {args.model} -> {dst} ({summary})\n")
    return 0


def _is_tty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
