"""The basic call statistics (``stats/request`` + ``stats/result``): CSV rows and periods.

``stats/result`` answers one text blob: one call per row (rows end with
``\\n`` or ``\\r\\n``), fields separated by ``;`` in the order of the ``fields``
requested, no quoting. ``records`` is a comma-separated list of recording ids,
with or without brackets; times are PBX time values (``0`` or empty: none);
``disconnect_reason`` is a code, or a word in the specification's examples
("Busy"). :func:`parse_csv` reads it into :class:`StatsRow`; :func:`split_period`
cuts a long period into spans the PBX accepts; :func:`call_state` makes the rows of
one ``entry_id`` a :class:`~mango_vpbx.calls.CallState`, like :func:`~mango_vpbx.fold`
does with its events.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from .assumptions import STATS_MAX_SPAN_SECONDS
from .calls import CallState, Recording, duration_seconds, implausible_span
from .codes import describe
from .errors import StatsError
from .times import DEFAULT_TIME_BASE, TimeBase, parse_pbx_int, to_utc

__all__ = [
    "DEFAULT_FIELDS",
    "ALL_FIELDS",
    "StatsRow",
    "parse_csv",
    "split_period",
    "row_direction",
    "call_state",
    "STATS_VERSION",
]

#: The version of the statistics mapping: what :func:`call_state` returns for the same rows.
#: Raised by one whenever a release changes it (see :data:`mango_vpbx.calls.FOLD_VERSION`).
#: Version 1 is the mapping of the first release (``mango-vpbx`` 1.0.0).
STATS_VERSION = 1

#: Fields the PBX returns when ``fields`` is not given, in its order.
DEFAULT_FIELDS: tuple[str, ...] = (
    "records", "start", "finish", "answer", "from_extension", "from_number",
    "to_extension", "to_number", "disconnect_reason", "line_number", "location",
)
#: Every field ``stats/request`` knows.
ALL_FIELDS: tuple[str, ...] = ("entry_id", *DEFAULT_FIELDS, "create")
_TIME_FIELDS = ("start", "finish", "answer", "create")


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


#: Where a missed call ended, by the PBX's ``location`` of its last leg.
_MISSED_AT = {"abonent": "operator", "queue": "queue", "ivr": "ivr"}
_FAR_FUTURE = datetime.max.replace(tzinfo=timezone.utc)


def row_direction(row: StatsRow) -> str:
    """Direction of a statistics row: employees have extensions, outsiders have none."""
    if row.from_extension and row.to_extension:
        return "internal"
    if row.from_extension:
        return "outgoing"
    return "incoming"


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def call_state(entry_id: str, rows: Iterable[StatsRow]) -> CallState:
    """The :class:`~mango_vpbx.calls.CallState` of one ``entry_id`` from its statistics rows.

    The PBX may report one row per call or one per leg; either way the call starts
    with its first row, ends with its last, and was answered by the first row that
    has an answer time. One type for events and statistics lets an integrator map a
    call to its records in one place. What one CSV row cannot tell (legs, ringing
    phones, transfers, DTMF) stays empty; ``is_final`` is False (no summary came).
    """
    rows = sorted(rows, key=lambda r: r.create or r.start or _FAR_FUTURE)
    if not rows:
        raise StatsError(f"no statistics row for the call {entry_id}")
    first, last = rows[0], rows[-1]
    direction = row_direction(first)
    answered = min((r for r in rows if r.answer), key=lambda r: r.answer, default=None)
    starts = [r.create or r.start for r in rows if r.create or r.start]
    finishes = [r.finish for r in rows if r.finish]
    created_at = min(starts) if starts else None
    ended_at = max(finishes) if finishes else None
    answered_at = answered.answer if answered else None
    caller_number = first.from_number or None
    called_number = first.to_number or None
    if direction == "incoming":
        called_number = first.line_number or first.to_number or None
    external = {"incoming": caller_number, "outgoing": called_number}.get(direction)
    inward = direction != "outgoing"
    rang_extensions = _unique(r.to_extension for r in rows if r.to_extension and inward)
    answered_extension = answered.to_extension if answered and inward else None
    answered_number = (
        answered.to_number if answered and inward and not answered.to_extension else None
    )
    if direction == "incoming":
        operator_extension = answered_extension
    else:
        operator_extension = first.from_extension
    reason = last.disconnect_reason
    reason_code = reason if isinstance(reason, int) else None
    reason_text = reason if isinstance(reason, str) else describe(reason_code)
    records = _unique(rec for r in rows for rec in r.records)
    # The statistics list a recording once the PBX stored it: it can be downloaded.
    recordings = tuple(Recording(recording_id=record, added=True) for record in records)
    end_of_wait = answered_at or ended_at
    missed_at = None
    if not answered and inward:
        missed_at = _MISSED_AT.get((last.location or "").strip().lower())
    return CallState(
        entry_id=entry_id,
        direction=direction,
        result="answered" if answered else "missed",
        missed_at=missed_at,
        caller_number=caller_number,
        caller_extension=first.from_extension,
        called_number=called_number,
        called_extension=first.to_extension,
        external_number=external,
        line_number=next((r.line_number for r in rows if r.line_number), None),
        rang_extensions=rang_extensions,
        ringing_extensions=(),
        connected_extensions=(),
        answered_extension=answered_extension,
        answered_number=answered_number,
        operator_extension=operator_extension,
        rang_numbers=(),
        created_at=created_at,
        answered_at=answered_at,
        ended_at=ended_at,
        # Bounded as the fold bounds them: times decades apart give no duration and the flag.
        wait_seconds=duration_seconds(created_at, end_of_wait),
        talk_seconds=duration_seconds(answered_at, ended_at) or 0,
        disconnect_reason=reason_code,
        disconnect_reason_text=reason_text or "",
        transfers=(),
        recording_ids=records,
        recordings=recordings,
        command_id=None,
        callback_initiator=None,
        is_callback=False,
        is_final=False,
        legs=(),
        dtmf=(),
        implausible_times=any(
            implausible_span(a, b) for a, b in ((created_at, end_of_wait), (answered_at, ended_at))
        ),
    )
