"""The emulated PBX: call operations that change the state and emit the PBX's events.

Every operation (a phone rings, someone answers, hangs up, transfers...) is done
under one lock and produces the events the real PBX would send, with ``seq``
counted per leg; the events are posted after the lock is released, so a slow
webhook never blocks other calls. Scenarios, the command server and the console
all act through these operations, so a command and a scripted call look the same
on the wire.

Event shapes follow the reference's field tables and official sequences
(``docs/mango-vpbx-api.md`` §2 and §6.2): the callback's first leg rings the
employee in ``to`` with the target in ``from`` and ends with 1000 when the employee
answers; a blind transfer re-announces the new leg (``Appeared`` again) with the
customer in ``from``; a consultative transfer ends with a second ``Connected`` on
the consultation leg.

Choices where the documentation says nothing (listed for the reader of the events):

- legs of a queue that stop ringing because another operator answered end with
  1182 ("intercepted by another operator"); the voice-menu and queue legs that hand
  the caller over end with 1100;
- the call ends (summary) when its last leg ends; a summary's ``disconnect_reason``
  is the reason of that last leg;
- ``forward_time`` of an incoming call is when it left the voice menu (0 if it never
  did); ``record/added`` follows the summary after ``record_delay`` emulated seconds;
- speech analytics tags every stored recording: ``record/tagged`` follows its
  ``record/added`` at once, with the call's ``topics`` (else one or two of
  :data:`DEMO_TOPICS`, chosen by the recording id), which
  ``queries/recording_categories`` then answers, with a transcript;
- a call dialled on a call-tracking number (``dct``) binds it to a web visitor whose
  channel ``queries/user_info_by_dct_number`` answers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from . import state as st
from .state import Call, Clock, Directory, IdFactory, Leg, Recording

Outbox = list[tuple[str, dict[str, Any]]]

#: Topics the emulated speech analytics recognises when a call does not name its own.
DEMO_TOPICS = (
    "Booking", "Cancel or move an appointment", "Prices", "Test results", "Complaint",
)


class PbxError(Exception):
    """An operation the PBX refuses; ``code`` is the PBX result code."""

    def __init__(self, code: int, message: str = "") -> None:
        self.code = code
        super().__init__(message or f"PBX code {code}")


#: What a colleague rung by a transfer or a route does (:attr:`Autopilot.colleague`).
COLLEAGUE_MODES = ("answer", "decline", "no_answer", "manual")


@dataclass
class Autopilot:
    """How the PBX's "people" behave in calls started by commands (callback, transfer, route).

    Emulated seconds. ``enabled=False`` leaves those calls ringing until someone acts
    through the console or the control API. ``colleague`` is what a colleague rung by a
    transfer or a route does: ``answer`` after ``answer_after``, ``decline``, ``no_answer``
    (it rings until the PBX gives up after ``max_ring``), or ``manual`` (a person at the
    console decides). Whoever answers talks ``talk`` seconds, then the caller hangs up.
    """

    enabled: bool = True
    answer_after: float = 3.0
    talk: float = 20.0
    colleague: str = "answer"
    max_ring: float = 60.0

    def __post_init__(self) -> None:
        if self.colleague not in COLLEAGUE_MODES:
            raise ValueError(f"colleague must be one of {', '.join(COLLEAGUE_MODES)}")
        for name in ("answer_after", "talk", "max_ring"):
            if float(getattr(self, name)) < 0:
                raise ValueError(f"{name} cannot be negative")


class Pbx:
    """State and behaviour of one emulated PBX account."""

    def __init__(
        self,
        directory: Directory,
        sink: Any,
        speed: float = 1.0,
        record_calls: bool = True,
        record_delay: float = 5.0,
        autopilot: Autopilot | None = None,
    ) -> None:
        self.directory = directory
        self.sink = sink
        self.speed = speed
        self.record_calls = record_calls
        self.record_delay = record_delay
        self.autopilot = autopilot or Autopilot()
        self.ids = IdFactory(directory.product_id)
        self.cond = threading.Condition(threading.RLock())
        self.calls: dict[str, Call] = {}
        self.history: list[Call] = []
        self.legs: dict[str, tuple[Call, Leg]] = {}
        self.recordings: dict[str, Recording] = {}
        #: consultation leg call_id -> (held leg call_id, initiator extension)
        self.consults: dict[str, tuple[str, str]] = {}
        self._dtmf_seq: dict[str, int] = {}
        #: speech analytics: recording_id -> topics recognised (after ``record/tagged``)
        self.topics: dict[str, tuple[str, ...]] = {}
        #: call tracking: dct number -> the visitor bound to it (``user_info_by_dct_number``)
        self.dct_visitors: dict[str, dict[str, Any]] = {}
        self._tx_local = threading.local()
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _tx(self) -> Iterator[Outbox]:
        """Run an operation under the lock; post its events once the outermost one ends."""
        outer = getattr(self._tx_local, "out", None)
        if outer is not None:
            with self.cond:
                yield outer
            return
        out: Outbox = []
        self._tx_local.out = out
        try:
            with self.cond:
                yield out
                self.cond.notify_all()
        finally:
            self._tx_local.out = None
        for path, payload in out:
            self.sink.send(path, payload)

    def emit(self, path: str, payload: dict[str, Any]) -> None:
        """Post an event that is not part of a call operation (command results...)."""
        with self._tx() as out:
            out.append((path, payload))

    def wait_for(self, predicate: Callable[[], bool], timeout: float | None) -> bool:
        """Wait (real seconds) until ``predicate()`` holds; True if it does."""
        with self.cond:
            return self.cond.wait_for(predicate, timeout)

    def background(
        self, target: Callable[..., Any], *args: Any, name: str = "mango-call"
    ) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, daemon=True, name=name)
        with self.cond:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
        return thread

    def join(self, timeout: float = 30.0) -> None:
        """Wait for background call threads (autopilot, delayed record/added)."""
        with self.cond:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)

    def find_leg(self, call_id: str) -> tuple[Call, Leg]:
        with self.cond:
            found = self.legs.get(call_id)
            if found is None:
                raise PbxError(3310, f"call {call_id} not found")
            return found

    def live_leg(self, call_id: str) -> tuple[Call, Leg]:
        call, leg = self.find_leg(call_id)
        if not leg.live:
            raise PbxError(4101, f"call {call_id} has ended")
        return call, leg

    def legs_of(self, extension: str) -> list[tuple[Call, Leg]]:
        """Live legs in which ``extension``'s phone takes part."""
        with self.cond:
            out = []
            for call in self.calls.values():
                for leg in call.live_legs():
                    if extension in (
                        leg.extension,
                        leg.from_.get("extension"),
                        leg.to.get("extension"),
                    ):
                        out.append((call, leg))
            return out

    def employee_party(self, extension: str, number: str | None = None) -> dict[str, Any]:
        emp = self.directory.employee(extension)
        if emp is None:
            raise PbxError(3330, f"no employee with extension {extension}")
        return {"extension": emp.extension, "number": number or emp.main_number}

    def _party(self, target: str) -> tuple[dict[str, Any], str | None]:
        """A dialled number as a call party: an employee (by extension or number) or external."""
        emp = self.directory.employee(target) or self.directory.employee_by_number(target)
        if emp is not None:
            return {"extension": emp.extension, "number": emp.main_number}, emp.extension
        return {"number": target}, None

    # ------------------------------------------------------------------ legs

    def _new_call(
        self,
        direction: int,
        clock: Clock | None,
        line: str | None,
        caller: dict[str, Any],
        scenario: str | None = None,
        command_id: str | None = None,
    ) -> Call:
        clock = clock or Clock(self.speed)
        call = Call(
            entry_id=self.ids.entry_id(),
            direction=direction,
            clock=clock,
            line_number=line,
            caller=caller,
            create_time=clock.now(),
            scenario=scenario,
            command_id=command_id,
        )
        if direction != 1:
            call.forward_time = call.create_time
        self.calls[call.entry_id] = call
        return call

    def _leg_payload(self, call: Call, leg: Leg) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "entry_id": call.entry_id,
            "call_id": leg.call_id,
            "timestamp": call.clock.now(),
            "seq": leg.seq,
            "call_state": leg.state,
            "location": leg.location,
            "from": dict(leg.from_),
            "to": dict(leg.to),
        }
        if leg.state == "Disconnected":
            payload["disconnect_reason"] = leg.disconnect_reason
        if leg.command_id:
            payload["command_id"] = leg.command_id
            if call.is_callback:
                payload["callback_initiator"] = "API"
        if leg.transfer:
            payload["transfer"] = leg.transfer
        if call.direction == 1:
            payload["dct"] = self._dct(call)
        return payload

    @staticmethod
    def _dct(call: Call) -> dict[str, Any]:
        if call.dct_number:
            return {"number": call.dct_number, "type": call.dct_type}
        return {"type": 0}

    def _announce(self, call: Call, leg: Leg, out: Outbox) -> None:
        leg.seq += 1
        out.append(("events/call", self._leg_payload(call, leg)))

    def _open_leg(
        self,
        call: Call,
        out: Outbox,
        location: str,
        from_: dict[str, Any],
        to: dict[str, Any],
        extension: str | None = None,
        employee_side: str = "to",
        command_id: str | None = None,
        ring_group: str | None = None,
        transfer: str | None = None,
    ) -> Leg:
        leg = Leg(
            call_id=self.ids.call_id(),
            entry_id=call.entry_id,
            location=location,
            from_=dict(from_),
            to=dict(to),
            extension=extension,
            employee_side=employee_side,
            command_id=command_id,
            created=call.clock.now(),
            ring_group=ring_group,
            transfer=transfer,
        )
        call.legs[leg.call_id] = leg
        self.legs[leg.call_id] = (call, leg)
        call.last_location = location
        self._announce(call, leg, out)
        return leg

    def _set(self, call: Call, leg: Leg, out: Outbox, state: str, **changes: Any) -> None:
        leg.state = state
        for key, value in changes.items():
            setattr(leg, key, value)
        self._announce(call, leg, out)

    def _end_leg(self, call: Call, leg: Leg, out: Outbox, reason: int) -> None:
        if not leg.live:
            return
        was_ringing = leg.state == "Appeared"
        leg.ended = call.clock.now()
        self._set(call, leg, out, "Disconnected", disconnect_reason=reason)
        self.consults.pop(leg.call_id, None)
        if (
            was_ringing
            and leg.location == "abonent"
            and leg.extension
            and call.first_missed is None
            and leg.employee_side == "to"
            and reason != st.TAKEN_BY_OTHER
        ):
            emp = self.directory.employee(leg.extension)
            call.first_missed = {
                "extension": leg.extension,
                "number": emp.main_number if emp else "",
            }
        for rec in list(self.recordings.values()):
            if rec.call_id == leg.call_id and rec.completion_code is None:
                self._complete_recording(call, rec, out)
        if not call.live_legs():
            call.disconnect_reason = reason
            self._finish(call, out)

    def _finish(self, call: Call, out: Outbox) -> None:
        call.end_time = call.clock.now()
        call.finished = True
        self.calls.pop(call.entry_id, None)
        self.history.append(call)
        out.append(("events/summary", self.summary(call)))
        ready = [
            self.recordings[r]
            for r in call.recordings
            if self.recordings[r].completion_code == 1000
        ]
        if ready:
            self.background(self._records_added, call, ready, name="mango-record-added")

    def _records_added(self, call: Call, recordings: list[Recording]) -> None:
        call.clock.sleep(self.record_delay)
        with self._tx() as out:
            for rec in recordings:
                stored = {
                    "entry_id": call.entry_id,
                    "product_id": self.directory.product_id,
                    "user_id": rec.user_id,
                    "timestamp": call.clock.now(),
                    "recording_id": rec.recording_id,
                }
                out.append(("events/record/added", stored))
                topics = self.topics_of(call, rec)
                if topics:
                    self.topics[rec.recording_id] = topics
                    out.append(("events/record/tagged", dict(stored)))

    def summary(self, call: Call) -> dict[str, Any]:
        """The ``/events/summary`` payload of a finished call."""
        if call.direction == 1:
            to = call.answered_party or call.first_missed or {}
        else:
            to = call.answered_party or call.callee
        payload: dict[str, Any] = {
            "entry_id": call.entry_id,
            "call_direction": call.direction,
            "from": dict(call.caller),
            "to": dict(to),
            "create_time": call.create_time,
            "forward_time": call.forward_time,
            "talk_time": call.talk_time,
            "end_time": call.end_time,
            "entry_result": 1 if call.talk_time else 0,
            "disconnect_reason": call.disconnect_reason,
        }
        if call.direction != 0 and call.line_number:
            payload["line_number"] = call.line_number
        if call.direction == 1:
            payload["dct"] = self._dct(call)
        return payload

    # ------------------------------------------------------------------ speech analytics

    def topics_of(self, call: Call, rec: Recording) -> tuple[str, ...]:
        """What speech analytics finds in ``rec``: the call's topics, else a stable pick."""
        if call.topics is not None:
            return call.topics
        digest = sum(rec.recording_id.encode())
        first = DEMO_TOPICS[digest % len(DEMO_TOPICS)]
        second = DEMO_TOPICS[(digest // len(DEMO_TOPICS)) % len(DEMO_TOPICS)]
        return (first,) if second == first or digest % 3 else (first, second)

    def transcript_of(self, recording_id: str) -> list[dict[str, Any]]:
        """A short transcript in the shape ``queries/recording_transcripts`` answers."""
        if recording_id not in self.recordings:
            return []
        phrases = [{"speaker": "operator", "start": 0, "text": "Clinic, good afternoon."}]
        phrases += [
            {"speaker": "client", "start": 3 + 4 * i, "text": f"I am calling about: {topic}."}
            for i, topic in enumerate(self.topics.get(recording_id) or ())
        ]
        return phrases

    def bind_dct(self, number: str, channel: dict[str, Any]) -> None:
        """A web visitor saw the call-tracking ``number`` (the PBX's call-tracking widget)."""
        with self.cond:
            self.dct_visitors[number] = {
                "uid": f"visitor-{sum(number.encode()) % 10**6}",
                "widget_id": 1,
                "widget_name": "Clinic site",
                "product_id": self.directory.product_id,
                "channel": {k: v for k, v in channel.items() if v},
                "current_page": {"url": "https://clinic.example/booking", "title": "Booking"},
                "device": "desktop",
            }

    # ------------------------------------------------------------------ recordings

    def start_recording(
        self, call: Call, leg: Leg, extension: str | None, command_id: str | None = None
    ) -> Recording:
        with self._tx() as out:
            for rec in self.recordings.values():
                if (
                    rec.call_id == leg.call_id
                    and rec.extension == extension
                    and rec.completion_code is None
                ):
                    raise PbxError(4102, "already recording")
            emp = self.directory.employee(extension)
            rec = Recording(
                recording_id=self.ids.recording_id(),
                entry_id=call.entry_id,
                call_id=leg.call_id,
                extension=extension,
                user_id=emp.user_id if emp else self.directory.admin_user_id,
                started=call.clock.now(),
                command_id=command_id,
            )
            self.recordings[rec.recording_id] = rec
            call.recordings.append(rec.recording_id)
            out.append(("events/recording", self._recording_payload(call, rec, "Started")))
            return rec

    def _recording_payload(self, call: Call, rec: Recording, state: str) -> dict[str, Any]:
        rec.seq += 1
        payload: dict[str, Any] = {
            "recording_id": rec.recording_id,
            "recording_state": state,
            "seq": rec.seq,
            "entry_id": call.entry_id,
            "call_id": rec.call_id,
            "extension": rec.extension or "",
            "timestamp": call.clock.now(),
        }
        if rec.command_id:
            payload["command_id"] = rec.command_id
        if state == "Completed":
            payload["completion_code"] = rec.completion_code
            if rec.completion_code == 1000:
                payload["recipient"] = "Cloud"
        return payload

    def _complete_recording(self, call: Call, rec: Recording, out: Outbox) -> None:
        rec.ended = call.clock.now()
        rec.completion_code = 1000 if rec.ended - rec.started >= 1 else 4002
        out.append(("events/recording", self._recording_payload(call, rec, "Completed")))

    # ------------------------------------------------------------------ call operations

    def incoming(
        self,
        caller: str,
        line: str | None = None,
        clock: Clock | None = None,
        scenario: str | None = None,
        dct: str | None = None,
        topics: tuple[str, ...] | None = None,
    ) -> tuple[Call, Leg]:
        """A customer dials a line: the call lands in the voice menu.

        ``dct``: the line is a dynamic call-tracking number shown to a web visitor (bind
        it first with :meth:`bind_dct`); ``topics``: what speech analytics will find in
        the call's recordings (default: :meth:`topics_of`).
        """
        line_number = self.directory.line(line).number
        with self._tx() as out:
            caller_party = {"number": caller} if caller else {}
            call = self._new_call(1, clock, line_number, caller_party, scenario)
            if dct:
                call.dct_number, call.dct_type = dct, 1
            call.topics = topics
            leg = self._open_leg(
                call, out, "ivr", caller_party, {"number": line_number, "line_number": line_number}
            )
            return call, leg

    def dtmf(self, call: Call, leg: Leg, digits: str, location: str = "ivr") -> None:
        """The caller typed a meaningful sequence in the voice menu."""
        with self._tx() as out:
            self._dtmf_seq[leg.call_id] = seq = self._dtmf_seq.get(leg.call_id, 0) + 1
            number = call.caller.get("number", "")
            out.append(
                (
                    "events/dtmf",
                    {
                        "seq": seq,
                        "dtmf": digits,
                        "timestamp": call.clock.now(),
                        "call_id": leg.call_id,
                        "entry_id": call.entry_id,
                        "location": location,
                        "initiator": number,
                        "from_number": number,
                        "to_number": call.line_number,
                        "line_number": call.line_number,
                    },
                )
            )

    def enqueue(self, call: Call, leg: Leg, group: str) -> Leg:
        """The voice menu puts the caller in a group's queue."""
        grp = self.directory.groups.get(str(group))
        if grp is None:
            raise PbxError(3330, f"no group {group}")
        with self._tx() as out:
            queue = self._open_leg(
                call,
                out,
                "queue",
                {**call.caller, "taken_from_call_id": leg.call_id},
                {
                    "number": call.line_number,
                    "line_number": call.line_number,
                    "acd_group": grp.extension,
                },
            )
            call.forward_time = call.forward_time or call.clock.now()
            self._end_leg(call, leg, out, st.NORMAL)
            return queue

    def ring(
        self,
        call: Call,
        source: Leg,
        targets: list[str],
        group: str | None = None,
        command_id: str | None = None,
        end_source: bool = True,
    ) -> list[Leg]:
        """Ring employees' phones (by extension) or a number for the party of ``source``."""
        with self._tx() as out:
            party = self._remote_party(source)
            ring_group = self.ids.call_id() if len(targets) > 1 or group else None
            legs = []
            for target in targets:
                to, ext = self._party(target)
                if call.line_number and call.direction == 1:
                    to["line_number"] = call.line_number
                if group:
                    to["acd_group"] = str(group)
                legs.append(
                    self._open_leg(
                        call,
                        out,
                        "abonent",
                        {**party, "taken_from_call_id": source.call_id},
                        to,
                        extension=ext,
                        command_id=command_id,
                        ring_group=ring_group,
                    )
                )
            if source.location == "ivr":
                call.forward_time = call.forward_time or call.clock.now()
            if end_source and source.location in ("ivr", "queue") and not group:
                self._end_leg(call, source, out, st.NORMAL)
            elif end_source and source.location == "abonent":
                self._end_leg(call, source, out, st.TAKEN_BY_OTHER)
            return legs

    def _remote_party(self, leg: Leg) -> dict[str, Any]:
        """The party of ``leg`` that is not the employee whose phone the leg is about."""
        side = leg.from_ if leg.employee_side == "to" else leg.to
        return {k: v for k, v in side.items() if k != "taken_from_call_id"}

    def _employee_of(self, leg: Leg) -> dict[str, Any]:
        side = leg.to if leg.employee_side == "to" else leg.from_
        return {k: v for k, v in side.items() if k in ("extension", "number")}

    def answer(self, call_id: str) -> Leg:
        """The called side of a ringing leg picks up."""
        with self._tx() as out:
            call, leg = self.live_leg(call_id)
            if leg.state != "Appeared":
                raise PbxError(4100, f"call {call_id} is not ringing")
            leg.answered = call.clock.now()
            self._set(call, leg, out, "Connected")
            call.last_location = leg.location
            if leg.ring_group:
                for other in call.live_legs():
                    if other is not leg and other.ring_group == leg.ring_group:
                        self._end_leg(call, other, out, st.TAKEN_BY_OTHER)
            for other in call.live_legs():
                if other.location == "queue":
                    self._end_leg(call, other, out, st.NORMAL)
            if call.is_callback and len(call.legs) == 1:
                # The callback's first leg: the employee picked up; now the target rings.
                self._end_leg_keep_call(call, leg, out, 1000)
                emp = self._employee_of(leg)
                target = self._remote_party(leg)
                nxt = self._open_leg(
                    call,
                    out,
                    "abonent",
                    {**emp, "taken_from_call_id": leg.call_id},
                    target,
                    extension=emp.get("extension"),
                    employee_side="from",
                    command_id=leg.command_id,
                )
                return nxt
            if not call.talk_time:
                call.talk_time = leg.answered
                call.answered_party = (
                    self._employee_of(leg)
                    if call.direction == 1
                    else {k: v for k, v in leg.to.items() if k in ("extension", "number")}
                )
            if self.record_calls and leg.extension and leg.location == "abonent":
                self.start_recording(call, leg, leg.extension)
            return leg

    def _end_leg_keep_call(self, call: Call, leg: Leg, out: Outbox, reason: int) -> None:
        """End a leg that is replaced by a new one in the same operation."""
        leg.ended = call.clock.now()
        self._set(call, leg, out, "Disconnected", disconnect_reason=reason)

    def hangup(self, call_id: str, side: str = "to") -> None:
        """One side of a leg hangs up: ``from``, ``to`` or ``command`` (the external system)."""
        with self._tx() as out:
            call, leg = self.live_leg(call_id)
            held = self._held_leg(leg)
            if held is not None and held.live and side == "from":
                # The initiator leaves the consultation: the held party joins the consultant.
                self._complete_consult(call, leg, held.call_id, out)
                return
            if side == "command":
                reason = st.BY_COMMAND
            elif leg.state == "Appeared":
                reason = st.REJECTED if side == "to" else st.CALLER_HUNG_UP
            else:
                reason = st.CALLEE_HUNG_UP if side == "to" else st.CALLER_HUNG_UP
            self._end_consult_leg(call, leg, held, out, reason)

    def end(self, call_id: str, reason: int) -> None:
        """End a leg with a given reason (no answer in time 1111, by the scheme 1170...)."""
        with self._tx() as out:
            call, leg = self.live_leg(call_id)
            self._end_consult_leg(call, leg, self._held_leg(leg), out, reason)

    def _end_consult_leg(
        self, call: Call, leg: Leg, held: Leg | None, out: Outbox, reason: int
    ) -> None:
        self._end_leg(call, leg, out, reason)
        if held is not None and held.live:
            # The consultation is over without a transfer: back to the held party.
            self._set(call, held, out, "Connected")

    def _held_leg(self, leg: Leg) -> Leg | None:
        """The leg on hold while ``leg`` consults a colleague, if it is a consultation."""
        consult = self.consults.get(leg.call_id)
        return self.legs[consult[0]][1] if consult else None

    def hangup_extension(self, extension: str) -> None:
        """The employee hangs up whatever their phone is doing (console)."""
        legs = self.legs_of(extension)
        if not legs:
            raise PbxError(3310, f"extension {extension} is not in a call")
        for _call, leg in legs:
            if leg.live and leg.state != "OnHold":
                side = "to" if leg.to.get("extension") == extension else "from"
                self.hangup(leg.call_id, side)
                return
        raise PbxError(4100, f"extension {extension} only has calls on hold")

    def caller_hangup(self, entry_id: str) -> None:
        """The external party of the call hangs up: every leg it is in ends."""
        with self._tx() as out:
            call = self.calls.get(entry_id)
            if call is None:
                raise PbxError(3310, f"call {entry_id} not found")
            for leg in sorted(call.live_legs(), key=lambda lg: lg.state == "OnHold"):
                self._end_leg(call, leg, out, st.CALLER_HUNG_UP)

    def transfer(
        self,
        call_id: str,
        to_number: str,
        method: str,
        initiator: str,
        command_id: str | None = None,
    ) -> Leg:
        """``commands/transfer``: blind or consultative ("hold") transfer of a connected leg."""
        with self._tx() as out:
            call, leg = self.live_leg(call_id)
            if leg.state != "Connected":
                raise PbxError(4100, "only a connected call can be transferred")
            if initiator not in (
                leg.from_.get("extension"),
                leg.to.get("extension"),
                leg.from_.get("number"),
                leg.to.get("number"),
            ):
                raise PbxError(3100, f"{initiator} is not a party of call {call_id}")
            init_side = (
                "to" if initiator in (leg.to.get("extension"), leg.to.get("number")) else "from"
            )
            init_party = {
                k: v
                for k, v in (leg.to if init_side == "to" else leg.from_).items()
                if k in ("extension", "number")
            }
            remote = {
                k: v
                for k, v in (leg.from_ if init_side == "to" else leg.to).items()
                if k != "taken_from_call_id"
            }
            target, target_ext = self._party(to_number)
            self._set(call, leg, out, "OnHold")
            if method == "blind":
                new = self._open_leg(
                    call,
                    out,
                    "abonent",
                    init_party,
                    target,
                    extension=target_ext,
                    command_id=command_id,
                    transfer="blind",
                )
                self._end_leg_keep_call(
                    call, leg, out, st.CALLEE_HUNG_UP if init_side == "to" else st.CALLER_HUNG_UP
                )
                self._complete_recordings_of(call, leg, out)
                new.from_ = {**remote, "taken_from_call_id": leg.call_id}
                self._announce(call, new, out)
                return new
            new = self._open_leg(
                call,
                out,
                "abonent",
                {**init_party, "taken_from_call_id": leg.call_id},
                target,
                extension=target_ext,
                command_id=command_id,
                transfer="consultative",
            )
            self.consults[new.call_id] = (leg.call_id, initiator)
            return new

    def _complete_recordings_of(self, call: Call, leg: Leg, out: Outbox) -> None:
        for rec in self.recordings.values():
            if rec.call_id == leg.call_id and rec.completion_code is None:
                self._complete_recording(call, rec, out)

    def _complete_consult(self, call: Call, consult: Leg, held_id: str, out: Outbox) -> None:
        _call, held = self.legs[held_id]
        self.consults.pop(consult.call_id, None)
        remote = {
            k: v
            for k, v in (held.from_ if held.employee_side == "to" else held.to).items()
            if k != "taken_from_call_id"
        }
        self._end_leg_keep_call(call, held, out, st.CALLEE_HUNG_UP)
        self._complete_recordings_of(call, held, out)
        consult.from_ = {**remote, "taken_from_call_id": held.call_id}
        self._announce(call, consult, out)

    def calls_connect(self, held_call_id: str, consult_call_id: str) -> None:
        """``commands/calls_connect``: join the held party with the consultant."""
        with self._tx() as out:
            call, held = self.live_leg(held_call_id)
            call2, consult = self.live_leg(consult_call_id)
            if call is not call2:
                raise PbxError(3100, "both calls must belong to one entry_id")
            if (
                self.consults.get(consult_call_id, (None,))[0] != held_call_id
                or held.state != "OnHold"
            ):
                raise PbxError(4100, "no consultation between these calls")
            self._complete_consult(call, consult, held_call_id, out)

    def transfer_cancel(self, call_id: str) -> None:
        """``commands/transfer_cancel``: ``call_id`` is the consultation or the held leg."""
        with self._tx():
            consult_id = (
                call_id
                if call_id in self.consults
                else next((c for c, (held, _i) in self.consults.items() if held == call_id), None)
            )
            if consult_id is None:
                self.find_leg(call_id)
                raise PbxError(4100, "no transfer to cancel")
            self.hangup(consult_id, "command")

    def route(self, call_id: str, to_number: str, command_id: str | None = None) -> list[Leg]:
        """``commands/route``: take a caller out of the voice menu/queue, or intercept a ring."""
        with self._tx() as out:
            call, leg = self.live_leg(call_id)
            if leg.location == "abonent" and leg.state != "Appeared":
                raise PbxError(
                    4100, "only a call in the voice menu, a queue or ringing can be routed"
                )
            group = self.directory.groups.get(str(to_number))
            if group is None:
                return self.ring(call, leg, [to_number], command_id=command_id)
            legs = self.ring(
                call,
                leg,
                group.members,
                group=group.extension,
                command_id=command_id,
                end_source=False,
            )
            self._end_leg(
                call, leg, out, st.NORMAL if leg.location != "abonent" else st.TAKEN_BY_OTHER
            )
            return legs

    def callback(
        self,
        extension: str,
        to_number: str,
        command_id: str | None = None,
        line_number: str | None = None,
        device: str | None = None,
        clock: Clock | None = None,
        scenario: str | None = None,
    ) -> tuple[Call, Leg]:
        """``commands/callback``: ring the employee first; the target rings once they answer."""
        with self._tx() as out:
            emp_party = self.employee_party(extension, device)
            target, _ext = self._party(to_number)
            line = self.directory.line(line_number).number
            call = self._new_call(2, clock, line, dict(emp_party), scenario, command_id)
            call.is_callback = True
            call.callee = dict(target)
            leg = self._open_leg(
                call,
                out,
                "abonent",
                target,
                emp_party,
                extension=emp_party["extension"],
                command_id=command_id,
            )
            return call, leg

    def outgoing(
        self,
        extension: str,
        to_number: str,
        line_number: str | None = None,
        clock: Clock | None = None,
        scenario: str | None = None,
    ) -> tuple[Call, Leg]:
        """An employee dials an external number (or a colleague: then it is internal)."""
        with self._tx() as out:
            emp_party = self.employee_party(extension)
            target, target_ext = self._party(to_number)
            internal = target_ext is not None
            line = None if internal else self.directory.line(line_number).number
            call = self._new_call(0 if internal else 2, clock, line, dict(emp_party), scenario)
            call.callee = dict(target)
            leg = self._open_leg(
                call,
                out,
                "abonent",
                emp_party,
                target,
                extension=target_ext or emp_party["extension"],
                employee_side="to" if internal else "from",
            )
            return call, leg

    # ------------------------------------------------------------------ views

    def snapshot(self) -> dict[str, Any]:
        with self.cond:
            return {
                "active": [c.as_json() for c in self.calls.values()],
                "finished": len(self.history),
            }
