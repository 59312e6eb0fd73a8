"""SMS text limits: how many segments a text takes, and whether the PBX takes it at all.

``commands/sms`` accepts at most four segments: 612 characters of the GSM 7-bit
alphabet ("Latin": 4 x 153 once a text is split) or 268 of anything else ("Cyrillic",
sent as UCS-2: 4 x 67). One character outside the GSM alphabet makes the whole text
UCS-2. In the 7-bit alphabet the characters of its extension table (``{}[]~\\|^€``
and the form feed) take two places each. A single segment holds 160 (7-bit) or 70
(UCS-2) characters; a split text loses room to the header that joins the parts.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ArgumentError

__all__ = [
    "MAX_SEGMENTS",
    "SmsSize",
    "check_text",
    "measure",
]

#: Segments the PBX sends one SMS in, at most (specification §3.2.4).
MAX_SEGMENTS = 4

_GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = "\f^{}\\[~]|€"
_GSM_BASIC_SET = frozenset(_GSM_BASIC)
_GSM_EXTENSION_SET = frozenset(_GSM_EXTENSION)

#: encoding -> (one segment, one part of a split text)
_CAPACITY = {"gsm7": (160, 153), "ucs2": (70, 67)}


@dataclass(frozen=True)
class SmsSize:
    """What a text costs: ``encoding`` (``gsm7`` or ``ucs2``), ``length`` in that
    encoding's characters (a 7-bit extension character counts twice), ``segments``,
    ``limit`` (the most characters the PBX takes in this encoding) and ``fits``."""

    encoding: str
    length: int
    segments: int
    limit: int

    @property
    def fits(self) -> bool:
        return 0 < self.length <= self.limit


def measure(text: str) -> SmsSize:
    """The size of ``text`` as an SMS (see :class:`SmsSize`)."""
    if all(ch in _GSM_BASIC_SET or ch in _GSM_EXTENSION_SET for ch in text):
        encoding = "gsm7"
        length = sum(2 if ch in _GSM_EXTENSION_SET else 1 for ch in text)
    else:
        encoding = "ucs2"
        # UCS-2 counts UTF-16 code units: a character outside the BMP (an emoji) takes two.
        length = len(text.encode("utf-16-le")) // 2
    single, part = _CAPACITY[encoding]
    segments = 0 if length == 0 else 1 if length <= single else -(-length // part)
    return SmsSize(encoding, length, segments, part * MAX_SEGMENTS)


def check_text(text: str) -> SmsSize:
    """:func:`measure` ``text``; :class:`~mango_vpbx.errors.ArgumentError` when it is empty
    or longer than the PBX takes (it would refuse the command)."""
    size = measure(text)
    if not size.length:
        raise ArgumentError("the SMS text is empty")
    if not size.fits:
        raise ArgumentError(
            f"the SMS text is {size.length} characters long ({size.encoding}); "
            f"the PBX takes at most {size.limit} ({MAX_SEGMENTS} segments)"
        )
    return size
