"""Numeric literals of the assembly language, parsed the way the C library does.

Integers follow ``strtol``/``strtoul`` with automatic base: ``0x``/``0X`` is hex, a
leading ``0`` is octal, anything else decimal; parsing stops at the first character that
is not a digit of the base (the caller decides whether trailing text is an error).

Floats follow ``strtof``/``strtod``: decimal and hexadecimal (``0x1.8p1``) forms, ``inf``,
``infinity`` and ``nan`` (case-insensitive, optionally signed, ``nan(n-char-seq)`` sets a
payload as glibc does). The value is computed exactly (as a fraction) and rounded once,
to nearest-even, into binary32 or binary64, so ``f32`` parsing is not the double-rounded
``float(text)``. Like glibc, a result that overflows to infinity or that is tiny (zero or
subnormal) and inexact is a *range error*.

The formatting half (:func:`format_float`) prints the shortest decimal that parses back
to the same bits, or an exact hex float where a decimal would be a range error
(subnormals); NaNs print as ``nan``/``-nan`` and report whether their payload is lost.
"""

from __future__ import annotations

import math
from fractions import Fraction

import attrs

_HEX = "0123456789abcdefABCDEF"
_OCT = "01234567"
_DEC = "0123456789"


def scan_int(text: str, pos: int = 0, *, signed: bool = True) -> tuple[int, int] | None:
    """``strtol``-style scan at ``pos``: (value, end) or None when no digit was read.

    Leading whitespace is skipped; a sign is accepted when ``signed``.
    """
    n = len(text)
    i = pos
    while i < n and text[i] in " \t\n\v\f\r":
        i += 1
    negative = False
    if signed and i < n and text[i] in "+-":
        negative = text[i] == "-"
        i += 1
    if text.startswith(("0x", "0X"), i) and i + 2 < n and text[i + 2] in _HEX:
        base, digits, i = 16, _HEX, i + 2
    elif i < n and text[i] == "0":
        base, digits = 8, _OCT
    else:
        base, digits = 10, _DEC
    start = i
    while i < n and text[i] in digits:
        i += 1
    if i == start:
        return None
    value = int(text[start:i], base)
    return (-value if negative else value), i


@attrs.frozen
class FloatFormat:
    name: str
    bits: int  # total width
    mant: int  # stored mantissa bits
    emin: int  # exponent of the smallest normal
    emax: int  # exponent of the largest finite

    @property
    def bias(self) -> int:
        return self.emax

    @property
    def quiet_nan(self) -> int:
        return ((1 << (self.bits - 1 - self.mant)) - 1) << self.mant | 1 << (self.mant - 1)

    @property
    def sign_bit(self) -> int:
        return 1 << (self.bits - 1)

    @property
    def inf_bits(self) -> int:
        return ((1 << (self.bits - 1 - self.mant)) - 1) << self.mant


F32 = FloatFormat("f32", 32, 23, -126, 127)
F64 = FloatFormat("f64", 64, 52, -1022, 1023)
FORMATS = {"f32": F32, "f64": F64}


class FloatSyntaxError(ValueError):
    """Not a float literal (message says why)."""


class FloatRangeError(ValueError):
    """A literal that overflows or underflows the format (C's ERANGE)."""


def round_to_format(value: Fraction, fmt: FloatFormat) -> tuple[int, bool]:
    """Round a non-negative exact value to nearest-even: (bits, range_error)."""
    if value == 0:
        return 0, False
    p = fmt.mant + 1
    e = value.numerator.bit_length() - value.denominator.bit_length()
    if Fraction(2) ** e > value:
        e -= 1
    e = max(e, fmt.emin)
    scaled = value / Fraction(2) ** (e - fmt.mant)
    mant = math.floor(scaled)
    rest = scaled - mant
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and mant & 1):
        mant += 1
    inexact = rest != 0
    if mant == 1 << p:
        mant >>= 1
        e += 1
    if e > fmt.emax:
        return fmt.inf_bits, True
    if mant < 1 << fmt.mant:  # subnormal (or zero): biased exponent 0
        return mant, inexact
    return (e + fmt.bias) << fmt.mant | (mant - (1 << fmt.mant)), False


def _exact_decimal(body: str) -> Fraction | None:
    """Exact value of ``digits[.digits][e[+-]digits]`` or None if malformed."""
    mant, has_exp, exp_text = body.lower().partition("e")
    whole, _, frac = mant.partition(".")
    digits = whole + frac
    if not digits or not digits.isdigit() or not digits.isascii():
        return None
    exp = 0
    if has_exp:
        if not _is_signed_digits(exp_text):
            return None
        exp = int(exp_text)
    exp -= len(frac)
    if int(digits) == 0:
        return Fraction(0)
    magnitude = len(digits.lstrip("0")) + exp
    if magnitude > 400:
        return Fraction(10) ** 400
    if magnitude < -400:
        return Fraction(1, 10 ** 400)
    return Fraction(int(digits)) * Fraction(10) ** exp


def _exact_hex(body: str) -> Fraction | None:
    """Exact value of ``hexdigits[.hexdigits][p[+-]digits]`` (after ``0x``)."""
    mant, sep, exp_text = body.lower().partition("p")
    whole, _, frac = mant.partition(".")
    digits = whole + frac
    if not digits or any(c not in _HEX for c in digits):
        return None
    exp = 0
    if sep:
        if not _is_signed_digits(exp_text):
            return None
        exp = int(exp_text)
    exp -= 4 * len(frac)
    value = int(digits, 16)
    if value == 0:
        return Fraction(0)
    magnitude = value.bit_length() + exp
    if magnitude > 2000:
        return Fraction(2) ** 2000
    if magnitude < -2000:
        return Fraction(1, 2 ** 2000)
    return Fraction(value) * Fraction(2) ** exp


def _is_signed_digits(text: str) -> bool:
    t = text[1:] if text[:1] in ("+", "-") else text
    return bool(t) and t.isdigit() and t.isascii()


def parse_float(token: str, fmt: FloatFormat) -> int:
    """Raw IEEE bits of a float literal that must consume the whole ``token``.

    Raises :class:`FloatSyntaxError` or :class:`FloatRangeError`.
    """
    text = token
    negative = False
    if text[:1] in ("+", "-"):
        negative = text[0] == "-"
        text = text[1:]
    sign = fmt.sign_bit if negative else 0
    low = text.lower()
    if low in ("inf", "infinity"):
        return sign | fmt.inf_bits
    if low.startswith("nan"):
        return sign | _nan_bits(low[3:], fmt, token)
    if low.startswith("0x"):
        value = _exact_hex(text[2:])
    else:
        value = _exact_decimal(text)
    if value is None:
        raise FloatSyntaxError(f"expected {fmt.name} literal, found {token!r}")
    bits, range_error = round_to_format(value, fmt)
    if range_error:
        kind = "overflows" if bits == fmt.inf_bits else "underflows"
        raise FloatRangeError(f"{fmt.name} literal {token!r} {kind} (range error)")
    return sign | bits


def _nan_bits(rest: str, fmt: FloatFormat, token: str) -> int:
    if not rest:
        return fmt.quiet_nan
    if not (rest.startswith("(") and rest.endswith(")")):
        raise FloatSyntaxError(f"expected {fmt.name} literal, found {token!r}")
    seq = rest[1:-1]
    if any(not (c.isascii() and (c.isalnum() or c == "_")) for c in seq):
        raise FloatSyntaxError(f"invalid NaN payload in {token!r}")
    scanned = scan_int(seq, signed=False)
    if scanned is None or scanned[1] != len(seq) or scanned[0] >> (fmt.mant - 1):
        return fmt.quiet_nan  # glibc: a payload that does not fit gives the default NaN
    return fmt.quiet_nan | scanned[0]


def bits_value(bits: int, fmt: FloatFormat) -> float:
    """The Python float of a finite binary32/binary64 bit pattern (exact)."""
    exp_field = (bits >> fmt.mant) & ((1 << (fmt.bits - 1 - fmt.mant)) - 1)
    mant = bits & ((1 << fmt.mant) - 1)
    if exp_field == 0:
        value = math.ldexp(mant, fmt.emin - fmt.mant)
    else:
        value = math.ldexp(mant | 1 << fmt.mant, exp_field - fmt.bias - fmt.mant)
    return -value if bits & fmt.sign_bit else value


def format_float(bits: int, fmt: FloatFormat) -> tuple[str, bool]:
    """Shortest text that :func:`parse_float` maps back to ``bits``.

    Returns (text, exact); ``exact`` is False only for NaNs other than the default
    quiet NaN (either sign), whose payload the text cannot carry.
    """
    bits &= (1 << fmt.bits) - 1
    magnitude = bits & ~fmt.sign_bit
    minus = "-" if bits & fmt.sign_bit else ""
    if magnitude > fmt.inf_bits:
        return minus + "nan", magnitude == fmt.quiet_nan
    if magnitude == fmt.inf_bits:
        return minus + "inf", True
    value = bits_value(bits, fmt)
    if magnitude == 0:
        return minus + "0.0", True
    if magnitude < 1 << fmt.mant:  # subnormal: decimals would be range errors
        return _hex_text(value), True
    for digits in range(1, 18):
        text = f"{value:.{digits}g}"
        if _parses_to(text, bits, fmt):
            if "e" not in text and "." not in text and text not in ("inf", "-inf"):
                text += ".0"
            return text, True
    return _hex_text(value), True  # pragma: no cover - 17 digits always round-trip


def _parses_to(text: str, bits: int, fmt: FloatFormat) -> bool:
    try:
        return parse_float(text, fmt) == bits
    except ValueError:
        return False


def _hex_text(value: float) -> str:
    text = value.hex()  # '-0x1.8000000000000p-140'
    head, _, exp = text.partition("p")
    if "." in head:
        head = head.rstrip("0").rstrip(".")
    return f"{head}p{exp}"
