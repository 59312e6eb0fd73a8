"""Per event kind: SQL statements and Python work of one webhook request, any checkout.

    /opt/odoo18/venv/bin/python bench/profile_events.py -c ODOO.conf -d DB --output run.json
    /opt/odoo18/venv/bin/python bench/profile_events.py --compare before.json after.json

What ``bench_ingest.py profile`` does per path, with the webhook's transactions and per
*kind* of event (a call event by its state and where its leg is: ``call Appeared
@abonent`` is an operator's phone ringing): the calls of the load generator's mix
(``mango_vpbx_emulator.load.DEFAULT_MIX``, external numbers 70 % patients' own, the rest
unknown, operators in turn) are played by the emulator in memory, then each event goes
through what the webhook does after its signature check, in the checkout whose addons
the database runs (``-c``: its Odoo configuration, e.g. the one ``run_all.py`` wrote in
its work directory, with that checkout first on ``PYTHONPATH``): the raw event stored
and committed, the call's lock, the fold in a new transaction, the commits
(``controllers/webhook.py``'s ``fold_in_turn``, or the event model's ``_process_in_turn``
of the checkouts before it), the commands it queued sent. Statements are counted over
every cursor; the HTTP layer's own and the company's lookup by its key are not (the
empty route of the ingest bench measures those). The first calls warm the worker's
caches and are not counted.

It commits: run it on a copy of a bench database (``createdb -T bench_x bench_x_prof``),
not on one that is measured afterwards.

Output (JSON), per kind: the events, the mean statements, **Python function calls**
(cProfile's count: the Python work whatever the machine's load), wall, SQL and CPU
milliseconds (these depend on the load), the mean number of each statement per event
(its text; literals are parameters) and the heaviest functions (cumulative).
``--no-cprofile`` measures the times without the profiler's overhead (and no calls);
``--pstats-dir`` keeps each kind's profile for ``pstats``. ``--compare`` prints two
outputs side by side as a Markdown table, then the statements whose number per event
changed, per kind.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import inspect
import io
import json
import pstats
import random
import re
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ingest import CollectingSink, _trim  # noqa: E402 - after the sys.path set-up above
from common import odoo_env  # noqa: E402 - after the sys.path set-up above

MIX = ("incoming_answered", "queue", "missed_operator", "missed_ivr", "outgoing")


def event_kind(path: str, payload: str) -> str:
    """``call <state> @<location>`` for a call event, the path otherwise."""
    if path.endswith("events/call"):
        data = json.loads(payload)
        return f"call {data.get('call_state')} @{data.get('location')}"
    return path


def play_calls(env, calls: int, seed: int) -> list[tuple[str, str]]:
    """The events of ``calls`` calls of the load's mix, in the order they were sent."""
    from mango_vpbx_emulator.pbx import Pbx  # noqa: PLC0415 - the checkout under test
    from mango_vpbx_emulator.scenarios import run_scenario  # noqa: PLC0415 - imported where it is needed
    from mango_vpbx_emulator.state import directory_from_config  # noqa: PLC0415 - imported where it is needed

    rnd = random.Random(seed)
    env.cr.execute(
        "SELECT number_e164 FROM medpulse_patient_phone WHERE label = 'own' "
        "AND number_e164 IS NOT NULL ORDER BY id LIMIT 5000"
    )
    known = [r[0][1:] for r in env.cr.fetchall()]
    extensions = sorted(
        env["res.users"].search([("medpulse_pbx_extension", "!=", False)])
        .mapped("medpulse_pbx_extension")
    )
    directory = directory_from_config({"employees": [
        {"extension": ext, "name": f"Operator {ext}"} for ext in extensions]})
    sink = CollectingSink()
    pbx = Pbx(directory, sink, speed=1000.0, record_delay=5.0)
    for i in range(calls):
        number = rnd.choice(known) if rnd.random() < 0.7 else f"7999{rnd.randrange(10**7):07d}"
        run_scenario(pbx, MIX[i % len(MIX)], {
            "speed": 1000.0, "extension": extensions[i % len(extensions)],
            "caller": number, "target": number,
        })
    pbx.join()
    return list(sink.events)


def webhook_request(env, company, path: str, payload: str) -> None:
    """What the webhook does with one signed request (its transactions included)."""
    Event = env["medpulse.call.event"].with_company(company)
    record, event = Event._store(company, path, payload)
    if record and event is not None:
        if hasattr(type(record), "_process_in_turn"):  # the checkouts before the reshape
            record._process_in_turn(event)
        else:
            from odoo.addons.medpulse_telephony.controllers.webhook import (  # noqa: PLC0415
                fold_in_turn,
            )

            env.cr.commit()  # pylint: disable=invalid-commit  # as the controller
            if "known" in inspect.signature(fold_in_turn).parameters:
                # as the controller: the event's call known without reading it back
                fold_in_turn(record, event, known=(company, getattr(event, "entry_id", None)))
            else:  # the checkouts before it
                fold_in_turn(record, event)
    env.cr.commit()  # pylint: disable=invalid-commit  # the end of the HTTP request


class StatementLog:
    """The text of every statement executed on this thread while ``active``."""

    def __init__(self) -> None:
        from odoo import sql_db  # noqa: PLC0415 - imported once PYTHONPATH is set

        self.statements: list[str] = []
        self.active = False
        original = sql_db.Cursor.execute
        log = self

        def execute(cursor, query, params=None, log_exceptions=True):
            if log.active and threading.current_thread() is log.thread:
                log.statements.append(_shape(query))
            return original(cursor, query, params, log_exceptions)

        self.thread = threading.current_thread()
        sql_db.Cursor.execute = execute


def _shape(query) -> str:
    text = query.code if hasattr(query, "code") else str(query)
    text = re.sub(r"\s+", " ", text).strip()
    # an IN list of n placeholders is the same statement whatever n
    text = re.sub(r"%s(, %s)+", "%s, ...", text)
    # savepoints are named by a fresh uuid
    text = re.sub(r'SAVEPOINT "[0-9a-f-]+"', 'SAVEPOINT "…"', text)
    return text[:300]


def profile(env, calls: int, warmup: int, seed: int, with_cprofile: bool = True,
            pstats_dir: str | None = None) -> dict:
    company = env.company
    env = env(context=dict(env.context, allowed_company_ids=company.ids))
    events = play_calls(env, warmup + calls, seed)
    env.cr.commit()  # pylint: disable=invalid-commit  # the statements below commit
    # the first calls' events warm the worker (registry caches, parsing, templates)
    entry_of = [json.loads(p).get("entry_id") for _, p in events]
    warm_entries = []
    for entry in entry_of:
        if entry and entry not in warm_entries:
            warm_entries.append(entry)
    warm_entries = set(warm_entries[:warmup])
    log = StatementLog()
    thread = threading.current_thread()
    profilers: dict[str, cProfile.Profile] = {}
    samples: dict[str, list] = collections.defaultdict(list)
    statements: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for (path, payload), entry in zip(events, entry_of, strict=True):
        if entry in warm_entries:
            webhook_request(env, company, path, payload)
            continue
        kind = event_kind(path, payload)
        profiler = profilers.setdefault(kind, cProfile.Profile())
        env.invalidate_all()
        thread.query_count, thread.query_time = 0, 0.0
        log.statements = []
        log.active = True
        start, cpu_start = time.perf_counter(), time.process_time()
        if with_cprofile:
            profiler.enable()
        webhook_request(env, company, path, payload)
        if with_cprofile:
            profiler.disable()
        total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        log.active = False
        samples[kind].append((total, thread.query_count, thread.query_time, cpu))
        statements[kind].update(log.statements)
    kinds = {}
    for kind in sorted(samples):
        rows = samples[kind]
        n = len(rows)
        total = sum(r[0] for r in rows) / n * 1000
        sql = sum(r[2] for r in rows) / n * 1000
        top = io.StringIO()
        function_calls = None
        if with_cprofile:
            stats = pstats.Stats(profilers[kind], stream=top)
            function_calls = round(stats.total_calls / n)
            if pstats_dir:
                name = re.sub(r"[^A-Za-z0-9]+", "_", kind)
                profilers[kind].dump_stats(str(Path(pstats_dir) / f"{name}.prof"))
            stats.sort_stats("cumulative").print_stats(30)
        kinds[kind] = {
            "n": n,
            "sql_count": round(sum(r[1] for r in rows) / n, 2),
            "total_ms": round(total, 2),
            "sql_ms": round(sql, 2),
            "python_ms": round(total - sql, 2),
            "cpu_ms": round(sum(r[3] for r in rows) / n * 1000, 2),
            "function_calls": function_calls,
            "statements": {
                statement: round(count / n, 2)
                for statement, count in statements[kind].most_common()
            },
            "top_cumulative": _trim(top.getvalue()),
        }
    everything = [r for rows in samples.values() for r in rows]
    n = len(everything)
    return {
        "calls": calls,
        "events": n,
        "sql_count_per_event": round(sum(r[1] for r in everything) / n, 2),
        "total_ms_per_event": round(sum(r[0] for r in everything) / n * 1000, 2),
        "cpu_ms_per_event": round(sum(r[3] for r in everything) / n * 1000, 2),
        "function_calls_per_event": round(
            sum((k["function_calls"] or 0) * k["n"] for k in kinds.values()) / n
        ) if with_cprofile else None,
        "cprofile": with_cprofile,
        "kinds": kinds,
    }


def compare(before: dict, after: dict) -> str:
    lines = [
        "| kind | n | SQL before | SQL after | Python calls before | Python calls after "
        "| ms before | ms after | CPU ms before | CPU ms after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind in sorted(set(before["kinds"]) | set(after["kinds"])):
        b, a = before["kinds"].get(kind, {}), after["kinds"].get(kind, {})
        lines.append(
            f"| {kind} | {a.get('n', b.get('n'))} | {b.get('sql_count')} | {a.get('sql_count')}"
            f" | {b.get('function_calls')} | {a.get('function_calls')}"
            f" | {b.get('total_ms')} | {a.get('total_ms')}"
            f" | {b.get('cpu_ms')} | {a.get('cpu_ms')} |"
        )
    lines.append(
        f"| **all** | {after['events']} | {before['sql_count_per_event']} "
        f"| {after['sql_count_per_event']} | {before.get('function_calls_per_event')} "
        f"| {after.get('function_calls_per_event')} | {before['total_ms_per_event']} "
        f"| {after['total_ms_per_event']} | {before.get('cpu_ms_per_event')} "
        f"| {after.get('cpu_ms_per_event')} |"
    )
    lines.append("")
    for kind in sorted(set(before["kinds"]) | set(after["kinds"])):
        b = before["kinds"].get(kind, {}).get("statements", {})
        a = after["kinds"].get(kind, {}).get("statements", {})
        changed = [
            (a.get(statement, 0) - b.get(statement, 0), statement)
            for statement in set(a) | set(b)
            if abs(a.get(statement, 0) - b.get(statement, 0)) >= 0.01
        ]
        if not changed:
            continue
        lines.append(f"{kind}: statements per event, after minus before")
        for delta, statement in sorted(changed, key=lambda item: (-abs(item[0]), item[1])):
            lines.append(f"  {delta:+6.2f}  {statement[:200]}")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-c", "--config")
    parser.add_argument("-d", "--database")
    parser.add_argument("--calls", type=int, default=25, help="calls measured")
    parser.add_argument("--warmup", type=int, default=5, help="calls played first, not measured")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--no-cprofile", action="store_true",
                        help="no cProfile (its overhead inflates the CPU and times)")
    parser.add_argument("--pstats-dir", help="also write each kind's cProfile statistics here")
    parser.add_argument("--output", help="write the JSON here (default: standard output)")
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args(argv)
    if args.compare:
        before, after = (json.loads(Path(p).read_text()) for p in args.compare)
        print(compare(before, after))
        return 0
    if not (args.config and args.database):
        parser.error("-c and -d are required to measure")
    with odoo_env(args.config, args.database) as env:
        result = profile(env, args.calls, args.warmup, args.seed, not args.no_cprofile,
                         args.pstats_dir)
    text = json.dumps(result, indent=2, ensure_ascii=False)
    if args.output:
        Path(args.output).write_text(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
