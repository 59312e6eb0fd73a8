"""The client of the PBX's API: commands (callback, transfer, hangup...) and queries.

:class:`VpbxClient` works like a :class:`requests.Session`: one object per PBX
account, explicit timeouts on every request, and exceptions that carry the PBX's
result code and its meaning (:mod:`mango_vpbx.errors`). It respects the PBX's
rate limits and never provokes the two-minute lockout of the account: after a
request answered with a 3xxx code it refuses requests locally for two minutes
(:class:`~mango_vpbx.errors.VpbxLockedOut`), through a :class:`~mango_vpbx.limits.LimitStore`
that several processes can share. So that no second request is already on its way
when a 3xxx comes back, the clients of one account send one request at a time
(:class:`~mango_vpbx.errors.VpbxBusy` when the turn does not come in time).

A command's synchronous answer only says whether the PBX accepted it; its
outcome arrives later as a ``result/<command>`` notification with the
``command_id`` the method returns.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Literal

import requests

from .assumptions import LOCKOUT_SECONDS, STATS_POLL_SECONDS
from .codes import is_success
from .errors import (
    ArgumentError,
    VpbxBusy,
    VpbxError,
    VpbxLockedOut,
    VpbxNotFound,
    VpbxRateLimited,
    VpbxRequestError,
    VpbxUnavailable,
    error_for_code,
)
from .limits import LimitStore, MemoryLimitStore, buckets_for
from .signing import encode
from .sms import check_text
from .stats import StatsRow, normalize_fields, parse_csv, split_period
from .times import DEFAULT_TIME_BASE, TimeBase, parse_pbx_int, to_pbx

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_EXT_FIELDS",
    "VpbxClient",
    "PbxUser",
    "PbxNumber",
    "PbxLine",
    "Balance",
    "RecordingFile",
    "RecordingTopics",
    "TranscriptPhrase",
    "Transcript",
    "DctVisitor",
    "new_command_id",
]

DEFAULT_BASE_URL = "https://app.mango-office.ru/vpbx/"

#: Extra user fields asked by :meth:`VpbxClient.users` by default.
DEFAULT_EXT_FIELDS: tuple[str, ...] = (
    "general.user_id", "general.sips", "general.mobile", "general.login", "groups",
)

#: One store for every client of the process that is not given one, so they share a budget.
_PROCESS_STORE = MemoryLimitStore()


def new_command_id() -> str:
    """A fresh ``command_id`` (a random UUID, 32 hex digits)."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class PbxNumber:
    """One of an employee's numbers, rung in ``order`` (``protocol`` tel, sip, fmc...)."""

    number: str
    protocol: str | None = None
    order: int | None = None
    status: str | None = None
    wait_sec: int | None = None
    number_normalized: str | None = None

    @property
    def active(self) -> bool:
        """Whether the number is switched on."""
        return self.status != "off"


@dataclass(frozen=True)
class PbxUser:
    """An employee of the PBX (``config/users/request``)."""

    name: str | None
    email: str | None
    extension: str | None
    user_id: int | None = None
    department: str | None = None
    position: str | None = None
    login: str | None = None
    mobile: str | None = None
    outgoing_line: str | None = None
    numbers: tuple[PbxNumber, ...] = ()
    sips: tuple[str, ...] = ()
    groups: tuple[int, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class PbxLine:
    """A PBX number (line) of the account (``incominglines``)."""

    line_id: int | None
    number: str
    name: str | None = None
    comment: str | None = None
    region: str | None = None
    schema_id: int | None = None
    schema_name: str | None = None


@dataclass(frozen=True)
class Balance:
    """The account's balance (``account/balance``)."""

    balance: Decimal
    currency: str | None = None
    response_at: str | None = None


@dataclass(frozen=True)
class RecordingFile:
    """A downloaded recording: its bytes and content type (``audio/mpeg``...)."""

    content: bytes
    content_type: str


@dataclass(frozen=True)
class RecordingTopics:
    """What speech analytics recognised in a recording (``queries/recording_categories``).

    ``topics`` are the names of the categories, in the PBX's order, without
    duplicates or blanks (assumption 16 of :mod:`mango_vpbx.assumptions`).
    """

    recording_id: str
    topics: tuple[str, ...]
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class TranscriptPhrase:
    """One phrase of a transcript: who spoke (as the PBX names the side), what, when."""

    text: str
    speaker: str | None = None
    start: float | None = None


@dataclass(frozen=True)
class Transcript:
    """The transcript of a recording (``queries/recording_transcripts``): its phrases, and
    :attr:`text` with one line per phrase. No phrase when the account has none."""

    recording_id: str
    phrases: tuple[TranscriptPhrase, ...]
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def text(self) -> str:
        return "\n".join(
            f"{phrase.speaker}: {phrase.text}" if phrase.speaker else phrase.text
            for phrase in self.phrases
        )


@dataclass(frozen=True)
class DctVisitor:
    """The web visitor a call-tracking number was shown to (``queries/user_info_by_dct_number``).

    ``bound`` is False when the PBX answered ``{}``: nobody was bound to the number
    (a static number, or the binding expired); every other field is then ``None``.
    ``source``/``medium``/``campaign``/``content``/``term`` are the ``channel``'s
    (the UTM tags of the visit).
    """

    number: str
    bound: bool
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None
    content: str | None = None
    term: str | None = None
    widget_name: str | None = None
    page_url: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _name(value: Any) -> str | None:
    """A category's name: a string, or the ``name``/``title``/``category`` of an object."""
    if isinstance(value, Mapping):
        value = value.get("name") or value.get("title") or value.get("category")
    if isinstance(value, str | int) and not isinstance(value, bool):
        text = str(value).strip()
        return text or None
    return None


def _items(body: Mapping[str, Any], *keys: str) -> list[Any]:
    """The list under the first of ``keys`` present in ``body`` (a lone object as a list)."""
    for key in keys:
        value = body.get(key)
        if isinstance(value, list):
            return value
        if isinstance(value, Mapping):
            return [value]
    return []


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def _int_or_none(value: Any) -> int | None:
    try:
        return parse_pbx_int(value)
    except ValueError:
        return None


def _account_locked(until: float, http_status: int | None = None) -> VpbxLockedOut:
    moment = datetime.fromtimestamp(until, tz=timezone.utc)
    return VpbxLockedOut(
        moment,
        "The PBX has locked the API access of the account after repeated invalid "
        f"requests; retry after {moment:%H:%M:%S} UTC",
        http_status=http_status,
    )


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class VpbxClient:
    """Commands and queries to one PBX account.

    ``base_url`` is the API root (``https://app.mango-office.ru/vpbx/``);
    ``timeout`` applies to every request (seconds, or ``(connect, read)``);
    ``session`` a :class:`requests.Session` to reuse; ``limiter`` the store of
    rate-limit and lockout state (by default one shared by the process; give
    a shared one, e.g. :class:`~mango_vpbx.limits.SqliteLimitStore` or the Odoo
    layer's, when several processes use one account). ``time_base`` is how the
    PBX reads times (see :class:`~mango_vpbx.times.TimeBase`). When a rate
    limit needs a wait of at most ``max_rate_wait`` seconds the client waits
    (with ``sleep``), else it raises :class:`~mango_vpbx.errors.VpbxRateLimited`; so
    too for the PBX's own HTTP 429 (its ``Retry-After``): the request is sent again once.
    Requests of one account go one at a time through the store; a request that
    waits more than ``max_busy_wait`` seconds for its turn raises
    :class:`~mango_vpbx.errors.VpbxBusy` without being sent.

    Every method raises a subclass of :class:`~mango_vpbx.errors.VpbxError`.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        api_salt: str,
        timeout: float | tuple[float, float] = 10,
        session: requests.Session | None = None,
        limiter: LimitStore | None = None,
        *,
        time_base: TimeBase = DEFAULT_TIME_BASE,
        max_rate_wait: float = 2.0,
        max_busy_wait: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_key or not api_salt:
            raise ArgumentError("the PBX API key and salt are required")
        self.base_url = base_url.rstrip("/") + "/"
        self.api_key = api_key
        self.api_salt = api_salt
        self.timeout = timeout
        self.session = session or requests.Session()
        self.limiter: LimitStore = limiter if limiter is not None else _PROCESS_STORE
        self.time_base = time_base
        self.max_rate_wait = max_rate_wait
        self.max_busy_wait = max_busy_wait
        self._sleep = sleep
        # The key identifies the account in a shared store without storing the key itself.
        self.account = hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:16]

    # --- transport -------------------------------------------------------------------

    def _scope(self, name: str) -> str:
        return f"{self.account}:{name}"

    def _until(self, seconds_from_now: float) -> float:
        return self.limiter.clock() + seconds_from_now

    def _check_blocks(self) -> None:
        now = self.limiter.clock()
        locked = self.limiter.blocked_until(self._scope("locked"))
        if locked is not None:
            raise _account_locked(locked)
        invalid = self.limiter.blocked_until(self._scope("invalid"))
        if invalid is not None:
            raise VpbxLockedOut(datetime.fromtimestamp(invalid, tz=timezone.utc))
        rate = self.limiter.blocked_until(self._scope("rate"))
        if rate is not None:
            raise VpbxRateLimited(retry_after=rate - now, code=None)

    def _take_slot(self, path: str) -> None:
        buckets = buckets_for(self.account, path)
        waited = 0.0
        while True:
            wait = self.limiter.acquire(buckets)
            if wait <= 0:
                return
            if waited + wait > self.max_rate_wait:
                raise VpbxRateLimited(retry_after=wait, code=None)
            self._sleep(wait)
            waited += wait

    def _fail(self, code: int, http_status: int | None) -> VpbxError:
        if 3000 <= code <= 3999:
            self.limiter.block(self._scope("invalid"), self._until(LOCKOUT_SECONDS))
        return error_for_code(code, http_status)

    def _hold_seconds(self) -> float:
        """Longest a request can keep its account's turn: its timeouts, and a margin."""
        timeout = self.timeout if isinstance(self.timeout, int | float) else sum(self.timeout)
        return float(timeout) + 5.0

    def _post(self, path: str, payload: Mapping[str, Any],
              passthrough: Iterable[int] = ()) -> requests.Response:
        """Send one signed request; map transport and HTTP failures to exceptions.

        The account's turn is held from the last check of the blocks until the answer
        is recorded (a 3xxx blocks the account before the next request may look), so
        no request is sent while another one of the account may still come back 3xxx.
        """
        self._check_blocks()
        with ExitStack() as turn:
            try:
                turn.enter_context(self.limiter.exclusive(
                    self._scope("in-flight"), self.max_busy_wait, self._hold_seconds()))
            except TimeoutError:
                raise VpbxBusy(retry_after=self.max_busy_wait) from None
            self._check_blocks()
            self._take_slot(path)
            try:
                return self._send(path, payload, passthrough)
            except VpbxRateLimited as limited:
                # The PBX counted a request that our slots let go: it measures between
                # arrivals, we between sends, and a network's delay differs per request.
                # It did nothing with it: the request is sent again, once, after the wait
                # it asks for if that is a wait this client would take (max_rate_wait).
                if limited.http_status != 429 or limited.retry_after > self.max_rate_wait:
                    raise
                self._sleep(limited.retry_after)
            self._check_blocks()
            self._take_slot(path)
            return self._send(path, payload, passthrough)

    def _send(self, path: str, payload: Mapping[str, Any],
              passthrough: Iterable[int]) -> requests.Response:
        try:
            response = self.session.post(
                self.base_url + path,
                data=encode(dict(payload), self.api_key, self.api_salt),
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise VpbxUnavailable(
                f"The PBX did not answer in time ({self.timeout} s) to {path}"
            ) from exc
        except requests.RequestException as exc:
            raise VpbxUnavailable(f"The PBX cannot be reached: {exc}") from exc
        status = response.status_code
        if status in passthrough:
            return response
        if status == 401:
            until = self.limiter.block(self._scope("locked"), self._until(LOCKOUT_SECONDS))
            raise _account_locked(until, http_status=401)
        if status == 429:
            retry = _int_or_none(response.headers.get("Retry-After")) or 1
            self.limiter.block(self._scope("rate"), self._until(retry))
            raise VpbxRateLimited(retry_after=float(retry), http_status=429)
        if status >= 500:
            raise VpbxUnavailable(f"The PBX failed with HTTP {status} on {path}",
                                  http_status=status)
        body = _json(response)
        if status >= 400:
            code = body.get("code") or body.get("result") if isinstance(body, Mapping) else None
            code = _int_or_none(code)
            if code:
                raise self._fail(code, status)
            raise VpbxRequestError(f"The PBX refused {path} with HTTP {status}", http_status=status)
        if isinstance(body, Mapping):
            code = _int_or_none(body.get("result"))
            if code is not None and not is_success(code):
                raise self._fail(code, status)
        return response

    def _query(self, path: str, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        response = self._post(path, payload)
        body = _json(response)
        if not isinstance(body, Mapping):
            raise VpbxError(f"Unexpected answer of the PBX to {path}: not a JSON object",
                            http_status=response.status_code)
        return body

    def _command(self, path: str, payload: dict[str, Any], command_id: str | None) -> str:
        command_id = command_id or new_command_id()
        self._post(path, {"command_id": command_id, **payload})
        return command_id

    # --- commands --------------------------------------------------------------------

    def callback(self, extension: str, to_number: str, line_number: str | None = None,
                 from_number: str | None = None, command_id: str | None = None) -> str:
        """Call ``to_number`` on behalf of the employee ``extension`` (click-to-call).

        The PBX rings the employee first (on ``from_number`` if given, else their
        numbers), then ``to_number``; ``line_number`` is the caller ID line (for a
        SIP line its name in the PBX account, not its URI). Returns the ``command_id``.
        """
        if not extension:
            raise ArgumentError("callback needs the employee's extension")
        sender: dict[str, str] = {"extension": str(extension)}
        if from_number:
            sender["number"] = from_number
        payload: dict[str, Any] = {"from": sender, "to_number": str(to_number)}
        if line_number:
            payload["line_number"] = line_number
        return self._command("commands/callback", payload, command_id)

    def callback_group(self, from_: str, to: str, line_number: str,
                       command_id: str | None = None) -> str:
        """Call between a group (short number) and a number, in either direction."""
        return self._command(
            "commands/callback_group",
            {"from": str(from_), "to": str(to), "line_number": line_number},
            command_id,
        )

    def transfer(self, call_id: str, to_number: str, initiator: str,
                 method: Literal["blind", "hold"] = "blind",
                 command_id: str | None = None) -> str:
        """Transfer a connected call to ``to_number``: ``blind`` or ``hold`` (consultative).

        ``initiator`` is the transferring employee's extension or number.
        """
        if method not in ("blind", "hold"):
            raise ArgumentError("transfer method must be 'blind' or 'hold'")
        return self._command(
            "commands/transfer",
            {"call_id": call_id, "method": method, "to_number": str(to_number),
             "initiator": str(initiator)},
            command_id,
        )

    def transfer_cancel(self, call_id: str, command_id: str | None = None) -> str:
        """Cancel a transfer of ``call_id`` (parameters undocumented, see the assumptions)."""
        return self._command("commands/transfer_cancel", {"call_id": call_id}, command_id)

    def calls_connect(self, holded_call_id: str, transferred_call_id: str,
                      transfer_initiator_number: str, command_id: str | None = None) -> str:
        """Join the held leg and the consultation leg (both of one ``entry_id``)."""
        return self._command(
            "commands/calls_connect",
            {"holded_call_id": holded_call_id, "transferred_call_id": transferred_call_id,
             "transfer_initiator_number": str(transfer_initiator_number)},
            command_id,
        )

    def hold(self, call_id: str, initiator: str, command_id: str | None = None) -> str:
        """Put a call on hold on behalf of ``initiator``."""
        return self._command("commands/call/hold/on",
                             {"call_id": call_id, "initiator": str(initiator)}, command_id)

    def route(self, call_id: str, to_number: str, display_name: str | None = None,
              command_id: str | None = None) -> str:
        """Route a call that is in the IVR or queue (or ringing an employee) to ``to_number``."""
        payload: dict[str, Any] = {"call_id": call_id, "to_number": str(to_number)}
        if display_name:
            payload["sip_headers"] = {"From/display-name": display_name}
        return self._command("commands/route", payload, command_id)

    def hangup(self, call_id: str, command_id: str | None = None) -> str:
        """Hang up a leg."""
        return self._command("commands/call/hangup", {"call_id": call_id}, command_id)

    def recording_start(self, call_id: str, call_party_number: str,
                        command_id: str | None = None) -> str:
        """Start recording the employee ``call_party_number`` (extension preferred) in a call."""
        return self._command(
            "commands/recording/start",
            {"call_id": call_id, "call_party_number": str(call_party_number)},
            command_id,
        )

    def sms(self, from_extension: str, to_number: str, text: str,
            sms_sender: str | None = None, command_id: str | None = None) -> str:
        """Send an SMS as the employee ``from_extension`` (billed to them).

        A text the PBX would refuse (empty, over four segments: :func:`mango_vpbx.sms.check_text`)
        raises :class:`~mango_vpbx.errors.ArgumentError` and is not sent: a 3xxx refusal
        counts towards the account's lockout. Its outcome arrives as ``result/sms``, its
        delivery as ``events/sms``, both with the returned ``command_id``.
        """
        check_text(text)
        payload: dict[str, Any] = {"text": text, "from_extension": str(from_extension),
                                   "to_number": str(to_number)}
        if sms_sender:
            payload["sms_sender"] = sms_sender
        return self._command("commands/sms", payload, command_id)

    # --- recordings ------------------------------------------------------------------

    def recording_link(self, recording_id: str,
                       action: Literal["download", "play"] = "download") -> str:
        """A one-shot, short-lived link to a recording (the ``Location`` of the PBX's 302).

        Use it at once and never store it; :meth:`download_recording` does both.
        """
        if action not in ("download", "play"):
            raise ArgumentError("action must be 'download' or 'play'")
        response = self._post("queries/recording/post",
                               {"recording_id": recording_id, "action": action},
                               passthrough=(404,))
        if response.status_code == 404:
            raise VpbxNotFound("The recording was not found on the PBX", code=3320,
                               http_status=404)
        location = response.headers.get("Location")
        if response.status_code in (301, 302, 303, 307, 308) and location:
            return location
        raise VpbxError("The PBX did not give a link to the recording",
                        http_status=response.status_code)

    def download_recording(self, recording_id: str) -> RecordingFile:
        """Download a recording's file (follows the one-shot link immediately)."""
        link = self.recording_link(recording_id, "download")
        try:
            response = self.session.get(link, timeout=self.timeout, allow_redirects=True)
        except requests.Timeout as exc:
            raise VpbxUnavailable(
                f"The recording server did not answer in time ({self.timeout} s)"
            ) from exc
        except requests.RequestException as exc:
            raise VpbxUnavailable(f"The recording server cannot be reached: {exc}") from exc
        if response.status_code in (404, 410):
            raise VpbxNotFound("The recording link has expired or the file is gone",
                               http_status=response.status_code)
        if response.status_code != 200:
            raise VpbxUnavailable(
                f"The recording server failed with HTTP {response.status_code}",
                http_status=response.status_code,
            )
        content_type = response.headers.get("Content-Type", "audio/mpeg").split(";")[0].strip()
        return RecordingFile(content=response.content, content_type=content_type)

    # --- speech analytics and call tracking ------------------------------------------

    def recording_topics(self, recording_id: str) -> RecordingTopics:
        """The topics speech analytics recognised in a recording
        (``queries/recording_categories``, after ``events/record/tagged``)."""
        if not recording_id:
            raise ArgumentError("recording_id is required")
        body = self._query("queries/recording_categories", {"recording_id": recording_id})
        names: dict[str, None] = {}
        entries = _items(body, "data", "recordings")
        own = [e for e in entries if isinstance(e, Mapping)
               and str(e.get("recording_id") or recording_id) == recording_id]
        for holder in [body, *own]:
            for item in _items(holder, "categories", "category", "tags"):
                name = _name(item)
                if name:
                    names.setdefault(name, None)
        return RecordingTopics(recording_id=recording_id, topics=tuple(names), raw=body)

    def recording_transcript(self, recording_id: str) -> Transcript:
        """The transcript of a recording (``queries/recording_transcripts``)."""
        if not recording_id:
            raise ArgumentError("recording_id is required")
        body = self._query("queries/recording_transcripts", {"recording_id": recording_id})
        phrases = []
        sources = [body, *(e for e in _items(body, "data") if isinstance(e, Mapping))]
        for holder in sources:
            for item in _items(holder, "transcripts", "transcript", "phrases"):
                if isinstance(item, str):
                    item = {"text": item}
                if not isinstance(item, Mapping):
                    continue
                text = _text(item.get("text") or item.get("phrase"))
                if text is None or not text.strip():
                    continue
                phrases.append(TranscriptPhrase(
                    text=text.strip(),
                    speaker=_text(item.get("speaker") or item.get("channel")
                                  or item.get("side")),
                    start=_number(item.get("start", item.get("time"))),
                ))
        return Transcript(recording_id=recording_id, phrases=tuple(phrases), raw=body)

    def dct_visitor(self, number: str) -> DctVisitor:
        """Who saw the call-tracking ``number`` on the site, and from which channel
        (``queries/user_info_by_dct_number``)."""
        if not number:
            raise ArgumentError("number is required")
        body = self._query("queries/user_info_by_dct_number", {"number": number})
        data = {k: v for k, v in body.items() if k != "result"}
        if not data:
            return DctVisitor(number=number, bound=False, raw=body)
        channel = body.get("channel") if isinstance(body.get("channel"), Mapping) else {}
        page = body.get("current_page") if isinstance(body.get("current_page"), Mapping) else {}
        return DctVisitor(
            number=number,
            bound=True,
            source=_text(channel.get("source")),
            medium=_text(channel.get("medium")),
            campaign=_text(channel.get("campaign")),
            content=_text(channel.get("content")),
            term=_text(channel.get("term")),
            widget_name=_text(body.get("widget_name")),
            page_url=_text(page.get("url")),
            raw=body,
        )

    # --- statistics ------------------------------------------------------------------

    def stats_request(self, date_from: datetime | int, date_to: datetime | int,
                      fields: Sequence[str] | str | None = None,
                      from_: Mapping[str, str] | None = None,
                      to: Mapping[str, str] | None = None,
                      call_party: Mapping[str, str] | None = None,
                      request_id: str | None = None) -> str:
        """Ask for a statistics report of one span (≤ one month); return its ``key``."""
        payload: dict[str, Any] = {
            "date_from": str(to_pbx(date_from, self.time_base)),
            "date_to": str(to_pbx(date_to, self.time_base)),
            "fields": ", ".join(normalize_fields(fields)),
        }
        for name, value in (("from", from_), ("to", to), ("call_party", call_party)):
            if value:
                payload[name] = dict(value)
        if request_id:
            payload["request_id"] = request_id
        key = self._query("stats/request", payload).get("key")
        if not key:
            raise VpbxError("The PBX did not return a statistics key")
        return str(key)

    def stats_result(self, key: str, fields: Sequence[str] | str | None = None,
                     poll_interval: float = STATS_POLL_SECONDS,
                     max_wait: float = 300.0) -> list[StatsRow]:
        """Fetch a report by ``key``, polling every ``poll_interval`` s while it is not ready.

        Raises :class:`~mango_vpbx.errors.VpbxNotFound` when the key is unknown or
        expired (HTTP 404) and :class:`~mango_vpbx.errors.VpbxUnavailable` when the
        report is still not ready after ``max_wait`` seconds.
        """
        attempts = 1 + (int(max_wait // poll_interval) if poll_interval > 0 else 0)
        for attempt in range(attempts):
            if attempt:
                self._sleep(poll_interval)
            response = self._post("stats/result", {"key": key}, passthrough=(204, 404))
            if response.status_code == 404:
                raise VpbxNotFound("The statistics report has expired or its key is unknown",
                                   http_status=404)
            if response.status_code != 204:
                return parse_csv(response.content, fields, self.time_base)
        raise VpbxUnavailable(f"The statistics report was not ready after {max_wait:.0f} s")

    def stats(self, date_from: datetime | int, date_to: datetime | int,
              fields: Sequence[str] | str | None = None,
              from_: Mapping[str, str] | None = None,
              to: Mapping[str, str] | None = None,
              call_party: Mapping[str, str] | None = None,
              poll_interval: float = STATS_POLL_SECONDS,
              max_wait: float = 300.0) -> list[StatsRow]:
        """The calls between ``date_from`` and ``date_to`` (aware datetimes or POSIX timestamps).

        Periods longer than the PBX's one-month limit are split into several
        requests; the rows of all of them are returned in order.
        """
        names = normalize_fields(fields)
        start = to_pbx(date_from, TimeBase.UTC)
        end = to_pbx(date_to, TimeBase.UTC)
        rows: list[StatsRow] = []
        for span_from, span_to in split_period(start, end):
            key = self.stats_request(span_from, span_to, names, from_, to, call_party)
            rows.extend(self.stats_result(key, names, poll_interval, max_wait))
        return rows

    # --- configuration ---------------------------------------------------------------

    def users(self, extension: str | None = None,
              ext_fields: Sequence[str] | None = DEFAULT_EXT_FIELDS) -> list[PbxUser]:
        """The PBX's employees (or the one with ``extension``)."""
        payload: dict[str, Any] = {}
        if extension:
            payload["extension"] = str(extension)
        if ext_fields:
            payload["ext_fields"] = list(ext_fields)
        body = self._query("config/users/request", payload)
        return [self._user(item) for item in body.get("users") or [] if isinstance(item, Mapping)]

    @staticmethod
    def _user(item: Mapping[str, Any]) -> PbxUser:
        general = item.get("general") or {}
        telephony = item.get("telephony") or {}
        numbers = tuple(
            PbxNumber(
                number=str(n.get("number")),
                protocol=_text(n.get("protocol")),
                order=_int_or_none(n.get("order")),
                status=_text(n.get("status")),
                wait_sec=_int_or_none(n.get("wait_sec")),
                number_normalized=_text(n.get("number_normalized")),
            )
            for n in telephony.get("numbers") or [] if isinstance(n, Mapping) and n.get("number")
        )
        sips = tuple(
            str(s.get("number") if isinstance(s, Mapping) else s)
            for s in general.get("sips") or [] if s
        )
        groups = tuple(g for g in (_int_or_none(x) for x in item.get("groups") or []) if g)
        return PbxUser(
            name=_text(general.get("name")),
            email=_text(general.get("email")),
            extension=_text(telephony.get("extension")),
            user_id=_int_or_none(general.get("user_id")),
            department=_text(general.get("department")),
            position=_text(general.get("position")),
            login=_text(general.get("login")),
            mobile=_text(general.get("mobile")),
            outgoing_line=_text(telephony.get("outgoingline")),
            numbers=tuple(sorted(numbers, key=lambda n: (n.order is None, n.order or 0))),
            sips=sips,
            groups=groups,
            raw=item,
        )

    def lines(self) -> list[PbxLine]:
        """The account's PBX numbers (``incominglines``)."""
        body = self._query("incominglines", {})
        return [
            PbxLine(
                line_id=_int_or_none(line.get("line_id")),
                number=str(line.get("number")),
                name=_text(line.get("name")),
                comment=_text(line.get("comment")),
                region=_text(line.get("region")),
                schema_id=_int_or_none(line.get("schema_id")),
                schema_name=_text(line.get("schema_name")),
            )
            for line in body.get("lines") or [] if isinstance(line, Mapping) and line.get("number")
        ]

    def balance(self) -> Balance:
        """The account's balance."""
        body = self._query("account/balance", {})
        try:
            amount = Decimal(str(body.get("balance")))
        except ArithmeticError:
            raise VpbxError("The PBX returned no balance") from None
        if not amount.is_finite():
            raise VpbxError("The PBX returned no balance")
        return Balance(balance=amount, currency=_text(body.get("currency")),
                       response_at=_text(body.get("response_at")))
