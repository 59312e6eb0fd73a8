"""Helpers of the reliability suite: events of real scenarios, signed delivery, fake PBXs.

The events come from the emulator's own scenarios played in-process against a
capturing sink (emulated time, so a call takes milliseconds); the suite delivers
them itself, to control duplication, order and concurrency exactly.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from mango_vpbx import encode
from mango_vpbx.signing import dumps
from mango_vpbx_emulator.pbx import Pbx
from mango_vpbx_emulator.scenarios import run_scenario
from mango_vpbx_emulator.state import demo_directory

ID_KEYS = ("entry_id", "call_id", "taken_from_call_id", "recording_id")


class CaptureSink:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, path: str, payload: Any) -> None:
        self.sent.append((path, payload if isinstance(payload, str) else dumps(payload)))

    def flush(self) -> None:
        pass


def scenario_events(name: str, **params: Any) -> list[tuple[str, str]]:
    """The events (path, json) the emulator sends for one scenario, in sending order."""
    sink = CaptureSink()
    pbx = Pbx(demo_directory(), sink, record_delay=1)
    run = run_scenario(pbx, name, {"speed": 1000, **params})
    pbx.join()
    assert run.error is None, run.error
    return [(p, j) for p, j in sink.sent if p.startswith("events/")]


def _suffixed(value: Any, suffix: str) -> Any:
    if isinstance(value, dict):
        return {
            k: (
                f"{v}{suffix}"
                if k in ID_KEYS and isinstance(v, str) and v
                else _suffixed(v, suffix)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_suffixed(v, suffix) for v in value]
    return value


def renamed(events: list[tuple[str, str]], suffix: str) -> list[tuple[str, str]]:
    """The same events as another call: every entry, leg and recording id gets ``suffix``."""
    return [(path, dumps(_suffixed(json.loads(body), suffix))) for path, body in events]


class Deliverer:
    """Signs and POSTs events to the webhook; counts answers by status."""

    def __init__(self, base_url: str, api_key: str, api_salt: str) -> None:
        self.base_url, self.api_key, self.api_salt = base_url, api_key, api_salt
        self.statuses: dict[int, int] = {}
        self.failed_connections = 0
        self._lock = threading.Lock()
        self._local = threading.local()

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def post_form(self, path: str, form: dict[str, str]) -> int | None:
        try:
            status = (
                self._session()
                .post(f"{self.base_url}/mango/{path}", data=form, timeout=30)
                .status_code
            )
        except requests.ConnectionError:
            with self._lock:
                self.failed_connections += 1
            return None
        with self._lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1
        return status

    def send(self, path: str, body: str) -> int | None:
        return self.post_form(path, encode(body, self.api_key, self.api_salt))

    def send_all(self, events: list[tuple[str, str]], threads: int = 1) -> list[int | None]:
        if threads == 1:
            return [self.send(p, b) for p, b in events]
        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(lambda e: self.send(*e), events))

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


class FakePbx:
    """A loopback PBX API: answers every request after ``delay`` seconds with ``status``/``body``.

    Counts the requests it received, to prove which requests Odoo did (not) send.
    """

    def __init__(self, status: int = 200, body: dict | None = None, delay: float = 0.0) -> None:
        self.status, self.body, self.delay = status, body or {"result": 1000}, delay
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.requests.append(self.path)
                time.sleep(owner.delay)
                data = json.dumps(owner.body).encode()
                try:
                    self.send_response(owner.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (timeout): what a slow PBX looks like

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/vpbx/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakePbx:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def closed_port_url() -> str:
    """A PBX URL where nothing listens: the PBX is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/vpbx/"
