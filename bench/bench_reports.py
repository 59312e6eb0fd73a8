"""The managers' reports at scale: each report as its pivot or graph asks for it, before and
after the tallies (issue 24), side by side in one run.

*Before* is what the reports read until the tallies: the ORM's ``read_group`` over the
journal (``medpulse.call``, e.g. *Call analysis* grouped by operator) or over its per-call
analysis view (``medpulse.call.report``: hours of day, rates, call-backs). *After* is the
same question to ``medpulse.call.tally`` (per day, operator, line, type) or
``medpulse.call.tally.hour`` (per day, hour of day, line, type). As a telephony and clinic
manager (``bench_supervisor``) so record rules apply, fresh caches each time, ``--repeat``
times after two warm-ups: p50/p95/p99 in ms, and the rows the groups add up to (the same
before and after, or the report would be wrong). Then ``EXPLAIN (ANALYZE, BUFFERS)`` of the
statement of one report over everything, before and after: where the time goes.

The tallies are filled when the addon is installed or upgraded on an existing journal; a
database whose calls were COPYed in afterwards (``generate.py``) is filled here first
(``medpulse.call.tally._rebuild``, timed) when the tallies are empty.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_wallboard import supervisor  # noqa: E402 - after the sys.path set-up above
from common import odoo_env, summarize_ms  # noqa: E402


def reports(month_start: datetime, month_day: date) -> dict:
    """Name -> ((model, domain, aggregates, groupby) before, (...) after)."""
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
            report[f"by_{dimension}_{period}"] = (
                ("medpulse.call", before_domain, ["__count"], [field]),
                ("medpulse.call.tally", after_domain, ["__count"], [field]),
            )
        report[f"by_hour_{period}"] = (
            ("medpulse.call.report", before_domain, ["__count"], ["hour_of_day"]),
            ("medpulse.call.tally.hour", after_domain, ["__count"], ["hour_of_day"]),
        )
    report["missed_rate_per_day_30d"] = (
        ("medpulse.call.report", recent + incoming, ["missed_rate:avg"], ["created_at:day"]),
        ("medpulse.call.tally", recent_day + incoming, ["missed_rate:avg"], ["day:day"]),
    )
    report["callbacks_30d"] = (
        ("medpulse.call.report", recent + missed, callbacks, ["created_at:day"]),
        ("medpulse.call.tally", recent_day + missed, callbacks, ["day:day"]),
    )
    report["callbacks_all"] = (
        ("medpulse.call.report", missed, callbacks, ["operator_user_id"]),
        ("medpulse.call.tally", missed, callbacks, ["operator_user_id"]),
    )
    return report


def one(env, user, spec) -> tuple[float, int]:
    model, domain, aggregates, groupby = spec
    Model = env[model].with_user(user).with_context(tz="Europe/Moscow")
    env.invalidate_all()
    start = time.perf_counter()
    groups = Model.read_group(domain, aggregates, groupby, lazy=False)
    elapsed = (time.perf_counter() - start) * 1000
    return elapsed, sum(group.get("__count", 0) for group in groups)


def explain(env, user, spec) -> str:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of the statement ``read_group`` sends for ``spec``."""
    captured = []
    cr = env.cr
    execute = type(cr).execute

    def capture(self, query, params=None, log_exceptions=True):
        code, args = (query.code, query.params) if hasattr(query, "code") else (query, params)
        text = self._obj.mogrify(code, args).decode()
        if text.lstrip().upper().startswith("SELECT") and "GROUP BY" in text:
            captured.append(text)
        return execute(self, query, params, log_exceptions)

    type(cr).execute = capture
    try:
        one(env, user, spec)
    finally:
        type(cr).execute = execute
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
    result = {}
    for name, (before, after) in specs.items():
        entry = {}
        # alternate before and after, so that the machine's load weighs on both alike
        samples = {"before": [], "after": []}
        rows = {}
        for i in range(repeat + 2):
            for label, spec in (("before", before), ("after", after)):
                elapsed, rows[label] = one(env, user, spec)
                if i >= 2:
                    samples[label].append(elapsed)
        for label in ("before", "after"):
            entry[label] = {"rows": rows[label], **summarize_ms(samples[label])}
        entry["ratio_p95"] = round(entry["before"]["p95"] / entry["after"]["p95"], 1)
        result[name] = entry
    plans = {
        "by_operator_all_before": explain(env, user, specs["by_operator_all"][0]),
        "by_operator_all_after": explain(env, user, specs["by_operator_all"][1]),
        "by_hour_all_after": explain(env, user, specs["by_hour_all"][1]),
    }
    cr.rollback()
    return {"calls": calls, "fill_s": fill_s, "tallies": sizes, "reports": result,
            "plans": plans, "goal_ms_p95": 100}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("-d", "--database", required=True)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    with odoo_env(args.config, args.database) as env:
        result = run(env, args.repeat)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
