"""The emulator's HTTP server: the PBX's API, one-shot recording files, control API, console.

Routes (one :class:`http.server.ThreadingHTTPServer`):

- ``POST /vpbx/<command or query>``: the PBX API, signed like the real one
  (``vpbx_api_key``, ``sign``, ``json`` form fields). Accepted commands answer
  ``{"result":1000}`` at once and report their outcome later on the webhook
  (``result/<command>``), as the PBX does. Refusals use the documented codes:
  HTTP 420 with ``{"code": N}`` for 3xxx (3102 bad signature, 3105 wrong key,
  3103 missing parameter, 3310 unknown call, 3320 unknown recording...), HTTP 429
  with the reference's body when over the rate limits (§1.5), HTTP 401 while the
  account is locked (a second 3xxx answer within two minutes locks it for two
  minutes after the first).
- ``GET /vpbx/queries/recording/link/<id>/<action>/<key>/<expiry>/<sign>``: the
  signed GET link to a recording.
- ``GET /files/<token>``: a recording's audio, once (a second GET is 404).
- ``/control/...``: unsigned JSON API for the console and tests, loopback only
  unless ``control_from`` allows more (see :meth:`Emulator._control`).
- ``GET /``: the console (:mod:`mango_vpbx_emulator.console`).

Every request to the PBX API is logged as received (:class:`Received`, read with
``GET /control/requests``): path, whether its key and signature were right, the
synchronous answer and, for a command, the code of its later ``result/<command>``.
"""

from __future__ import annotations

import csv
import email.policy
import io
import ipaddress
import json
import secrets
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mango_vpbx import codes
from mango_vpbx.limits import MemoryLimitStore, buckets_for
from mango_vpbx.signing import sign, sign_recording_link
from mango_vpbx.sms import measure as sms_measure

from . import scenarios
from .console import CONSOLE_HTML
from .faults import FaultConfig, FaultInjector
from .history import History
from .pbx import Autopilot, Pbx, PbxError
from .sender import EventSender
from .sms import SmsBehaviour, SmsCentre
from .state import (
    NO_ANSWER,
    Call,
    Directory,
    Employee,
    Leg,
    demo_directory,
    directory_from_config,
)

RATE_LIMITED_BODY = {
    "name": "Service Unavailable",
    "message": "Rate limit exceeded.",
    "code": 0,
    "status": 429,
}

DEFAULT_STATS_FIELDS = (
    "records, start, finish, answer, from_extension, from_number, to_extension, to_number, "
    "disconnect_reason, line_number, location"
)
STATS_FIELDS = {
    "records",
    "start",
    "finish",
    "answer",
    "from_extension",
    "from_number",
    "to_extension",
    "to_number",
    "disconnect_reason",
    "line_number",
    "location",
    "entry_id",
    "create",
}


class ApiError(Exception):
    """A synchronous refusal: HTTP ``status`` with ``{"code": code}``."""

    def __init__(self, code: int, status: int = 420) -> None:
        self.code = code
        self.status = status
        super().__init__(codes.describe(code))


class RateLimiter:
    """The PBX's per-account limits (the table of :mod:`mango_vpbx.limits`), server-side."""

    def __init__(self) -> None:
        self.enabled = True
        self._store = MemoryLimitStore(time.monotonic)

    def allow(self, path: str) -> bool:
        return not self.enabled or self._store.acquire(buckets_for("pbx", path)) <= 0

    def reset(self) -> None:
        self._store = MemoryLimitStore(time.monotonic)


class Lockout:
    """One 3xxx answer per ``seconds`` is tolerated; a second locks the account (HTTP 401)."""

    def __init__(self, seconds: float = 120.0) -> None:
        self.seconds = seconds
        self._errors: deque[float] = deque()
        self.locked_until = 0.0
        self._lock = threading.Lock()

    def locked(self) -> bool:
        return time.monotonic() < self.locked_until

    def record(self) -> bool:
        """Count a 3xxx answer; True when it locks the account (answer it 401)."""
        now = time.monotonic()
        with self._lock:
            while self._errors and self._errors[0] <= now - self.seconds:
                self._errors.popleft()
            self._errors.append(now)
            if len(self._errors) > 1:
                self.locked_until = self._errors[0] + self.seconds
                return True
            return False

    def reset(self) -> None:
        with self._lock:
            self._errors.clear()
            self.locked_until = 0.0


@dataclass
class Received:
    """One request the PBX API received, as the control API reports it.

    ``signed``: the key and the signature were right (``code`` is then not 3102/3105);
    ``data``: the request's ``json`` when it parsed as an object; ``result``: for an
    accepted command, the code its ``result/<command>`` reported (None until then).
    """

    seq: int
    at: float
    path: str
    signed: bool = False
    data: dict[str, Any] | None = None
    status: int | None = None
    code: int | None = None
    result: int | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


#: How many received requests the control API keeps.
RECEIVED_LOG_SIZE = 2000


@dataclass
class Report:
    """A ``stats/request`` report: ready after ``not_ready`` polls."""

    key: str
    request_id: str | None
    csv: str
    polls: int = 0
    created: float = 0.0


class Emulator:
    """One running emulated PBX account: state, delivery, API server and control API."""

    def __init__(
        self,
        api_key: str,
        api_salt: str,
        webhook: str | None = None,
        directory: Directory | None = None,
        speed: float = 1.0,
        autopilot: Autopilot | None = None,
        rate_limits: bool = True,
        lockout_seconds: float = 120.0,
        stats_not_ready_polls: int = 1,
        record_delay: float = 5.0,
        control_from: tuple[str, ...] = ("127.0.0.0/8", "::1/128"),
        file_ttl: float = 300.0,
    ) -> None:
        self.api_key = api_key
        self.api_salt = api_salt
        self.sender = EventSender(webhook, api_key, api_salt)
        self.faults = FaultInjector(self.sender)
        self.pbx = Pbx(
            directory or demo_directory(),
            self.faults,
            speed=speed,
            autopilot=autopilot,
            record_delay=record_delay,
        )
        self.sms = SmsCentre(self.pbx)
        self.limiter = RateLimiter()
        self.limiter.enabled = rate_limits
        self.lockout = Lockout(lockout_seconds)
        self.stats_not_ready_polls = stats_not_ready_polls
        self.control_networks = [ipaddress.ip_network(n) for n in control_from]
        self.file_ttl = file_ttl
        self.reports: dict[str, Report] = {}
        self.files: dict[str, tuple[bytes, float]] = {}
        self.runs: list[scenarios.ScenarioRun] = []
        #: numbers the console offers to call from: ``{"number", "name"}`` (a directory file)
        self.callers: list[dict[str, str]] = []
        #: entry ids of the loaded history's calls (see :meth:`use_history`)
        self.history_entries: set[str] = set()
        self.received: deque[Received] = deque(maxlen=RECEIVED_LOG_SIZE)
        self._received_seq = 0
        self._request = threading.local()
        self._lock = threading.Lock()
        self.httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self, host: str = "127.0.0.1", port: int = 8180) -> str:
        """Serve in a background thread; return the base URL (``http://host:port``)."""
        emulator = self

        class Handler(_Handler):
            pass

        Handler.emulator = emulator
        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.05,), daemon=True, name="mango-emulator"
        )
        self._thread.start()
        return self.url

    @property
    def url(self) -> str:
        assert self.httpd is not None
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ the demo's files

    def use_directory(self, cfg: dict[str, Any]) -> None:
        """Employees, groups and lines of a directory file, and the callers it lists."""
        directory = directory_from_config(cfg)
        callers = [
            {"number": str(c["number"]), "name": str(c.get("name") or "")}
            for c in cfg.get("callers") or ()
        ]
        with self.pbx.cond:
            self.pbx.directory = directory
            self.callers = callers

    def use_history(self, history: History) -> None:
        """Count a history's calls in the statistics and serve its recordings.

        A history loaded again (its file changed) replaces the previous one.
        """
        with self.pbx.cond:
            self.pbx.history = [
                c for c in self.pbx.history if c.entry_id not in self.history_entries
            ]
            self.pbx.history[:0] = [item.call for item in history.calls]
            for item in history.calls:
                for rec in item.recordings:
                    self.pbx.recordings[rec.recording_id] = rec
                    self.pbx.topics[rec.recording_id] = self.pbx.topics_of(item.call, rec)
                if item.call.dct_number and item.call.dct_channel:
                    self.pbx.bind_dct(item.call.dct_number, item.call.dct_channel)
            self.history_entries = {item.entry_id for item in history.calls}

    # ------------------------------------------------------------------ the PBX API

    def api(self, path: str, form: dict[str, str], host: str) -> tuple[int, dict[str, str], bytes]:
        """Answer one signed PBX API request: ``(status, headers, body)``; log it as received."""
        with self._lock:
            self._received_seq += 1
            entry = Received(self._received_seq, time.time(), path)
            self.received.append(entry)
        try:
            parsed = json.loads(form.get("json") or "null")
        except ValueError:
            parsed = None
        entry.data = parsed if isinstance(parsed, dict) else None
        self._request.entry = entry
        delay = self.faults.config.api_delay
        if delay > 0:
            time.sleep(delay)  # a slow PBX: the client may give up before the answer
        try:
            status, headers, body = self._answer(path, form, host)
        finally:
            self._request.entry = None
        entry.status = status
        if headers.get("Content-Type") == "application/json":
            answer = json.loads(body or b"null")
            if isinstance(answer, dict):
                entry.code = answer.get("code", answer.get("result"))
        return status, headers, body

    def _answer(
        self, path: str, form: dict[str, str], host: str
    ) -> tuple[int, dict[str, str], bytes]:
        if self.lockout.locked():
            return _json(
                401,
                {
                    "name": "Unauthorized",
                    "message": "Access is blocked after invalid requests",
                    "status": 401,
                },
            )
        if not self.limiter.allow(path):
            return _json(429, RATE_LIMITED_BODY)
        try:
            data = self._verified(form)
            handler = self._routes().get(path)
            if handler is None:
                raise ApiError(4001)
            return handler(data, host)
        except ApiError as exc:
            if 3000 <= exc.code < 4000 and self.lockout.record():
                return _json(
                    401,
                    {
                        "name": "Unauthorized",
                        "message": "Access is blocked after invalid requests",
                        "status": 401,
                    },
                )
            return _json(exc.status, {"code": exc.code, "message": codes.describe(exc.code)})

    def _verified(self, form: dict[str, str]) -> dict[str, Any]:
        for name in ("vpbx_api_key", "sign", "json"):
            if name not in form:
                raise ApiError(3103)
        if not secrets.compare_digest(form["vpbx_api_key"].encode(), self.api_key.encode()):
            raise ApiError(3105)
        expected = sign(self.api_key, form["json"], self.api_salt)
        if not secrets.compare_digest(form["sign"].lower().encode(), expected.encode()):
            raise ApiError(3102)
        entry = getattr(self._request, "entry", None)
        if entry is not None:
            entry.signed = True
        try:
            data = json.loads(form["json"])
        except ValueError:
            raise ApiError(3400) from None
        if not isinstance(data, dict):
            raise ApiError(3400)
        return data

    def _routes(
        self,
    ) -> dict[str, Callable[[dict[str, Any], str], tuple[int, dict[str, str], bytes]]]:
        return {
            "commands/callback": self._callback,
            "commands/call/hangup": self._hangup,
            "commands/transfer": self._transfer,
            "commands/calls_connect": self._calls_connect,
            "commands/transfer_cancel": self._transfer_cancel,
            "commands/route": self._route,
            "commands/recording/start": self._recording_start,
            "commands/sms": self._sms,
            "stats/request": self._stats_request,
            "stats/result": self._stats_result,
            "queries/recording/post": self._recording_post,
            "queries/recording_categories": self._recording_categories,
            "queries/recording_transcripts": self._recording_transcripts,
            "queries/user_info_by_dct_number": self._dct_visitor,
            "config/users/request": self._users,
            "incominglines": self._lines,
            "account/balance": self._balance,
        }

    def _command(
        self, result_path: str, command_id: str, action: Callable[[], None]
    ) -> tuple[int, dict, bytes]:
        """Accept a command: reply now, act in the background, report ``result/<command>``."""
        entry = getattr(self._request, "entry", None)

        def run() -> None:
            try:
                action()
                code = 1000
            except PbxError as exc:
                code = exc.code
            if entry is not None:
                entry.result = code
            self.pbx.emit(result_path, {"command_id": command_id, "result": code})

        self.pbx.background(run, name=f"mango-{result_path}")
        return _json(200, {"result": 1000})

    def _leg(self, data: dict[str, Any], key: str = "call_id") -> tuple[Call, Leg]:
        call_id = _required(data, key)
        try:
            return self.pbx.find_leg(call_id)
        except PbxError as exc:
            raise ApiError(exc.code) from None

    def _callback(self, data: dict[str, Any], host: str) -> tuple[int, dict, bytes]:
        command_id = _required(data, "command_id")
        caller = data.get("from")
        if not isinstance(caller, dict) or not str(caller.get("extension") or ""):
            raise ApiError(3103)
        to_number = _required(data, "to_number")
        extension = str(caller["extension"])

        def act() -> None:
            _call, leg = self.pbx.callback(
                extension,
                to_number,
                command_id,
                data.get("line_number"),
                device=caller.get("number") or None,
            )
            if self.pbx.autopilot.enabled:
                self.pbx.background(scenarios.drive_callback, self._autopilot_script(), leg)

        return self._command("result/callback", command_id, act)

    def _hangup(self, data: dict[str, Any], host: str) -> tuple[int, dict, bytes]:
        command_id = _required(data, "command_id")
        call_id = _required(data, "call_id")

        def act() -> None:
            try:
                self.pbx.live_leg(call_id)
            except PbxError:
                raise PbxError(4101) from None
            self.pbx.hangup(call_id, "command")

        return self._command("result/call/hangup", command_id, act)

    def _transfer(self, data: dict[str, Any], host: str) -> tuple[int, dict, bytes]:
        command_id = _required(data, "command_id")
        _call, leg = self._leg(data)
        to_number = _required(data, "to_number")
        initiator = _required(data, "initiator")
        method = data.get("method", "blind")
        if method not in ("blind", "hold"):
            raise ApiError(3104)

        def act() -> None:
            new = self.pbx.transfer(leg.call_id, to_number, method, initiator, command_id)
            if self.pbx.autopilot.enabled:
                self.pbx.background(
                    _drive_colleague, self._autopilot_script(), new, method == "hold"
                )

        return self._command("result/transfer", command_id, act)

    def _calls_connect(self, data: dict[str, Any], host: str) -> tuple[int, dict, bytes]:
        command_id = _required(data, "command_id")
        _c, held = self._leg(data, "holded_call_id")
        _c, consult = self._leg(data, "transferred_call_id")
        return self._command(
            "result/calls_connect",
            command_id,
            lambda: self.pbx.calls_connect(held.call_id, consult.call_id),
        )

    def _transfer_cancel(self, data: dict[str, Any], host: str) -> tuple[int, dict, bytes]:
        command_id = _required(data, "command_id")
        _c, leg = self._leg(data)
        return self._command(
            "result/transfer_cancel", command_id, lambda: self.pbx.transfer_cancel(leg.call_id)
        )

    def _route(self, data: dict[str, Any], host: str) -> tuple[int, dict, bytes]:
        command_id = _required(data, "command_id")
        _c, leg = self._leg(data)
        to_number = _required(data, "to_number")

        def act() -> None:
            legs = self.pbx.route(leg.call_id, to_number, command_id)
            if self.pbx.autopilot.enabled and legs:
                self.pbx.background(_drive_colleague, self._autopilot_script(), legs[0], False)

        return self._command("result/route", command_id, act)

    def _recording_start(self, data: dict[str, Any], host: str) -> tuple[int, dict, bytes]:
        command_id = _required(data, "command_id")
        call, leg = self._leg(data)
        party = _required(data, "call_party_number")

        def act() -> None:
            if not leg.live:
                raise PbxError(4101)
            emp = self.pbx.directory.employee(party) or self.pbx.directory.employee_by_number(party)
            in_leg = emp is not None and emp.extension in (
                leg.from_.get("extension"),
                leg.to.get("extension"),
            )
            if not in_leg:
                raise PbxError(3330)
            self.pbx.start_recording(call, leg, emp.extension, command_id)

        return self._command("result/recording/start", command_id, act)

    def _sms(self, data: dict[str, Any], host: str) -> tuple[int, dict, bytes]:
        """``commands/sms``: see :mod:`mango_vpbx_emulator.sms`."""
        command_id = _required(data, "command_id")
        extension = _required(data, "from_extension")
        to_number = _required(data, "to_number")
        text = _required(data, "text")
        if not sms_measure(text).fits:
            raise ApiError(3100)
        sender = data.get("sms_sender")
        sms = self.sms.accept(command_id, extension, to_number, text,
                              str(sender) if sender else None)
        return self._command("result/sms", command_id, lambda: self.sms.submit(sms))

    def _autopilot_script(self) -> scenarios.Script:
        ap = self.pbx.autopilot
        params = scenarios.scenario_params(
            "incoming_answered",
            {
                "ring_seconds": ap.answer_after,
                "talk_seconds": ap.talk,
                "speed": self.pbx.speed,
            },
        )
        return scenarios.Script(self.pbx, params, scenarios.ScenarioRun("autopilot", params))

    # ------------------------------------------------------------------ statistics

    def _stats_request(self, data: dict[str, Any], host: str) -> tuple[int, dict, bytes]:
        try:
            date_from = int(_required(data, "date_from"))
            date_to = int(_required(data, "date_to"))
        except ValueError:
            raise ApiError(3104) from None
        if date_to < date_from or date_to - date_from > 31 * 24 * 3600:
            raise ApiError(3111)
        fields = data.get("fields") or DEFAULT_STATS_FIELDS
        if isinstance(fields, list):
            fields = ",".join(fields)
        names = [f.strip() for f in str(fields).split(",") if f.strip()]
        if not names or set(names) - STATS_FIELDS:
            raise ApiError(3104)
        with self.pbx.cond:
            calls = [
                c
                for c in self.pbx.history
                if date_from <= c.create_time <= date_to
                and _stats_match(c, self.pbx.summary(c), data)
            ]
            rows = [_stats_row(c, self.pbx.summary(c), names) for c in calls]
        key = self.pbx.ids.key()
        request_id = data.get("request_id")
        with self._lock:
            self.reports[key] = Report(
                key, request_id, "".join(r + "\n" for r in rows), created=time.time()
            )
        ready = {"key": key}
        if request_id:
            ready["request_id"] = request_id
        self.pbx.background(self.pbx.emit, "result/stat", ready, name="mango-result-stat")
        return _json(200, {"key": key})

    def _stats_result(self, data: dict[str, Any], host: str) -> tuple[int, dict, bytes]:
        key = _required(data, "key")
        with self._lock:
            report = self.reports.get(key)
            if report is None or time.time() - report.created > 600:
                return 404, {}, b""
            report.polls += 1
            if report.polls <= self.stats_not_ready_polls:
                return 204, {}, b""
        return 200, {"Content-Type": "text/plain; charset=utf-8"}, report.csv.encode("utf-8")

    # ------------------------------------------------------------------ recordings

    def _recording_post(self, data: dict[str, Any], host: str) -> tuple[int, dict, bytes]:
        recording_id = _required(data, "recording_id")
        if data.get("action", "download") not in ("download", "play"):
            raise ApiError(3104)
        return self._recording_redirect(recording_id, host)

    def _recording_redirect(self, recording_id: str, host: str) -> tuple[int, dict, bytes]:
        with self.pbx.cond:
            rec = self.pbx.recordings.get(recording_id)
            if rec is None or rec.completion_code not in (None, 1000):
                raise ApiError(3320)
            audio = rec.audio()
        token = secrets.token_urlsafe(24)
        with self._lock:
            now = time.time()
            self.files = {t: f for t, f in self.files.items() if f[1] > now}
            self.files[token] = (audio, now + self.file_ttl)
        return 302, {"Location": f"http://{host}/files/{token}"}, b""

    def recording_link(self, path: str, host: str) -> tuple[int, dict, bytes]:
        """``GET queries/recording/link/<id>/<action>/<key>/<expiry>/<sign>``."""
        parts = path.split("/")
        if len(parts) != 5:
            return 404, {}, b""
        recording_id, _action, key, expiry, signature = (urllib.parse.unquote(p) for p in parts)
        if key != self.api_key or not secrets.compare_digest(
            signature.encode(),
            sign_recording_link(self.api_key, expiry, recording_id, self.api_salt).encode(),
        ):
            return _json(420, {"code": 3102, "message": codes.describe(3102)})
        if not expiry.isdigit() or int(expiry[:10]) < time.time():
            return _json(420, {"code": 3104, "message": "link expired"})
        try:
            return self._recording_redirect(recording_id, host)
        except ApiError as exc:
            return _json(exc.status, {"code": exc.code, "message": codes.describe(exc.code)})

    def file(self, token: str) -> tuple[int, dict, bytes]:
        """A one-shot recording file."""
        with self._lock:
            found = self.files.pop(token, None)
        if found is None or found[1] < time.time():
            return 404, {}, b""
        return (
            200,
            {
                "Content-Type": "audio/wav",
                "Content-Disposition": 'attachment; filename="record.wav"',
            },
            found[0],
        )

    # ------------------------------------------------------------------ speech analytics

    def _tagged_recording(self, data: dict[str, Any]) -> str:
        recording_id = _required(data, "recording_id")
        with self.pbx.cond:
            if recording_id not in self.pbx.recordings:
                raise ApiError(3320)
        return recording_id

    def _recording_categories(self, data: dict[str, Any], host: str) -> tuple[int, dict, bytes]:
        """Topics of a recording (``[]`` before speech analytics tagged it); 3320 unknown."""
        recording_id = self._tagged_recording(data)
        with self.pbx.cond:
            topics = self.pbx.topics.get(recording_id) or ()
        categories = [{"id": i + 1, "name": name} for i, name in enumerate(topics)]
        return _json(200, {"result": 1000, "data": [
            {"recording_id": recording_id, "categories": categories}
        ]})

    def _recording_transcripts(self, data: dict[str, Any], host: str) -> tuple[int, dict, bytes]:
        recording_id = self._tagged_recording(data)
        with self.pbx.cond:
            phrases = self.pbx.transcript_of(recording_id)
        return _json(200, {"result": 1000, "data": [
            {"recording_id": recording_id, "transcripts": phrases}
        ]})

    def _dct_visitor(self, data: dict[str, Any], host: str) -> tuple[int, dict, bytes]:
        """The visitor bound to a call-tracking number; ``{}`` when none (as documented)."""
        number = _required(data, "number")
        with self.pbx.cond:
            visitor = self.pbx.dct_visitors.get(str(number))
        return _json(200, dict(visitor or {}))

    # ------------------------------------------------------------------ directory queries

    def _users(self, data: dict[str, Any], host: str) -> tuple[int, dict, bytes]:
        extension = data.get("extension")
        ext_fields = data.get("ext_fields") or []
        if not isinstance(ext_fields, list):
            raise ApiError(3104)
        employees = list(self.pbx.directory.employees.values())
        if extension not in (None, ""):
            employees = [e for e in employees if e.extension == str(extension)]
        return _json(200, {"users": [self._user(e, ext_fields) for e in employees]})

    def _user(self, emp: Employee, ext_fields: list[str]) -> dict[str, Any]:
        typed = bool(ext_fields)  # with ext_fields the PBX switches to integer types
        general: dict[str, Any] = {
            "name": emp.name,
            "email": emp.email,
            "department": emp.department,
            "position": emp.position,
        }
        if "general.user_id" in ext_fields:
            general["user_id"] = emp.user_id
        if "general.sips" in ext_fields:
            general["sips"] = [{"number": emp.sip}]
        if "general.mobile" in ext_fields:
            general["mobile"] = emp.mobile
        if "general.login" in ext_fields:
            general["login"] = emp.email
        numbers = []
        for order, (protocol, number) in enumerate(emp.numbers()):
            item: dict[str, Any] = {
                "number": number,
                "protocol": protocol,
                "order": order if typed else str(order),
                "wait_sec": 20 if typed else "20",
                "status": "on",
            }
            if typed:
                item["number_normalized"] = number
            numbers.append(item)
        user: dict[str, Any] = {
            "general": general,
            "telephony": {
                "extension": emp.extension,
                "outgoingline": self.pbx.directory.lines[0].number,
                "numbers": numbers,
            },
        }
        if "groups" in ext_fields:
            user["groups"] = [
                g.group_id for g in self.pbx.directory.groups.values() if emp.extension in g.members
            ]
        return user

    def _lines(self, data: dict[str, Any], host: str) -> tuple[int, dict, bytes]:
        lines = [
            {
                "line_id": ln.line_id,
                "number": ln.number,
                "name": ln.name,
                "comment": ln.comment,
                "region": ln.region,
                "schema_id": 1,
                "schema_name": ln.schema_name,
            }
            for ln in self.pbx.directory.lines
        ]
        return _json(200, {"result": 1000, "lines": lines})

    def _balance(self, data: dict[str, Any], host: str) -> tuple[int, dict, bytes]:
        d = self.pbx.directory
        return _json(
            200,
            {
                "result": 1000,
                "balance": d.balance,
                "currency": d.currency,
                "response_at": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
            },
        )

    # ------------------------------------------------------------------ control API

    def control_allowed(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.control_networks if net.version == ip.version)

    def control(
        self, method: str, path: str, body: dict[str, Any], query: dict[str, str]
    ) -> tuple[int, Any]:
        """The unsigned JSON control API: ``(status, json)``."""
        pbx = self.pbx
        try:
            if (method, path) == ("GET", "status"):
                return 200, self.status()
            if (method, path) == ("GET", "calls"):
                finished = int(query.get("finished", 20))
                with pbx.cond:
                    return 200, {
                        "active": [c.as_json() for c in pbx.calls.values()],
                        "finished": [c.as_json() for c in pbx.history[-finished:]]
                        if finished
                        else [],
                        # consultation leg -> the held leg it may be joined with
                        "consults": {c: held for c, (held, _i) in pbx.consults.items()},
                    }
            if (method, path) == ("GET", "scenarios"):
                return 200, {"scenarios": scenarios.describe(), "defaults": scenarios.DEFAULTS}
            if (method, path) == ("POST", "scenario"):
                params = dict(body.get("params") or {})
                params.setdefault("speed", pbx.speed)
                run = scenarios.run_scenario(pbx, str(body.get("name")), params, background=True)
                with self._lock:
                    self.runs.append(run)
                return 200, run.as_json()
            if (method, path) == ("GET", "runs"):
                return 200, {"runs": [r.as_json() for r in self.runs]}
            if (method, path) == ("POST", "answer"):
                leg = self._control_leg(body, ringing=True)
                answered = pbx.answer(leg.call_id)
                return 200, answered.as_json()
            if (method, path) == ("POST", "hangup"):
                if body.get("entry_id"):
                    pbx.caller_hangup(str(body["entry_id"]))
                elif body.get("call_id"):
                    pbx.hangup(str(body["call_id"]), str(body.get("side", "to")))
                elif body.get("extension"):
                    pbx.hangup_extension(str(body["extension"]))
                else:
                    return 400, {"error": "give entry_id, call_id or extension"}
                return 200, {"ok": True}
            if (method, path) == ("POST", "transfer"):
                leg = self._control_leg(body, ringing=False)
                initiator = str(
                    body.get("initiator") or body.get("extension") or leg.extension or ""
                )
                new = pbx.transfer(
                    leg.call_id, str(body["to"]), str(body.get("method", "blind")), initiator
                )
                return 200, new.as_json()
            if (method, path) == ("POST", "connect"):
                pbx.calls_connect(str(body["held_call_id"]), str(body["consult_call_id"]))
                return 200, {"ok": True}
            if (method, path) == ("POST", "transfer_cancel"):
                pbx.transfer_cancel(str(body["call_id"]))
                return 200, {"ok": True}
            if path == "faults":
                if method == "POST":
                    self.faults.configure(FaultConfig.from_json(body))
                return 200, self.faults.config.as_json()
            if (method, path) == ("GET", "sms"):
                return 200, {"sms": self.sms.log()}
            if (method, path) == ("GET", "requests"):
                return 200, {"requests": self.received_log(query)}
            if (method, path) == ("GET", "events"):
                return 200, {
                    "events": [d.as_json() for d in self.sender.log(int(query.get("since", 0)))]
                }
            if (method, path) == ("POST", "reset"):
                self.lockout.reset()
                self.limiter.reset()
                return 200, {"ok": True}
            if (method, path) == ("POST", "config"):
                return 200, self.configure(body)
        except PbxError as exc:
            return 409, {"error": str(exc), "code": exc.code}
        except (KeyError, ValueError, TypeError) as exc:
            return 400, {"error": f"{type(exc).__name__}: {exc}"}
        return 404, {"error": f"no control endpoint {method} /control/{path}"}

    def received_log(self, query: dict[str, str]) -> list[dict[str, Any]]:
        """The PBX API requests received, oldest first (read-only).

        ``since``: only those with a larger ``seq``; ``path``: only this API path
        (``commands/route``...).
        """
        since = int(query.get("since", 0))
        path = query.get("path")
        with self._lock:
            entries = list(self.received)
        return [
            e.as_json() for e in entries if e.seq > since and (path is None or e.path == path)
        ]

    def _control_leg(self, body: dict[str, Any], ringing: bool) -> Leg:
        if body.get("call_id"):
            return self.pbx.live_leg(str(body["call_id"]))[1]
        extension = str(body.get("extension") or "")
        wanted = "Appeared" if ringing else "Connected"
        for _call, leg in self.pbx.legs_of(extension):
            if leg.state == wanted and (
                not ringing or leg.to.get("extension") == extension or leg.extension == extension
            ):
                return leg
        raise PbxError(
            3310, f"extension {extension!r} has no {'ringing' if ringing else 'connected'} call"
        )

    def configure(self, body: dict[str, Any]) -> dict[str, Any]:
        """Change settings at run time: webhook, speed, autopilot, rate limits, lockout, SMS."""
        if "webhook" in body:
            self.sender.webhook_base = (body["webhook"] or "").rstrip("/") or None
        if "speed" in body:
            if float(body["speed"]) <= 0:
                raise ValueError("speed must be positive")
            self.pbx.speed = float(body["speed"])
        if "autopilot" in body:
            self.pbx.autopilot = Autopilot(**{**asdict(self.pbx.autopilot), **body["autopilot"]})
        if "rate_limits" in body:
            self.limiter.enabled = bool(body["rate_limits"])
        if "lockout_seconds" in body:
            self.lockout.seconds = float(body["lockout_seconds"])
        if "record_delay" in body:
            self.pbx.record_delay = float(body["record_delay"])
        if "sms" in body:
            self.sms.behaviour = SmsBehaviour.from_json(dict(body["sms"] or {}))
        return self.status()

    def status(self) -> dict[str, Any]:
        d = self.pbx.directory
        return {
            "api_key": self.api_key,
            "webhook": self.sender.webhook_base,
            "speed": self.pbx.speed,
            "autopilot": asdict(self.pbx.autopilot),
            "rate_limits": self.limiter.enabled,
            "locked": self.lockout.locked(),
            "employees": [
                {
                    "extension": e.extension,
                    "name": e.name,
                    "email": e.email,
                    "user_id": e.user_id,
                    "sip": e.sip,
                    "mobile": e.mobile,
                }
                for e in d.employees.values()
            ],
            "groups": [
                {"extension": g.extension, "name": g.name, "members": g.members}
                for g in d.groups.values()
            ],
            "lines": [{"number": ln.number, "name": ln.name} for ln in d.lines],
            "callers": list(self.callers),
            "history_calls": len(self.history_entries),
            "faults": self.faults.config.as_json(),
            "sms": asdict(self.sms.behaviour),
        }


def _drive_colleague(s: scenarios.Script, leg: Leg, consultative: bool) -> None:
    """Autopilot for the colleague rung by a transfer or a route (see :class:`Autopilot`).

    A consultation is the initiator's to complete or cancel (from Odoo or the console):
    the colleague only talks until then. Once the caller is theirs (handed over, or a
    blind transfer) they talk, and the caller hangs up: the leg's ``from`` is the caller
    by then. The colleague never hangs up on a caller handed over to them.
    """
    pbx, ap = s.pbx, s.pbx.autopilot
    if ap.colleague == "manual":
        return
    if ap.colleague == "decline":
        if s.still(leg, "Appeared", ap.answer_after):
            pbx.hangup(leg.call_id, "to")
        return
    if ap.colleague == "no_answer":
        if s.still(leg, "Appeared", ap.max_ring):
            pbx.end(leg.call_id, NO_ANSWER)
        return
    talking = s.answer_after(leg, ap.answer_after)
    if talking is None:
        return
    if consultative:
        pbx.wait_for(
            lambda: not talking.live or talking.call_id not in pbx.consults, scenarios.MANUAL_WAIT
        )
    s.talk_then_hangup(talking, ap.talk, "from")


def _required(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if value is None or value == "":
        raise ApiError(3103)
    return str(value)


def _stats_match(call: Call, summary: dict[str, Any], data: dict[str, Any]) -> bool:
    def party_ok(filt: Any, parties: list[dict[str, Any]]) -> bool:
        if not isinstance(filt, dict):
            return True
        ext, num = str(filt.get("extension") or ""), str(filt.get("number") or "")
        if not ext and not num:
            return True
        return any(
            (not ext or p.get("extension") == ext) and (not num or p.get("number") == num)
            for p in parties
        )

    frm, to = summary.get("from") or {}, summary.get("to") or {}
    return (
        party_ok(data.get("from"), [frm])
        and party_ok(data.get("to"), [to])
        and party_ok(data.get("call_party"), [frm, to])
    )


def _stats_row(call: Call, summary: dict[str, Any], names: list[str]) -> str:
    frm, to = summary.get("from") or {}, summary.get("to") or {}
    values = {
        "records": f"[{','.join(call.recordings)}]" if call.recordings else "",
        "start": call.create_time,
        "finish": call.end_time,
        "answer": call.talk_time or 0,
        "from_extension": frm.get("extension", ""),
        "from_number": frm.get("number", ""),
        "to_extension": to.get("extension", ""),
        "to_number": to.get("number", ""),
        "disconnect_reason": call.disconnect_reason,
        "line_number": call.line_number or "",
        "location": call.last_location,
        "entry_id": call.entry_id,
        "create": call.create_time,
    }
    buf = io.StringIO()
    csv.writer(buf, delimiter=";", lineterminator="").writerow([values[n] for n in names])
    return buf.getvalue()


def parse_form(content_type: str, body: bytes) -> dict[str, str]:
    """The fields of a form POST: ``multipart/form-data`` or urlencoded.

    Some Mango client libraries send the three fields as ``multipart/form-data``; the
    PBX accepts them. Anything else is read as urlencoded (a body that is not a form
    then misses its fields: 3103, as the PBX answers).
    """
    if content_type.split(";")[0].strip().lower() == "multipart/form-data":
        message = BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
        )
        form = {}
        if message.is_multipart():
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if name and not part.get_filename():
                    payload = part.get_payload(decode=True) or b""
                    charset = part.get_content_charset() or "utf-8"
                    form[str(name)] = payload.decode(charset, "replace")
        return form
    return dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _json(status: int, payload: Any) -> tuple[int, dict[str, str], bytes]:
    return (
        status,
        {"Content-Type": "application/json"},
        json.dumps(payload, ensure_ascii=False).encode("utf-8"),
    )


class _Handler(BaseHTTPRequestHandler):
    emulator: Emulator
    server_version = "MangoVpbxEmulator/1.0"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Quiet: the sent-events log and the console say what happens."""

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Uuid", secrets.token_hex(8))
            self.end_headers()
            if body and self.command != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting (api_delay)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _host(self) -> str:
        return self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        if path in ("/", "/index.html"):
            self._send(
                200, {"Content-Type": "text/html; charset=utf-8"}, CONSOLE_HTML.encode("utf-8")
            )
        elif path.startswith("/files/"):
            self._send(*self.emulator.file(path[len("/files/") :]))
        elif path.startswith("/vpbx/queries/recording/link/"):
            self._send(
                *self.emulator.recording_link(
                    path[len("/vpbx/queries/recording/link/") :], self._host()
                )
            )
        elif path.startswith("/vpbx/"):
            self._send(*_json(420, {"code": 3101, "message": codes.describe(3101)}))
        elif path.startswith("/control/"):
            self._control("GET", path, {}, dict(urllib.parse.parse_qsl(url.query)))
        else:
            self._send(404, {}, b"")

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        body = self._body()
        if path.startswith("/vpbx/"):
            form = parse_form(self.headers.get("Content-Type", ""), body)
            self._send(*self.emulator.api(path[len("/vpbx/") :].strip("/"), form, self._host()))
        elif path.startswith("/control/"):
            try:
                data = json.loads(body or b"{}")
            except ValueError:
                self._send(*_json(400, {"error": "body is not JSON"}))
                return
            self._control(
                "POST",
                path,
                data if isinstance(data, dict) else {},
                dict(urllib.parse.parse_qsl(url.query)),
            )
        else:
            self._send(404, {}, b"")

    def _control(self, method: str, path: str, body: dict[str, Any], query: dict[str, str]) -> None:
        if not self.emulator.control_allowed(self.client_address[0]):
            self._send(*_json(403, {"error": "the control API is for the local machine only"}))
            return
        status, payload = self.emulator.control(
            method, path[len("/control/") :].strip("/"), body, query
        )
        self._send(*_json(status, payload))
