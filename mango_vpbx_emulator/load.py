"""Load mode: N full calls per second for a duration, and what the webhook answered.

Calls are scenarios played in emulated time (``speed``) on a thread pool; each
call sends its whole event sequence (voice menu, legs, recording, summary,
record/added). The summary counts HTTP statuses and gives latency percentiles of
the webhook's answers and the event rate achieved, and what tells whether the
generator itself kept up (it usually shares the machine with the system under
test): its own CPU time, the mean number of requests in flight (Little's law:
summed latencies over the elapsed time) and how late calls started against their
schedule because every thread of the pool was busy.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
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
    callers: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Start ``rate`` calls per second for ``duration`` seconds; wait for them; summarise.

    ``callers``: external numbers taken in turn, one per call (the caller of an
    incoming call, the number an outgoing one dials); without them every call uses the
    scenarios' one default number, as if a single customer called again and again.
    """
    if rate <= 0 or duration <= 0:
        raise ValueError("rate and duration must be positive")
    params = {"speed": 200.0, **(params or {})}
    since = sender.log()[-1].n if sender.log() else 0
    total = max(1, round(rate * duration))
    mix = itertools.cycle(scenarios)
    extensions = sorted(pbx.directory.employees)
    lateness: list[float] = []  # scheduled start -> a thread of the pool runs the call

    def play(scheduled: float, name: str, call_params: dict[str, Any]):
        lateness.append(time.monotonic() - scheduled)
        return run_scenario(pbx, name, call_params)

    cpu_start = time.process_time()
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mango-load") as pool:
        futures = []
        for i in range(total):
            scheduled = start + i / rate
            delay = scheduled - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            call_params = {"extension": extensions[i % len(extensions)], **params}
            if callers:
                number = callers[i % len(callers)]
                call_params.update(caller=number, target=number)
            futures.append(pool.submit(play, scheduled, next(mix), call_params))
        runs = [f.result() for f in futures]
    pbx.join()
    pbx.sink.flush()
    elapsed = time.monotonic() - start
    deliveries = sender.log(since)
    summary = summarize(deliveries, elapsed)
    summary["calls"] = total
    summary["calls_per_s"] = round(total / elapsed, 2)
    summary["scenario_errors"] = [r.error for r in runs if r.error]
    summary["workers"] = workers
    summary["cpu_s"] = round(time.process_time() - cpu_start, 2)
    summary["in_flight_mean"] = round(
        sum(d.latency for d in deliveries if d.latency is not None) / elapsed, 2
    )
    lateness.sort()
    summary["start_lateness_ms"] = {
        "p50": round(lateness[len(lateness) // 2] * 1000, 1),
        "max": round(lateness[-1] * 1000, 1),
    }
    return summary
