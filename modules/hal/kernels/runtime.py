"""Scalar helpers the generated kernels call (imported only by generated sources).

Defined once here so that no generated file carries their bodies; numba inlines them into
each kernel at compile time.
"""

from __future__ import annotations

from . import config

numba = config.import_numba()


@numba.njit(error_model="numpy")
def fmin(a, b):
    if a != a:
        return a
    if b != b:
        return b
    return a if a < b else b


@numba.njit(error_model="numpy")
def fmax(a, b):
    if a != a:
        return a
    if b != b:
        return b
    return a if a > b else b


@numba.njit(error_model="numpy")
def sdiv(a, b):
    """Signed division truncating toward zero; x / 0 = 0; MIN / -1 wraps to MIN."""
    if b == 0:
        return a - a
    if b == -1:
        return -a
    q = a // b
    if a % b != 0 and (a < 0) != (b < 0):
        q += 1
    return q


@numba.njit(error_model="numpy")
def udiv(a, b):
    if b == 0:
        return a - a
    return a // b


@numba.njit(error_model="numpy")
def smod(a, b):
    """Floor modulo (the sign of b); x mod 0 = 0; MIN mod -1 = 0."""
    if b == 0 or b == -1:
        return a - a
    r = a % b
    if r != 0 and (r < 0) != (b < 0):
        r += b
    return r


@numba.njit(error_model="numpy")
def sfmod(a, b):
    """Truncated modulo (the sign of a); x fmod 0 = 0; MIN fmod -1 = 0."""
    if b == 0 or b == -1:
        return a - a
    r = a % b
    if r != 0 and (r < 0) != (a < 0):
        r -= b
    return r


@numba.njit(error_model="numpy")
def umod(a, b):
    if b == 0:
        return a - a
    return a % b


@numba.njit(error_model="numpy")
def ushl(a, b, bits):
    if b >= bits:
        return a - a
    return a << b


@numba.njit(error_model="numpy")
def ushr(a, b, bits):
    if b >= bits:
        return a - a
    return a >> b


@numba.njit(error_model="numpy")
def sshl(a, b, bits):
    if b < 0 or b >= bits:
        return a - a
    return a << b


@numba.njit(error_model="numpy")
def sshr(a, b, bits):
    if b < 0 or b >= bits:
        return a - a - 1 if a < 0 else a - a
    return a >> b
