"""The call journal's list view at scale: the queries an operator's clicks produce.

Each query is what the web client sends for the journal's list view, through the same
ORM entry points (``web_search_read`` with the list view's own fields and
``count_limit=10001``, ``web_read_group`` for a grouped list), as the bench
receptionist so record rules apply. Each runs ``--repeat`` times with fresh inputs
(another number fragment, another patient name); p50 and p95 in milliseconds.

Run twice in one run: as the addon ships (``shipped``) and after creating the indexes
recommended in the README (``recommended``), which are dropped again afterwards
unless ``--keep-indexes``: the difference is what those indexes buy.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH_LOGIN, odoo_env, summarize_ms  # noqa: E402 - after the sys.path set-up above

# What the recommended field changes create, spelled as Odoo 18 creates them
# (``index='trigram'`` -> GIN gin_trgm_ops on the column; btree otherwise).
RECOMMENDED_INDEXES = {
    # The four trigram indexes on the number columns were recommended here first and
    # ship with medpulse_telephony since commit 431be75: only this one is left.
    "medpulse_call__call_type_created_idx":
        "CREATE INDEX IF NOT EXISTS medpulse_call__call_type_created_idx ON medpulse_call "
        "(call_type, created_at)",
}


def list_specification(Call) -> dict:
    """The fields the journal's list view reads, as the web client asks for them."""
    arch = Call.get_view(view_type="list")["arch"]
    spec = {}
    for node in etree.fromstring(arch).iter("field"):
        name = node.get("name")
        if node.get("optional") == "hide":
            continue  # hidden optional columns are not fetched
        field = Call._fields.get(name)
        if not field:
            continue
        spec[name] = {"fields": {"display_name": {}}} if field.type == "many2one" else {}
    return spec


def queries(env, rnd: random.Random) -> dict:
    """Name -> function building one call with a fresh random input."""
    cr = env.cr
    cr.execute("SELECT external_e164 FROM medpulse_call WHERE external_e164 IS NOT NULL "
               "ORDER BY id DESC LIMIT 2000")
    numbers = [r[0] for r in cr.fetchall()]
    cr.execute("SELECT p.name FROM medpulse_patient p WHERE p.id IN "
               "(SELECT patient_id FROM medpulse_call WHERE patient_id IS NOT NULL "
               "ORDER BY id DESC LIMIT 2000)")
    names = [r[0] for r in cr.fetchall()]
    month_start = datetime.utcnow() - timedelta(days=30)
    return {
        # The user types the last 7 digits of a number into the search box.
        "number_fragment": lambda: (
            "search",
            [("number_search", "ilike", rnd.choice(numbers)[-7:])],
        ),
        # ... or the surname and first name of a patient (the search view's "Patient",
        # i.e. the field patient_search).
        "patient_name": lambda: (
            "search",
            [("patient_search", "ilike", " ".join(rnd.choice(names).split()[:2]))],
        ),
        "missed_today": lambda: (
            "search",
            [("call_type", "=", "missed_incoming"), ("created_today", "=", True)],
        ),
        "group_by_operator_30d": lambda: ("group", [("created_at", ">=", month_start)]),
        "group_by_operator_all": lambda: ("group", []),
        # The same as Odoo's SQL groups them (the operators joined to every call and
        # grouped by their names): the baseline of medpulse.call._read_group, same run.
        "group_by_operator_30d_odoo_sql": lambda: (
            "group_sql", [("created_at", ">=", month_start)]
        ),
        "group_by_operator_all_odoo_sql": lambda: ("group_sql", []),
        # Everything grouped from the calls (the ids, ordered afterwards), not from the
        # monthly tally: the baseline of medpulse.call._read_group_tallied, same run.
        "group_by_operator_all_from_calls": lambda: ("group_calls", []),
        "default_list": lambda: ("search", []),
    }


#: What the journal's list grouped asks per group (the columns it sums, ``TestJournalGroupBy``).
GROUP_AGGREGATES = ["__count", "wait_seconds:avg", "talk_seconds:sum"]


def measure(env, repeat: int, seed: int = 11) -> dict:
    user = env["res.users"].search([("login", "=", BENCH_LOGIN)], limit=1)
    Call = env["medpulse.call"].with_user(user).with_context(tz="Europe/Moscow")
    spec = list_specification(Call)
    rnd = random.Random(seed)
    result = {}
    for name, make in queries(env, rnd).items():
        samples, rows = [], 0
        for i in range(repeat + 2):
            kind, domain = make()
            env.invalidate_all()
            start = time.perf_counter()
            if kind == "search":
                out = Call.web_search_read(domain, spec, limit=80, order="created_at desc, id desc",
                                           count_limit=10001)
                rows = out["length"]
            else:
                grouping = Call.with_context(
                    medpulse_group_order_in_sql=kind == "group_sql",
                    medpulse_journal_from_calls=kind == "group_calls",
                )
                # What the list grouped by operator asks: its count, average wait, total talk.
                out = grouping.web_read_group(domain, GROUP_AGGREGATES, ["operator_user_id"],
                                              lazy=False)
                rows = out["length"]
            if i >= 2:  # the first two warm the caches, like an operator's first click
                samples.append((time.perf_counter() - start) * 1000)
        result[name] = {"rows_last": rows, **summarize_ms(samples)}
    return result


def run(env, repeat: int, keep_indexes: bool) -> dict:
    env.cr.execute("SELECT COUNT(*) FROM medpulse_call")
    calls = env.cr.fetchone()[0]
    shipped = measure(env, repeat)
    for sql in RECOMMENDED_INDEXES.values():
        env.cr.execute(sql)
    env.cr.execute("ANALYZE medpulse_call")
    env.cr.commit()
    recommended = measure(env, repeat)
    sizes = {}
    for index in RECOMMENDED_INDEXES:
        env.cr.execute("SELECT pg_relation_size(%s::regclass)", (index,))
        sizes[index] = round(env.cr.fetchone()[0] / 2**20, 1)
    if not keep_indexes:
        for index in RECOMMENDED_INDEXES:
            env.cr.execute(f"DROP INDEX IF EXISTS {index}")
        env.cr.commit()
    return {"calls": calls, "shipped": shipped, "recommended": recommended,
            "index_mb": sizes, "goal_ms_p95": 100}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("-d", "--database", required=True)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--keep-indexes", action="store_true")
    args = parser.parse_args(argv)
    with odoo_env(args.config, args.database) as env:
        result = run(env, args.repeat, args.keep_indexes)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
