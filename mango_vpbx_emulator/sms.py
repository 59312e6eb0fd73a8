"""SMS sent through the emulated PBX (``commands/sms``): outcome, delivery, and their failures.

The PBX answers ``commands/sms`` in three steps, all three emulated:

1. synchronously: accepted (``{"result": 1000}``), or refused with a 3xxx code like any
   command (3103 a parameter missing; 3100 a text the PBX cannot send in four segments,
   :func:`mango_vpbx.sms.measure`). A refusal counts towards the lockout as any 3xxx does;
2. ``result/sms``: 1000, or the refusal of an accepted command: 3100 when
   ``from_extension`` is no employee of the account (or ``to_number`` is an employee's short
   number, which the PBX does not text), else :attr:`SmsBehaviour.result` (4300 "could not
   be sent", 2xxx billing, 5xxx server...);
3. ``events/sms`` after :attr:`SmsBehaviour.delivery_after` emulated seconds, for an SMS
   whose result was 1000: ``reason`` 1000 (delivered) or a delivery failure (4301 expired,
   4391 lost, 4392 rejected, 4393 cancelled by the operator). ``None``: never reported.

What happens is chosen for every SMS (:attr:`SmsBehaviour.result`, ``delivery``) or per
recipient (:attr:`SmsBehaviour.numbers`), through the control API (``POST /control/config``
``{"sms": {...}}``); ``GET /control/sms`` lists the SMS sent. The PBX being down is a
closed port (:func:`mango_vpbx_emulator.testing.closed_port_url`), its lockout the server's.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .pbx import Pbx, PbxError

#: How many sent SMS the control API keeps.
SMS_LOG_SIZE = 1000


@dataclass
class SmsBehaviour:
    """The fate of the SMS the PBX accepts (see the module). Times are emulated seconds."""

    result: int = 1000
    delivery: int | None = 1000
    delivery_after: float = 3.0
    #: to_number -> {"result": code, "delivery": code or None}: overrides for one recipient
    numbers: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SmsBehaviour:
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown SMS settings: {', '.join(sorted(unknown))}")
        behaviour = cls(**data)
        behaviour.numbers = {str(k): dict(v) for k, v in (behaviour.numbers or {}).items()}
        for outcome in ({"result": behaviour.result, "delivery": behaviour.delivery},
                        *behaviour.numbers.values()):
            if set(outcome) - {"result", "delivery"}:
                raise ValueError("a number's outcome has only result and delivery")
            for key in ("result", "delivery"):
                code = outcome.get(key)
                if code is not None and not 1000 <= int(code) <= 9999:
                    raise ValueError(f"{key} must be a four-digit result code")
        if float(behaviour.delivery_after) < 0:
            raise ValueError("delivery_after cannot be negative")
        return behaviour

    def outcome(self, to_number: str) -> tuple[int, int | None]:
        """``(result code, delivery reason or None)`` of an SMS to ``to_number``."""
        own = self.numbers.get(to_number, {})
        result = int(own.get("result", self.result))
        delivery = own["delivery"] if "delivery" in own else self.delivery
        return result, None if delivery is None else int(delivery)


@dataclass
class Sms:
    """One SMS the PBX accepted: what was asked, and what became of it (None: not yet)."""

    command_id: str
    from_extension: str
    to_number: str
    text: str
    sms_sender: str | None
    at: float
    result: int | None = None
    delivery: int | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class SmsCentre:
    """The PBX's SMS: accepts, reports ``result/sms``, then delivers ``events/sms``."""

    def __init__(self, pbx: Pbx) -> None:
        self.pbx = pbx
        self.behaviour = SmsBehaviour()
        self.sent: deque[Sms] = deque(maxlen=SMS_LOG_SIZE)
        self._lock = threading.Lock()

    def accept(self, command_id: str, from_extension: str, to_number: str, text: str,
               sms_sender: str | None) -> Sms:
        sms = Sms(command_id, from_extension, to_number, text, sms_sender or None, time.time())
        with self._lock:
            self.sent.append(sms)
        return sms

    def submit(self, sms: Sms) -> None:
        """The action behind ``result/sms``: raises :class:`PbxError` with the refusal's code;
        on success, the delivery report is scheduled."""
        directory = self.pbx.directory
        if directory.employee(sms.from_extension) is None or directory.employee(sms.to_number):
            result, delivery = 3100, None
        else:
            result, delivery = self.behaviour.outcome(sms.to_number)
        sms.result = result
        if result != 1000:
            raise PbxError(result)
        if delivery is not None:
            self.pbx.background(self._deliver, sms, delivery, name="mango-sms-delivery")

    def _deliver(self, sms: Sms, reason: int) -> None:
        time.sleep(self.behaviour.delivery_after / self.pbx.speed)
        sms.delivery = reason
        self.pbx.emit(
            "events/sms",
            {"command_id": sms.command_id, "timestamp": int(time.time()), "reason": reason},
        )

    def log(self) -> list[dict[str, Any]]:
        with self._lock:
            return [s.as_json() for s in self.sent]
