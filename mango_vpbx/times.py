"""The PBX's time base and the one place where PBX times become datetimes.

The PBX sends times as integer "unix time" values (``timestamp``, ``create_time``,
``talk_time``, ``end_time``, CSV ``start``/``finish``/``answer``) and expects the
same kind of value in ``stats/request`` (``date_from``/``date_to``). The 2017
specification calls them UTC; the current one says "UTC+3" (see
:mod:`mango_vpbx.assumptions`). Which one is right needs one live call to
settle, so the reading is a parameter, :class:`TimeBase`, and every conversion
goes through :func:`to_utc` / :func:`to_pbx`; nothing else in the package does
time arithmetic on PBX values.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta, timezone
from typing import Any

from .errors import ArgumentError

__all__ = ["TimeBase", "DEFAULT_TIME_BASE", "to_utc", "to_pbx", "parse_pbx_int"]


class TimeBase(enum.Enum):
    """How to read a PBX "unix time" value.

    ``UTC``: a real POSIX timestamp (the 2017 specification; the default).
    ``MSK``: the Moscow wall-clock time (UTC+3) written as if it were UTC, so the
    real instant is the value minus three hours (the current specification's
    "UTC+3").
    """

    UTC = 0
    MSK = 3 * 3600

    @property
    def offset(self) -> timedelta:
        """Shift between the PBX's value and the real UTC instant."""
        return timedelta(seconds=self.value)


#: The time base used when a caller does not pass one.
DEFAULT_TIME_BASE = TimeBase.UTC


def parse_pbx_int(value: Any) -> int | None:
    """Read a PBX integer that may come as an int, a float or a string.

    ``None`` and ``""`` give ``None``; anything else that is not an integer raises
    :class:`~mango_vpbx.errors.ArgumentError` (a ``ValueError``). Booleans are refused
    (``True`` is not a time).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ArgumentError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise ArgumentError(f"expected an integer, got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise ArgumentError(f"expected an integer, got {value!r}") from None
            if number.is_integer():
                return int(number)
        raise ArgumentError(f"expected an integer, got {value!r}")
    raise ArgumentError(f"expected an integer, got {value!r}")


def to_utc(ts: Any, time_base: TimeBase = DEFAULT_TIME_BASE) -> datetime | None:
    """Convert a PBX time value to an aware UTC datetime.

    ``None``, ``""`` and ``0`` mean "no such time" for the PBX (e.g. ``talk_time``
    of an unanswered call) and give ``None``. Strings of digits are accepted.
    """
    seconds = parse_pbx_int(ts)
    if not seconds:
        return None
    return datetime.fromtimestamp(seconds, tz=timezone.utc) - time_base.offset


def to_pbx(moment: datetime | int, time_base: TimeBase = DEFAULT_TIME_BASE) -> int:
    """Convert an instant to the PBX's integer time value (inverse of :func:`to_utc`).

    An ``int`` is taken as a real POSIX timestamp. A naive datetime is refused:
    its time zone would be a guess.
    """
    if isinstance(moment, bool):
        raise TypeError("expected a datetime or a POSIX timestamp")
    if isinstance(moment, int):
        moment = datetime.fromtimestamp(moment, tz=timezone.utc)
    if not isinstance(moment, datetime):
        raise TypeError("expected a datetime or a POSIX timestamp")
    if moment.tzinfo is None:
        raise ArgumentError("naive datetime: give an aware datetime (e.g. in UTC)")
    return int((moment + time_base.offset).timestamp())
