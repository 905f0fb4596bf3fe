"""Imports every region-lowering module so that their ``@lowering`` registrations exist.

Order matters: for one region kind, lowerings are tried in registration order, so the
fast pyree-kernels-v1 bodies come first and the universal host-library fallback last.
Append a module's import line here when adding one.
"""

from . import (
    lower_conv,  # noqa: F401
    lower_data,  # noqa: F401
    lower_norm,  # noqa: F401
    lower_v1_elementwise,  # noqa: F401
    lower_v1_matmul,  # noqa: F401
    lower_v1_misc,  # noqa: F401
)
from . import lower_host  # noqa: F401,E402  (the universal host-library fallback: keep last)
