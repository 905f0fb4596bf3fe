"""The ``--device`` option of ``run-module`` and ``vmtest``: the HAL device and module.

As IREE's tools do, the ``hal`` native module is registered (before the loaded modules)
whenever a loaded module imports a ``hal.*`` function, on a device of the ``--device``
driver: ``local-sync`` (the default) or ``local-task``. A file that defines its own module
named ``hal`` is left alone. Without any module importing the HAL, ``--device`` is accepted
and ignored with a note on stderr; tensor inputs then still parse (into a plain host
allocator's buffers). Any other driver name is a usage error (exit status 2).

Importing this module registers the HAL's ref types (so modules naming ``!hal.*`` types
load) and plugs buffer views into the tools' values (``pyree.modules.hal.hal_values``):
tensor ``--input`` syntax, ``hal.buffer_view`` printing and output files.
"""

from __future__ import annotations

import sys

from pyree.modules.hal import hal_values  # noqa: F401 - registers tensor values
from pyree.modules.hal.device import create_device
from pyree.modules.hal.module import HalModule  # registers every hal.* ref type

DEVICES = ("local-sync", "local-task")
DEFAULT_DEVICE = "local-sync"


def add_option(parser) -> None:
    parser.add_argument(
        "--device", choices=DEVICES, metavar="DEVICE",
        help="HAL device of the hal module, registered when a module imports hal.* "
             f"(local-sync or local-task; default {DEFAULT_DEVICE})")


def imports_hal(modules) -> bool:
    """True if any bytecode module imports a ``hal.*`` function."""
    for module in modules:
        definition = getattr(module, "definition", None)
        if definition is not None and any(imp.full_name.startswith("hal.")
                                          for imp in definition.imports):
            return True
    return False


class Session:
    """One command line's device: created on first need, closed by :meth:`close`."""

    def __init__(self, driver: str | None = None):
        self.requested = driver
        self.driver = driver or DEFAULT_DEVICE
        self._device = None
        self._module = None
        self.used = False

    @property
    def device(self):
        if self._device is None:
            self._device = create_device(self.driver)
        return self._device

    @property
    def hal_module(self):
        if self._module is None:
            self._module = HalModule([self.device])
        return self._module

    def with_hal(self, modules) -> list:
        """``modules`` preceded by the hal module when one of them imports it."""
        modules = list(modules)
        if not imports_hal(modules) or any(m.name == "hal" for m in modules):
            return modules
        self.used = True
        return [self.hal_module, *modules]

    def input_state(self) -> dict:
        """The state of ``values.parse_inputs``: tensors go to the device's allocator."""
        if self.used or self.requested:
            return {"hal.device": self.device}
        return {}

    def note_unused(self, err=None) -> None:
        """The note for a ``--device`` that no module needed."""
        if self.requested and not self.used:
            (err or sys.stderr).write(
                f"pyree: note: --device {self.requested} is accepted but ignored: no module "
                "imports the HAL\n")

    def close(self) -> None:
        if self._device is not None:
            self._device.close()
            self._device = None
            self._module = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
