"""Fixtures: a local webhook that checks signatures, an emulator on a free loopback port."""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mango_vpbx import parse_event, verify
from mango_vpbx.emulator.pbx import Autopilot
from mango_vpbx.emulator.server import Emulator

KEY = "emulator-test-key"
SALT = "emulator-test-salt"


class Webhook:
    """An external system that verifies and parses every request, like the Odoo controller."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        self.rejected: list[str] = []
        self.pings = 0
        self.status = 200
        self.key, self.salt = KEY, SALT
        self._lock = threading.Lock()
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                form = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
                path = self.path.split("/hook/", 1)[-1]
                if path == "ping":  # "check connection": answered, nothing kept
                    webhook.pings += 1
                    self.send_response(webhook.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                ok = verify(form, webhook.key, webhook.salt) and self.headers.get(
                    "Content-Type", ""
                ).startswith("application/x-www-form-urlencoded")
                if ok:
                    parse_event(path, form["json"])  # raises (-> 500) on anything unparseable
                with webhook._lock:
                    (
                        webhook.received.append((path, form["json"]))
                        if ok
                        else webhook.rejected.append(path)
                    )
                self.send_response(webhook.status if ok else 400)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def events(self, path: str | None = None) -> list[tuple[str, str]]:
        with self._lock:
            return [e for e in self.received if path is None or e[0] == path]

    def wait(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for the webhook")
            time.sleep(0.01)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


@pytest.fixture
def emulator(webhook: Webhook) -> Iterator[Emulator]:
    emu = Emulator(
        KEY,
        SALT,
        webhook.url,
        speed=200.0,
        record_delay=1.0,
        autopilot=Autopilot(answer_after=2, talk=10),
    )
    emu.start("127.0.0.1", 0)
    yield emu
    emu.stop()
    emu.pbx.join(5)
