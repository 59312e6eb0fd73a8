"""Replay of a recorded event log, re-signed with the emulator's key.

The log is JSON Lines, one event per line, exactly what the Odoo addon exports
from its raw events::

    {"path": "events/call", "json": "{\\"entry_id\\":...}", "received_at": "2026-05-14T09:31:02Z"}

``path`` may carry the webhook's prefix (``/mango/events/call``): the part from
``events/``, ``result/`` or ``ping`` on is kept. ``json`` is sent verbatim (a
signature covers the exact string); ``received_at`` is an ISO 8601 time or epoch
seconds. Events are sent in ``received_at`` order, with the original gaps
divided by ``speed`` (``speed=None`` sends them back to back).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .sender import EventSink

_PATH = re.compile(r"(?:^|/)((?:events|result)/.+|ping)$")


@dataclass(frozen=True)
class LoggedEvent:
    path: str
    json: str
    received_at: float
    line: int


class ReplayError(ValueError):
    """A line of the log is not a recorded event."""


def parse_time(value: Any) -> float:
    """Epoch seconds from epoch seconds/milliseconds or an ISO 8601 string (naive = UTC)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) / 1000 if value > 1e11 else float(value)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return parse_time(float(text))
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    raise ValueError(f"not a time: {value!r}")


def normalize_path(path: str) -> str:
    match = _PATH.search(path.strip().rstrip("/"))
    if not match:
        raise ValueError(f"not a PBX event path: {path!r}")
    return match.group(1)


def read_log(lines: Iterable[str]) -> list[LoggedEvent]:
    """Parse a JSON Lines log into events sorted by reception time (stable)."""
    events = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict):
                raise ValueError("not an object")
            body = item["json"]
            if not isinstance(body, str):  # tolerate an exported object: re-serialise it
                body = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
            events.append(
                LoggedEvent(
                    normalize_path(str(item["path"])), body, parse_time(item["received_at"]), n
                )
            )
        except (KeyError, ValueError) as exc:
            raise ReplayError(f"line {n}: {exc}") from None
    events.sort(key=lambda e: (e.received_at, e.line))
    return events


def replay(
    events: list[LoggedEvent],
    sink: EventSink,
    speed: float | None = None,
    max_gap: float | None = None,
) -> int:
    """Send ``events`` to ``sink`` (re-signed by it); return how many were sent."""
    previous: float | None = None
    for event in events:
        if speed and previous is not None:
            gap = (event.received_at - previous) / speed
            if max_gap is not None:
                gap = min(gap, max_gap)
            if gap > 0:
                time.sleep(gap)
        previous = event.received_at
        sink.send(event.path, event.json)
    sink.flush()
    return len(events)
