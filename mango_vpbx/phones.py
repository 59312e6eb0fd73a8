"""Phone numbers as the PBX writes them, and as people and databases want them.

The PBX writes PSTN numbers as digits without ``+`` (``74951234567``), devices as
SIP URIs (``sip:user@x.mangosip.ru``), and employees by their extension, a short
number kept as a string because it can start with ``0`` (``0511``). People type
``+7 (916) 123-45-67`` or ``8 916 123 45 67``. :func:`normalize_number` turns
every external number into E.164 (``+79161234567``) once, at the boundary, and
says ``None`` for anything that is not an external phone number (extensions,
SIP users with a name, garbage), so a lookup by exact match on an indexed E.164
column is enough to identify a caller.
"""

from __future__ import annotations

import functools
import re

import phonenumbers

__all__ = ["normalize_number", "is_sip_uri", "sip_user", "format_number"]

_SIP_RE = re.compile(r"^\s*sips?:(?P<user>[^@;]*)(?:[@;].*)?$", re.IGNORECASE)
_SEPARATORS_RE = re.compile(r"[\s\-().\u00a0/]")
# Fewer digits than this is an internal short number (extension, group), never PSTN.
_MIN_DIGITS = 7


def is_sip_uri(value: object) -> bool:
    """Tell whether ``value`` is a SIP URI (``sip:...`` or ``sips:...``)."""
    return isinstance(value, str) and _SIP_RE.match(value) is not None


def sip_user(value: str) -> str | None:
    """The user part of a SIP URI (``sip:user1@x.mangosip.ru`` -> ``user1``), else ``None``."""
    match = _SIP_RE.match(value) if isinstance(value, str) else None
    return match.group("user") if match else None


def _parse(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


def normalize_number(raw: object, default_region: str = "RU") -> str | None:
    """Return the E.164 form (``+79161234567``) of an external phone number, else ``None``.

    Accepts the PBX's form (``74951234567``), human forms (``+7 (916) 123-45-67``,
    ``8 916 123 45 67``), the Russian international prefix (``810...``) and SIP
    URIs whose user part is a phone number (``sip:79161234567@x.mangosip.ru``).
    Extensions (``101``, ``0511``), SIP users that are names, text and empty
    values give ``None``. Digits without ``+`` are read first as "country code
    first" (the PBX's form) unless they start with the default region's trunk
    prefix (``8`` in Russia) or are exactly a valid national number of the default
    region (``9161234567``), in which case the national reading is tried first;
    the first reading that is a valid number wins, else the first one whose
    length is possible for its country (not only as a local number).
    Text is remembered (the last 4,096 numbers and regions): every event of a call
    carries the same few numbers, and reading one costs ~0.1 ms.
    """
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, str):
        return _normalize_text(raw, default_region)
    return _normalize(raw, default_region)


@functools.lru_cache(maxsize=4096)
def _normalize_text(raw: str, default_region: str) -> str | None:
    return _normalize(raw, default_region)


def _normalize(raw: object, default_region: str) -> str | None:
    text = str(raw).strip()
    if not text:
        return None
    user = sip_user(text)
    if user is not None:
        text = user
    text = _SEPARATORS_RE.sub("", text)
    plus = text.startswith("+")
    digits = text[1:] if plus else text
    if not digits.isdigit() or len(digits) < _MIN_DIGITS:
        return None
    if plus:
        candidates = [_parse("+" + digits, None)]
    else:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(default_region.upper())
        trunk = metadata.national_prefix if metadata else None
        national = _parse(digits, default_region.upper()) if metadata else None
        international = _parse("+" + digits, None)
        # A national number typed bare ("961 160-63-06": ten digits in Russia) must not be
        # read as an international one that happens to be valid (+961 is Lebanon).
        bare_national = (
            national is not None
            and phonenumbers.national_significant_number(national) == digits
            and phonenumbers.is_valid_number(national)
        )
        if (trunk and digits.startswith(trunk)) or bare_national:
            candidates = [national, international]
        else:
            candidates = [international, national]
    parsed = [number for number in candidates if number is not None]
    for number in parsed:
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    for number in parsed:
        reason = phonenumbers.is_possible_number_with_reason(number)
        if reason == phonenumbers.ValidationResult.IS_POSSIBLE:
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


def format_number(number: object, region: str = "RU") -> str:
    """Format a number for people: ``+79161234567`` -> ``+7 916 123-45-67``.

    Anything :func:`normalize_number` understands is shown in the international
    format (``region`` is used to read numbers without a country code); anything
    else (an extension, a SIP user, text) is returned as given, stripped. Text is
    remembered (the last 4,096 numbers and regions): a screen of calls shows the same
    numbers again and again, and parsing one costs ~0.1 ms.
    """
    if number is None:
        return ""
    if isinstance(number, str):
        return _format_text(number, region)
    return _format(number, region)


@functools.lru_cache(maxsize=4096)
def _format_text(number: str, region: str) -> str:
    return _format(number, region)


def _format(number: object, region: str) -> str:
    e164 = normalize_number(number, region)
    if e164 is None:
        return str(number).strip()
    parsed = phonenumbers.parse(e164, None)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
