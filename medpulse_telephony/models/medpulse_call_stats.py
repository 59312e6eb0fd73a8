"""PBX statistics rows as a ``mango_vpbx.CallState``: how reconciliation and the statistics
wizard read the PBX's CSV (the journal call itself is in ``medpulse_call.py``)."""

from collections import OrderedDict
from datetime import datetime, timezone

import mango_vpbx
from mango_vpbx.codes import describe

#: Fields asked from ``stats/request`` wherever statistics meet the journal.
STATS_FIELDS = (
    "entry_id", "records", "start", "finish", "answer", "from_extension", "from_number",
    "to_extension", "to_number", "disconnect_reason", "line_number", "location", "create",
)

#: Where a missed call ended, by the PBX's ``location`` of its last leg.
_MISSED_AT = {"abonent": "operator", "queue": "queue", "ivr": "ivr"}

#: What an incomplete call keeps from its own events when statistics complete it:
#: the events saw the parties and the ringing better than one CSV row can.
_KEPT_FROM_EVENTS = (
    "direction", "caller_number", "caller_e164", "callee_number", "callee_e164",
    "external_e164", "line_id", "patient_id", "patient_ids", "rang_user_ids", "created_at",
    "transfers", "command_id", "callback_initiator",
)


def _far_future():
    return datetime.max.replace(tzinfo=timezone.utc)


def row_direction(row):
    """Direction of a statistics row: employees have extensions, outsiders have none."""
    if row.from_extension and row.to_extension:
        return "internal"
    if row.from_extension:
        return "outgoing"
    return "incoming"


def stats_call_state(entry_id, rows):
    """A ``mango_vpbx.CallState`` from the statistics rows of one ``entry_id``.

    The PBX may report one row per call or one per leg; either way the call starts
    with its first row, ends with its last, and was answered by the first row that
    has an answer time. Building a ``CallState`` lets the journal use one mapping
    (``medpulse.call._vals_from_state``) for events and for statistics alike.
    """
    rows = sorted(rows, key=lambda r: (r.create or r.start or _far_future()))
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
    rang_extensions = tuple(OrderedDict.fromkeys(
        r.to_extension for r in rows if r.to_extension and direction != "outgoing"
    ))
    answered_extension = answered.to_extension if answered and direction != "outgoing" else None
    answered_number = (
        answered.to_number
        if answered and direction != "outgoing" and not answered.to_extension
        else None
    )
    if direction == "incoming":
        operator_extension = answered_extension
    else:
        operator_extension = first.from_extension
    reason = last.disconnect_reason
    reason_code = reason if isinstance(reason, int) else None
    reason_text = reason if isinstance(reason, str) else describe(reason_code)
    records = tuple(OrderedDict.fromkeys(rec for r in rows for rec in r.records))
    # The statistics list a recording once the PBX stored it: it can be downloaded.
    recordings = tuple(mango_vpbx.Recording(recording_id=record, added=True) for record in records)
    end_of_wait = answered_at or ended_at
    # Bounded as the fold bounds them: times decades apart give no duration and the flag.
    wait_seconds = mango_vpbx.duration_seconds(created_at, end_of_wait)
    talk_seconds = mango_vpbx.duration_seconds(answered_at, ended_at) or 0
    implausible_times = any(
        mango_vpbx.implausible_span(a, b)
        for a, b in ((created_at, end_of_wait), (answered_at, ended_at))
    )
    missed_at = None
    if not answered and direction != "outgoing":
        missed_at = _MISSED_AT.get((last.location or "").strip().lower())
    return mango_vpbx.CallState(
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
        wait_seconds=wait_seconds,
        talk_seconds=talk_seconds,
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
        implausible_times=implausible_times,
    )
