"""SipHash-2-4 with the fixed key 00..0f (vm-isa.md 5.11, ``buffer.hash``)."""

from __future__ import annotations

_M = 0xFFFFFFFFFFFFFFFF
K0 = 0x0706050403020100
K1 = 0x0F0E0D0C0B0A0908


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & _M


def _round(v: list) -> None:
    v0, v1, v2, v3 = v
    v0 = (v0 + v1) & _M
    v1 = _rotl(v1, 13) ^ v0
    v0 = _rotl(v0, 32)
    v2 = (v2 + v3) & _M
    v3 = _rotl(v3, 16) ^ v2
    v0 = (v0 + v3) & _M
    v3 = _rotl(v3, 21) ^ v0
    v2 = (v2 + v1) & _M
    v1 = _rotl(v1, 17) ^ v2
    v2 = _rotl(v2, 32)
    v[:] = [v0, v1, v2, v3]


def siphash24(data: bytes, k0: int = K0, k1: int = K1) -> int:
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D,
         k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]
    n = len(data)
    tail = n - n % 8
    for i in range(0, tail, 8):
        m = int.from_bytes(data[i:i + 8], "little")
        v[3] ^= m
        _round(v)
        _round(v)
        v[0] ^= m
    last = (n & 0xFF) << 56 | int.from_bytes(data[tail:], "little")
    v[3] ^= last
    _round(v)
    _round(v)
    v[0] ^= last
    v[2] ^= 0xFF
    for _ in range(4):
        _round(v)
    return v[0] ^ v[1] ^ v[2] ^ v[3]
