"""Mango Office virtual PBX (VPBX) protocol toolkit.

Pure Python (``requests`` and ``phonenumbers``), no Odoo import anywhere in this
package. The top level holds what an integrator needs: the client
(:class:`VpbxClient`, :data:`DEFAULT_BASE_URL`), signing (:func:`sign`, :func:`verify`,
:func:`encode`), event parsing (:func:`parse_event`, :class:`Event`), the call of one
``entry_id`` (:func:`fold`, :class:`CallState`) and the exceptions (root
:class:`MangoVpbxError`). The rest is in the submodules, all imported with the package
(``mango_vpbx.codes.describe(code)`` works after ``import mango_vpbx``):

* :mod:`~mango_vpbx.signing`: signatures of requests in both directions, canonical JSON.
* :mod:`~mango_vpbx.events`: :func:`parse_event` and the typed immutable events.
* :mod:`~mango_vpbx.calls`: :func:`fold`, :class:`CallState` and its parts, duration bounds.
* :mod:`~mango_vpbx.client`: :class:`VpbxClient`, commands and queries, their answers.
* :mod:`~mango_vpbx.limits`: rate limits and the invalid-request lockout, shared via a store.
* :mod:`~mango_vpbx.stats`: the ``stats/result`` CSV, and a call from its rows.
* :mod:`~mango_vpbx.codes`: result codes, their meanings and classes, disconnect categories.
* :mod:`~mango_vpbx.errors`: every exception of the toolkit, under :class:`MangoVpbxError`.
* :mod:`~mango_vpbx.phones`: numbers to E.164 and back for people.
* :mod:`~mango_vpbx.sms`: SMS text limits: length, segments, the PBX's four-segment cap.
* :mod:`~mango_vpbx.times`: the PBX's time base, :func:`~mango_vpbx.times.to_utc`.
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

from . import (
    assumptions,
    calls,
    client,
    codes,
    errors,
    events,
    limits,
    phones,
    signing,
    sms,
    stats,
    times,
)
from .calls import CallState, fold
from .client import DEFAULT_BASE_URL, VpbxClient
from .errors import (
    ArgumentError,
    EventError,
    MangoVpbxError,
    StatsError,
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
)
from .events import Event, parse_event
from .signing import encode, sign, verify

__all__ = [
    # submodules
    "assumptions",
    "calls",
    "client",
    "codes",
    "errors",
    "events",
    "limits",
    "phones",
    "signing",
    "sms",
    "stats",
    "times",
    # the client
    "DEFAULT_BASE_URL",
    "VpbxClient",
    # signing
    "encode",
    "sign",
    "verify",
    # events and calls
    "Event",
    "parse_event",
    "CallState",
    "fold",
    # errors: every exception of mango_vpbx.errors (not its helper error_for_code)
    *(name for name in errors.__all__ if isinstance(getattr(errors, name), type)),
]
