"""The basic call statistics (``stats/request`` + ``stats/result``): CSV rows and periods.

``stats/result`` answers one text blob: one call per row (rows end with
``\\n`` or ``\\r\\n``), fields separated by ``;`` in the order of the ``fields``
requested, no quoting. ``records`` is a comma-separated list of recording ids,
with or without brackets; times are PBX time values (``0`` or empty: none);
``disconnect_reason`` is a code, or a word in the specification's examples
("Busy"). :func:`parse_csv` reads it into :class:`StatsRow`; :func:`split_period`
cuts a long period into spans the PBX accepts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from .assumptions import STATS_MAX_SPAN_SECONDS
from .times import DEFAULT_TIME_BASE, TimeBase, parse_pbx_int, to_utc

__all__ = ["DEFAULT_FIELDS", "ALL_FIELDS", "StatsRow", "StatsError", "parse_csv", "split_period"]

#: Fields the PBX returns when ``fields`` is not given, in its order.
DEFAULT_FIELDS: tuple[str, ...] = (
    "records", "start", "finish", "answer", "from_extension", "from_number",
    "to_extension", "to_number", "disconnect_reason", "line_number", "location",
)
#: Every field ``stats/request`` knows.
ALL_FIELDS: tuple[str, ...] = ("entry_id", *DEFAULT_FIELDS, "create")
_TIME_FIELDS = ("start", "finish", "answer", "create")


class StatsError(ValueError):
    """A statistics request or answer that cannot be understood (e.g. an unknown field)."""


@dataclass(frozen=True)
class StatsRow:
    """One call (leg) of the statistics report. Fields not requested are ``None`` / ``()``.

    ``disconnect_reason`` is an ``int`` code when numeric, else the text as sent.
    ``values`` keeps the row as sent (field -> text); ``extra`` holds values
    beyond the requested fields.
    """

    entry_id: str | None = None
    records: tuple[str, ...] = ()
    start: datetime | None = None
    finish: datetime | None = None
    answer: datetime | None = None
    create: datetime | None = None
    from_extension: str | None = None
    from_number: str | None = None
    to_extension: str | None = None
    to_number: str | None = None
    disconnect_reason: int | str | None = None
    line_number: str | None = None
    location: str | None = None
    values: tuple[tuple[str, str], ...] = ()
    extra: tuple[str, ...] = ()

    @property
    def answered(self) -> bool:
        """Whether the call was answered (``answer`` is set)."""
        return self.answer is not None


def normalize_fields(fields: Sequence[str] | str | None) -> tuple[str, ...]:
    """The requested field list as a tuple, from a sequence or a comma-separated string."""
    if fields is None:
        return DEFAULT_FIELDS
    items = fields.split(",") if isinstance(fields, str) else list(fields)
    result = tuple(item.strip() for item in items if item.strip())
    unknown = [item for item in result if item not in ALL_FIELDS]
    if unknown:
        raise StatsError(f"unknown statistics field(s): {', '.join(unknown)}")
    return result or DEFAULT_FIELDS


def _records(text: str) -> tuple[str, ...]:
    inner = text.strip().removeprefix("[").removesuffix("]")
    return tuple(item.strip() for item in inner.split(",") if item.strip())


def _reason(text: str) -> int | str | None:
    text = text.strip()
    if not text:
        return None
    try:
        return parse_pbx_int(text)
    except ValueError:
        return text


def _time(text: str, time_base: TimeBase) -> datetime | None:
    try:
        return to_utc(text.strip(), time_base)
    except ValueError:
        raise StatsError(f"not a time value: {text!r}") from None


def parse_csv(text: str | bytes, fields: Sequence[str] | str | None = None,
              time_base: TimeBase = DEFAULT_TIME_BASE) -> list[StatsRow]:
    """Parse the ``stats/result`` body into rows, for the ``fields`` that were requested."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    names = normalize_fields(fields)
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        cells = line.split(";")
        values = dict(zip(names, cells, strict=False))
        kwargs: dict[str, object] = {}
        for name, value in values.items():
            if name == "records":
                kwargs[name] = _records(value)
            elif name in _TIME_FIELDS:
                kwargs[name] = _time(value, time_base)
            elif name == "disconnect_reason":
                kwargs[name] = _reason(value)
            else:
                kwargs[name] = value.strip() or None
        rows.append(StatsRow(
            **kwargs,  # type: ignore[arg-type]
            values=tuple(values.items()),
            extra=tuple(cells[len(names):]),
        ))
    return rows


def split_period(date_from: int, date_to: int,
                 max_span: int = STATS_MAX_SPAN_SECONDS) -> list[tuple[int, int]]:
    """Cut ``[date_from, date_to]`` (PBX time values, inclusive) into spans of at most ``max_span``.

    Consecutive spans do not overlap (the next one starts one second later).
    """
    if date_to < date_from:
        raise StatsError("date_to is before date_from")
    spans = []
    start = date_from
    while True:
        end = min(start + max_span, date_to)
        spans.append((start, end))
        if end >= date_to:
            return spans
        start = end + 1
