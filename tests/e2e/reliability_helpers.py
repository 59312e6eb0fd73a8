"""Helpers of the reliability suite: events of real scenarios, signed delivery.

The events come from the emulator's own scenarios (``mango_vpbx_emulator.testing.sequence``,
emulated time, so a call takes milliseconds); the suite delivers them itself, to control
duplication, order and concurrency exactly. The PBX the addon calls is
``mango_vpbx_emulator.testing.PbxDouble``.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from mango_vpbx import encode
from mango_vpbx.signing import dumps
from mango_vpbx_emulator.testing import sequence

ID_KEYS = ("entry_id", "call_id", "taken_from_call_id", "recording_id")


def scenario_events(name: str, **params: Any) -> list[tuple[str, str]]:
    """The events (path, json) the emulator sends for one scenario, in sending order."""
    return [(p, j) for p, j in sequence(name, **params) if p.startswith("events/")]


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
