"""Named call scenarios: scripted people acting on the emulated PBX.

A scenario is a short script (the caller waits in the voice menu, a phone rings,
someone answers, talks, transfers, hangs up) run against :class:`Pbx` operations,
in emulated time: ``speed=100`` plays a 30-second call in 0.3 s while the events'
timestamps stay 30 s apart.

Every wait is also a chance for a human: a scenario waiting for an operator to
answer stops waiting as soon as someone answers through the console, and a
``*_seconds`` parameter set to ``null`` waits for the human only. Parameters
(defaults in :data:`DEFAULTS`):

- ``caller`` customer's number, ``line`` the line dialled (number or name),
- ``extension`` the operator (or the employee who calls), ``to_extension`` the
  colleague of a transfer or an internal call, ``target`` the external number an
  outgoing call or a callback dials,
- ``group`` the queue, ``answered_by`` who answers in the queue (``"none"``: nobody),
- ``ivr_seconds``, ``ring_seconds``, ``talk_seconds``, ``consult_seconds``,
- ``dtmf`` digits typed in the voice menu (optional; ``"2,1"``: 2 in the main menu
  ``ivr``, then 1 in the item it leads to, ``ivr.2``), ``hangup_by`` ``caller`` or
  ``operator``, ``missed_by`` ``caller`` (hangs up while ringing, 1110) or
  ``timeout`` (1111), ``speed`` the time speed-up factor,
- ``dct`` a call-tracking number the caller dialled (optional) and ``utm`` the channel
  of the web visit it was shown in, ``"source/medium/campaign"``; ``topics`` what
  speech analytics finds in the recording, comma-separated (default: the PBX picks).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from . import state as st
from .pbx import Pbx
from .state import Call, Clock, Leg

#: Longest real wait for a human when a duration is ``None``.
MANUAL_WAIT = 3600.0

DEFAULTS: dict[str, Any] = {
    "caller": "79177654321",
    "line": None,
    "extension": "101",
    "to_extension": "102",
    "target": "79177654321",
    "group": "500",
    "answered_by": None,
    "ivr_seconds": 5.0,
    "ring_seconds": 8.0,
    "talk_seconds": 45.0,
    "consult_seconds": 10.0,
    "dtmf": None,
    "dct": None,
    "utm": None,
    "topics": None,
    "hangup_by": "caller",
    "missed_by": "caller",
    "speed": 1.0,
}


class Script:
    """Time and waiting for one scenario run."""

    def __init__(self, pbx: Pbx, params: dict[str, Any], run: ScenarioRun) -> None:
        self.pbx = pbx
        self.p = params
        self.run = run
        self.clock = Clock(float(params["speed"]))

    def began(self, call: Call) -> None:
        self.run.entry_id = call.entry_id
        self.run.started.set()

    def pause(self, seconds: float | None) -> None:
        self.clock.sleep(seconds or 0)

    def still(self, leg: Leg, state: str, seconds: float | None) -> bool:
        """Wait ``seconds`` (emulated) while ``leg`` stays in ``state``; True if it still is.

        ``None`` waits for a human to change it and then returns False.
        """
        timeout = MANUAL_WAIT if seconds is None else self.clock.real(seconds)
        changed = self.pbx.wait_for(lambda: leg.state != state, timeout)
        return not changed and seconds is not None

    def answer_after(self, leg: Leg, seconds: float | None) -> Leg | None:
        """Answer ``leg`` after ``seconds`` unless someone acted; return the leg that talks."""
        if self.still(leg, "Appeared", seconds):
            return self.pbx.answer(leg.call_id)
        return leg if leg.state == "Connected" else None

    def talk_then_hangup(self, leg: Leg | None, seconds: float | None, side: str) -> None:
        if leg is not None and leg.state == "Connected" and self.still(leg, "Connected", seconds):
            self.pbx.hangup(leg.call_id, side)

    def caller_side(self) -> str:
        return "from" if self.p["hangup_by"] == "caller" else "to"


# --------------------------------------------------------------------------- scenarios


def _incoming(s: Script) -> tuple[Call, Leg]:
    """Customer dials (a call-tracking number when ``dct``) and types ``dtmf`` in the menu."""
    if s.p["dct"]:
        source, medium, campaign = ([*str(s.p["utm"] or "").split("/"), "", "", ""])[:3]
        s.pbx.bind_dct(s.p["dct"], {"source": source, "medium": medium, "campaign": campaign})
    topics = s.p["topics"]
    call, ivr = s.pbx.incoming(
        s.p["caller"], s.p["line"], s.clock, s.run.name, dct=s.p["dct"],
        topics=tuple(t.strip() for t in topics.split(",") if t.strip()) if topics else None,
    )
    s.began(call)
    if s.p["dtmf"]:
        s.pause((s.p["ivr_seconds"] or 0) / 2)
        location = "ivr"
        for digits in str(s.p["dtmf"]).split(","):
            s.pbx.dtmf(call, ivr, digits.strip(), location)
            location = f"{location}.{digits.strip()}"
    return call, ivr


def _to_operator(s: Script) -> tuple[Call, Leg]:
    """Customer dials, waits in the voice menu, the operator's phone rings."""
    call, ivr = _incoming(s)
    s.pause(s.p["ivr_seconds"])
    [leg] = s.pbx.ring(call, ivr, [str(s.p["extension"])])
    return call, leg


def incoming_answered(s: Script) -> None:
    """Voice menu, the operator answers, they talk, someone hangs up."""
    _call, leg = _to_operator(s)
    talking = s.answer_after(leg, s.p["ring_seconds"])
    s.talk_then_hangup(talking, s.p["talk_seconds"], s.caller_side())


def missed_ivr(s: Script) -> None:
    """The caller hangs up in the voice menu."""
    _call, ivr = _incoming(s)
    if s.still(ivr, "Appeared", s.p["ivr_seconds"]):
        s.pbx.hangup(ivr.call_id, "from")


def missed_operator(s: Script) -> None:
    """The operator's phone rings and nobody answers."""
    _call, leg = _to_operator(s)
    if s.still(leg, "Appeared", s.p["ring_seconds"]):
        if s.p["missed_by"] == "timeout":
            s.pbx.end(leg.call_id, st.NO_ANSWER)
        else:
            s.pbx.hangup(leg.call_id, "from")
    elif leg.state == "Connected":
        s.talk_then_hangup(leg, s.p["talk_seconds"], s.caller_side())


def queue(s: Script) -> None:
    """The queue rings every member; one answers (``answered_by``), the others stop ringing."""
    call, ivr = _incoming(s)
    s.pause(s.p["ivr_seconds"])
    group = s.pbx.directory.groups[str(s.p["group"])]
    queue_leg = s.pbx.enqueue(call, ivr, group.extension)
    legs = s.pbx.ring(call, queue_leg, group.members, group=group.extension)
    answered_by = s.p["answered_by"] or (
        group.members[1] if len(group.members) > 1 else group.members[0]
    )
    chosen = next((lg for lg in legs if lg.extension == str(answered_by)), None)
    if chosen is None:
        # Nobody picks up: the caller gives up while every phone rings.
        ring = s.p["ring_seconds"]
        if s.pbx.wait_for(
            lambda: any(lg.state == "Connected" for lg in legs) or not call.live_legs(),
            MANUAL_WAIT if ring is None else s.clock.real(ring),
        ):
            if not call.live_legs():
                return  # someone ended it from the console
            talking = next(lg for lg in legs if lg.state == "Connected")
            s.talk_then_hangup(talking, s.p["talk_seconds"], s.caller_side())
        elif call.live_legs():
            s.pbx.caller_hangup(call.entry_id)
        return
    talking = s.answer_after(chosen, s.p["ring_seconds"])
    if talking is None:
        talking = next((lg for lg in legs if lg.state == "Connected"), None)
    s.talk_then_hangup(talking, s.p["talk_seconds"], s.caller_side())


def blind_transfer(s: Script) -> None:
    """The operator answers and transfers the caller to a colleague without consulting."""
    _call, leg = _to_operator(s)
    talking = s.answer_after(leg, s.p["ring_seconds"])
    if talking is None or not s.still(talking, "Connected", (s.p["talk_seconds"] or 0) / 3):
        return
    new = s.pbx.transfer(talking.call_id, str(s.p["to_extension"]), "blind", str(s.p["extension"]))
    talking = s.answer_after(new, s.p["ring_seconds"])
    s.talk_then_hangup(talking, s.p["talk_seconds"], s.caller_side())


def consultative_transfer(s: Script) -> None:
    """The operator puts the caller on hold, talks to a colleague, then leaves them together."""
    _call, leg = _to_operator(s)
    talking = s.answer_after(leg, s.p["ring_seconds"])
    if talking is None or not s.still(talking, "Connected", (s.p["talk_seconds"] or 0) / 3):
        return
    consult = s.pbx.transfer(
        talking.call_id, str(s.p["to_extension"]), "hold", str(s.p["extension"])
    )
    consulting = s.answer_after(consult, s.p["ring_seconds"])
    if consulting is None or not s.still(consulting, "Connected", s.p["consult_seconds"]):
        return
    s.pbx.hangup(consulting.call_id, "from")  # the operator leaves: caller and colleague talk
    s.talk_then_hangup(consulting, s.p["talk_seconds"], s.caller_side())


def callback(s: Script) -> None:
    """Click-to-call, exactly as ``commands/callback`` does it."""
    command_id = f"scenario-{uuid.uuid4().hex[:12]}"
    call, leg = s.pbx.callback(
        str(s.p["extension"]),
        str(s.p["target"]),
        command_id,
        s.p["line"],
        clock=s.clock,
        scenario=s.run.name,
    )
    s.began(call)
    s.pbx.emit("result/callback", {"command_id": command_id, "result": 1000})
    drive_callback(s, leg)


def drive_callback(s: Script, leg: Leg) -> None:
    """The employee picks up, then the target does, they talk, the target hangs up."""
    if not s.still(leg, "Appeared", s.p["ring_seconds"]):
        return
    target_leg = s.pbx.answer(leg.call_id)
    talking = s.answer_after(target_leg, s.p["ring_seconds"])
    s.talk_then_hangup(
        talking, s.p["talk_seconds"], "to" if s.p["hangup_by"] == "caller" else "from"
    )


def internal(s: Script) -> None:
    """One employee calls another by extension."""
    call, leg = s.pbx.outgoing(
        str(s.p["extension"]), str(s.p["to_extension"]), clock=s.clock, scenario=s.run.name
    )
    s.began(call)
    talking = s.answer_after(leg, s.p["ring_seconds"])
    s.talk_then_hangup(talking, s.p["talk_seconds"], "from")


def outgoing(s: Script) -> None:
    """An employee dials an external number from their phone."""
    call, leg = s.pbx.outgoing(
        str(s.p["extension"]), str(s.p["target"]), s.p["line"], clock=s.clock, scenario=s.run.name
    )
    s.began(call)
    talking = s.answer_after(leg, s.p["ring_seconds"])
    s.talk_then_hangup(
        talking, s.p["talk_seconds"], "from" if s.p["hangup_by"] == "operator" else "to"
    )


_CALL_IN = ("caller", "line", "ivr_seconds", "dct", "utm", "topics")
#: The parameters each scenario uses, in the order a form asks for them.
USES: dict[str, tuple[str, ...]] = {
    "incoming_answered": (
        *_CALL_IN, "dtmf", "extension", "ring_seconds", "talk_seconds", "hangup_by"
    ),
    "missed_ivr": (*_CALL_IN, "dtmf"),
    "missed_operator": (
        *_CALL_IN, "dtmf", "extension", "ring_seconds", "missed_by", "talk_seconds", "hangup_by"
    ),
    "queue": (
        *_CALL_IN, "dtmf", "group", "answered_by", "ring_seconds", "talk_seconds", "hangup_by"
    ),
    "blind_transfer": (
        *_CALL_IN, "extension", "to_extension", "ring_seconds", "talk_seconds", "hangup_by"
    ),
    "consultative_transfer": (
        *_CALL_IN, "extension", "to_extension", "ring_seconds", "consult_seconds",
        "talk_seconds", "hangup_by",
    ),
    "callback": ("extension", "target", "line", "ring_seconds", "talk_seconds", "hangup_by"),
    "internal": ("extension", "to_extension", "ring_seconds", "talk_seconds"),
    "outgoing": ("extension", "target", "line", "ring_seconds", "talk_seconds", "hangup_by"),
}

SCENARIOS: dict[str, Callable[[Script], None]] = {
    "incoming_answered": incoming_answered,
    "missed_ivr": missed_ivr,
    "missed_operator": missed_operator,
    "queue": queue,
    "blind_transfer": blind_transfer,
    "consultative_transfer": consultative_transfer,
    "callback": callback,
    "internal": internal,
    "outgoing": outgoing,
}


class ScenarioRun:
    """A scenario being played; ``entry_id`` is known once ``started`` is set."""

    def __init__(self, name: str, params: dict[str, Any]) -> None:
        self.name = name
        self.params = params
        self.entry_id: str | None = None
        self.started = threading.Event()
        self.done = threading.Event()
        self.error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.name,
            "entry_id": self.entry_id,
            "params": self.params,
            "done": self.done.is_set(),
            "error": self.error,
        }


def scenario_params(name: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validated parameters of a scenario, defaults filled in."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    params = dict(params or {})
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown parameters: {', '.join(sorted(unknown))}")
    merged = {**DEFAULTS, **params}
    if float(merged["speed"]) <= 0:
        raise ValueError("speed must be positive")
    if merged["hangup_by"] not in ("caller", "operator"):
        raise ValueError("hangup_by must be 'caller' or 'operator'")
    for key in ("extension", "to_extension", "caller", "target", "group", "dct"):
        if merged[key] is not None:
            merged[key] = str(merged[key])
    return merged


def run_scenario(
    pbx: Pbx, name: str, params: dict[str, Any] | None = None, background: bool = False
) -> ScenarioRun:
    """Play a scenario; in the background, return once its call exists."""
    run = ScenarioRun(name, scenario_params(name, params))

    def play() -> None:
        try:
            SCENARIOS[name](Script(pbx, run.params, run))
        except Exception as exc:  # a human changed the call under the script's feet
            run.error = f"{type(exc).__name__}: {exc}"
        finally:
            run.started.set()
            run.done.set()

    if background:
        pbx.background(play, name=f"mango-scenario-{name}")
        run.started.wait(10)
    else:
        play()
    return run


def describe() -> list[dict[str, Any]]:
    """Scenario names, their first docstring line and the parameters they use."""
    return [
        {"name": n, "doc": (f.__doc__ or "").strip().splitlines()[0], "params": list(USES[n])}
        for n, f in SCENARIOS.items()
    ]
