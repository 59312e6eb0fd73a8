"""Test helpers: a scriptable PBX double, a webhook that checks what the PBX posts, and the
canonical event sequences.

:class:`PbxDouble` is the emulator (:class:`~mango_vpbx_emulator.server.Emulator`) on a free
loopback port, in the test's process. Every request it receives is recorded
(:attr:`PbxDouble.requests`). A path the test scripted (:meth:`PbxDouble.script`,
:meth:`PbxDouble.fail`) gets the scripted answers, in order, the last one repeating; any
other path gets the emulator's real answer: signed commands act on its calls and report
``result/*`` to the webhook, statistics, recordings, users, lines and balance come from its
state. So a test scripts only what it is about (a 3xxx refusal, a slow answer, an odd
body) and the rest behaves like the PBX::

    with PbxDouble("key", "salt") as pbx:
        pbx.fail("commands/call/hangup", 3104)
        client = VpbxClient(pbx.url, "key", "salt")
        ...
        assert pbx.calls("commands/call/hangup") == [{"command_id": ..., "call_id": ...}]

A scripted answer may be a function of the request (:class:`Request`), which can also act
while the PBX "thinks" (post events to the webhook first, or sleep past the client's
timeout). The path ``"*"`` scripts every API request without a script of its own: a PBX
that accepts everything (:data:`ACCEPTED`) for calls only the test knows, one that answers
after the client's timeout, one that refuses everything. :func:`closed_port_url` is a PBX
that is down. :class:`Webhook` is the other end: a receiver that verifies and parses every
request as an integrator's controller does. :func:`sequence` gives the events the emulator
sends for one of its scenarios: the one source of canonical call sequences for tests.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mango_vpbx import parse_event, verify
from mango_vpbx.codes import describe
from mango_vpbx.signing import dumps

from . import reference
from .pbx import Pbx
from .scenarios import ScenarioRun, run_scenario
from .server import Emulator, _Handler, parse_form
from .state import demo_directory

__all__ = [
    "ACCEPTED",
    "PbxDouble",
    "Request",
    "Response",
    "Webhook",
    "closed_port_url",
    "sequence",
]

API_PREFIX = "/vpbx/"
#: The path of :meth:`PbxDouble.script` that answers every API request without its own script.
ANY = "*"


@dataclass(frozen=True)
class Request:
    """One request the double received.

    ``path`` is relative to :attr:`PbxDouble.url` (``commands/callback``) for the API,
    absolute (``/files/x``) elsewhere; ``form`` the decoded form (or query) fields;
    ``signed`` whether key and signature were the double's.
    """

    method: str
    path: str
    form: Mapping[str, str]
    signed: bool
    at: float

    @property
    def data(self) -> Any:
        """The decoded ``json`` form field, ``None`` without one."""
        try:
            return json.loads(self.form["json"])
        except (KeyError, ValueError):
            return None


@dataclass(frozen=True)
class Response:
    """A scripted answer: a ``dict`` or ``list`` body is sent as JSON; ``{url}`` in a header
    value becomes the double's API base; ``delay`` seconds pass before the answer."""

    status: int = 200
    body: bytes | str | dict | list = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0


#: The PBX's "accepted" (``{"result": 1000}``), without acting: the answer of a command about a
#: call the test made up (the emulator would refuse a call it does not know).
ACCEPTED = Response(200, {"result": 1000})

#: What :meth:`PbxDouble.script` takes: a :class:`Response`, a tuple
#: ``(status, body[, headers[, delay]])``, or a function of the :class:`Request` giving one.
Answer = Response | tuple | Callable[[Request], Response | tuple]


def _response(answer: Response | tuple) -> Response:
    if isinstance(answer, Response):
        return answer
    status, body, *rest = answer
    return Response(status, body, rest[0] if rest else {}, rest[1] if len(rest) > 1 else 0.0)


class PbxDouble:
    """The emulator with scriptable answers, recording what it receives (see the module)."""

    def __init__(
        self,
        api_key: str = "test-key",
        api_salt: str = "test-salt",
        webhook: str | None = None,
        *,
        require_signature: bool = False,
        speed: float = 1000.0,
        **emulator_options: Any,
    ) -> None:
        """``require_signature``: an unsigned request gets the emulator's refusal (3102/3105)
        even on a scripted path. ``speed`` and ``emulator_options`` go to the
        :class:`~mango_vpbx_emulator.server.Emulator` (``speed`` makes its calls quick)."""
        self.api_key, self.api_salt = api_key, api_salt
        self.require_signature = require_signature
        self.emulator = Emulator(api_key, api_salt, webhook, speed=speed, **emulator_options)
        self._scripts: dict[str, list[Answer]] = {}
        self._requests: list[Request] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> PbxDouble:
        double = self

        class Handler(_DoubleHandler):
            pass

        Handler.emulator = self.emulator
        Handler.double = double
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self.emulator.httpd = server
        threading.Thread(
            target=server.serve_forever, args=(0.05,), daemon=True, name="mango-pbx-double"
        ).start()
        return self

    def stop(self) -> None:
        self.emulator.stop()
        self.emulator.pbx.join(5)

    def __enter__(self) -> PbxDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base(self) -> str:
        """``http://127.0.0.1:<port>``: the console, ``/files/``, ``/control/``."""
        return self.emulator.url

    @property
    def url(self) -> str:
        """The PBX API's base URL, for :class:`~mango_vpbx.VpbxClient` or an addon's setting."""
        return self.base + API_PREFIX

    @property
    def pbx(self) -> Pbx:
        """The emulator's PBX engine: calls, directory, webhook delivery."""
        return self.emulator.pbx

    # ------------------------------------------------------------------ scripting

    def script(self, path: str, *answers: Answer) -> None:
        """Answer ``path`` with ``answers`` in order, the last one repeating.

        ``path`` as :attr:`Request.path` names it: ``commands/callback`` under the API,
        ``/files/x`` elsewhere; ``"*"``: every request to the API (any method) that has no
        script of its own.
        """
        if not answers:
            raise ValueError("script() needs at least one answer")
        with self._lock:
            self._scripts[path] = list(answers)

    def fail(self, path: str, code: int, status: int = 420, delay: float = 0.0) -> None:
        """Answer ``path`` with the PBX's refusal ``code`` (``{"code": ..., "message": ...}``)."""
        self.script(path, Response(status, {"code": code, "message": describe(code)}, {}, delay))

    def reset(self) -> None:
        """Forget the scripts and the recorded requests (the emulator's state stays)."""
        with self._lock:
            self._scripts.clear()
            self._requests.clear()

    def play(self, scenario: str, **params: Any) -> ScenarioRun:
        """Play one of the emulator's scenarios now (``speed`` 1000 unless given): its events
        go to the webhook."""
        return run_scenario(self.pbx, scenario, {"speed": 1000, **params})

    # ------------------------------------------------------------------ what was received

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def calls(self, path: str) -> list[Any]:
        """The decoded ``json`` of every request to ``path``, in order."""
        return [r.data for r in self.requests if r.path == path]

    # ------------------------------------------------------------------ the handler's half

    def _record(self, method: str, path: str, form: dict[str, str]) -> Request:
        signed = method == "POST" and verify(form, self.api_key, self.api_salt)
        request = Request(method, path, form, signed, time.time())
        with self._lock:
            self._requests.append(request)
        return request

    def _scripted(self, request: Request) -> Response | None:
        if self.require_signature and request.method == "POST" and not request.signed:
            return None
        with self._lock:
            answers = self._scripts.get(request.path)
            if answers is None and not request.path.startswith("/"):
                answers = self._scripts.get(ANY)
            if not answers:
                return None
            answer = answers.pop(0) if len(answers) > 1 else answers[0]
        response = _response(answer(request) if callable(answer) else answer)
        if response.delay:
            time.sleep(response.delay)
        return response


def _key(path: str) -> str:
    return path[len(API_PREFIX) :].strip("/") if path.startswith(API_PREFIX) else path


class _DoubleHandler(_Handler):
    double: PbxDouble

    def _body(self) -> bytes:
        body, self._read = self._read, b""
        return body

    def _handle(self, method: str, super_handle: Callable[[], None]) -> None:
        url = urllib.parse.urlsplit(self.path)
        self._read = super()._body() if method == "POST" else b""
        if method == "POST":
            form = parse_form(self.headers.get("Content-Type", ""), self._read)
        else:
            form = dict(urllib.parse.parse_qsl(url.query))
        request = self.double._record(method, _key(url.path), form)
        response = self.double._scripted(request)
        if response is None:
            super_handle()
            return
        body = response.body
        headers = {k: v.replace("{url}", self.double.url) for k, v in response.headers.items()}
        if isinstance(body, dict | list):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        self._send(response.status, headers, body)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._handle("GET", super().do_GET)

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        self._handle("POST", super().do_POST)


class Webhook:
    """An integrator's webhook for tests: verifies, parses and records every event.

    Requests to ``<url>/<path>`` are checked like a controller would: the signature with
    ``api_key``/``api_salt`` and the form content type, then :func:`~mango_vpbx.parse_event`
    (an unparseable event answers 500). Accepted ones are kept as ``(path, json)`` in
    :attr:`received`, refused ones' paths in :attr:`rejected`; ``ping`` (the PBX's "check
    connection") is counted. :attr:`status` is what accepted requests are answered with.
    """

    def __init__(self, api_key: str, api_salt: str) -> None:
        self.key, self.salt = api_key, api_salt
        self.received: list[tuple[str, str]] = []
        self.rejected: list[str] = []
        self.pings = 0
        self.status = 200
        self._lock = threading.Lock()
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - stdlib naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                self.send_response(webhook._receive(self.path, self.headers, body))
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def _receive(self, url_path: str, headers: Any, body: str) -> int:
        form = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
        path = url_path.split("/hook/", 1)[-1]
        if path == "ping":  # "check connection": answered, nothing kept
            with self._lock:
                self.pings += 1
            return self.status
        ok = verify(form, self.key, self.salt) and headers.get("Content-Type", "").startswith(
            "application/x-www-form-urlencoded"
        )
        if ok:
            try:
                parse_event(path, form["json"])
            except ValueError:
                return 500
        with self._lock:
            if ok:
                self.received.append((path, form["json"]))
            else:
                self.rejected.append(path)
        return self.status if ok else 400

    def events(self, path: str | None = None) -> list[tuple[str, str]]:
        """The accepted ``(path, json)``, all or those of one path."""
        with self._lock:
            return [e for e in self.received if path is None or e[0] == path]

    def wait(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``predicate()`` holds; AssertionError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for the webhook")
            time.sleep(0.01)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> Webhook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def closed_port_url() -> str:
    """A PBX API URL on a loopback port where nothing listens: the PBX is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{API_PREFIX}"


class _Capture:
    """Where :func:`sequence`'s PBX delivers: a list, in sending order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, path: str, payload: Any) -> None:
        self.sent.append((path, payload if isinstance(payload, str) else dumps(payload)))

    def flush(self) -> None:
        pass


def sequence(name: str, **params: Any) -> list[tuple[str, str]]:
    """What the PBX sends for the scenario ``name``: ``(path, json)`` in sending order.

    Played at once (``speed`` 1000 unless given) on the demo directory; ``params`` are the
    scenario's (:func:`~mango_vpbx_emulator.scenarios.scenario_params`). Paths are
    ``events/...`` and, for commands, ``result/...``. ``reference:<name>`` gives one of the
    protocol reference's sequences instead (:data:`~mango_vpbx_emulator.reference.SEQUENCES`,
    with their documented ids and times; no ``params``).
    """
    if name.startswith("reference:"):
        documented = reference.SEQUENCES[name.removeprefix("reference:")]
        return [(path.lstrip("/"), dumps(payload)) for path, payload in documented]
    capture = _Capture()
    pbx = Pbx(demo_directory(), capture, record_delay=1)
    run = run_scenario(pbx, name, {"speed": 1000, **params})
    pbx.join()
    if run.error is not None:
        raise RuntimeError(f"scenario {name} failed: {run.error}")
    return capture.sent
