"""From the events of one call to the call: :func:`fold`.

A call (``entry_id``) is made of legs (``call_id``): the IVR, the queue, one
leg per employee's phone that rang, one per transfer. The PBX sends the state
changes of the legs (``events/call``) in parallel, without waiting for our
answers, so they arrive in any order and sometimes twice; then it sends one
``events/summary``. :func:`fold` is a pure function from the *set* of parsed
events of one ``entry_id`` to a :class:`CallState`: it dedupes the events by
their identity and orders them by ``seq`` within each leg (never by arrival),
so the same events in any order and with any duplication give the same state.
Recompute the whole state from every stored event on each new one, or keep the
events in a :class:`Folding` and add each new one to it (the same state).

What each field means is documented on :class:`CallState`; the rules that are
inferred rather than documented (how a callback, a transfer, "missed where"
are recognised) are spelt out there and in :mod:`mango_vpbx.assumptions`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from .assumptions import MAX_CALL_SECONDS
from .codes import describe
from .errors import ArgumentError
from .events import (
    CALL_STATES,
    CallEvent,
    DtmfEvent,
    Event,
    Party,
    RecordAddedEvent,
    RecordingEvent,
    SummaryEvent,
)
from .times import DEFAULT_TIME_BASE, TimeBase, to_utc

__all__ = ["fold", "FOLD_VERSION", "CallState", "Leg", "Transfer", "Recording", "DtmfChoice",
           "duration_seconds", "implausible_span", "Folding"]

#: The version of what :func:`fold` returns for the same events. Raised by one whenever a
#: release changes any field of the :class:`CallState` it computes from the same input
#: (a fix of the fold, a field computed differently), never for a refactoring: an
#: integrator stores it with each call and folds again the calls of an older version.
#: Version 1 is the fold of the first release (``mango-vpbx`` 1.0.0); version 2
#: (``mango-vpbx`` 1.1.0) adds ``dtmf_choices``, ``dct_number`` and ``dct_type``, so that
#: the calls folded before keep the keys their callers pressed and their call-tracking number.
FOLD_VERSION = 2

Direction = Literal["incoming", "outgoing", "internal"]
Result = Literal["answered", "missed", "in_progress"]
MissedAt = Literal["ivr", "queue", "operator"]

_STATE_RANK = {state: rank for rank, state in enumerate(CALL_STATES)}
_FOLDED = (CallEvent, SummaryEvent, RecordingEvent, RecordAddedEvent, DtmfEvent)


@dataclass(frozen=True)
class Leg:
    """One leg of the call, after all its known events.

    ``state`` is the state of its last event (by ``seq``); ``from_``/``to`` are
    the parties of that last event (a transfer can replace the caller within a
    leg). ``extension`` is the employee this leg rings (``to.extension``).
    """

    call_id: str
    state: str
    location: str | None
    from_: Party
    to: Party
    extension: str | None
    started_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    disconnect_reason: int | None
    command_id: str | None
    taken_from_call_id: str | None
    transfer: str | None
    last_seq: int


@dataclass(frozen=True)
class Transfer:
    """A transfer by employee ``from_extension`` to ``to_extension`` (or ``to_number``).

    ``kind`` is ``'blind'`` or ``'consultative'`` (the initiator talked to the
    target first); ``call_id`` is the new leg; ``completed`` tells whether the
    transferred party reached that leg.
    """

    from_extension: str | None
    to_extension: str | None
    kind: Literal["blind", "consultative"]
    call_id: str
    to_number: str | None = None
    completed: bool = False


@dataclass(frozen=True)
class Recording:
    """A recording of the call: its last state, who was recorded, whether it is downloadable.

    ``state`` is the last ``recording_state`` (``None`` when only
    ``record/added`` is known); ``completion_code`` 4002 means too short, not
    saved; ``added`` is True once ``events/record/added`` arrived (the file can
    be downloaded).
    """

    recording_id: str
    state: str | None = None
    extension: str | None = None
    call_id: str | None = None
    completion_code: int | None = None
    added: bool = False


@dataclass(frozen=True)
class DtmfChoice:
    """One sequence the caller typed in the voice menu (``events/dtmf``).

    ``location`` is the menu the keys were typed in (``ivr``, ``ivr.2``: the item
    reached by pressing 2 in the main menu), ``None`` when the PBX did not say;
    ``at`` the aware UTC time of the event, ``None`` without a timestamp.
    """

    dtmf: str
    location: str | None = None
    at: datetime | None = None

    @property
    def next_location(self) -> str | None:
        """The menu item one key leads to (``ivr`` + ``2`` -> ``ivr.2``), after the PBX's
        ``[system].[subsystem]`` naming of locations; ``None`` for a longer sequence
        (a card number, a date) or an unknown menu."""
        if self.location and len(self.dtmf) == 1 and self.dtmf.isdigit():
            return f"{self.location}.{self.dtmf}"
        return None


@dataclass(frozen=True)
class CallState:
    """The call of one ``entry_id`` as far as its events tell.

    Direction: the summary's ``call_direction`` when present; else a callback
    (our ``commands/callback``: a ``command_id`` or ``callback_initiator`` on the
    first leg, whose ``to`` is the employee and ``from`` the target) is
    ``outgoing`` (``internal`` when the target is an employee); else from the
    first leg: both sides employees -> ``internal``, only the caller ->
    ``outgoing``, else ``incoming``. ``None`` only when no call event nor
    summary is known.

    Result: ``answered`` as soon as a leg to the called side got ``Connected``
    (or the summary says there was a conversation: ``talk_time`` > 0);
    ``missed`` when the summary says no conversation, or all known legs are
    disconnected without one; else ``in_progress``. ``is_final`` is True only
    once the summary arrived.

    ``missed_at`` (missed incoming and internal calls only): ``operator`` when an
    employee's (or an external forwarding number's) phone rang, else ``queue``
    when the call reached a queue, else ``ivr``.

    Parties: ``caller_*`` is who called (the employee for outgoing calls and
    callbacks), ``called_*`` who was called; for incoming calls
    ``called_number`` is the line the caller dialled. ``external_number`` is the
    outside party (caller of an incoming call, callee of an outgoing one).
    ``answered_extension``/``answered_number`` is the called-side party that
    picked up (the number only for a leg without an employee);
    ``operator_extension`` the employee who handled the call (who answered an
    incoming call, who placed an outgoing or internal one).

    Extensions: ``rang_extensions`` every employee whose phone rang, in ring
    order; ``ringing_extensions`` those ringing now; ``connected_extensions``
    employees on either side of a leg that is connected or on hold now;
    ``rang_numbers`` numbers rung by legs without an employee.

    Times are aware UTC datetimes (see :class:`~mango_vpbx.times.TimeBase`):
    from the summary when present, else from the legs. ``wait_seconds`` runs from
    creation to answer (or to the end of a missed call), ``talk_seconds`` from
    answer to end (0 for a missed call). ``disconnect_reason`` is the summary's,
    else that of the leg that ended last. Two times further apart than
    :data:`~mango_vpbx.assumptions.MAX_CALL_SECONDS` (a ``0`` or a far-future
    timestamp) leave the duration between them ``None`` and set
    ``implausible_times`` (see :func:`duration_seconds`).

    Voice menu: ``dtmf`` the sequences typed, ``dtmf_choices`` the same with where
    and when (:class:`DtmfChoice`), in the order they were typed.

    Call tracking: ``dct_number`` and ``dct_type`` (0 not call-tracking, 1 dynamic,
    2 static) from the summary's ``dct``, else from the first call event that has
    one with a number (or a type); ``None`` when no event carried ``dct``.
    """

    entry_id: str
    direction: Direction | None
    result: Result
    missed_at: MissedAt | None
    caller_number: str | None
    caller_extension: str | None
    called_number: str | None
    called_extension: str | None
    external_number: str | None
    line_number: str | None
    rang_extensions: tuple[str, ...]
    ringing_extensions: tuple[str, ...]
    connected_extensions: tuple[str, ...]
    answered_extension: str | None
    answered_number: str | None
    operator_extension: str | None
    rang_numbers: tuple[str, ...]
    created_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    wait_seconds: int | None
    talk_seconds: int | None
    disconnect_reason: int | None
    disconnect_reason_text: str
    transfers: tuple[Transfer, ...]
    recording_ids: tuple[str, ...]
    recordings: tuple[Recording, ...]
    command_id: str | None
    callback_initiator: str | None
    is_callback: bool
    is_final: bool
    legs: tuple[Leg, ...]
    dtmf: tuple[str, ...]
    implausible_times: bool = False
    dtmf_choices: tuple[DtmfChoice, ...] = ()
    dct_number: str | None = None
    dct_type: int | None = None


def implausible_span(start: datetime | None, end: datetime | None) -> bool:
    """Whether two times of one call are too far apart, either way, to be both right."""
    if not start or not end:  # None, or an ORM's False
        return False
    return abs((end - start).total_seconds()) > MAX_CALL_SECONDS


def duration_seconds(start: datetime | None, end: datetime | None) -> int | None:
    """Whole seconds from ``start`` to ``end``, for a wait or a talk time.

    ``0`` when ``end`` is earlier (clocks of two legs differ a little); ``None``
    when a time is missing or when :func:`implausible_span` (one of the times is
    wrong: no call lasts decades, and no database integer holds one).
    """
    if not start or not end or implausible_span(start, end):
        return None
    return max(0, int((end - start).total_seconds()))


def _canonical(event: Event) -> str:
    return event.canonical_json


def _dedupe(events: Iterable[Event]) -> list[Event]:
    """One event per identity; among different payloads with one identity, a fixed choice."""
    chosen: dict[str, tuple[str, Event]] = {}
    for event in events:
        key = event.identity
        canonical = _canonical(event)
        if key not in chosen or canonical < chosen[key][0]:
            chosen[key] = (canonical, event)
    return [chosen[key][1] for key in sorted(chosen)]


def _first(values: Iterable[Any]) -> Any:
    return next((v for v in values if v is not None), None)


def _unique(values: Iterable[str | None]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for value in values:
        if value:
            seen.setdefault(value, None)
    return tuple(seen)


def _merge(primary: Party, fallback: Party) -> Party:
    """``primary``'s extension and number where it has them, else ``fallback``'s."""
    return Party(
        extension=primary.extension if primary.extension is not None else fallback.extension,
        number=primary.number if primary.number is not None else fallback.number,
        line_number=primary.line_number or fallback.line_number,
    )


def _initial(events: list[CallEvent], side: str) -> Party:
    """A side of a leg as first known: the first extension and number given, in ``seq`` order.

    The PBX completes a side over time (the employee's device number often appears
    only on ``Connected``); a transfer can later replace it, so later values lose.
    """
    parties = [getattr(e, side) for e in events]
    return Party(
        extension=_first(p.extension for p in parties),
        number=_first(p.number for p in parties),
        line_number=_first(p.line_number for p in parties),
    )


@dataclass
class _LegEvents:
    call_id: str
    events: list[CallEvent]

    @property
    def first(self) -> CallEvent:
        return self.events[0]

    @property
    def last(self) -> CallEvent:
        return self.events[-1]


def _leg(group: _LegEvents, time_base: TimeBase) -> Leg:
    events = group.events
    times = [e.timestamp for e in events if e.timestamp]
    connected = [e.timestamp for e in events if e.call_state == "Connected" and e.timestamp]
    ended = [e.timestamp for e in events if e.call_state == "Disconnected" and e.timestamp]
    last = group.last
    return Leg(
        call_id=group.call_id,
        state=last.call_state,
        location=_first(e.location for e in events),
        from_=last.from_,
        to=last.to,
        extension=last.to.extension,
        started_at=to_utc(min(times), time_base) if times else None,
        answered_at=to_utc(min(connected), time_base) if connected else None,
        ended_at=to_utc(max(ended), time_base) if ended else None,
        disconnect_reason=_first(
            e.disconnect_reason for e in reversed(events) if e.call_state == "Disconnected"
        ),
        command_id=_first(e.command_id for e in events),
        taken_from_call_id=_first(
            e.from_.taken_from_call_id or e.to.taken_from_call_id for e in events
        ),
        transfer=_first(e.transfer for e in reversed(events)),
        last_seq=last.seq,
    )


def _order_legs(groups: dict[str, _LegEvents]) -> list[_LegEvents]:
    """Legs in the order they started: by first timestamp, then transfer depth, then id."""
    def depth(call_id: str) -> int:
        seen = {call_id}
        level = 0
        source = _first(
            e.from_.taken_from_call_id or e.to.taken_from_call_id for e in groups[call_id].events
        )
        while source in groups and source not in seen:
            seen.add(source)
            level += 1
            source = _first(
                e.from_.taken_from_call_id or e.to.taken_from_call_id
                for e in groups[source].events
            )
        return level

    def key(group: _LegEvents) -> tuple[Any, ...]:
        stamps = [e.timestamp for e in group.events if e.timestamp]
        start = min(stamps) if stamps else None
        return (start is None, start or 0, depth(group.call_id), group.call_id)

    return sorted(groups.values(), key=key)


def _transfers(ordered: list[_LegEvents], legs: list[Leg], skip: set[str]) -> tuple[Transfer, ...]:
    """Legs started by an employee out of an earlier leg of this call (see :class:`Transfer`)."""
    found = []
    connected_before: set[str] = set()
    for index, (group, leg) in enumerate(zip(ordered, legs, strict=True)):
        initiator = group.first.from_.extension
        if index and initiator and group.call_id not in skip and (
            leg.taken_from_call_id or leg.transfer or initiator in connected_before
        ):
            if leg.transfer:
                kind = "consultative" if leg.transfer == "consultative" else "blind"
            else:
                consulted = any(
                    e.call_state == "Connected" and e.from_.extension == initiator
                    for e in group.events
                )
                kind = "consultative" if consulted else "blind"
            found.append(Transfer(
                from_extension=initiator,
                to_extension=leg.to.extension,
                kind=kind,
                call_id=group.call_id,
                to_number=leg.to.number,
                completed=any(e.from_.extension != initiator for e in group.events),
            ))
        if leg.answered_at is not None or leg.state in ("Connected", "OnHold"):
            connected_before.update(x for x in (leg.to.extension, leg.from_.extension) if x)
    return tuple(found)


def _recordings(events: list[Event]) -> tuple[Recording, ...]:
    by_id: dict[str, list[Event]] = {}
    for event in events:
        if isinstance(event, RecordingEvent | RecordAddedEvent):
            by_id.setdefault(event.recording_id, []).append(event)

    def start(item: tuple[str, list[Event]]) -> tuple[Any, ...]:
        stamps = [e.timestamp for e in item[1] if e.timestamp]
        return (not stamps, min(stamps) if stamps else 0, item[0])

    result = []
    for recording_id, items in sorted(by_id.items(), key=start):
        states = sorted(
            (e for e in items if isinstance(e, RecordingEvent)),
            key=lambda e: (e.seq, e.recording_state),
        )
        last = states[-1] if states else None
        result.append(Recording(
            recording_id=recording_id,
            state=last.recording_state if last else None,
            extension=_first(e.extension for e in reversed(states)),
            call_id=_first(e.call_id for e in reversed(states)),
            completion_code=_first(e.completion_code for e in reversed(states)),
            added=any(isinstance(e, RecordAddedEvent) for e in items),
        ))
    return tuple(result)


def fold(events: Iterable[Event], time_base: TimeBase = DEFAULT_TIME_BASE) -> CallState:
    """Compute the state of one call from its events, whatever their order and duplication.

    ``events`` are parsed events of one ``entry_id``: call, summary, recording,
    record/added (and tagged) and DTMF events; other events (command results,
    SMS, pings) are ignored. Raises :class:`~mango_vpbx.errors.ArgumentError` when the events belong
    to different ``entry_id`` values or none of them tells the ``entry_id``.
    """
    unique = _dedupe(e for e in events if isinstance(e, _FOLDED))
    entry_ids = {e.entry_id for e in unique if getattr(e, "entry_id", None)}
    if len(entry_ids) != 1:
        if not entry_ids:
            raise ArgumentError("fold() needs at least one event with an entry_id")
        raise ArgumentError(f"fold() got events of several calls: {sorted(entry_ids)}")
    entry_id = entry_ids.pop()

    summary = _first(e for e in unique if isinstance(e, SummaryEvent))
    groups: dict[str, _LegEvents] = {}
    for event in unique:
        if isinstance(event, CallEvent):
            groups.setdefault(event.call_id, _LegEvents(event.call_id, [])).events.append(event)
    for group in groups.values():
        group.events.sort(key=lambda e: (e.seq, _STATE_RANK[e.call_state], _canonical(e)))
    ordered = _order_legs(groups)
    legs = [_leg(group, time_base) for group in ordered]
    by_id = {leg.call_id: leg for leg in legs}

    root = next((leg for leg in legs if leg.taken_from_call_id not in by_id), None)
    root_group = groups[root.call_id] if root else None
    callback_initiator = _first(e.callback_initiator for g in ordered for e in g.events)
    is_callback = root is not None and root.location not in ("ivr", "queue") and (
        (root.command_id is not None and root.taken_from_call_id is None)
        or callback_initiator is not None
    )
    # The callback's first leg rings our own employee: it is not the called side.
    callback_legs = {root.call_id} if is_callback and root else set()
    # Its second leg (employee -> target) is the call itself, not a transfer.
    callback_command = root.command_id if is_callback and root else None
    command_legs = {leg.call_id for leg in legs
                    if callback_command and leg.command_id == callback_command}

    direction: str | None = summary.direction if summary else None
    if root_group is not None:
        initial_from = _initial(root_group.events, "from_")
        initial_to = _initial(root_group.events, "to")
        if is_callback:
            caller, called = initial_to, initial_from
            inferred = "internal" if called.extension else "outgoing"
        else:
            caller, called = initial_from, initial_to
            if caller.extension and called.extension:
                inferred = "internal"
            elif caller.extension:
                inferred = "outgoing"
            else:
                inferred = "incoming"
        direction = direction or inferred
    else:
        caller = called = Party()
    if summary is not None:
        if not summary.from_.is_empty:
            caller = _merge(summary.from_, caller)
        if direction != "incoming" and not summary.to.is_empty:
            called = _merge(summary.to, called)

    line_number = (summary.line_number if summary else None) or _first(
        leg.to.line_number or leg.from_.line_number for leg in legs
    )
    called_number = called.number
    if direction == "incoming":
        called_number = line_number or called.number
    caller_number = caller.number
    external_number = {"incoming": caller_number, "outgoing": called_number}.get(direction or "")

    abonent = [
        leg for leg in legs
        if leg.location not in ("ivr", "queue") and leg.call_id not in callback_legs
    ]
    answering = sorted(
        (leg for leg in abonent if leg.answered_at is not None),
        key=lambda leg: leg.answered_at,
    )
    answer_leg = answering[0] if answering else None
    is_final = summary is not None

    if summary is not None:
        result = "answered" if summary.answered else "missed"
    elif answer_leg is not None:
        result = "answered"
    elif legs and all(leg.state == "Disconnected" for leg in legs):
        result = "missed"
    else:
        result = "in_progress"

    answered_extension = answered_number = None
    if result == "answered":
        if answer_leg is not None:
            answered_extension = answer_leg.to.extension
            answered_number = None if answered_extension else answer_leg.to.number
        elif summary is not None:
            answered_extension = summary.to.extension
            answered_number = None if answered_extension else summary.to.number
    if direction == "incoming":
        operator_extension = answered_extension
    else:
        operator_extension = caller.extension

    missed_at = None
    if result == "missed" and direction != "outgoing":
        if abonent:
            missed_at = "operator"
        elif any(leg.location == "queue" for leg in legs):
            missed_at = "queue"
        elif legs or (summary is not None and summary.to.is_empty):
            missed_at = "ivr"
        elif summary is not None:
            missed_at = "operator"

    stamps = [e.timestamp for g in ordered for e in g.events if e.timestamp]
    created_at = to_utc(summary.create_time, time_base) if summary else None
    created_at = created_at or (to_utc(min(stamps), time_base) if stamps else None)
    answered_at = None
    if result == "answered":
        answered_at = to_utc(summary.talk_time, time_base) if summary else None
        answered_at = answered_at or (answer_leg.answered_at if answer_leg else None)
    ended_at = to_utc(summary.end_time, time_base) if summary else None
    if ended_at is None and result != "in_progress":
        ends = [leg.ended_at for leg in legs if leg.ended_at]
        ended_at = max(ends) if ends else None

    until = answered_at if result == "answered" else ended_at
    wait_seconds = duration_seconds(created_at, until)
    talk_seconds = duration_seconds(answered_at, ended_at)
    if talk_seconds is None and result == "missed" and not implausible_span(answered_at, ended_at):
        talk_seconds = 0
    implausible_times = any(
        implausible_span(a, b) for a, b in ((created_at, until), (answered_at, ended_at))
    )

    disconnect_reason = summary.disconnect_reason if summary else None
    if disconnect_reason is None and result != "in_progress":
        # The reason of the leg that ended last is the reason the call ended.
        ended_legs = sorted(
            (leg for leg in legs if leg.state == "Disconnected"),
            key=lambda leg: leg.ended_at.timestamp() if leg.ended_at else float("-inf"),
        )
        disconnect_reason = _first(leg.disconnect_reason for leg in reversed(ended_legs))

    live = not is_final
    recordings = _recordings(unique)
    dtmf = sorted(
        (e for e in unique if isinstance(e, DtmfEvent)),
        key=lambda e: (e.timestamp or 0, e.seq, e.call_id or "", e.dtmf),
    )
    return CallState(
        entry_id=entry_id,
        direction=direction,
        result=result,
        missed_at=missed_at,
        caller_number=caller_number,
        caller_extension=caller.extension,
        called_number=called_number,
        called_extension=called.extension,
        external_number=external_number,
        line_number=line_number,
        rang_extensions=_unique(leg.to.extension for leg in legs
                                if leg.location not in ("ivr", "queue")),
        ringing_extensions=_unique(
            leg.to.extension for leg in legs
            if live and leg.state == "Appeared" and leg.location not in ("ivr", "queue")
        ),
        connected_extensions=_unique(
            ext for leg in legs if live and leg.state in ("Connected", "OnHold")
            for ext in (leg.from_.extension, leg.to.extension)
        ),
        answered_extension=answered_extension,
        answered_number=answered_number,
        operator_extension=operator_extension,
        rang_numbers=_unique(leg.to.number for leg in abonent if not leg.to.extension),
        created_at=created_at,
        answered_at=answered_at,
        ended_at=ended_at,
        wait_seconds=wait_seconds,
        talk_seconds=talk_seconds,
        disconnect_reason=disconnect_reason,
        disconnect_reason_text=describe(disconnect_reason),
        transfers=_transfers(ordered, legs, callback_legs | command_legs),
        recording_ids=tuple(r.recording_id for r in recordings),
        recordings=recordings,
        command_id=root.command_id if is_callback and root else None,
        callback_initiator=callback_initiator,
        is_callback=is_callback,
        is_final=is_final,
        legs=tuple(legs),
        dtmf=tuple(e.dtmf for e in dtmf),
        implausible_times=implausible_times,
        dtmf_choices=tuple(
            DtmfChoice(
                dtmf=e.dtmf,
                location=e.location,
                at=to_utc(e.timestamp, time_base) if e.timestamp else None,
            )
            for e in dtmf
        ),
        **_dct_of(summary, ordered),
    )


class Folding:
    """The events of one call kept between its deliveries, so that each new one is folded
    without reading back the others: :func:`fold`, one delivery at a time.

    The PBX posts a call's events one request at a time; :func:`fold` wants them all. A
    receiver that stores each event and folds the call again from its store reads and
    parses every earlier event on every new one. Instead it may keep the call's
    :class:`Folding` and :meth:`add` the new event to it: the events kept are those
    :func:`fold` would keep (one per identity, the same choice among differing payloads;
    kinds it ignores are dropped), so ``folding.state()`` equals ``fold(every event
    added)`` whatever the order, the duplication and the split into deliveries
    (property-tested). Immutable: :meth:`add` returns a new one. The receiver decides
    when a kept folding no longer matches its store (an event stored but never folded)
    and starts again from the store with ``Folding(stored_events)``.
    """

    __slots__ = ("_chosen",)

    def __init__(self, events: Iterable[Event] = ()):
        self._chosen: dict[str, tuple[str, Event]] = {}
        for event in events:
            self._choose(event)

    def _choose(self, event: Event) -> None:
        """:func:`_dedupe`'s choice, one event at a time: the smallest canonical payload wins."""
        if not isinstance(event, _FOLDED):
            return
        key = event.identity
        canonical = _canonical(event)
        if key not in self._chosen or canonical < self._chosen[key][0]:
            self._chosen[key] = (canonical, event)

    @property
    def events(self) -> tuple[Event, ...]:
        """The events :func:`fold` keeps of those added, by identity."""
        return tuple(self._chosen[key][1] for key in sorted(self._chosen))

    def add(self, *events: Event) -> Folding:
        """A new :class:`Folding` with ``events`` added (this one is left as it was)."""
        new = Folding()
        new._chosen = dict(self._chosen)
        for event in events:
            new._choose(event)
        return new

    def state(self, time_base: TimeBase = DEFAULT_TIME_BASE) -> CallState:
        """:func:`fold` of the events added (raises as it does when none tells the call)."""
        return fold((event for _canonical_text, event in self._chosen.values()), time_base)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Folding):
            return NotImplemented
        return {key: text for key, (text, _event) in self._chosen.items()} == {
            key: text for key, (text, _event) in other._chosen.items()
        }

    __hash__ = None  # type: ignore[assignment]  # compared by content, not a dict key


def _dct_of(summary: SummaryEvent | None, ordered: list[_LegEvents]) -> dict[str, Any]:
    """``dct_number``/``dct_type`` of the call: the summary's, else the first leg event's
    (in leg order, then ``seq``); one with a number wins over one without."""
    candidates = [summary.dct] if summary is not None and summary.dct is not None else []
    candidates += [e.dct for g in ordered for e in g.events if e.dct is not None]
    chosen = _first(d for d in candidates if d.number) or _first(
        d for d in candidates if d.type is not None
    )
    if chosen is None:
        return {"dct_number": None, "dct_type": None}
    return {"dct_number": chosen.number, "dct_type": chosen.type}
