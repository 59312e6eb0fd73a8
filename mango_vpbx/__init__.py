"""Mango Office virtual PBX (VPBX) protocol toolkit.

Pure Python (``requests`` and ``phonenumbers``), no Odoo import anywhere in this
package. What is where:

* :mod:`~mango_vpbx.signing`: signatures of requests in both directions.
* :mod:`~mango_vpbx.events`: :func:`parse_event`, typed immutable events, :class:`EventError`.
* :mod:`~mango_vpbx.calls`: :func:`fold`, the call of one ``entry_id`` from its events.
* :mod:`~mango_vpbx.client`: :class:`VpbxClient`, commands and queries to the PBX.
* :mod:`~mango_vpbx.limits`: rate limits and the invalid-request lockout, shared via a store.
* :mod:`~mango_vpbx.stats`: the ``stats/result`` CSV.
* :mod:`~mango_vpbx.codes`: result codes, their meanings, the exceptions.
* :mod:`~mango_vpbx.phones`: numbers to E.164 and back for people.
* :mod:`~mango_vpbx.times`: the PBX's time base, :func:`to_utc`.
* :mod:`~mango_vpbx.assumptions`: where the documentation is ambiguous, what we accept.

Glossary (the PBX's words, used as they are throughout the package):

``vpbx_api_key`` / ``api_salt``
    The PBX account's unique code (sent with every request) and the secret used
    only to compute signatures (never sent).
``sign``
    ``sha256(api_key + json + api_salt)`` of a request's ``json`` form field.
``entry_id``
    The id of a call as a whole (a "call group"): the same for every leg of one
    call, through forwarding and transfers. Our call key.
``call_id``
    The id of one leg of a call.
leg
    One connection within a call: the IVR, a queue, one employee's phone being
    rung, a transfer target... A call has one or many legs.
``seq``
    Counter of notifications within one leg (or recording, DTMF collection);
    the only reliable order of a leg's events.
``call_state``
    State of a leg: ``Appeared`` (ringing / dialling), ``Connected`` (talking),
    ``OnHold``, ``Disconnected`` (ended, with a ``disconnect_reason`` code).
``location``
    Where a leg is: ``ivr`` (voice menu), ``queue`` (waiting for an operator),
    ``abonent`` (a person's phone: an employee's or an external number).
extension
    An employee's (or group's) short internal number, a string that may start
    with ``0``. Not a phone number.
``line_number``
    The PBX's own number (a line) the call came in on or goes out through.
``acd_group``
    The short number of the operator group (queue) that distributed the call.
``command_id``
    Our id of a command (callback, route, transfer...), echoed in its
    ``result/*`` notification and in the events of the calls it produced.
summary
    ``events/summary``: the final notification of a call; after it the call is over.
callback
    ``commands/callback`` (click-to-call): the PBX rings the employee first,
    then the target number.
result code
    Four-digit outcome code of commands and reasons of disconnection
    (1xxx ok, 2xxx billing, 3xxx bad request, 4xxx cannot do, 5xxx server).
"""

from .assumptions import LOCKOUT_SECONDS, MAX_CALL_SECONDS, MAX_STRING_LENGTH
from .calls import CallState, Leg, Recording, Transfer, duration_seconds, fold, implausible_span
from .client import (
    DEFAULT_BASE_URL,
    Balance,
    PbxLine,
    PbxNumber,
    PbxUser,
    RecordingFile,
    VpbxClient,
    new_command_id,
)
from .codes import (
    VpbxAuthError,
    VpbxBillingError,
    VpbxBusy,
    VpbxCommandFailed,
    VpbxError,
    VpbxLockedOut,
    VpbxNotFound,
    VpbxRateLimited,
    VpbxRequestError,
    VpbxUnavailable,
    describe,
    describe_ru,
    error_for_code,
    is_success,
    known_code,
)
from .events import (
    CallEvent,
    CommandResult,
    Dct,
    DtmfEvent,
    Event,
    EventError,
    Party,
    PingEvent,
    RecordAddedEvent,
    RecordingEvent,
    RecordTaggedEvent,
    SmsEvent,
    StatsReadyEvent,
    SummaryEvent,
    normalize_path,
    parse_event,
)
from .limits import LimitStore, MemoryLimitStore, SqliteLimitStore
from .phones import format_number, is_sip_uri, normalize_number, sip_user
from .signing import dumps, encode, sign, sign_recording_link, verify
from .stats import StatsError, StatsRow, parse_csv, split_period
from .times import DEFAULT_TIME_BASE, TimeBase, to_pbx, to_utc

__all__ = [
    "LOCKOUT_SECONDS",
    "MAX_CALL_SECONDS",
    "MAX_STRING_LENGTH",
    "CallState",
    "Leg",
    "Recording",
    "Transfer",
    "fold",
    "duration_seconds",
    "implausible_span",
    "DEFAULT_BASE_URL",
    "Balance",
    "PbxLine",
    "PbxNumber",
    "PbxUser",
    "RecordingFile",
    "VpbxClient",
    "new_command_id",
    "LimitStore",
    "MemoryLimitStore",
    "SqliteLimitStore",
    "StatsError",
    "StatsRow",
    "parse_csv",
    "split_period",
    "VpbxAuthError",
    "VpbxBillingError",
    "VpbxCommandFailed",
    "VpbxError",
    "VpbxLockedOut",
    "VpbxNotFound",
    "VpbxRateLimited",
    "VpbxBusy",
    "VpbxRequestError",
    "VpbxUnavailable",
    "describe",
    "describe_ru",
    "error_for_code",
    "is_success",
    "known_code",
    "CallEvent",
    "CommandResult",
    "Dct",
    "DtmfEvent",
    "Event",
    "EventError",
    "Party",
    "PingEvent",
    "RecordAddedEvent",
    "RecordingEvent",
    "RecordTaggedEvent",
    "SmsEvent",
    "StatsReadyEvent",
    "SummaryEvent",
    "normalize_path",
    "parse_event",
    "format_number",
    "is_sip_uri",
    "normalize_number",
    "sip_user",
    "dumps",
    "encode",
    "sign",
    "sign_recording_link",
    "verify",
    "DEFAULT_TIME_BASE",
    "TimeBase",
    "to_pbx",
    "to_utc",
]
