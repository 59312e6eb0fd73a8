"""What the folder saves: the cost of folding events one by one vs as they pile up.

    /opt/odoo18/venv/bin/python bench/profile_folder.py -c ODOO.conf -d DB --output run.json

The calls of the load generator's mix (``profile_events.play_calls``: external numbers
70 % patients' own, the rest unknown, operators in turn) are played by the emulator in
memory; their events are stored as the webhook stores them (committed), in the order the
PBX sent them, and after every ``k`` stored events the folder folds what waits
(``controllers/webhook.py``, ``fold_waiting``): ``k = 1`` is a quiet clinic (each event
folded after its own answer), a larger ``k`` the backlog a folder finds under a load (the
events of a call then fold together). Each ``k`` gets calls of its own. ``--concurrent
N``: the events of every N calls in a row are interleaved, as the PBX sends those of
calls under way at the same time (the ingest bench has about 4 at once): a backlog of
``k`` events then spans several calls. Per ``k``: events folded per second of this one
process, SQL statements and CPU milliseconds per event, calls recomputed per event
(``medpulse.call._recompute``). ``--statements N``: also the N statement kinds that took
the most time (wall milliseconds per event, client side: planning and execution in
PostgreSQL and the round trip; the text with its numbers as ``N``, cut at 110 characters).

It commits: run it on a copy of a bench database (``createdb -T bench_x bench_x_prof``),
not on one that is measured afterwards.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
import threading
import time
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import odoo_env  # noqa: E402 - after the sys.path set-up above
from profile_events import play_calls  # noqa: E402 - after the sys.path set-up above


def interleave(events: list[tuple[str, str]], concurrent: int) -> list[tuple[str, str]]:
    """The events of every ``concurrent`` calls in a row, taken in turn (each call's own
    order kept); an event of no call counts as a call of its own."""
    if concurrent <= 1:
        return events
    calls: dict[str, list] = {}
    order: list = []
    for path, payload in events:
        entry_id = json.loads(payload).get("entry_id") or f"no call {len(order)}"
        if entry_id not in calls:
            calls[entry_id] = []
            order.append(entry_id)
        calls[entry_id].append((path, payload))
    mixed = []
    for start in range(0, len(order), concurrent):
        queues = [calls[entry_id] for entry_id in order[start:start + concurrent]]
        for turn in range(max(map(len, queues))):
            mixed.extend(queue[turn] for queue in queues if turn < len(queue))
    return mixed


class StatementTimes:
    """Wall time and count of each kind of SQL statement, over every cursor of the
    process, while in use (``with``)."""

    def __init__(self) -> None:
        self.kinds: dict[str, list] = collections.defaultdict(lambda: [0, 0.0])

    def __enter__(self):
        import odoo.sql_db  # noqa: PLC0415 - imported once PYTHONPATH is set

        self._cursor = odoo.sql_db.Cursor
        self._execute = original = self._cursor.execute
        kinds = self.kinds

        def execute(cursor, query, params=None, log_exceptions=True):
            start = time.perf_counter()
            try:
                return original(cursor, query, params, log_exceptions)
            finally:
                text = re.sub(r"\s+", " ", re.sub(r"\d+", "N", str(getattr(query, "code", query))))
                kind = kinds[text.strip()[:110]]
                kind[0] += 1
                kind[1] += time.perf_counter() - start

        self._cursor.execute = execute
        return self

    def __exit__(self, *exc):
        self._cursor.execute = self._execute

    def top(self, events: int, count: int) -> list[dict]:
        """The ``count`` kinds that took the most time, per event of ``events``."""
        ranked = sorted(self.kinds.items(), key=lambda item: -item[1][1])[:count]
        return [
            {"ms_per_event": round(seconds / events * 1000, 3),
             "per_event": round(n / events, 2),
             "ms_each": round(seconds / n * 1000, 2), "statement": text}
            for text, (n, seconds) in ranked
        ]


def measure(env, events, every: int, statements: int = 0) -> dict:
    """Store ``events`` in order, folding what waits after every ``every`` of them;
    with ``statements``, the kinds of statement that took the most time."""
    from odoo.addons.medpulse_telephony.controllers.webhook import fold_waiting  # noqa: PLC0415
    from odoo.addons.medpulse_telephony.models.medpulse_call import (  # noqa: PLC0415
        MedpulseCall,
    )

    company = env.company
    Event = env["medpulse.call.event"].with_company(company)
    recomputes = []
    original = MedpulseCall._recompute

    def counting(records, *args, **kwargs):
        recomputes.append(1)
        return original(records, *args, **kwargs)

    thread = threading.current_thread()
    thread.query_count, thread.query_time = 0, 0.0
    folded = 0
    MedpulseCall._recompute = counting
    timer = StatementTimes() if statements else None
    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        with timer or nullcontext():
            for n, (path, payload) in enumerate(events, 1):
                Event._store(company, path, payload)
                env.cr.commit()  # pylint: disable=invalid-commit  # as the webhook, before its answer
                if n % every == 0 or n == len(events):
                    folded += fold_waiting(env.cr.dbname)
    finally:
        MedpulseCall._recompute = original
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    extra = {}
    if timer:
        extra = {
            "sql_ms_per_event": round(
                sum(kind[1] for kind in timer.kinds.values()) / len(events) * 1000, 2
            ),
            "statements": timer.top(len(events), statements),
        }
    return {
        "every": every,
        "events": len(events),
        "folded": folded,
        "events_per_s": round(folded / seconds, 1),
        "statements_per_event": round(thread.query_count / len(events), 1),
        "cpu_ms_per_event": round(cpu / len(events) * 1000, 2),
        "recomputes_per_event": round(len(recomputes) / len(events), 2),
        **extra,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("-d", "--database", required=True)
    parser.add_argument("--calls", type=int, default=60, help="calls per k")
    parser.add_argument("--every", type=int, action="append",
                        help="fold after every k stored events (repeatable; default 1, 8, 32)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--concurrent", type=int, default=1,
                        help="interleave the events of every N calls (default 1: in order)")
    parser.add_argument("--statements", type=int, default=0, metavar="N",
                        help="also the N kinds of statement that took the most time")
    parser.add_argument("--output")
    args = parser.parse_args(argv)
    rows = []
    with odoo_env(args.config, args.database) as env:
        env = env(context=dict(env.context, allowed_company_ids=env.company.ids))
        # A few calls first warm the process (registry caches, parsing, templates).
        warm = play_calls(env, 5, args.seed - 1)
        env.cr.commit()  # pylint: disable=invalid-commit  # the statements below commit
        measure(env, warm, 1)
        for i, every in enumerate(args.every or [1, 8, 32]):
            events = interleave(play_calls(env, args.calls, args.seed + i), args.concurrent)
            env.cr.commit()  # pylint: disable=invalid-commit  # the statements below commit
            rows.append(dict(measure(env, events, every, args.statements),
                             concurrent=args.concurrent))
            print(json.dumps({key: value for key, value in rows[-1].items()
                              if key != "statements"}), flush=True)
            for kind in rows[-1].get("statements", []):
                print(f"  {kind['ms_per_event']:6.3f} ms/event {kind['per_event']:5.2f}/event "
                      f"{kind['ms_each']:6.2f} ms  {kind['statement']}", flush=True)
    if args.output:
        Path(args.output).write_text(json.dumps(
            {"calls": args.calls, "concurrent": args.concurrent, "runs": rows}, indent=1
        ))
    return 0


if __name__ == "__main__":
    sys.exit(main())
