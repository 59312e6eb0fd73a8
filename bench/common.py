"""What every benchmark script shares: an Odoo environment on a bench database, timing.

Scripts run under the Python that runs Odoo (``/opt/odoo18/venv/bin/python``), with the
checkout under test first on ``PYTHONPATH`` (``run_all.py`` arranges both).
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

BENCH_LOGIN = "bench_receptionist"


@contextlib.contextmanager
def odoo_env(config_path: str, dbname: str, uid: int | None = None) -> Iterator[Any]:
    """A superuser (or ``uid``) environment on ``dbname``; the transaction is committed."""
    import odoo  # noqa: PLC0415 - imported once PYTHONPATH is set by the caller
    from odoo.tools import config  # noqa: PLC0415 - imported where it is needed

    config.parse_config(["-c", config_path, "-d", dbname, "--log-level=warn"])
    registry = odoo.modules.registry.Registry(dbname)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, uid or odoo.SUPERUSER_ID, {"tz": "Europe/Moscow"})
        yield env
        cr.commit()


def percentile(sorted_values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of values already sorted."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * pct // 100))
    return sorted_values[int(rank) - 1]


def timings(fn: Callable[[], Any], repeat: int, warmup: int = 2) -> dict[str, float]:
    """Call ``fn`` ``repeat`` times; median, p95, p99 in milliseconds."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return summarize_ms(samples)


def summarize_ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50": round(statistics.median(ordered), 3),
        "p95": round(percentile(ordered, 95), 3),
        "p99": round(percentile(ordered, 99), 3),
        "max": round(ordered[-1], 3),
    }


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None
