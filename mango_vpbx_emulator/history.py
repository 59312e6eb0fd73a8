"""Weeks of a clinic's phone traffic for the demo, played on the emulated PBX.

:func:`generate` plans about 15-25 calls per working day (answered, missed in the
voice menu and at the operator, a queue, blind and consultative transfers, outgoing
and internal calls, missed calls returned soon or late) and plays each of them on the
emulator's own :class:`~mango_vpbx_emulator.pbx.Pbx` with a virtual clock: the events
are exactly what the emulator sends live, with the timestamps of their day, and the
finished calls are what its statistics report. Everything is drawn from one seed, so
a demo looks the same every time (only the dates follow the day it was made).

A :class:`History` is saved as one JSON file, read by both sides of the demo:

- the Odoo side folds the events of the older calls in-process (``delivery`` =
  ``bulk``) and applies what the operators did with them (``followup``: a follow-up
  status, a comment, an appointment booked from the call);
- the emulator (``serve --history FILE``) counts every call in its statistics, serves
  the recordings, and posts the events of the day (``webhook``: today's calls, at
  least the last few) to the webhook, signed, as it would have live; the few recent
  calls marked ``left_out`` are never posted, so that the reconciliation has something
  to recover from the statistics.

The day's events are posted summary first: the PBX delivers events in any order,
and a call whose summary is known is over, so no incoming-call card rings for a call
that ended hours ago.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from mango_vpbx.signing import dumps

from . import state as st
from .pbx import Pbx
from .state import Call, Clock, Directory, IdFactory, Recording

FORMAT = "mango-emulator-history"
VERSION = 1
DEFAULT_SEED = 20260101
DEFAULT_DAYS = 60

BULK = "bulk"
WEBHOOK = "webhook"
LEFT_OUT = "left_out"

#: The kinds of call of a working day and how often each happens (weights).
KINDS = {
    "incoming_answered": 38,
    "queue_answered": 10,
    "missed_ivr": 7,
    "missed_operator": 10,
    "queue_missed": 3,
    "blind_transfer": 4,
    "consultative_transfer": 3,
    "outgoing": 12,
    "internal": 5,
}
#: When calls come (local hour -> weight): mornings are busiest.
HOURS = {8: 6, 9: 10, 10: 10, 11: 9, 12: 6, 13: 6, 14: 8, 15: 8, 16: 7, 17: 6, 18: 4, 19: 2}
#: What becomes of a missed call with a number (shares; the rest is never returned).
RETURNED_SOON = 0.55  # called back within half an hour
RETURNED_LATE = 0.22  # called back hours later, often the next working day
GOT_THROUGH = 0.08  # the caller called again and was answered
NO_ACTION = 0.08  # the operator decided no call back is needed
#: Missed calls of these last hours are returned half as often: some still wait.
PENDING_HOURS = 30
RECORDED = 0.3  # answered calls recorded
KNOWN_CALLERS = 0.72  # incoming calls from a number of the clinic's patients
#: The webhook posts today's calls, and at least this many.
WEBHOOK_MIN_CALLS = 8
#: The calls left out of the webhook's delivery are among those of these last hours:
#: the reconciliation's first run looks back a day.
LEFT_OUT_HOURS = 20
#: No call of the history starts later than this before ``now``: all of them are over.
QUIET_MINUTES = 20

COMMENTS_ANSWERED = (
    "Записали на приём, напомнить за день.",
    "Уточняли стоимость услуги, отправили прайс.",
    "Вопрос по результатам анализов: передали врачу.",
    "Перенесли запись на следующую неделю.",
    "Просили перезвонить после 18:00.",
    "Спрашивали график работы врача.",
    "Объяснили подготовку к исследованию.",
)
COMMENTS_NO_ACTION = (
    "Ошиблись номером.",
    "Рекламный звонок.",
    "Уже записаны, звонили уточнить время.",
)
COMMENTS_RETURNED = (
    "Перезвонили: записали на приём.",
    "Перезвонили, ответили на вопрос.",
)


@dataclass(frozen=True)
class Caller:
    """A number that calls the clinic (``number`` as the PBX writes it: ``7XXXXXXXXXX``)."""

    number: str
    name: str = ""


class VirtualClock(Clock):
    """Emulated time that only moves when a call waits: a day is played in no time."""

    def __init__(self, start: float) -> None:
        self.speed = 1.0
        self._now = float(start)

    def now(self) -> int:
        return int(self._now)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._now += seconds

    def real(self, seconds: float) -> float:
        return 0.0


class _SeededIds(IdFactory):
    """Ids that look like the PBX's, the same for the same seed."""

    def __init__(self, product_id: int, seed: int) -> None:
        super().__init__(product_id)
        self._rng = random.Random(f"ids:{seed}")
        self._seed = seed

    def _next(self, kind: int) -> str:
        with self._lock:
            n = next(self._counter)
            raw = f"{kind}:{self.product_id}:h{self._seed}:{n}:{self._rng.randrange(10**9)}"
        return base64.b64encode(raw.encode()).decode()

    def key(self) -> str:
        with self._lock:
            return base64.b64encode(self._rng.randbytes(24)).decode()


class _Recorder:
    """An event sink that keeps the events of the call being played."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def send(self, path: str, payload: dict[str, Any] | str) -> None:
        self.events.append((path, payload if isinstance(payload, str) else dumps(payload)))

    def flush(self) -> None:
        """Nothing is buffered."""


class _HistoryPbx(Pbx):
    """The PBX engine in virtual time: what it would do later is done at once."""

    def background(self, target: Callable[..., Any], *args: Any, name: str = "") -> None:
        # record/added waits record_delay on the call's clock: virtual, so no thread.
        target(*args)


@dataclass
class HistoryCall:
    """One call of the history: its events, the PBX's record of it, and what people did."""

    entry_id: str
    kind: str
    started: int
    delivery: str
    events: list[tuple[str, str]]
    call: Call
    recordings: list[Recording] = field(default_factory=list)
    #: what an operator did with it in Odoo: ``operator`` (extension), ``state`` (a
    #: follow-up status), ``comment``, ``book`` (an appointment booked from the call)
    followup: dict[str, Any] = field(default_factory=dict)

    def delivery_order(self) -> list[tuple[str, str]]:
        """The events as the webhook gets them: the summary first (see the module doc)."""
        summary = [e for e in self.events if e[0] == "events/summary"]
        return summary + [e for e in self.events if e[0] != "events/summary"]

    def as_json(self) -> dict[str, Any]:
        return {
            "entry_id": self.entry_id,
            "kind": self.kind,
            "started": self.started,
            "delivery": self.delivery,
            "events": [list(e) for e in self.events],
            "call": _call_json(self.call),
            "recordings": [asdict(r) for r in self.recordings],
            "followup": self.followup,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HistoryCall:
        return cls(
            entry_id=data["entry_id"],
            kind=data["kind"],
            started=int(data["started"]),
            delivery=data["delivery"],
            events=[(str(p), str(j)) for p, j in data["events"]],
            call=_call_from_json(data["call"]),
            recordings=[Recording(**r) for r in data.get("recordings") or ()],
            followup=dict(data.get("followup") or {}),
        )


@dataclass
class History:
    """A generated history: the calls in the order they started."""

    seed: int
    days: int
    generated_at: int
    timezone: str
    calls: list[HistoryCall]
    #: the start of the period covered: midnight of its first day, local time (epoch)
    since: int = 0

    def part(self, delivery: str) -> list[HistoryCall]:
        return [c for c in self.calls if c.delivery == delivery]

    def as_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "seed": self.seed,
            "days": self.days,
            "generated_at": self.generated_at,
            "since": self.since,
            "timezone": self.timezone,
            "calls": [c.as_json() for c in self.calls],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> History:
        if data.get("format") != FORMAT or data.get("version") != VERSION:
            raise ValueError(f"not a {FORMAT} file of version {VERSION}")
        return cls(
            seed=int(data["seed"]),
            days=int(data["days"]),
            generated_at=int(data["generated_at"]),
            timezone=str(data["timezone"]),
            calls=[HistoryCall.from_json(c) for c in data["calls"]],
            since=int(data["since"]),
        )

    def save(self, path: str | Path) -> None:
        """Write atomically: a reader never sees half a file."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.as_json(), ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> History:
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


# --------------------------------------------------------------------------- planning


@dataclass
class _Plan:
    start: float
    kind: str
    caller: Caller
    extension: str
    line: str
    colleague: str = ""
    answered: bool = True
    record: bool = False
    delivery: str = BULK
    followup: dict[str, Any] = field(default_factory=dict)
    #: a missed call that someone returns or calls again about
    returned: bool = False
    #: this call returns an earlier missed call
    is_return: bool = False


def generate(
    directory: Directory,
    callers: Iterable[Caller],
    *,
    now: float | None = None,
    days: int = DEFAULT_DAYS,
    seed: int = DEFAULT_SEED,
    tz: str = "Asia/Yekaterinburg",
    opening: tuple[int, int] = (8, 20),
    per_day: tuple[int, int] = (12, 20),
    left_out: int = 3,
) -> History:
    """Plan and play ``days`` days of calls up to ``now`` (local working days, Mon-Fri).

    About ``per_day`` calls a working day, plus the calls that return missed ones.

    ``callers`` are the numbers of the clinic's patients (a share of the incoming
    calls come from other, random numbers). The same arguments give the same history.
    """
    from zoneinfo import ZoneInfo  # noqa: PLC0415 - only generating needs the time zone data

    zone = ZoneInfo(tz)
    now = int(now if now is not None else time.time())
    rng = random.Random(seed)
    known = sorted({c.number: c for c in callers}.values(), key=lambda c: c.number)
    strangers = [Caller("79" + f"{rng.randrange(10**9):09d}") for _ in range(40)]
    operators = sorted(directory.employees)
    lines = [ln.number for ln in directory.lines]
    # A queue needs a group of operators.
    kinds = {k: w for k, w in KINDS.items() if directory.groups or not k.startswith("queue")}
    plans = _plan_days(
        rng, zone, now, days, opening, per_day, kinds, known, strangers, operators, lines
    )
    _plan_returns(rng, zone, now, opening, plans, operators, lines)
    plans = sorted((p for p in plans if p.start <= now - QUIET_MINUTES * 60), key=lambda p: p.start)
    _plan_delivery(rng, zone, now, plans, left_out)
    calls = _play(directory, seed, plans, random.Random(f"play:{seed}"))
    first = _days(zone, now, days)[0]
    return History(seed=seed, days=days, generated_at=now, timezone=tz, calls=calls,
                   since=int(first.timestamp()))


def _days(zone: Any, now: int, days: int) -> list[datetime]:
    """Local midnights of the ``days`` days up to today."""
    today = datetime.fromtimestamp(now, zone).date()
    return [
        datetime(d.year, d.month, d.day, tzinfo=zone)
        for d in (today - timedelta(days=back) for back in range(days - 1, -1, -1))
    ]


def _pick(rng: random.Random, weights: dict[Any, int]) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _plan_days(
    rng: random.Random,
    zone: Any,
    now: int,
    days: int,
    opening: tuple[int, int],
    per_day: tuple[int, int],
    kinds: dict[str, int],
    known: list[Caller],
    strangers: list[Caller],
    operators: list[str],
    lines: list[str],
) -> list[_Plan]:
    hours = {h: w for h, w in HOURS.items() if opening[0] <= h < opening[1]}
    plans = []
    for midnight in _days(zone, now, days):
        if midnight.weekday() >= 5:
            continue
        for _ in range(rng.randint(*per_day)):
            hour = _pick(rng, hours)
            moment = midnight + timedelta(hours=hour, seconds=rng.randrange(3600))
            kind = _pick(rng, kinds)
            known_caller = known and rng.random() < KNOWN_CALLERS
            caller = rng.choice(known) if known_caller else rng.choice(strangers)
            extension = rng.choice(operators)
            colleague = rng.choice([o for o in operators if o != extension] or operators)
            line = lines[0] if rng.random() < 0.85 or len(lines) < 2 else rng.choice(lines[1:])
            plan = _Plan(moment.timestamp(), kind, caller, extension, line, colleague)
            if kind == "outgoing":
                plan.answered = rng.random() < 0.8
            answered = kind in ("incoming_answered", "queue_answered", "blind_transfer",
                                "consultative_transfer") or (kind == "outgoing" and plan.answered)
            plan.record = answered and rng.random() < RECORDED
            if answered and kind != "outgoing":
                plan.followup = _answered_followup(rng, plan)
            plans.append(plan)
    return plans


def _answered_followup(rng: random.Random, plan: _Plan) -> dict[str, Any]:
    """What the operator who took an incoming call did with it in Odoo."""
    if rng.random() >= 0.7:
        return {}
    operator = plan.colleague if plan.kind.endswith("transfer") else plan.extension
    followup: dict[str, Any] = {"operator": operator, "state": "resolved"}
    if rng.random() < 0.25:
        followup["comment"] = rng.choice(COMMENTS_ANSWERED)
    if plan.caller.name and rng.random() < 0.45:
        followup["book"] = True
    return followup


def _next_opening(moment: datetime, opening: tuple[int, int], rng: random.Random) -> datetime:
    """``moment`` if the clinic is open then, else early in its next working day."""
    if moment.weekday() < 5 and opening[0] <= moment.hour < opening[1] - 1:
        return moment
    day = moment.date() + timedelta(days=0 if moment.hour < opening[0] else 1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, opening[0], tzinfo=moment.tzinfo) + timedelta(
        minutes=rng.randrange(5, 90)
    )


def _plan_returns(
    rng: random.Random,
    zone: Any,
    now: int,
    opening: tuple[int, int],
    plans: list[_Plan],
    operators: list[str],
    lines: list[str],
) -> None:
    """Call back (or hear again from) most of the callers who were missed."""
    missed = [p for p in plans if p.kind in ("missed_ivr", "missed_operator", "queue_missed")]
    for plan in sorted(missed, key=lambda p: p.start):
        draw = rng.random()
        if plan.start > now - PENDING_HOURS * 3600 and rng.random() < 0.5:
            continue  # not returned yet: the list of missed calls to return has some
        missed_at = datetime.fromtimestamp(plan.start, zone)
        operator = rng.choice(operators)
        if draw < RETURNED_SOON + RETURNED_LATE:
            soon = draw < RETURNED_SOON
            delay = timedelta(minutes=rng.randrange(4, 26)) if soon else timedelta(
                hours=rng.uniform(2, 22)
            )
            moment = _next_opening(missed_at + delay, opening, rng)
            back = _Plan(moment.timestamp(), "outgoing", plan.caller, operator, lines[0],
                         is_return=True)
            back.record = rng.random() < RECORDED
            if rng.random() < 0.35:
                back.followup = {"operator": operator, "state": "resolved",
                                 "comment": rng.choice(COMMENTS_RETURNED)}
                if plan.caller.name and rng.random() < 0.5:
                    back.followup["book"] = True
            plans.append(back)
            plan.returned = True
        elif draw < RETURNED_SOON + RETURNED_LATE + GOT_THROUGH:
            delay = timedelta(minutes=rng.randrange(10, 120))
            moment = _next_opening(missed_at + delay, opening, rng)
            again = _Plan(moment.timestamp(), "incoming_answered", plan.caller, operator,
                          plan.line, is_return=True)
            again.followup = _answered_followup(rng, again)
            plans.append(again)
            plan.returned = True
        elif draw < RETURNED_SOON + RETURNED_LATE + GOT_THROUGH + NO_ACTION:
            plan.followup = {"operator": operator, "state": "no_action",
                             "comment": rng.choice(COMMENTS_NO_ACTION)}


def _plan_delivery(
    rng: random.Random, zone: Any, now: int, plans: list[_Plan], left_out: int
) -> None:
    """Mark today's calls for the webhook and leave ``left_out`` recent calls out (of the
    last LEFT_OUT_HOURS, or the latest before them after a day off).

    Today's calls (at least the last ``WEBHOOK_MIN_CALLS``) are the ones the operators
    have not worked on yet; the days before are done: returned, commented, booked.
    """
    today = datetime.fromtimestamp(now, zone).date()
    todays = [p for p in plans if datetime.fromtimestamp(p.start, zone).date() == today]
    for plan in todays if len(todays) >= WEBHOOK_MIN_CALLS else plans[-WEBHOOK_MIN_CALLS:]:
        plan.delivery = WEBHOOK
        plan.followup = {}
    def eligible(plan: _Plan) -> bool:
        return (
            not plan.record and not plan.returned and not plan.is_return
            and plan.kind in ("incoming_answered", "missed_operator", "outgoing")
        )

    recent = now - LEFT_OUT_HOURS * 3600
    candidates = [p for p in plans if p.start >= recent and eligible(p)]
    if len(candidates) < left_out:
        # A day off just before ``now`` (a Saturday afternoon, a Sunday, a Monday morning):
        # the latest calls before those hours too, so there are always some to recover.
        older = [p for p in plans if p.start < recent and eligible(p)]
        candidates = older[len(older) - (left_out - len(candidates)):] + candidates
    chosen: list[_Plan] = []
    for kind in ("missed_operator", "incoming_answered", "outgoing"):
        of_kind = [p for p in candidates if p.kind == kind]
        if of_kind and len(chosen) < left_out:
            chosen.append(rng.choice(of_kind))
    rest = [p for p in candidates if p not in chosen]
    chosen += rng.sample(rest, min(len(rest), left_out - len(chosen)))
    for plan in chosen:
        plan.delivery = LEFT_OUT
        plan.followup = {}


# --------------------------------------------------------------------------- playing


def _play(
    directory: Directory, seed: int, plans: list[_Plan], rng: random.Random
) -> list[HistoryCall]:
    recorder = _Recorder()
    pbx = _HistoryPbx(directory, recorder, record_delay=5.0)
    pbx.ids = _SeededIds(directory.product_id, seed)
    out = []
    for plan in plans:
        recorder.events = []
        pbx.record_calls = plan.record
        clock = VirtualClock(plan.start)
        PLAYERS[plan.kind](pbx, clock, plan, rng)
        call = pbx.history[-1]
        out.append(
            HistoryCall(
                entry_id=call.entry_id,
                kind=plan.kind,
                started=call.create_time,
                delivery=plan.delivery,
                events=list(recorder.events),
                call=call,
                recordings=[pbx.recordings[r] for r in call.recordings],
                followup=plan.followup,
            )
        )
    return out


def _talk(rng: random.Random) -> float:
    """Most calls are short, a few are long."""
    return 25 + rng.random() ** 2 * 400


#: Web channels of the call-tracking numbers the history's callers dial (``dct``).
CHANNELS = (
    ("yandex", "cpc", "checkup-spring"),
    ("google", "cpc", "dentistry"),
    ("2gis", "referral", ""),
    ("vk", "social", "family-doctor"),
)
#: Share of incoming calls dialled on a call-tracking number, and of those typing in the menu.
TRACKED = 0.35
MENU_KEYS = 0.6


def _incoming(pbx: Pbx, clock: VirtualClock, plan: _Plan):
    """An incoming call of the history, with its voice-menu keys and call-tracking number.

    These draw from their own stream (seeded by the call's start), so a history of a given
    seed keeps the calls it always had, only richer.
    """
    extra = random.Random(int(plan.start))
    dct = channel = None
    if extra.random() < TRACKED:
        dct = f"7343{int(plan.start) % 10**7:07d}"
        source, medium, campaign = extra.choice(CHANNELS)
        channel = {"source": source, "medium": medium, "campaign": campaign}
        pbx.bind_dct(dct, channel)
    call, ivr = pbx.incoming(plan.caller.number, plan.line, clock, plan.kind, dct=dct)
    call.dct_channel = channel or {}
    if extra.random() < MENU_KEYS:
        clock.sleep(extra.uniform(2, 6))
        first = extra.choice("123")
        pbx.dtmf(call, ivr, first, "ivr")
        if first == "2" and extra.random() < 0.5:
            pbx.dtmf(call, ivr, extra.choice("12"), "ivr.2")
    return call, ivr


def _to_operator(pbx: Pbx, clock: VirtualClock, plan: _Plan, rng: random.Random):
    call, ivr = _incoming(pbx, clock, plan)
    clock.sleep(rng.uniform(3, 15))
    [leg] = pbx.ring(call, ivr, [plan.extension])
    return call, leg


def _answered(pbx: Pbx, clock: VirtualClock, plan: _Plan, rng: random.Random) -> None:
    _call, leg = _to_operator(pbx, clock, plan, rng)
    clock.sleep(rng.uniform(3, 18))
    pbx.answer(leg.call_id)
    clock.sleep(_talk(rng))
    pbx.hangup(leg.call_id, rng.choice(("from", "to")))


def _missed_ivr(pbx: Pbx, clock: VirtualClock, plan: _Plan, rng: random.Random) -> None:
    _call, ivr = _incoming(pbx, clock, plan)
    clock.sleep(rng.uniform(4, 40))
    pbx.hangup(ivr.call_id, "from")


def _missed_operator(pbx: Pbx, clock: VirtualClock, plan: _Plan, rng: random.Random) -> None:
    _call, leg = _to_operator(pbx, clock, plan, rng)
    clock.sleep(rng.uniform(12, 45))
    if rng.random() < 0.5:
        pbx.hangup(leg.call_id, "from")
    else:
        pbx.end(leg.call_id, st.NO_ANSWER)


def _queue(pbx: Pbx, clock: VirtualClock, plan: _Plan, rng: random.Random) -> None:
    call, ivr = _incoming(pbx, clock, plan)
    clock.sleep(rng.uniform(3, 12))
    group = next(iter(pbx.directory.groups.values()))
    queue = pbx.enqueue(call, ivr, group.extension)
    legs = pbx.ring(call, queue, group.members, group=group.extension)
    if plan.kind == "queue_missed":
        clock.sleep(rng.uniform(20, 60))
        pbx.caller_hangup(call.entry_id)
        return
    clock.sleep(rng.uniform(4, 25))
    chosen = next((lg for lg in legs if lg.extension == plan.extension), legs[0])
    pbx.answer(chosen.call_id)
    clock.sleep(_talk(rng))
    pbx.hangup(chosen.call_id, rng.choice(("from", "to")))


def _transfer(pbx: Pbx, clock: VirtualClock, plan: _Plan, rng: random.Random) -> None:
    _call, leg = _to_operator(pbx, clock, plan, rng)
    clock.sleep(rng.uniform(3, 12))
    pbx.answer(leg.call_id)
    clock.sleep(rng.uniform(20, 90))
    if plan.kind == "blind_transfer":
        new = pbx.transfer(leg.call_id, plan.colleague, "blind", plan.extension)
        clock.sleep(rng.uniform(3, 12))
        pbx.answer(new.call_id)
    else:
        new = pbx.transfer(leg.call_id, plan.colleague, "hold", plan.extension)
        clock.sleep(rng.uniform(3, 12))
        pbx.answer(new.call_id)
        clock.sleep(rng.uniform(10, 40))
        pbx.hangup(new.call_id, "from")  # the operator leaves: patient and colleague talk
    clock.sleep(_talk(rng))
    pbx.hangup(new.call_id, rng.choice(("from", "to")))


def _outgoing(pbx: Pbx, clock: VirtualClock, plan: _Plan, rng: random.Random) -> None:
    _call, leg = pbx.outgoing(plan.extension, plan.caller.number, plan.line, clock, plan.kind)
    if not plan.answered:
        clock.sleep(rng.uniform(15, 40))
        pbx.end(leg.call_id, st.NO_ANSWER)
        return
    clock.sleep(rng.uniform(4, 20))
    pbx.answer(leg.call_id)
    clock.sleep(_talk(rng))
    pbx.hangup(leg.call_id, rng.choice(("from", "to")))


def _internal(pbx: Pbx, clock: VirtualClock, plan: _Plan, rng: random.Random) -> None:
    _call, leg = pbx.outgoing(plan.extension, plan.colleague, None, clock, plan.kind)
    clock.sleep(rng.uniform(2, 8))
    pbx.answer(leg.call_id)
    clock.sleep(rng.uniform(15, 120))
    pbx.hangup(leg.call_id, "from")


PLAYERS: dict[str, Callable[[Pbx, VirtualClock, _Plan, random.Random], None]] = {
    "incoming_answered": _answered,
    "queue_answered": _queue,
    "missed_ivr": _missed_ivr,
    "missed_operator": _missed_operator,
    "queue_missed": _queue,
    "blind_transfer": _transfer,
    "consultative_transfer": _transfer,
    "outgoing": _outgoing,
    "internal": _internal,
}


# --------------------------------------------------------------------------- the emulator's side

_CALL_FIELDS = (
    "entry_id", "direction", "line_number", "caller", "create_time", "forward_time",
    "talk_time", "end_time", "answered_party", "first_missed", "disconnect_reason",
    "recordings", "command_id", "is_callback", "callee", "finished", "scenario",
    "last_location", "dct_number", "dct_type", "dct_channel", "topics",
)


def _call_json(call: Call) -> dict[str, Any]:
    values = {name: getattr(call, name) for name in _CALL_FIELDS}
    values["topics"] = list(call.topics) if call.topics is not None else None
    return values


def _call_from_json(data: dict[str, Any]) -> Call:
    values = {name: data[name] for name in _CALL_FIELDS if name in data}
    if values.get("topics") is not None:
        values["topics"] = tuple(values["topics"])
    return Call(clock=Clock(), **values)


def deliver(
    history: History,
    sink: Any,
    ping: Callable[[], bool],
    stop: threading.Event | None = None,
    wait: float = 1.0,
) -> int:
    """Post today's calls' events once the webhook answers ``ping``; return how many.

    The calls ``left_out`` are logged as dropped (``sink.skip``) and never posted.
    Posting again later is harmless: the webhook keeps one copy of each event.
    """
    stop = stop or threading.Event()
    while not ping():
        if stop.wait(wait):
            return 0
    sent = 0
    for item in history.calls:
        if item.delivery == WEBHOOK:
            for path, json_str in item.delivery_order():
                sink.send(path, json_str)
                sent += 1
        elif item.delivery == LEFT_OUT and hasattr(sink, "skip"):
            for path, json_str in item.events:
                sink.skip(path, json_str, "dropped")
    return sent


def webhook_ping(webhook_base: str | None, timeout: float = 3.0) -> bool:
    """Whether the webhook answers (``POST {base}/ping``, which writes nothing)."""
    if not webhook_base:
        return False
    try:
        return requests.post(f"{webhook_base.rstrip('/')}/ping", timeout=timeout).status_code == 200
    except requests.RequestException:
        return False

