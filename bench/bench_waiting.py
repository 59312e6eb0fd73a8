"""The folder's look for waiting events on a journal between two vacuums.

Every webhook answer is followed by a look for the events waiting to be folded
(``medpulse.call.event._any_waiting`` and ``_waiting_for_fold``): a scan of the partial
index of the ``received`` events in id order. An event folded leaves a dead entry in that
index until the table's next vacuum, and autovacuum comes once a fifth of the table
changed: on a clinic's table of millions of events, hundreds of thousands of dead entries
at the low end of the index, read again by every look. The look now starts where the
previous one found the first waiting event, less ``WAITING_MARGIN`` ids, and reads
everything once per ``WAITING_FULL_LOOK_SECONDS`` only.

This measures one look of each kind, the folder's own statement (``_waiting_sql``), after
``--dead`` events were stored and folded (their dead entries, once marked dead by a
first look), on a copy of ``-d`` (created from it as a template and dropped at the end,
so no session may be connected to ``-d`` meanwhile):

    /opt/odoo18/venv/bin/python bench/bench_waiting.py -c /tmp/medpulse_bench/bench_main.conf \\
        -d bench_main [--dead 300000] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import odoo_env, percentile  # noqa: E402 - after the sys.path set-up above


def fold_dead(cr, count: int) -> None:
    """``count`` events stored ``received`` and folded: their dead entries in the index."""
    cr.execute("ALTER TABLE medpulse_call_event SET (autovacuum_enabled = false)")
    cr.execute(
        """
        INSERT INTO medpulse_call_event
            (company_id, path, json, received_at, identity, entry_id, state, body_sha256,
             other_path_count, create_uid, create_date, write_uid, write_date)
        SELECT 1, 'events/call', '{}', now(), 'bench-waiting-' || n, 'bench-waiting-' || (n / 8),
               'received', encode(sha256(('bench-waiting-' || n)::bytea), 'hex'), 0, 1, now(),
               1, now()
          FROM generate_series(1, %s) AS n
        """,
        [count],
    )
    cr.commit()
    cr.execute("UPDATE medpulse_call_event SET state = 'processed' "
               "WHERE identity LIKE %s AND state = 'received'", ["bench-waiting-%"])
    cr.commit()


def look_times(env, start: int, repeat: int) -> dict:
    """The folder's look of share 0 from ``start`` (0: a full look), ``repeat`` times."""
    from odoo.tools import SQL  # noqa: PLC0415 - importable once Odoo is set up

    statement = SQL("SELECT id FROM medpulse_call_event WHERE %s ORDER BY id LIMIT %s",
                    env["medpulse.call.event"]._waiting_sql(0, start), 500)
    samples = []
    for n in range(repeat + 2):
        began = time.perf_counter()
        env.cr.execute(statement)
        env.cr.fetchall()
        if n >= 2:  # the first look marks the entries dead, as the folder's first one does
            samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    return {"p50_ms": round(percentile(samples, 50), 3),
            "p95_ms": round(percentile(samples, 95), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-c", "--config", required=True, help="the Odoo configuration file")
    parser.add_argument("-d", "--db", required=True, help="a database with medpulse_telephony")
    parser.add_argument("--dead", type=int, default=300_000, help="events stored and folded")
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args(argv)
    copy = f"{args.db}_waiting"
    subprocess.run(["dropdb", "--if-exists", copy], check=True)
    subprocess.run(["createdb", "-T", args.db, copy], check=True)
    try:
        with odoo_env(args.config, copy) as env:
            from odoo.addons.medpulse_telephony.models.medpulse_call_event import (  # noqa: PLC0415
                WAITING_MARGIN,
            )

            fold_dead(env.cr, args.dead)
            env.cr.execute("SELECT max(id), pg_relation_size('medpulse_call_event_received_index')"
                           " FROM medpulse_call_event")
            last_id, index_bytes = env.cr.fetchone()
            result = {
                "dead_entries": args.dead,
                "waiting_index_mb": round(index_bytes / 2**20, 1),
                "full_look": look_times(env, 0, args.repeat),
                "look_from_the_mark": look_times(env, last_id - WAITING_MARGIN, args.repeat),
            }
    finally:
        from odoo.sql_db import close_all  # noqa: PLC0415 - importable once Odoo is set up

        close_all()
        subprocess.run(["dropdb", "--if-exists", copy], check=True)
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
