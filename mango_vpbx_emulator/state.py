"""The emulated PBX's state: its directory (employees, groups, lines) and its calls.

Glossary (the PBX's own words):

- *entry* / ``entry_id``: one call as the caller sees it, from arrival to the end,
  across every forwarding and transfer.
- *leg* / ``call_id``: one two-party connection inside an entry (the voice menu,
  the queue, each phone that rings). Each leg has its own ``seq`` counter.
- *extension*: an employee's or a group's short number, always a string (``"0511"``
  keeps its zero).
- *line*: one of the clinic's PBX numbers that callers dial.

Only data lives here; :mod:`mango_vpbx_emulator.pbx` changes it and emits events.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import os
import secrets
import struct
import threading
import time
import wave
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    tomllib = None  # type: ignore[assignment]

SIP_DOMAIN = "medpulse.mangosip.ru"

#: ``cause`` of a leg's end -> ``disconnect_reason`` the PBX reports.
NORMAL = 1100
CALLER_HUNG_UP = 1110
NO_ANSWER = 1111
CALLEE_HUNG_UP = 1120
REJECTED = 1122
BY_SCHEME = 1170
BY_COMMAND = 1181
TAKEN_BY_OTHER = 1182


@dataclass
class Employee:
    """An employee of the PBX with the devices that ring for them."""

    extension: str
    name: str
    email: str = ""
    user_id: int = 0
    sip: str = ""
    mobile: str = ""
    fmc: str = ""
    department: str = ""
    position: str = ""

    def __post_init__(self) -> None:
        self.extension = str(self.extension)
        if not self.sip:
            self.sip = f"sip:user{self.extension}@{SIP_DOMAIN}"

    @property
    def main_number(self) -> str:
        """The device that rings first (the one a summary names for a missed call)."""
        return self.sip or self.mobile or self.fmc

    def numbers(self) -> list[tuple[str, str]]:
        """``(protocol, number)`` of every device, in ringing order."""
        out = [("sip", self.sip)]
        if self.mobile:
            out.append(("tel", self.mobile))
        if self.fmc:
            out.append(("fmc", self.fmc))
        return [(p, n) for p, n in out if n]


@dataclass
class Group:
    """An operator group (queue) with its short number."""

    extension: str
    name: str
    members: list[str] = field(default_factory=list)
    group_id: int = 0

    def __post_init__(self) -> None:
        self.extension = str(self.extension)
        self.members = [str(m) for m in self.members]


@dataclass
class Line:
    """A PBX number callers dial (a DID line)."""

    number: str
    name: str = ""
    line_id: int = 0
    region: str = "347"
    comment: str = ""
    schema_name: str = "Main"


@dataclass
class Leg:
    """One leg of a call, as the PBX reports it in ``/events/call``."""

    call_id: str
    entry_id: str
    location: str
    from_: dict[str, Any]
    to: dict[str, Any]
    state: str = "Appeared"
    seq: int = 0
    command_id: str | None = None
    #: the employee whose phone this leg rings (``None`` for IVR/queue/external legs)
    extension: str | None = None
    #: ``"to"`` when the employee is the called side of the leg, ``"from"`` otherwise
    employee_side: str = "to"
    created: int = 0
    answered: int = 0
    ended: int = 0
    disconnect_reason: int | None = None
    #: legs that ring together for one queue/group: answering one ends the others
    ring_group: str | None = None
    transfer: str | None = None

    @property
    def live(self) -> bool:
        return self.state != "Disconnected"

    def as_json(self) -> dict[str, Any]:
        """A summary of the leg for the control API and the console."""
        return {
            "call_id": self.call_id,
            "entry_id": self.entry_id,
            "location": self.location,
            "state": self.state,
            "seq": self.seq,
            "from": dict(self.from_),
            "to": dict(self.to),
            "extension": self.extension,
            "command_id": self.command_id,
            "disconnect_reason": self.disconnect_reason,
        }


@dataclass
class Recording:
    """A recording of one employee in one leg; its audio is generated on demand."""

    recording_id: str
    entry_id: str
    call_id: str
    extension: str | None
    user_id: int
    started: int
    command_id: str | None = None
    seq: int = 0
    ended: int = 0
    completion_code: int | None = None

    def audio(self) -> bytes:
        """A short WAV (sine tone) standing for the conversation."""
        seconds = max(1, min(3, self.ended - self.started or 1))
        return sine_wav(seconds)


@dataclass
class Call:
    """One entry: every leg it had, and what its summary will say."""

    entry_id: str
    direction: int  # 0 internal, 1 incoming, 2 outgoing (as in the summary)
    clock: Clock
    line_number: str | None = None
    caller: dict[str, Any] = field(default_factory=dict)
    legs: dict[str, Leg] = field(default_factory=dict)
    create_time: int = 0
    forward_time: int = 0
    talk_time: int = 0
    end_time: int = 0
    #: summary ``to`` of the party that answered (or first missed)
    answered_party: dict[str, Any] | None = None
    first_missed: dict[str, Any] | None = None
    disconnect_reason: int = NORMAL
    recordings: list[str] = field(default_factory=list)
    command_id: str | None = None
    #: started by ``commands/callback``: its first leg rings the employee for the target
    is_callback: bool = False
    #: outgoing/internal: whom the employee called (the summary's ``to``)
    callee: dict[str, Any] = field(default_factory=dict)
    finished: bool = False
    scenario: str | None = None
    #: for the stats CSV: where the call was last
    last_location: str = "ivr"
    #: the call-tracking number the caller dialled (``dct.number``) and its ``dct.type``
    dct_number: str | None = None
    dct_type: int = 0
    #: the web channel (source, medium, campaign) the call-tracking number was shown in
    dct_channel: dict[str, Any] = field(default_factory=dict)
    #: topics speech analytics will find in this call's recordings (None: picked by the PBX)
    topics: tuple[str, ...] | None = None

    def live_legs(self) -> list[Leg]:
        return [leg for leg in self.legs.values() if leg.live]

    def as_json(self) -> dict[str, Any]:
        return {
            "entry_id": self.entry_id,
            "direction": self.direction,
            "line_number": self.line_number,
            "caller": dict(self.caller),
            "create_time": self.create_time,
            "talk_time": self.talk_time,
            "end_time": self.end_time,
            "finished": self.finished,
            "scenario": self.scenario,
            "command_id": self.command_id,
            "recordings": list(self.recordings),
            "legs": [leg.as_json() for leg in self.legs.values()],
        }


class Clock:
    """Emulated time: ``speed`` emulated seconds pass per real second.

    Timestamps in events are emulated epoch seconds, so a 30 s call at ``speed=100``
    takes 0.3 s of real time but its events are 30 s apart.
    """

    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = float(speed)
        self._epoch0 = time.time() if start is None else start
        self._mono0 = time.monotonic()

    def now(self) -> int:
        return int(self._epoch0 + (time.monotonic() - self._mono0) * self.speed)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.speed)

    def real(self, seconds: float) -> float:
        """Real seconds that ``seconds`` of emulated time take."""
        return seconds / self.speed


class IdFactory:
    """Opaque, base64-looking ids, unique per emulator run (like the PBX's)."""

    def __init__(self, product_id: int) -> None:
        self.product_id = product_id
        self._counter = itertools.count(1)
        self._run = secrets.randbelow(10**6)
        self._lock = threading.Lock()

    def _next(self, kind: int) -> str:
        with self._lock:
            n = next(self._counter)
        raw = f"{kind}:{self.product_id}:{self._run}:{n}:{secrets.randbelow(10**9)}"
        return base64.b64encode(raw.encode()).decode()

    def entry_id(self) -> str:
        return self._next(0)

    def call_id(self) -> str:
        return self._next(1)

    def recording_id(self) -> str:
        return self._next(2)

    def key(self) -> str:
        return base64.b64encode(os.urandom(24)).decode()


def sine_wav(seconds: float, frequency: float = 440.0, rate: int = 8000) -> bytes:
    """A mono 16-bit PCM WAV of a sine tone (telephone sample rate)."""
    frames = int(seconds * rate)
    buf = BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(
            b"".join(
                struct.pack("<h", int(8000 * math.sin(2 * math.pi * frequency * i / rate)))
                for i in range(frames)
            )
        )
    return buf.getvalue()


# --------------------------------------------------------------------------- directory


@dataclass
class Directory:
    """What the PBX account is configured with: people, groups, lines, money."""

    employees: dict[str, Employee]
    groups: dict[str, Group]
    lines: list[Line]
    product_id: int = 400076322
    admin_user_id: int = 300040000
    balance: float = 15230.5
    currency: str = "RUB"

    def employee(self, extension: str | int | None) -> Employee | None:
        return self.employees.get(str(extension)) if extension is not None else None

    def employee_by_number(self, number: str) -> Employee | None:
        for emp in self.employees.values():
            if number in (emp.extension, emp.sip, emp.mobile, emp.fmc):
                return emp
        return None

    def line(self, number: str | None) -> Line:
        for line in self.lines:
            if number in (line.number, line.name):
                return line
        return self.lines[0]


def demo_directory() -> Directory:
    """Three receptionists, a reception queue and two lines of a clinic in Ufa."""
    employees = [
        Employee("101", "Анна Петрова", "anna@clinic.example", mobile="79174010101"),
        Employee("102", "Борис Иванов", "boris@clinic.example", mobile="79174010102"),
        Employee("103", "Светлана Ахметова", "svetlana@clinic.example", mobile="79174010103"),
    ]
    return _directory(
        employees,
        [Group("500", "Регистратура", ["101", "102", "103"])],
        [
            Line("73472251010", "Регистратура"),
            Line("73472251020", "Реклама"),
        ],
    )


def _directory(
    employees: list[Employee], groups: list[Group], lines: list[Line], **kw: Any
) -> Directory:
    for i, emp in enumerate(employees):
        if not emp.user_id:
            emp.user_id = 300050000 + i + 1
        if not emp.position:
            emp.position = "Администратор"
            emp.department = emp.department or "Регистратура"
    for i, group in enumerate(groups):
        group.group_id = group.group_id or 10048960 + i
    for i, line in enumerate(lines):
        line.line_id = line.line_id or 2001 + i
        line.name = line.name or line.number
    return Directory(
        {e.extension: e for e in employees}, {g.extension: g for g in groups}, lines, **kw
    )


def parse_employees_flag(spec: str) -> list[Employee]:
    """``101:Anna:anna@clinic.example,102:Boris`` -> employees (email optional)."""
    out = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        parts = item.split(":")
        if len(parts) < 2 or not parts[0].isdigit():
            raise ValueError(f"employee {item!r}: expected EXTENSION:NAME[:EMAIL]")
        out.append(Employee(parts[0], parts[1], parts[2] if len(parts) > 2 else ""))
    return out


def load_config(path: str) -> dict[str, Any]:
    """Read a JSON or TOML configuration file (chosen by its extension)."""
    with open(path, "rb") as fh:
        raw = fh.read()
    if path.endswith(".toml"):
        if tomllib is None:  # pragma: no cover
            raise RuntimeError("TOML configuration needs Python 3.11+; use JSON")
        return tomllib.loads(raw.decode("utf-8"))
    return json.loads(raw.decode("utf-8"))


def directory_from_config(cfg: dict[str, Any]) -> Directory:
    """Build the directory from a configuration mapping; missing parts come from the demo.

    Keys: ``employees`` (list of {extension, name, email, user_id, sip, mobile, fmc}),
    ``groups`` (list of {extension, name, members}), ``lines`` (list of {number, name}),
    ``product_id``, ``balance``.
    """
    demo = demo_directory()
    employees = (
        [Employee(**e) for e in cfg["employees"]]
        if "employees" in cfg
        else list(demo.employees.values())
    )
    groups = (
        [Group(**g) for g in cfg["groups"]]
        if "groups" in cfg
        else [
            Group(
                g.extension, g.name, [m for m in g.members if m in {e.extension for e in employees}]
            )
            for g in demo.groups.values()
        ]
    )
    lines = [Line(**ln) for ln in cfg["lines"]] if "lines" in cfg else demo.lines
    extra = {k: cfg[k] for k in ("product_id", "balance", "currency", "admin_user_id") if k in cfg}
    return _directory(employees, groups, lines, **extra)
