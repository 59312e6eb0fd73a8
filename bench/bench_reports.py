"""The managers' reports at scale: each report as its pivot or graph asks for it, before and
after the tallies (issue 24), side by side in one run; then the journal's Patient filter and
default list, before and after their index-only paths.

*Before* is what the reports read until the tallies: the ORM's ``read_group`` over the
journal (``medpulse.call``, e.g. *Call analysis* grouped by operator) or over its per-call
analysis view (``medpulse.call.report``: hours of day, rates, call-backs). *After* is the
same question to ``medpulse.call.tally`` (per day, operator, line, type) or
``medpulse.call.tally.hour`` (per day, hour of day, line, type). As a telephony and clinic
manager (``bench_supervisor``) so record rules apply, fresh caches each time, ``--repeat``
times after two warm-ups: p50/p95/p99 in ms, and the rows the groups add up to (the same
before and after, or the report would be wrong). Then ``EXPLAIN (ANALYZE, BUFFERS)`` of the
statement of one report over everything, before and after: where the time goes.

A report over everything that needs no day finer than a month (by operator, line, type, hour) is
answered from the monthly tallies (``medpulse.call.tally.month``, ``.tally.hour.month`` for
hours of day): it is measured three ways,
the journal, the daily tally (``medpulse_tally_by_day`` in the context: what it read before)
and the monthly one.

The journal (``journal`` in the results): what the list view sends, ``web_search_read``
with the list view's own visible fields, 80 rows, ``count_limit=10001`` (as the web client),
as an operator who is a receptionist (``bench_receptionist``: the journal's and the
patients' record rules apply). *Patient filter*: the search view's *Patient* with a
patient's surname and first name, the domain the web client sends (the filter runs for
the rows and again for the count); before is what the filter built until now
(``patient_ids in <the patients' ids>``, an ``EXISTS`` over the journal: the shipped code
with its new step switched off), after is the filter as it ships (the calls' ids read from
the link table by the patients' ids). *Default
list*: the journal opened, no filter. ``EXPLAIN (ANALYZE, BUFFERS)`` of each.

The tallies are filled when the addon is installed or upgraded on an existing journal; a
database whose calls were COPYed in afterwards (``generate.py``) is filled here first
(``medpulse.call.tally._rebuild``, timed) when the tallies are empty.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from unittest.mock import patch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_journal import list_specification  # noqa: E402 - after the sys.path set-up above
from bench_wallboard import supervisor  # noqa: E402
from common import BENCH_LOGIN, odoo_env, summarize_ms  # noqa: E402

BY_DAY = {"medpulse_tally_by_day": True}


def reports(month_start: datetime, month_day: date) -> dict:
    """Name -> {label: (model, domain, aggregates, groupby[, context])}, the first label the
    baseline, the last what ships."""
    recent = [("created_at", ">=", month_start)]
    recent_day = [("day", ">=", month_day)]
    incoming = [("direction", "=", "incoming")]
    missed = [("call_type", "=", "missed_incoming")]
    callbacks = ["missed_count:sum", "returned_count:sum", "returned_rate:avg",
                 "return_minutes:avg"]
    report = {}
    for period, before_domain, after_domain in (
        ("30d", recent, recent_day), ("all", [], []),
    ):
        for dimension, field in (("operator", "operator_user_id"), ("line", "line_id"),
                                 ("type", "call_type")):
            report[f"by_{dimension}_{period}"] = {
                "before": ("medpulse.call", before_domain, ["__count"], [field]),
                **({"days": ("medpulse.call.tally", after_domain, ["__count"], [field], BY_DAY)}
                   if period == "all" else {}),
                "after": ("medpulse.call.tally", after_domain, ["__count"], [field]),
            }
        report[f"by_hour_{period}"] = {
            "before": ("medpulse.call.report", before_domain, ["__count"], ["hour_of_day"]),
            **({"days": ("medpulse.call.tally.hour", after_domain, ["__count"], ["hour_of_day"],
                         BY_DAY)} if period == "all" else {}),
            "after": ("medpulse.call.tally.hour", after_domain, ["__count"], ["hour_of_day"]),
        }
    report["missed_rate_per_day_30d"] = {
        "before": ("medpulse.call.report", recent + incoming, ["missed_rate:avg"],
                   ["created_at:day"]),
        "after": ("medpulse.call.tally", recent_day + incoming, ["missed_rate:avg"], ["day:day"]),
    }
    report["callbacks_30d"] = {
        "before": ("medpulse.call.report", recent + missed, callbacks, ["created_at:day"]),
        "after": ("medpulse.call.tally", recent_day + missed, callbacks, ["day:day"]),
    }
    report["callbacks_all"] = {
        "before": ("medpulse.call.report", missed, callbacks, ["operator_user_id"]),
        "days": ("medpulse.call.tally", missed, callbacks, ["operator_user_id"], BY_DAY),
        "after": ("medpulse.call.tally", missed, callbacks, ["operator_user_id"]),
    }
    return report


def one(env, user, spec) -> tuple[float, int]:
    model, domain, aggregates, groupby, *context = spec
    Model = env[model].with_user(user).with_context(tz="Europe/Moscow", **(context or [{}])[0])
    env.invalidate_all()
    start = time.perf_counter()
    groups = Model.read_group(domain, aggregates, groupby, lazy=False)
    elapsed = (time.perf_counter() - start) * 1000
    return elapsed, sum(group.get("__count", 0) for group in groups)


def explain(env, user, spec, run=None, wanted=lambda text: "GROUP BY" in text) -> str:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of the last statement ``run`` (default: the
    ``read_group`` of ``spec``) sends that is ``wanted``."""
    captured = []
    cr = env.cr
    execute = type(cr).execute

    def capture(self, query, params=None, log_exceptions=True):
        code, args = (query.code, query.params) if hasattr(query, "code") else (query, params)
        text = self._obj.mogrify(code, args).decode()
        if text.lstrip().upper().startswith("SELECT") and wanted(text):
            captured.append(text)
        return execute(self, query, params, log_exceptions)

    type(cr).execute = capture
    try:
        (run or (lambda: one(env, user, spec)))()
    finally:
        type(cr).execute = execute
    if not captured:
        return "(no statement captured)"
    cr.execute("EXPLAIN (ANALYZE, BUFFERS) " + captured[-1])
    return "\n".join(row[0] for row in cr.fetchall())


def run(env, repeat: int) -> dict:
    user = supervisor(env)
    cr = env.cr
    cr.execute("SELECT COUNT(*) FROM medpulse_call")
    calls = cr.fetchone()[0]
    fill_s = None
    cr.execute("SELECT NOT EXISTS (SELECT 1 FROM medpulse_call_tally)")
    if cr.fetchone()[0]:
        start = time.perf_counter()
        env["medpulse.call.tally"]._rebuild()
        cr.commit()
        fill_s = round(time.perf_counter() - start, 1)
    cr.execute("ANALYZE medpulse_call_tally")
    cr.execute("ANALYZE medpulse_call_tally_hour")
    sizes = {}
    for table in ("medpulse_call_tally", "medpulse_call_tally_hour"):
        cr.execute(f"SELECT COUNT(*), pg_total_relation_size('{table}') FROM {table}")  # noqa: S608
        rows, size = cr.fetchone()
        sizes[table] = {"rows": rows, "mb": round(size / 2**20, 1)}
    now = datetime.utcnow()
    specs = reports(now - timedelta(days=30), (now - timedelta(days=29)).date())
    result = {
        name: alternately({label: lambda spec=spec: one(env, user, spec)
                           for label, spec in variants.items()}, repeat)
        for name, variants in specs.items()
    }
    plans = {
        "by_operator_all_before": explain(env, user, specs["by_operator_all"]["before"]),
        "by_operator_all_days": explain(env, user, specs["by_operator_all"]["days"]),
        "by_operator_all_after": explain(env, user, specs["by_operator_all"]["after"]),
        "by_hour_all_after": explain(env, user, specs["by_hour_all"]["after"]),
    }
    journal, journal_plans = run_journal(env, repeat)
    plans.update(journal_plans)
    cr.rollback()
    return {"calls": calls, "fill_s": fill_s, "tallies": sizes, "reports": result,
            "journal": journal, "plans": plans, "goal_ms_p95": 100,
            "load_avg_at_end": os.getloadavg()}


def alternately(variants: dict, repeat: int) -> dict:
    """Each variant (label -> function returning ``(ms, rows)``) ``repeat`` times after two
    warm-ups, in turn, so that the machine's load weighs on all alike; p95 ratio of the
    first (the baseline) to the last (what ships)."""
    samples = {label: [] for label in variants}
    rows = {}
    for i in range(repeat + 2):
        for label, run in variants.items():
            elapsed, rows[label] = run()
            if i >= 2:
                samples[label].append(elapsed)
    entry = {label: {"rows": rows[label], **summarize_ms(samples[label])} for label in variants}
    first, last = list(variants)[0], list(variants)[-1]
    entry["ratio_p95"] = round(entry[first]["p95"] / entry[last]["p95"], 1)
    return entry


def journal_operator(env):
    """The bench's receptionist, an operator of the journal (``generate.py`` makes her)."""
    return env["res.users"].search([("login", "=", BENCH_LOGIN)], limit=1)


def run_journal(env, repeat: int, seed: int = 11) -> tuple[dict, dict]:
    """The journal's Patient filter and default list, before and after (module docstring)."""
    user = journal_operator(env)
    Call = env["medpulse.call"].with_user(user).with_context(tz="Europe/Moscow")
    spec = list_specification(Call)
    env.cr.execute("SELECT p.name FROM medpulse_patient p WHERE p.id IN "
                   "(SELECT patient_id FROM medpulse_call WHERE patient_id IS NOT NULL "
                   "ORDER BY id DESC LIMIT 2000)")
    names = sorted(row[0] for row in env.cr.fetchall())
    rnd = random.Random(seed)

    def typed():
        return " ".join(rnd.choice(names).split()[:2])

    def former(run):
        # medpulse.call._search_patient until issue 24: the patients' ids passed on as
        # ``patient_ids in ids`` (an EXISTS per call over the link table), which is what
        # it still does when the calls are too many to pass on
        def former_run():
            with patch.object(type(Call), "_calls_linked_to_patients", lambda self, ids: None):
                return run()
        return former_run

    def twice(run):
        # The filter as issue 24's part 2 shipped it: the calls' ids from the link table,
        # but the patients searched by name, card number and phone, for the rows and
        # again for the count.
        def twice_run():
            with patch.object(type(Call), "_resolve_patient_terms", lambda self, d: d), \
                    patch.object(type(Call), "_patient_search_domain",
                                 lambda self, op, value: [("display_name", op, value)]):
                return run()
        return twice_run

    def search(domain_of):
        def run():
            env.invalidate_all()
            start = time.perf_counter()
            out = Call.web_search_read(domain_of(), spec, limit=80, count_limit=10001)
            return (time.perf_counter() - start) * 1000, out["length"]
        return run

    # the same name for before and after within a round: both find the same calls
    current = {}

    def new_name():
        current["name"] = typed()
        return [("patient_search", "ilike", current["name"])]

    result = {
        "patient_filter": alternately({
            "before": former(search(new_name)),
            "twice": twice(search(lambda: [("patient_search", "ilike", current["name"])])),
            "after": search(lambda: [("patient_search", "ilike", current["name"])]),
        }, repeat),
        "default_list": alternately({"after": search(list)}, repeat),
    }
    name = typed()
    wanted = lambda text: "medpulse_call" in text.split("FROM", 1)[-1][:40]  # noqa: E731
    plans = {}
    for label, domain, wrap in (
        ("patient_filter_before", [("patient_search", "ilike", name)], former),
        ("patient_filter_twice", [("patient_search", "ilike", name)], twice),
        ("patient_filter_after", [("patient_search", "ilike", name)], lambda run: run),
        ("default_list", [], lambda run: run),
    ):
        for kind, limit in (("rows", 80), ("count", None)):
            plans[f"{label}_{kind}"] = explain(
                env, user, None,
                run=wrap(lambda domain=domain: Call.web_search_read(domain, spec, limit=80,
                                                                    count_limit=10001)),
                wanted=lambda text, limit=limit: wanted(text) and (
                    ("LIMIT 80" in text) if limit else ("LIMIT 10001" in text)
                ),
            )
    return result, plans


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("-d", "--database", required=True)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    with odoo_env(args.config, args.database) as env:
        result = run(env, args.repeat)
    # This process ran every report as a worker would: its peak memory is a worker's during a
    # report (Linux reports kilobytes).
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
