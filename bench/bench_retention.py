"""Retention of raw PBX events (issue 25): the purge's time and the disk before and after.

On a database whose journal ``generate.py --calls N --days D`` wrote (its calls and raw
events spread over the last D days, stamped as the webhook would have stored them), the
company keeps raw events ``--months`` months and its journal counts as reconciled up to
now; then the retention's cron (``medpulse.call.event.snapshot._cron_purge``) runs to the
end, in its own batches and transactions as in production, timed per batch (a batch holds
the locks of its calls: its duration is the longest a webhook event of one of them may
wait). Sizes (``pg_total_relation_size``: table, indexes and TOAST) of the raw events, the
snapshots and the journal, and of the database, are taken before, after the purge, and
after ``VACUUM FULL`` of the raw events (a purge frees space for new rows, not for the
file system, until then). From the bytes measured per call the disk a clinic needs per year
at 100, 1,000 and 10,000 calls a day, with and without retention, is printed as a table.

    /opt/odoo18/venv/bin/python bench/generate.py --db bench_ret --patients 20000 \
        --calls 150000 --days 730 --odoo-config bench_ret.conf
    PYTHONPATH=. /opt/odoo18/venv/bin/python bench/bench_retention.py \
        --odoo-config bench_ret.conf --db bench_ret --months 12 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from unittest.mock import patch

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import odoo_env, summarize_ms  # noqa: E402 - after the sys.path set-up above

TABLES = ("medpulse_call_event", "medpulse_call_event_snapshot", "medpulse_call")
RATES = (100, 1_000, 10_000)


def sizes(cr) -> dict:
    """Rows and bytes (table, indexes, TOAST) of the tables concerned, and the database."""
    result = {}
    for table in TABLES:
        cr.execute(f"SELECT count(*), pg_total_relation_size('{table}') FROM {table}")  # noqa: S608 - fixed table names
        rows, size = cr.fetchone()
        result[table] = {"rows": rows, "bytes": size}
    cr.execute("SELECT pg_database_size(current_database())")
    result["database_bytes"] = cr.fetchone()[0]
    return result


def sizes_now(dbname: str) -> dict:
    """:func:`sizes` in a transaction of its own."""
    conn = psycopg2.connect(dbname=dbname, host=os.environ.get("PGHOST", "localhost"))
    with conn, conn.cursor() as cr:
        result = sizes(cr)
    conn.close()
    return result


def vacuum_full(dbname: str, table: str) -> tuple[float, dict]:
    """``VACUUM FULL`` of ``table`` (outside a transaction): its seconds, the sizes after.

    Through psycopg2: Odoo's configuration is parsed once per process.
    """
    conn = psycopg2.connect(dbname=dbname, host=os.environ.get("PGHOST", "localhost"))
    conn.autocommit = True
    started = time.perf_counter()
    with conn.cursor() as cr:
        cr.execute(f"VACUUM FULL ANALYZE {table}")  # noqa: S608 - a fixed table name
        seconds = time.perf_counter() - started
        after = sizes(cr)
    conn.close()
    return seconds, after


def purge(env, months: int) -> dict:
    """Configure the retention, run the cron to the end, time each batch."""
    company = env.company
    company.write({"medpulse_event_retention_months": months,
                   "medpulse_pbx_reconciled_until": env.cr.now().replace(tzinfo=None)})
    env.cr.commit()
    Snapshot = env["medpulse.call.event.snapshot"]
    model = type(Snapshot)
    original = model._purge_batch
    batches = []

    def timed(self, company, after, scan):
        started = time.perf_counter()
        result = original(self, company, after, scan)
        batches.append(((time.perf_counter() - started) * 1000, result[0]))
        return result

    started = time.perf_counter()
    calls = 0
    with patch.object(model, "_purge_batch", timed):
        while True:
            done = Snapshot._cron_purge(seconds=3600)
            calls += done
            if not done:
                break
    seconds = time.perf_counter() - started
    return {"months": months, "seconds": round(seconds, 1), "calls_purged": calls,
            "batches": len(batches), "batch_ms": summarize_ms([ms for ms, _n in batches]),
            "calls_per_batch_max": max((n for _ms, n in batches), default=0)}


def per_call(before: dict, after: dict) -> dict:
    """Bytes per call: the journal row, its raw events, its snapshot once purged."""
    events, calls = before["medpulse_call_event"], before["medpulse_call"]
    snapshots = after["medpulse_call_event_snapshot"]
    return {
        "events_per_call": round(events["rows"] / calls["rows"], 2),
        "event_bytes": round(events["bytes"] / events["rows"]),
        "raw_events_bytes_per_call": round(events["bytes"] / calls["rows"]),
        "call_row_bytes": round(calls["bytes"] / calls["rows"]),
        "snapshot_bytes_per_call": round(snapshots["bytes"] / snapshots["rows"])
        if snapshots["rows"] else None,
    }


def projection(bytes_: dict, months: int) -> list[dict]:
    """Disk per year of calls at each rate: without retention every year adds its calls'
    rows and raw events; with it, after the first ``months``, a year adds its calls' rows
    and snapshots, the raw events staying at ``months`` months of calls."""
    rows = []
    for rate in RATES:
        year = rate * 365
        without = year * (bytes_["call_row_bytes"] + bytes_["raw_events_bytes_per_call"])
        with_ = year * (bytes_["call_row_bytes"] + bytes_["snapshot_bytes_per_call"])
        kept = rate * 30.4 * months * (bytes_["raw_events_bytes_per_call"]
                                       - bytes_["snapshot_bytes_per_call"])
        rows.append({"calls_per_day": rate, "gb_per_year_without": round(without / 1e9, 2),
                     "gb_per_year_with": round(with_ / 1e9, 2),
                     "gb_raw_events_kept_with": round(kept / 1e9, 2)})
    return rows


def markdown(result: dict) -> str:
    """The projection as the Markdown table of the READMEs."""
    months = result["purge"]["months"]
    lines = [
        f"| calls a day | without retention, GB per year | with {months} months, GB per year "
        f"| with {months} months: plus, once, the last {months} months' raw events (GB) |",
        "|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {row['calls_per_day']:,} | {row['gb_per_year_without']} | {row['gb_per_year_with']} "
        f"| {row['gb_raw_events_kept_with']} |"
        for row in result["projection"]
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--odoo-config", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--no-vacuum-full", action="store_true",
                        help="skip the VACUUM FULL (it rewrites the whole table: on a large "
                        "database, as long as the purge and as much free disk as the table); "
                        "the sizes after it are then those after the purge")
    args = parser.parse_args(argv)

    with odoo_env(args.odoo_config, args.db) as env:
        cr = env.cr
        cr.execute("SELECT count(*) FROM medpulse_call_event WHERE received_at < now()"
                   " AT TIME ZONE 'UTC' - %s * interval '1 month'", [args.months])
        old_events = cr.fetchone()[0]
        before = sizes(cr)
        load = os.getloadavg()
        run = purge(env, args.months)
    # Counted in a new transaction: this one's snapshot is older than the purge.
    after = sizes_now(args.db)
    # Kept before the vacuum, which may take long on a busy machine.
    print(json.dumps({"purge": run, "before": before, "after_purge": after}), file=sys.stderr)
    if args.no_vacuum_full:
        vacuum_seconds, vacuumed = 0.0, after
    else:
        vacuum_seconds, vacuumed = vacuum_full(args.db, "medpulse_call_event")
    bytes_ = per_call(before, vacuumed)
    result = {
        "load_average_at_start": [round(x, 1) for x in load],
        "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
        "old_events": old_events, "purge": run, "vacuum_full_seconds": round(vacuum_seconds, 1),
        "vacuum_full": not args.no_vacuum_full,
        "sizes": {"before": before, "after_purge": after, "after_vacuum_full": vacuumed},
        "per_call": bytes_, "projection": projection(bytes_, args.months),
    }
    text = json.dumps(result, indent=2)
    print(text)
    print(markdown(result))
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
