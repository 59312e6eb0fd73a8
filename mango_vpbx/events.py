"""Typed, validated, immutable events for every request the PBX sends us.

:func:`parse_event` takes the request path and the raw ``json`` form value
(verify the signature on that string first, with :func:`mango_vpbx.verify`) and
returns one of the event classes below, or raises :class:`EventError`.

The PBX's types are loose (numbers as strings or integers, extensions as
strings with leading zeros, ``to: {}``, missing optional keys, Cyrillic letters
in enum values, see :mod:`mango_vpbx.assumptions`); the events are strict:
integers are ``int``, extensions and numbers are ``str`` or ``None``, enum values
are the canonical Latin spelling. Fields we do not know are kept in ``extra``
and the whole payload in ``raw``, so nothing the PBX sent is lost.

Every string an event holds (ids, numbers, extensions, enum values, DTMF) and the
request path are at most :data:`~mango_vpbx.assumptions.MAX_STRING_LENGTH` (256)
characters: a longer one raises :class:`EventError`, so that the caller keeps the
request as "not understood" instead of storing, indexing and folding it.

Every event has an ``identity``: a stable string that is the same for a
duplicate delivery of the same event and different for any other event, made
of the canonical path and the fields that identify the notification:

=========================  ==================================================
event                      identity
=========================  ==================================================
``events/call``            ``events/call:<call_id>:<seq>:<call_state>``
``events/summary``         ``events/summary:<entry_id>``
``events/recording``       ``events/recording:<recording_id>:<seq>:<recording_state>``
``events/record/added``    ``events/record/added:<recording_id>``
``events/record/tagged``   ``events/record/tagged:<recording_id>:<timestamp>``
``events/dtmf``            ``events/dtmf:<entry_id>:<call_id>:<seq>:<dtmf>``
``events/sms``             ``events/sms:<command_id>:<reason>:<timestamp>``
``result/<command>``       ``result/<command>:<command_id>``
``result/stat(s)``         ``result/stat:<key>``
ping                       ``ping:<sha256 of the canonical payload, 16 hex>``
=========================  ==================================================
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Literal

from .assumptions import (
    MAX_STRING_LENGTH,
    PING_SEGMENT,
    STATS_READY_PATH,
    STATS_READY_PATHS,
    WAS_TRANSFERRED_KEYS,
    latinize,
)
from .errors import EventError
from .phones import normalize_number
from .times import DEFAULT_TIME_BASE, TimeBase, parse_pbx_int, to_utc

__all__ = [
    "Event",
    "Party",
    "Dct",
    "CallEvent",
    "SummaryEvent",
    "RecordingEvent",
    "RecordAddedEvent",
    "RecordTaggedEvent",
    "DtmfEvent",
    "SmsEvent",
    "CommandResult",
    "StatsReadyEvent",
    "PingEvent",
    "parse_event",
    "normalize_path",
    "CALL_STATES",
    "LOCATIONS",
    "RECORDING_STATES",
    "CALL_DIRECTIONS",
]

CallStateName = Literal["Appeared", "Connected", "OnHold", "Disconnected"]
#: Leg states of ``events/call``, in their natural order within a leg.
CALL_STATES: tuple[str, ...] = ("Appeared", "Connected", "OnHold", "Disconnected")
#: Documented ``location`` values of ``events/call`` (others are kept as sent).
LOCATIONS: tuple[str, ...] = ("ivr", "queue", "abonent")
#: ``recording_state`` values of ``events/recording``.
RECORDING_STATES: tuple[str, ...] = ("Started", "Continued", "Completed")
#: ``call_direction`` of ``events/summary``.
CALL_DIRECTIONS: Mapping[int, str] = MappingProxyType(
    {0: "internal", 1: "incoming", 2: "outgoing"}
)
_TRANSFER_KINDS = ("consultative", "blind", "return_blind")
_CALLBACK_INITIATORS = (
    "CC", "API", "WEB", "ObDial", "CallbackWidget", "MissGroupCallCallback",
    "MissInIvrCallCallback",
)


def _frozen(value: Any) -> Any:
    """A read-only deep copy of decoded JSON (mappings become mapping proxies)."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every event: the canonical ``path``, the ``raw`` payload and unknown fields."""

    path: str
    raw: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, repr=False, hash=False)
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, repr=False, hash=False)

    #: Fields of the payload this class reads; everything else goes to ``extra``.
    KNOWN: ClassVar[frozenset[str]] = frozenset()

    @property
    def identity(self) -> str:
        """Dedupe key: equal for duplicate deliveries of one notification (see the module)."""
        raise NotImplementedError

    def raw_dict(self) -> dict[str, Any]:
        """The payload as a plain, mutable ``dict`` (e.g. to store it as JSON)."""
        return _thaw(self.raw)

    @functools.cached_property
    def canonical_json(self) -> str:
        """The payload as JSON text with sorted keys, computed once per event (it is
        immutable): what tells two payloads of one identity apart in the fold, which
        compares it for every event of a call on every new one."""
        return json.dumps(self.raw_dict(), sort_keys=True, ensure_ascii=False, default=str)


@dataclass(frozen=True, kw_only=True)
class Party:
    """One side (``from`` or ``to``) of a leg or of a summary.

    ``extension`` is the employee's (or group's) short number, ``number`` the
    phone number, SIP URI or device as the PBX sent it; :attr:`e164` is the
    normalised form of ``number`` when it is an external phone number.
    """

    extension: str | None = None
    number: str | None = None
    line_number: str | None = None
    acd_group: str | None = None
    taken_from_call_id: str | None = None
    was_transferred: bool = False
    hold_initiator: bool = False
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, repr=False, hash=False)

    @property
    def e164(self) -> str | None:
        """``number`` in E.164 (default region RU), or ``None`` for SIP users, extensions..."""
        return normalize_number(self.number)

    @property
    def is_empty(self) -> bool:
        """True for ``{}``: the PBX did not identify this side (e.g. a call missed in IVR)."""
        return self.extension is None and self.number is None


@dataclass(frozen=True, kw_only=True)
class Dct:
    """Call-tracking data: ``type`` 0 not call-tracking, 1 dynamic, 2 static."""

    number: str | None = None
    type: int | None = None


@dataclass(frozen=True, kw_only=True)
class CallEvent(Event):
    """``events/call``: a state change of one leg (``call_id``) of a call (``entry_id``)."""

    entry_id: str
    call_id: str
    seq: int
    call_state: CallStateName
    timestamp: int | None = None
    location: str | None = None
    from_: Party = field(default_factory=Party)
    to: Party = field(default_factory=Party)
    disconnect_reason: int | None = None
    transfer: str | None = None
    command_id: str | None = None
    callback_initiator: str | None = None
    task_id: int | None = None
    sip_call_id: str | None = None
    dct: Dct | None = None

    KNOWN: ClassVar[frozenset[str]] = frozenset({
        "entry_id", "call_id", "seq", "call_state", "timestamp", "location", "from", "to",
        "disconnect_reason", "transfer", "command_id", "callback_initiator", "task_id",
        "sip_call_id", "dct",
    })

    @property
    def identity(self) -> str:
        return f"{self.path}:{self.call_id}:{self.seq}:{self.call_state}"

    def time(self, time_base: TimeBase = DEFAULT_TIME_BASE):
        """``timestamp`` as an aware UTC datetime (``None`` when absent)."""
        return to_utc(self.timestamp, time_base)


@dataclass(frozen=True, kw_only=True)
class SummaryEvent(Event):
    """``events/summary``: the final record of a call; after it the call is over.

    ``talk_time``/``forward_time`` are ``0`` (not ``None``) when the PBX says "no
    conversation"; :attr:`answered` reads ``talk_time`` before ``entry_result``
    because the specification's own example has ``entry_result: 1`` with
    ``talk_time: 0`` for a call missed in IVR.
    """

    entry_id: str
    call_direction: int | None = None
    from_: Party = field(default_factory=Party)
    to: Party = field(default_factory=Party)
    line_number: str | None = None
    create_time: int | None = None
    forward_time: int | None = None
    talk_time: int | None = None
    end_time: int | None = None
    entry_result: int | None = None
    disconnect_reason: int | None = None
    sip_call_id: str | None = None
    dct: Dct | None = None

    KNOWN: ClassVar[frozenset[str]] = frozenset({
        "entry_id", "call_direction", "from", "to", "line_number", "create_time",
        "forward_time", "talk_time", "end_time", "entry_result", "disconnect_reason",
        "sip_call_id", "dct",
    })

    @property
    def identity(self) -> str:
        return f"{self.path}:{self.entry_id}"

    @property
    def direction(self) -> str | None:
        """``'internal'``, ``'incoming'``, ``'outgoing'`` or ``None`` when not sent or unknown."""
        return CALL_DIRECTIONS.get(self.call_direction) if self.call_direction is not None else None

    @property
    def answered(self) -> bool:
        """Whether a conversation took place."""
        if self.talk_time is not None:
            return self.talk_time > 0
        return self.entry_result == 1


@dataclass(frozen=True, kw_only=True)
class RecordingEvent(Event):
    """``events/recording``: a recording ``Started``, ``Continued`` (in another leg), ``Completed``.

    ``completion_code`` (only when completed): 1000 saved, 22xx account restricted,
    4002 too short and not saved.
    """

    recording_id: str
    recording_state: str
    seq: int = 0
    entry_id: str | None = None
    call_id: str | None = None
    extension: str | None = None
    timestamp: int | None = None
    completion_code: int | None = None
    recipient: str | None = None
    command_id: str | None = None

    KNOWN: ClassVar[frozenset[str]] = frozenset({
        "recording_id", "recording_state", "seq", "entry_id", "call_id", "extension",
        "timestamp", "completion_code", "recipient", "command_id",
    })

    @property
    def identity(self) -> str:
        return f"{self.path}:{self.recording_id}:{self.seq}:{self.recording_state}"


@dataclass(frozen=True, kw_only=True)
class RecordAddedEvent(Event):
    """``events/record/added``: the recording is in the cloud storage and can be downloaded.

    ``user_id`` is the employee's PBX user id (the admin's when the recording
    belongs to nobody in particular, ``-1`` when it cannot be linked).
    """

    recording_id: str
    entry_id: str | None = None
    product_id: int | None = None
    user_id: int | None = None
    timestamp: int | None = None

    KNOWN: ClassVar[frozenset[str]] = frozenset({
        "recording_id", "entry_id", "product_id", "user_id", "timestamp",
    })

    @property
    def identity(self) -> str:
        return f"{self.path}:{self.recording_id}"


@dataclass(frozen=True, kw_only=True)
class RecordTaggedEvent(RecordAddedEvent):
    """``events/record/tagged``: speech analytics recognised topics in a recording."""

    @property
    def identity(self) -> str:
        return f"{self.path}:{self.recording_id}:{self.timestamp}"


@dataclass(frozen=True, kw_only=True)
class DtmfEvent(Event):
    """``events/dtmf``: a complete DTMF sequence collected in the IVR.

    ``location`` is where it was collected (``ivr``, ``ivr.2``...), not where
    the caller goes next; ``initiator`` is the number that pressed the keys.
    """

    dtmf: str
    seq: int = 0
    entry_id: str | None = None
    call_id: str | None = None
    timestamp: int | None = None
    location: str | None = None
    initiator: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    line_number: str | None = None

    KNOWN: ClassVar[frozenset[str]] = frozenset({
        "dtmf", "seq", "entry_id", "call_id", "timestamp", "location", "initiator",
        "from_number", "to_number", "line_number",
    })

    @property
    def identity(self) -> str:
        return f"{self.path}:{self.entry_id}:{self.call_id}:{self.seq}:{self.dtmf}"


@dataclass(frozen=True, kw_only=True)
class SmsEvent(Event):
    """``events/sms``: delivery status of an SMS we sent (``reason`` 1000 = delivered)."""

    command_id: str
    reason: int | None = None
    timestamp: int | None = None

    KNOWN: ClassVar[frozenset[str]] = frozenset({"command_id", "reason", "timestamp"})

    @property
    def identity(self) -> str:
        return f"{self.path}:{self.command_id}:{self.reason}:{self.timestamp}"

    @property
    def delivered(self) -> bool:
        """Whether the SMS reached the phone (``reason`` of the 1000 class)."""
        return self.reason is not None and 1000 <= self.reason <= 1099


@dataclass(frozen=True, kw_only=True)
class CommandResult(Event):
    """``result/<command>``: the outcome of a command we sent (``result`` is a result code).

    ``command`` is the command's path without slashes at the ends, e.g.
    ``callback``, ``call/hangup``, ``calls_connect``.
    """

    command: str
    command_id: str
    result: int

    KNOWN: ClassVar[frozenset[str]] = frozenset({"command_id", "result"})

    @property
    def identity(self) -> str:
        return f"{self.path}:{self.command_id}"

    @property
    def ok(self) -> bool:
        """Whether the command succeeded (the 1000 class)."""
        return 1000 <= self.result <= 1099


@dataclass(frozen=True, kw_only=True)
class StatsReadyEvent(Event):
    """``result/stat`` (or ``result/stats``): a statistics report is ready under ``key``."""

    key: str
    request_id: str | None = None

    KNOWN: ClassVar[frozenset[str]] = frozenset({"key", "request_id"})

    @property
    def identity(self) -> str:
        return f"{self.path}:{self.key}"


@dataclass(frozen=True, kw_only=True)
class PingEvent(Event):
    """The "check connection" request of the PBX's account page; answer it 200."""

    @property
    def identity(self) -> str:
        canonical = json.dumps(_thaw(self.raw), sort_keys=True, ensure_ascii=False)
        return f"{self.path}:{hashlib.sha256(canonical.encode('utf-8')).hexdigest()[:16]}"


# --- loose readers -------------------------------------------------------------------


def _int(data: Mapping[str, Any], key: str, *, required: bool = False) -> int | None:
    value = data.get(key)
    try:
        number = parse_pbx_int(value)
    except ValueError:
        raise EventError(f"'{key}' must be an integer, got {value!r}") from None
    if number is None and required:
        raise EventError(f"missing required field '{key}'")
    return number


#: Largest PBX time value accepted (year 3000): beyond it, datetimes overflow.
_MAX_TIME = 32503680000


def _time(data: Mapping[str, Any], key: str) -> int | None:
    """A PBX time value; out of range is refused here so that fold() can convert it."""
    number = _int(data, key)
    if number is not None and not 0 <= number <= _MAX_TIME:
        raise EventError(f"'{key}' is not a PBX time, got {number!r}")
    return number


def _code(data: Mapping[str, Any], key: str, *, required: bool = False) -> int | None:
    """A result/reason code (four digits); a value no code can have is refused."""
    number = _int(data, key, required=required)
    if number is not None and not -(2**31) < number < 2**31:
        raise EventError(f"'{key}' is not a PBX code, got {number!r}")
    return number


def _str(data: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    """A string field; integers become their decimal text, ``""`` becomes ``None``."""
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise EventError(f"missing required field '{key}'")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise EventError(f"'{key}' must be a string, got {value!r}")
    text = str(value)
    if len(text) > MAX_STRING_LENGTH:
        raise EventError(f"'{key}' is longer than {MAX_STRING_LENGTH} characters")
    return text


def _group(data: Mapping[str, Any], key: str) -> str | None:
    """``acd_group`` keeps ``""``: the call went through a group that has no short number."""
    value = data.get(key)
    if value == "":
        return ""
    return _str(data, key)


def _bool(data: Mapping[str, Any], *keys: str) -> bool:
    for key in keys:
        value = data.get(key)
        if value is None:
            continue
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes")
        return bool(value)
    return False


def _enum(data: Mapping[str, Any], key: str, allowed: tuple[str, ...], *,
          required: bool = False, strict: bool = True) -> str | None:
    """An enum value, matched after Cyrillic->Latin mapping and case-insensitively."""
    value = _str(data, key, required=required)
    if value is None:
        return None
    latin = latinize(value.strip())
    for candidate in allowed:
        if candidate.lower() == latin.lower():
            return candidate
    if strict:
        raise EventError(f"unknown {key} {value!r} (expected one of {', '.join(allowed)})")
    return latin


def _mapping(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    if value is None or value == "" or value == []:
        return _EMPTY
    if not isinstance(value, Mapping):
        raise EventError(f"'{key}' must be an object, got {value!r}")
    return value


_PARTY_KEYS = frozenset({
    "extension", "number", "line_number", "acd_group", "taken_from_call_id",
    "hold_initiator", *WAS_TRANSFERRED_KEYS,
})


def _party(data: Mapping[str, Any], key: str) -> Party:
    side = _mapping(data, key)
    try:
        return Party(
            extension=_str(side, "extension"),
            number=_str(side, "number"),
            line_number=_str(side, "line_number"),
            acd_group=_group(side, "acd_group"),
            taken_from_call_id=_str(side, "taken_from_call_id"),
            was_transferred=_bool(side, *WAS_TRANSFERRED_KEYS),
            hold_initiator=_bool(side, "hold_initiator"),
            extra=_frozen({k: v for k, v in side.items() if k not in _PARTY_KEYS}),
        )
    except EventError as exc:
        raise EventError(f"in '{key}': {exc}") from None


def _dct(data: Mapping[str, Any]) -> Dct | None:
    if data.get("dct") in (None, "", []):
        return None
    side = _mapping(data, "dct")
    return Dct(number=_str(side, "number"), type=_int(side, "type"))


def _base(path: str, data: Mapping[str, Any], known: frozenset[str]) -> dict[str, Any]:
    return {
        "path": path,
        "raw": _frozen(data),
        "extra": _frozen({k: v for k, v in data.items() if k not in known}),
    }


# --- builders per path ----------------------------------------------------------------


def _call(path: str, data: Mapping[str, Any]) -> CallEvent:
    return CallEvent(
        **_base(path, data, CallEvent.KNOWN),
        entry_id=_str(data, "entry_id", required=True),
        call_id=_str(data, "call_id", required=True),
        seq=_int(data, "seq") or 0,
        call_state=_enum(data, "call_state", CALL_STATES, required=True),
        timestamp=_time(data, "timestamp"),
        location=_enum(data, "location", LOCATIONS, strict=False),
        from_=_party(data, "from"),
        to=_party(data, "to"),
        disconnect_reason=_code(data, "disconnect_reason"),
        transfer=_enum(data, "transfer", _TRANSFER_KINDS, strict=False),
        command_id=_str(data, "command_id"),
        callback_initiator=_enum(data, "callback_initiator", _CALLBACK_INITIATORS, strict=False),
        task_id=_int(data, "task_id"),
        sip_call_id=_str(data, "sip_call_id"),
        dct=_dct(data),
    )


def _summary(path: str, data: Mapping[str, Any]) -> SummaryEvent:
    return SummaryEvent(
        **_base(path, data, SummaryEvent.KNOWN),
        entry_id=_str(data, "entry_id", required=True),
        call_direction=_code(data, "call_direction"),
        from_=_party(data, "from"),
        to=_party(data, "to"),
        line_number=_str(data, "line_number"),
        create_time=_time(data, "create_time"),
        forward_time=_time(data, "forward_time"),
        talk_time=_time(data, "talk_time"),
        end_time=_time(data, "end_time"),
        entry_result=_code(data, "entry_result"),
        disconnect_reason=_code(data, "disconnect_reason"),
        sip_call_id=_str(data, "sip_call_id"),
        dct=_dct(data),
    )


def _recording(path: str, data: Mapping[str, Any]) -> RecordingEvent:
    extension = data.get("extension")
    return RecordingEvent(
        **_base(path, data, RecordingEvent.KNOWN),
        recording_id=_str(data, "recording_id", required=True),
        recording_state=_enum(data, "recording_state", RECORDING_STATES, required=True),
        seq=_int(data, "seq") or 0,
        entry_id=_str(data, "entry_id"),
        call_id=_str(data, "call_id"),
        # "" means "an employee without a short number": keep it apart from "absent".
        extension="" if extension == "" else _str(data, "extension"),
        timestamp=_time(data, "timestamp"),
        completion_code=_code(data, "completion_code"),
        recipient=_str(data, "recipient"),
        command_id=_str(data, "command_id"),
    )


def _record(cls: type[RecordAddedEvent]):
    def build(path: str, data: Mapping[str, Any]) -> RecordAddedEvent:
        return cls(
            **_base(path, data, cls.KNOWN),
            recording_id=_str(data, "recording_id", required=True),
            entry_id=_str(data, "entry_id"),
            product_id=_int(data, "product_id"),
            user_id=_int(data, "user_id"),
            timestamp=_time(data, "timestamp"),
        )
    return build


def _dtmf(path: str, data: Mapping[str, Any]) -> DtmfEvent:
    value = data.get("dtmf")
    if isinstance(value, int) and not isinstance(value, bool):
        raise EventError("'dtmf' must be a string (an integer loses leading zeros and '*'/'#')")
    return DtmfEvent(
        **_base(path, data, DtmfEvent.KNOWN),
        dtmf=_str(data, "dtmf", required=True),
        seq=_int(data, "seq") or 0,
        entry_id=_str(data, "entry_id"),
        call_id=_str(data, "call_id"),
        timestamp=_time(data, "timestamp"),
        location=_str(data, "location"),
        initiator=_str(data, "initiator"),
        from_number=_str(data, "from_number"),
        to_number=_str(data, "to_number"),
        line_number=_str(data, "line_number"),
    )


def _sms(path: str, data: Mapping[str, Any]) -> SmsEvent:
    return SmsEvent(
        **_base(path, data, SmsEvent.KNOWN),
        command_id=_str(data, "command_id", required=True),
        reason=_code(data, "reason"),
        timestamp=_time(data, "timestamp"),
    )


def _stats_ready(path: str, data: Mapping[str, Any]) -> StatsReadyEvent:
    return StatsReadyEvent(
        **_base(path, data, StatsReadyEvent.KNOWN),
        key=_str(data, "key", required=True),
        request_id=_str(data, "request_id"),
    )


def _result(path: str, data: Mapping[str, Any]) -> CommandResult:
    return CommandResult(
        **_base(path, data, CommandResult.KNOWN),
        command=path.split("/", 1)[1],
        command_id=_str(data, "command_id", required=True),
        result=_code(data, "result", required=True),
    )


_BUILDERS = {
    "events/call": _call,
    "events/summary": _summary,
    "events/recording": _recording,
    "events/record/added": _record(RecordAddedEvent),
    "events/record/tagged": _record(RecordTaggedEvent),
    "events/dtmf": _dtmf,
    "events/sms": _sms,
}


def normalize_path(path: str) -> str:
    """The canonical event path of a request path, or raise :class:`EventError`.

    Accepts the path with or without a leading or trailing slash, with the base
    URL prefix the PBX was configured with (``/mango/events/call``), with a
    query string or as a full URL. ``result/stats`` becomes ``result/stat``; any
    path ending with ``ping`` becomes ``ping``.
    """
    if not isinstance(path, str):
        raise EventError(f"path must be a string, got {path!r}")
    if len(path) > MAX_STRING_LENGTH:
        raise EventError(f"the path is longer than {MAX_STRING_LENGTH} characters")
    text = path.split("?", 1)[0].split("#", 1)[0]
    if "://" in text:
        text = text.split("://", 1)[1].partition("/")[2]
    segments = [s for s in text.split("/") if s]
    if not segments:
        raise EventError(f"unknown event path {path!r}")
    if segments[-1] == PING_SEGMENT:
        return PING_SEGMENT
    for index in range(len(segments) - 1, -1, -1):
        head = segments[index]
        tail = "/".join(segments[index:])
        if head == "events" and tail in _BUILDERS:
            return tail
        if head == "result" and index < len(segments) - 1:
            return STATS_READY_PATH if tail in STATS_READY_PATHS else tail
    raise EventError(f"unknown event path {path!r}")


def parse_event(path: str, json_str: str | bytes) -> Event:
    """Parse one PBX request (its path and raw ``json`` form value) into a typed event.

    Raises :class:`EventError` (a :class:`ValueError`) when the path is not a
    known event path, the body is not a JSON object, a required field is
    missing or a value has the wrong type or an unknown enum value. A ping is
    accepted with any body.
    """
    canonical = normalize_path(path)
    if isinstance(json_str, bytes):
        try:
            json_str = json_str.decode("utf-8")
        except UnicodeDecodeError:
            raise EventError("the json field is not UTF-8") from None
    if not isinstance(json_str, str):
        raise EventError(f"the json field must be a string, got {type(json_str).__name__}")
    try:
        data = json.loads(json_str) if json_str.strip() else None
    except RecursionError:
        raise EventError("the json field is nested too deeply") from None
    except ValueError as exc:
        # JSONDecodeError, or an integer literal longer than Python converts (4,300 digits).
        if canonical == PING_SEGMENT:
            data = None
        else:
            raise EventError(f"the json field is not valid JSON: {str(exc)[:200]}") from None
    try:
        return _build(canonical, data)
    except RecursionError:
        # JSON nested less than the decoder's limit can still exhaust the stack when copied.
        raise EventError("the json field is nested too deeply") from None


def _build(canonical: str, data: Any) -> Event:
    if canonical == PING_SEGMENT:
        payload = data if isinstance(data, Mapping) else {}
        return PingEvent(path=canonical, raw=_frozen(payload), extra=_frozen(payload))
    if not isinstance(data, Mapping):
        raise EventError(f"the json field must be a JSON object, got {type(data).__name__}")
    if canonical == STATS_READY_PATH:
        return _stats_ready(canonical, data)
    if canonical.startswith("result/"):
        return _result(canonical, data)
    return _BUILDERS[canonical](canonical, data)
