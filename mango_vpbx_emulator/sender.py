"""Signed delivery of the PBX's events and command results to the external system.

Every request is a form POST of ``vpbx_api_key``, ``sign`` and ``json`` to
``{webhook_base}/{path}`` (``events/call``, ``result/callback`` ...), signed with
:func:`mango_vpbx.signing.encode`. Every attempt is recorded with its HTTP status
and latency: load mode and the control API read that log.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import requests

from mango_vpbx.signing import dumps, encode


@dataclass(frozen=True)
class Delivery:
    """One logical event and what became of it."""

    n: int
    path: str
    json: str
    emitted_at: float
    #: ``delivered``, ``failed`` (HTTP error or no answer), ``dropped``, ``outage``,
    #: ``no_webhook``
    outcome: str
    status: int | None = None
    latency: float | None = None
    error: str | None = None
    #: ``duplicate``, ``delayed``, ``reordered`` when fault injection changed it
    fault: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class EventSink(Protocol):
    """Anything that takes an event to deliver: the sender, or faults around it."""

    def send(self, path: str, payload: dict[str, Any] | str) -> None: ...

    def flush(self) -> None: ...


class EventSender:
    """Signs and POSTs events; thread-safe; keeps a log of every attempt."""

    def __init__(
        self,
        webhook_base: str | None,
        api_key: str,
        api_salt: str,
        timeout: float = 10.0,
        log_limit: int = 100_000,
    ) -> None:
        self.webhook_base = webhook_base.rstrip("/") if webhook_base else None
        self.api_key = api_key
        self.api_salt = api_salt
        self.timeout = timeout
        self.log_limit = log_limit
        self._log: list[Delivery] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._n = 0

    def _session(self) -> requests.Session:
        # One connection pool per thread: load mode posts from many threads at once.
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _record(self, **kw: Any) -> Delivery:
        with self._lock:
            self._n += 1
            delivery = Delivery(n=self._n, **kw)
            self._log.append(delivery)
            if len(self._log) > self.log_limit:
                del self._log[: len(self._log) - self.log_limit]
        return delivery

    def url(self, path: str) -> str:
        return f"{self.webhook_base}/{path.strip('/')}"

    def send(self, path: str, payload: dict[str, Any] | str, fault: str | None = None) -> Delivery:
        """Deliver one event now; never raises (failures are in the log)."""
        json_str = payload if isinstance(payload, str) else dumps(payload)
        emitted = time.time()
        if not self.webhook_base:
            return self._record(
                path=path, json=json_str, emitted_at=emitted, outcome="no_webhook", fault=fault
            )
        form = encode(json_str, self.api_key, self.api_salt)
        start = time.perf_counter()
        try:
            resp = self._session().post(self.url(path), data=form, timeout=self.timeout)
        except requests.RequestException as exc:
            return self._record(
                path=path,
                json=json_str,
                emitted_at=emitted,
                outcome="failed",
                latency=time.perf_counter() - start,
                error=type(exc).__name__,
                fault=fault,
            )
        latency = time.perf_counter() - start
        return self._record(
            path=path,
            json=json_str,
            emitted_at=emitted,
            outcome="delivered" if 200 <= resp.status_code < 300 else "failed",
            status=resp.status_code,
            latency=latency,
            fault=fault,
        )

    def skip(self, path: str, payload: dict[str, Any] | str, outcome: str) -> Delivery:
        """Log an event that fault injection decided not to deliver."""
        json_str = payload if isinstance(payload, str) else dumps(payload)
        return self._record(
            path=path, json=json_str, emitted_at=time.time(), outcome=outcome, fault=outcome
        )

    def flush(self) -> None:
        """Nothing is buffered here; present so faults and the sender are interchangeable."""

    def log(self, since: int = 0) -> list[Delivery]:
        with self._lock:
            return [d for d in self._log if d.n > since]

    def clear(self) -> None:
        with self._lock:
            self._log.clear()


def summarize(deliveries: list[Delivery], elapsed: float | None = None) -> dict[str, Any]:
    """Status counts and latency percentiles of a batch of deliveries."""
    statuses = Counter(str(d.status) if d.status is not None else d.outcome for d in deliveries)
    latencies = sorted(d.latency for d in deliveries if d.latency is not None)
    summary: dict[str, Any] = {
        "events": len(deliveries),
        "status_counts": dict(sorted(statuses.items())),
        "outcomes": dict(Counter(d.outcome for d in deliveries)),
        "latency_ms": {
            "p50": _percentile(latencies, 50),
            "p95": _percentile(latencies, 95),
            "p99": _percentile(latencies, 99),
            "max": round(latencies[-1] * 1000, 2) if latencies else None,
        },
    }
    if elapsed:
        summary["elapsed_s"] = round(elapsed, 3)
        summary["events_per_s"] = round(len(deliveries) / elapsed, 1)
    return summary


def _percentile(sorted_values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile, in milliseconds."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * pct // 100))
    return round(sorted_values[int(rank) - 1] * 1000, 2)
