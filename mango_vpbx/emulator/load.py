"""Load mode: N full calls per second for a duration, and what the webhook answered.

Calls are scenarios played in emulated time (``speed``) on a thread pool; each
call sends its whole event sequence (voice menu, legs, recording, summary,
record/added). The summary counts HTTP statuses and gives latency percentiles of
the webhook's answers and the event rate achieved.
"""

from __future__ import annotations

import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .pbx import Pbx
from .scenarios import run_scenario
from .sender import EventSender, summarize

DEFAULT_MIX = ("incoming_answered", "queue", "missed_operator", "missed_ivr", "outgoing")


def run_load(
    pbx: Pbx,
    sender: EventSender,
    rate: float,
    duration: float,
    scenarios: tuple[str, ...] | list[str] = DEFAULT_MIX,
    params: dict[str, Any] | None = None,
    workers: int = 32,
) -> dict[str, Any]:
    """Start ``rate`` calls per second for ``duration`` seconds; wait for them; summarise."""
    if rate <= 0 or duration <= 0:
        raise ValueError("rate and duration must be positive")
    params = {"speed": 200.0, **(params or {})}
    since = sender.log()[-1].n if sender.log() else 0
    total = max(1, round(rate * duration))
    mix = itertools.cycle(scenarios)
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mango-load") as pool:
        futures = []
        for i in range(total):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            extension = sorted(pbx.directory.employees)[i % len(pbx.directory.employees)]
            futures.append(
                pool.submit(run_scenario, pbx, next(mix), {"extension": extension, **params})
            )
        runs = [f.result() for f in futures]
    pbx.join()
    pbx.sink.flush()
    elapsed = time.monotonic() - start
    summary = summarize(sender.log(since), elapsed)
    summary["calls"] = total
    summary["calls_per_s"] = round(total / elapsed, 2)
    summary["scenario_errors"] = [r.error for r in runs if r.error]
    return summary
