"""Fault injection between the PBX and the webhook, and a slow PBX API.

The real PBX posts events in parallel, without waiting for answers, and never
retries (as far as anyone knows): the webhook sees duplicates, events out of
order, late events and gaps. :class:`FaultInjector` wraps an
:class:`~mango_vpbx_emulator.sender.EventSender` and does the same on purpose.

``api_delay`` slows the other direction: every request to the PBX API is answered
that many seconds late (the server reads it from :attr:`FaultInjector.config`).
What the request asked for is still done, as a slow PBX may do it although the
client gave up waiting.

Invariant (tested): what the webhook receives is the emitted events, minus the
ones logged as ``dropped`` or ``outage``, plus the ones logged as ``duplicate``;
nothing is invented or altered. Dropped calls still exist in the PBX's statistics,
which is what reconciliation recovers them from.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import asdict, dataclass, fields
from typing import Any

from .sender import EventSender


@dataclass
class FaultConfig:
    """Shares are probabilities in [0, 1]; times are real seconds."""

    duplicate: float = 0.0
    drop: float = 0.0
    #: events are buffered in groups of this size and delivered shuffled (0/1 = off)
    reorder_window: int = 0
    #: a buffered group is delivered anyway after this long
    reorder_flush: float = 0.5
    #: share of events delivered late, by a random delay up to ``delay_max``
    delay: float = 0.0
    delay_max: float = 0.5
    #: [start, end) epoch seconds in which nothing is delivered
    outage_start: float | None = None
    outage_end: float | None = None
    seed: int | None = None
    #: seconds the PBX API thinks before answering each request (a slow PBX)
    api_delay: float = 0.0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultConfig:
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names - {"outage_seconds"}
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        cfg = cls(**{k: v for k, v in data.items() if k in names})
        if data.get("outage_seconds"):
            cfg.outage_start = time.time()
            cfg.outage_end = cfg.outage_start + float(data["outage_seconds"])
        for share in ("duplicate", "drop", "delay"):
            if not 0.0 <= getattr(cfg, share) <= 1.0:
                raise ValueError(f"{share} must be a share between 0 and 1")
        if not 0.0 <= cfg.api_delay <= 600:
            raise ValueError("api_delay must be between 0 and 600 seconds")
        return cfg

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def active(self) -> bool:
        return bool(
            self.duplicate
            or self.drop
            or self.delay
            or self.reorder_window > 1
            or self.outage_end is not None
            or self.api_delay > 0
        )


class FaultInjector:
    """An event sink that perturbs delivery according to a :class:`FaultConfig`."""

    def __init__(self, sender: EventSender, config: FaultConfig | None = None) -> None:
        self.sender = sender
        self._lock = threading.Lock()
        self._buffer: list[tuple[str, Any, str | None]] = []
        self._timer: threading.Timer | None = None
        self._pending: set[threading.Thread] = set()
        self.configure(config or FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        self.flush()
        with self._lock:
            self.config = config
            self._random = random.Random(config.seed)

    def _in_outage(self) -> bool:
        cfg = self.config
        if cfg.outage_end is None:
            return False
        start = cfg.outage_start if cfg.outage_start is not None else float("-inf")
        return start <= time.time() < cfg.outage_end

    def send(self, path: str, payload: dict[str, Any] | str) -> None:
        cfg = self.config
        if self._in_outage():
            self.sender.skip(path, payload, "outage")
            return
        with self._lock:
            roll_drop, roll_dup = self._random.random(), self._random.random()
        if roll_drop < cfg.drop:
            self.sender.skip(path, payload, "dropped")
            return
        copies = [(path, payload, None)]
        if roll_dup < cfg.duplicate:
            copies.append((path, payload, "duplicate"))
        if cfg.reorder_window > 1:
            self._buffered(copies)
        else:
            for item in copies:
                self._deliver(*item)

    def _buffered(self, items: list[tuple[str, Any, str | None]]) -> None:
        with self._lock:
            self._buffer.extend(items)
            full = len(self._buffer) >= self.config.reorder_window
            if not full and self._timer is None:
                self._timer = threading.Timer(self.config.reorder_flush, self._flush_buffer)
                self._timer.daemon = True
                self._timer.start()
        if full:
            self._flush_buffer()

    def _flush_buffer(self) -> None:
        with self._lock:
            batch, self._buffer = self._buffer, []
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._random.shuffle(batch)
        for path, payload, fault in batch:
            self._deliver(path, payload, fault or ("reordered" if len(batch) > 1 else None))

    def _deliver(self, path: str, payload: Any, fault: str | None) -> None:
        with self._lock:
            late = self._random.random() < self.config.delay
            wait = self._random.uniform(0, self.config.delay_max) if late else 0.0
        if not late:
            self.sender.send(path, payload, fault=fault)
            return

        def later() -> None:
            time.sleep(wait)
            self.sender.send(path, payload, fault=fault or "delayed")
            with self._lock:
                self._pending.discard(threading.current_thread())

        thread = threading.Thread(target=later, daemon=True, name="mango-delayed-event")
        with self._lock:
            self._pending.add(thread)
        thread.start()

    def flush(self) -> None:
        """Deliver everything buffered and wait for delayed events."""
        if getattr(self, "_buffer", None):
            self._flush_buffer()
        while True:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                return
            for thread in pending:
                thread.join()
