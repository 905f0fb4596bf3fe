"""SipHash-2-4 (64-bit output), as used by ``buffer.hash`` (``vm-isa.md`` 5.11).

Two compression rounds per 8-byte word, four finalisation rounds, the fixed key
``00 01 .. 0f`` by default. Pure Python: the rounds are inlined and the message is read
as little-endian 64-bit words with ``struct.iter_unpack``.
"""

from __future__ import annotations

import struct
from itertools import chain

K0 = 0x0706050403020100
K1 = 0x0F0E0D0C0B0A0908

_M = 0xFFFFFFFFFFFFFFFF
_WORDS = struct.Struct("<Q")


def siphash24(data, k0: int = K0, k1: int = K1) -> int:
    """SipHash-2-4 of ``data`` (any buffer-protocol object) as an unsigned 64-bit int."""
    view = memoryview(data)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    n = len(view)
    v0 = k0 ^ 0x736F6D6570736575
    v1 = k1 ^ 0x646F72616E646F6D
    v2 = k0 ^ 0x6C7967656E657261
    v3 = k1 ^ 0x7465646279746573
    whole = n & ~7
    tail = int.from_bytes(view[whole:], "little") | ((n & 0xFF) << 56)
    # SipRound written out on purpose: a helper (or an inner loop) is ~10% (~5%) slower.
    for (m,) in chain(_WORDS.iter_unpack(view[:whole]), ((tail,),)):
        v3 ^= m
        v0 = (v0 + v1) & _M
        v1 = ((v1 << 13) & _M | v1 >> 51) ^ v0
        v0 = (v0 << 32) & _M | v0 >> 32
        v2 = (v2 + v3) & _M
        v3 = ((v3 << 16) & _M | v3 >> 48) ^ v2
        v0 = (v0 + v3) & _M
        v3 = ((v3 << 21) & _M | v3 >> 43) ^ v0
        v2 = (v2 + v1) & _M
        v1 = ((v1 << 17) & _M | v1 >> 47) ^ v2
        v2 = (v2 << 32) & _M | v2 >> 32
        v0 = (v0 + v1) & _M
        v1 = ((v1 << 13) & _M | v1 >> 51) ^ v0
        v0 = (v0 << 32) & _M | v0 >> 32
        v2 = (v2 + v3) & _M
        v3 = ((v3 << 16) & _M | v3 >> 48) ^ v2
        v0 = (v0 + v3) & _M
        v3 = ((v3 << 21) & _M | v3 >> 43) ^ v0
        v2 = (v2 + v1) & _M
        v1 = ((v1 << 17) & _M | v1 >> 47) ^ v2
        v2 = (v2 << 32) & _M | v2 >> 32
        v0 ^= m
    v2 ^= 0xFF
    for _ in (0, 1, 2, 3):
        v0 = (v0 + v1) & _M
        v1 = ((v1 << 13) & _M | v1 >> 51) ^ v0
        v0 = (v0 << 32) & _M | v0 >> 32
        v2 = (v2 + v3) & _M
        v3 = ((v3 << 16) & _M | v3 >> 48) ^ v2
        v0 = (v0 + v3) & _M
        v3 = ((v3 << 21) & _M | v3 >> 43) ^ v0
        v2 = (v2 + v1) & _M
        v1 = ((v1 << 17) & _M | v1 >> 47) ^ v2
        v2 = (v2 << 32) & _M | v2 >> 32
    return v0 ^ v1 ^ v2 ^ v3
