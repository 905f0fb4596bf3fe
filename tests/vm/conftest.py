"""Fixtures shared by the VM tests."""

import pytest

from pyree.vm import buffer as buffer_mod
from pyree.vm import list as list_mod


@pytest.fixture
def limits():
    """Restores the buffer and list allocation caps a test changes."""
    previous = buffer_mod.set_limits(), list_mod.set_limits()
    yield
    buffer_mod.set_limits(**previous[0])
    list_mod.set_limits(**previous[1])
