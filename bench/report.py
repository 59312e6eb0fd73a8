"""The Markdown table of one ``run_all.py`` result (the README quotes it)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _ms(value) -> str:
    return "–" if value is None else f"{value:.1f}"


def _pct(value) -> str:
    return "–" if value is None else f"{value:.0%}"


def _ok(flag) -> str:
    return "✅" if flag else "❌"


def _idle_loaded_table(title: str, intro: str, data: dict, extra=()) -> list[str]:
    """A section with one row of percentiles (ms) for ``data["idle"]`` and ``data["loaded"]``;
    ``extra``: (column title, key) of more columns."""
    head = "".join(f" {title_} |" for title_, _key in extra)
    out = [f"## {title}", "", intro, "",
           f"| | n | p50 ms | p95 ms | p99 ms | max ms |{head}",
           "|---|---:|---:|---:|---:|---:|" + "---:|" * len(extra)]
    for key in ("idle", "loaded"):
        v = data[key]
        cells = "".join(f" {v.get(field)} |" for _title, field in extra)
        out.append(f"| {key} | {v.get('n', 0)} | {_ms(v.get('p50'))} | {_ms(v.get('p95'))} | "
                   f"{_ms(v.get('p99'))} | {_ms(v.get('max'))} |{cells}")
    return out


def markdown(r: dict) -> str:
    m = r.get("machine", {})
    p = r.get("parameters", {})
    out = [
        f"# MedPulse benchmarks, {r['date']} (commit {r.get('commit')}, "
        f"{'full' if r.get('full') else 'small'} sizes)",
        "",
        f"Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_mb')} MB RAM, "
        f"PostgreSQL {m.get('postgresql')}, Python {m.get('python')}; "
        f"load average at start {tuple(round(x, 1) for x in m.get('load_avg_at_start', ()))} "
        "(other work shares the cores: compare ratios, not absolute times).",
        "",
    ]
    data = r.get("data")
    if data:
        s = data["sizes"]
        g = data["generated"]
        out += [
            "## Data",
            "",
            "| table | rows | disk MB |",
            "|---|---:|---:|",
            *(f"| {t} | {v['rows']:,} | {v['mb']} |" for t, v in s.items() if isinstance(v, dict)),
            f"| **database** | | **{s['database_mb']}** |",
            "",
            f"Generated {g['patients']:,} patients ({g['partners']:,} as contacts), "
            f"{g['calls']:,} calls with "
            f"{g['events']:,} raw events, {g['operators']} operators in "
            f"{data['seconds']['total']} s"
            + (
                f" by the run of {data['generated_by_run']}, on the same kept database."
                if data.get("generated_by_run")
                else "."
            ),
            "",
        ]
    lk = r.get("lookup")
    if lk:
        out += [
            "## Caller lookup",
            "",
            f"{lk['patients']:,} patients, {lk['partners']:,} contacts; as a receptionist, "
            "through the ORM.",
            "",
            "| method | n | median ms | p99 ms | hits |",
            "|---|---:|---:|---:|---:|",
        ]
        out += [
            f"| {name} | {v['n']} | {v['median_ms']:.2f} | {v['p99_ms']:.2f} | "
            f"{v['hit_rate']:.0%} |"
            for name, v in lk["results"].items()
        ]
        out += ["", "| ratio | value |", "|---|---:|"]
        out += [f"| {name} | {value:.2f} |" for name, value in lk["ratios"].items()]
        out.append("")
    wb = r.get("wallboard")
    if wb:
        out += [
            "## Wallboard first load",
            "",
            f"{wb['calls']:,} calls, {wb['events']:,} events, {wb['live_calls']} calls in "
            "progress; `medpulse.wallboard.get_board` as a supervisor, fresh caches. "
            "Goal p95 < 300 ms.",
            "",
            "| indexes | incoming today | waiting | in progress | operators | p50 ms | p95 ms "
            "| p99 ms |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for label, key in (("shipped", "shipped"), ("without the board's indexes",
                                                    "without_board_indexes")):
            v = wb[key]
            out.append(
                f"| {label} | {v['incoming_today']:,} | {v['waiting']} | {v['in_progress']} | "
                f"{v['operators']} | {_ms(v['p50'])} | {_ms(v['p95'])} | {_ms(v['p99'])} |"
            )
        out.append("")
    live = r.get("wallboard_live")
    if live:
        http = live.get("first_load_http")
        if http:
            out += _idle_loaded_table(
                "Wallboard first load over HTTP",
                "`get_board` as the board's client calls it (`/web/dataset/call_kw`, a signed-in "
                f"supervisor, {http['repeat']} times): idle, then with "
                f"{http['background_calls_per_s']} calls/s of background load. Goal p95 < 300 ms.",
                http,
            )
            out.append("")
        board = live["event_to_board"]
        out += _idle_loaded_table(
            "Wallboard: an event on the board",
            "From the webhook's answer to the `Appeared` of the operator's leg to the call's row "
            "on a board open in Chromium as the supervisor (page clock). Idle, then with "
            f"{board['background_calls_per_s']} calls/s of background load. Goal p95 < 1 s.",
            board, extra=(("rows missing", "missing"), ("webhook errors", "webhook_errors")),
        )
        hook = live["webhook_with_boards"]
        out += [
            "",
            "## Wallboard: the webhook with 30 boards open",
            "",
            f"The webhook saturated ({hook['offered_calls_per_s']} calls/s offered, "
            f"{hook['duration_s']} s a run) with no board and with {hook['boards']} boards "
            "open (each a board's client without a browser: one read of the board when it "
            "opens, then what the server pushes on its websocket), alternately. "
            "Goal: with the boards, at least 0.9 of the events/s without.",
            "",
            "| boards | events/s | errors | webhook p50 ms | webhook p95 ms | notifications "
            "| distinct | pushed KB | board reads | board read p95 ms |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for run in hook["runs"]:
            latency = run.get("latency_ms") or {}
            reads = run.get("board_read_ms") or {}
            out.append(
                f"| {run['boards']} | {run['ok_events_per_s']} | {run['errors']} | "
                f"{_ms(latency.get('p50'))} | {_ms(latency.get('p95'))} | "
                f"{run.get('notifications', '-')} | {run.get('distinct_notifications', '-')} | "
                f"{run.get('pushed_kb', '-')} | "
                f"{run.get('board_reads', '-')} | "
                f"{_ms(reads.get('p95'))} |"
            )
        out += [
            "",
            f"Mean events/s: {hook['events_per_s_without']} without, "
            f"{hook['events_per_s_with']} with {hook['boards']} boards: ratio "
            f"**{hook['ratio']}** (goal >= 0.9: {_ok(hook['goal_met'])}). Load average "
            f"{live['load_avg_at_start']} at the start, {live['load_avg_at_end']} at the end.",
            "",
        ]
    rp = r.get("reports")
    if rp:
        out += [
            "## Managers' reports",
            "",
            f"{rp['calls']:,} calls; each report as its pivot or graph asks for it "
            "(`read_group`), as a telephony and clinic manager, fresh caches, before and after "
            "alternately. Before: the journal (`medpulse.call`) or its per-call analysis view "
            "(`medpulse.call.report`); after: the tallies (`medpulse.call.tally`, "
            "`medpulse.call.tally.hour`; over everything by operator, line or type "
            "`medpulse.call.tally.month`, with the daily tally it read before as *days*). "
            "Goal p95 < 100 ms.",
            "",
            "| report | calls counted | p50 ms before | p95 ms before | p95 ms days "
            "| p50 ms after | p95 ms after | before / after (p95) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, v in rp["reports"].items():
            rows = f"{v['after']['rows']:,}"
            if v["before"]["rows"] != v["after"]["rows"]:
                rows += f" (before {v['before']['rows']:,})"
            days = _ms(v["days"]["p95"]) if "days" in v else "-"
            out.append(
                f"| {name} | {rows} | {_ms(v['before']['p50'])} | {_ms(v['before']['p95'])} | "
                f"{days} | {_ms(v['after']['p50'])} | {_ms(v['after']['p95'])} | "
                f"{v['ratio_p95']} |"
            )
        if rp.get("journal"):
            out += [
                "",
                "Journal, as an operator who is a receptionist (`web_search_read`, the list "
                "view's fields, 80 rows, count up to 10,001):",
                "",
                "Patient filter: *before* `patient_ids in <ids>`, *twice* the calls' ids but the "
                "patients searched by name, card and phone for the rows and again for the "
                "count (issue 24 part 2), *after* what ships.",
                "",
                "| query | rows | p50 ms before | p95 ms before | p50 ms twice | p95 ms twice "
                "| p50 ms after | p95 ms after | before / after (p95) |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            ]
            for name, v in rp["journal"].items():
                before, twice = v.get("before", {}), v.get("twice", {})
                out.append(
                    f"| {name} | {v['after']['rows']:,} | {_ms(before.get('p50'))} | "
                    f"{_ms(before.get('p95'))} | {_ms(twice.get('p50'))} | "
                    f"{_ms(twice.get('p95'))} | {_ms(v['after']['p50'])} | "
                    f"{_ms(v['after']['p95'])} | {v['ratio_p95'] if before else '-'} |"
                )
        tallies = ", ".join(f"`{t}` {v['rows']:,} rows, {v['mb']} MB"
                            for t, v in rp["tallies"].items())
        out += ["", f"Tallies: {tallies}."]
        if rp.get("fill_s") is not None:
            out.append(f"Filled from the journal in {rp['fill_s']} s.")
        if rp.get("peak_rss_mb") is not None:
            out.append(f"Peak RSS of the process that ran the reports (as a worker would): "
                       f"{rp['peak_rss_mb']} MB.")
        for name, plan in rp.get("plans", {}).items():
            out += ["", f"`EXPLAIN (ANALYZE, BUFFERS)`, {name}:", "", "```", plan, "```"]
        out.append("")
    jr = r.get("journal")
    if jr:
        out += [
            "## Journal list queries",
            "",
            f"{jr['calls']:,} calls; `web_search_read` (80 rows, count up to 10,001) or "
            "`web_read_group`, "
            "as a receptionist. Goal p95 < 100 ms.",
            "",
            "| query | rows | p50 ms (shipped) | p95 ms (shipped) | p50 ms (recommended "
            "indexes) | p95 ms (recommended indexes) |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, v in jr["shipped"].items():
            w = jr["recommended"][name]
            out.append(
                f"| {name} | {v['rows_last']:,} | {_ms(v['p50'])} | {_ms(v['p95'])} | "
                f"{_ms(w['p50'])} | {_ms(w['p95'])} |"
            )
        out += [
            "",
            "Index sizes (MB): " + ", ".join(f"{k} {v}" for k, v in jr["index_mb"].items()),
            "",
        ]
    pr = r.get("profile")
    if pr:
        o = pr["overall_per_event"]
        out += [
            "## One webhook request, below HTTP (profile)",
            "",
            f"{o['events']} events of full call sequences through `medpulse.call.event._receive`.",
            "",
            "| path | n | total ms | SQL statements | SQL ms | Python ms |",
            "|---|---:|---:|---:|---:|---:|",
            f"| **all** | {o['events']} | {o['total_ms']} | {o['sql_count']} | {o['sql_ms']} "
            f"| {o['python_ms']} |",
        ]
        out += [
            f"| {path} | {v['n']} | {v['total_ms']} | {v['sql_count']} | {v['sql_ms']} | "
            f"{v['python_ms']} |"
            for path, v in pr["per_path"].items()
        ]
        out.append("")
    ing = r.get("ingest")
    if ing:
        start = ing.get("start_calls_per_s", ing.get("offered_calls_per_s"))
        out += [
            "## Webhook ingest (`--workers=2`)",
            "",
            f"Full call sequences from the emulator's load mode, {ing['duration_s']} s of "
            "calls per run, "
            f"first offered at {start} calls/s, the rate doubled while a target achieved "
            f"≥ {ing.get('saturated_below', 0.9):.0%} of it. *Saturated*: it achieved less "
            "than that "
            f"with ≥ {ing.get('min_in_flight', 4):g} requests in flight on average (else the "
            "generator "
            "was the limit). Achieved: events answered 200 per second (the webhook, which "
            "folds after its answer: also the events folded into the journal per second until "
            "its last one was, the throughput its ratio uses). CPU in cores (CPU "
            "seconds per "
            "second of the run) of the load generator and of the Odoo server (workers + "
            "gevent), and "
            "how busy the machine's cores were (PostgreSQL and other tenants included).",
            "",
            "| target | offered calls/s | offered events/s | achieved events/s | saturated | "
            "in flight | "
            "p50 ms | p95 ms | p99 ms | errors | generator CPU | server CPU | PostgreSQL CPU | "
            "machine busy |",
            "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name in ("empty", "insert", "store", "webhook", "webhook_half_rate"):
            if name not in ing:
                continue  # a run before the store target
            v = ing[name]
            lat = v["latency_ms"] or {}
            if v.get("failed"):
                out.append(f"| {name} | failed: {v['failed'][:80]} | | | | | | | | | | | | |")
                continue
            if name == "webhook_half_rate":
                label = "webhook, half its throughput"
                saturated = "(half rate)" if v.get("from_saturated_throughput", True) else \
                    "⚠ half of an unsaturated run"
            else:
                label = name
                verdict = v.get("verdict") or "not judged (older run)"
                saturated = (
                    "yes" if verdict == "saturated" else f"⚠ **no** ({verdict.replace('_', ' ')})"
                )
                if len(v.get("tries", ())) > 1:
                    saturated += " after " + " → ".join(
                        f"{t['ok_events_per_s']}/{t['offered_events_per_s']}"
                        for t in v["tries"][:-1]
                    )
            out.append(
                f"| {label} | {v.get('offered_calls_per_s', '–')} | "
                f"{v.get('offered_events_per_s', '–')} | "
                f"{_achieved(v)} | {saturated} | "
                f"{v.get('in_flight_mean', '–')} | {_ms(lat.get('p50'))} | "
                f"{_ms(lat.get('p95'))} | {_ms(lat.get('p99'))} | {v['errors']} | "
                f"{v.get('generator_cpu_cores', '–')} | {v.get('server_cpu_cores', '–')} | "
                f"{v.get('postgres_cpu_cores', '–')} | {_pct(v.get('machine_cpu_busy'))} |"
            )
        mem = ing["memory"]

        def _ratio(value):
            return "not measured (a target was not saturated)" if value is None else f"**{value}**"

        out += [
            "",
            f"Ratio webhook / empty route: {_ratio(ing['ratio_webhook_to_empty'])} (goal ≥ 0.6); "
            f"insert / empty: {_ratio(ing['ratio_insert_to_empty'])}"
            + (
                f"; store (the webhook without its fold) / empty: "
                f"{_ratio(ing['ratio_store_to_empty'])}; webhook / store: "
                f"{_ratio(ing['ratio_webhook_to_store'])}"
                if "ratio_store_to_empty" in ing else ""
            )
            + ". Peak RSS of an HTTP worker: "
            f"**{mem['peak_http_worker_mb']} MB**.",
            "",
        ]
        out += _rounds_section(ing)
        out += [
            "Goals: " + ", ".join(f"{k} {_ok(v)}" for k, v in ing["goals"].items()),
            "",
        ]
        out += _statements_section(ing)
    card = r.get("card")
    if card:
        out += ["## Incoming-call card latency (Chromium)", "",
                f"`Appeared` posted → card painted, {card['calls']} calls each; background load "
                f"{card['background_calls_per_s']} calls/s.", "",
                "| condition | n | p50 ms | p95 ms | max ms | missing | open 5 s after hang-up |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        for name in ("idle", "loaded"):
            v = card[name]
            out.append(f"| {name} | {v.get('n')} | {_ms(v.get('p50'))} | {_ms(v.get('p95'))} | "
                       f"{_ms(v.get('max'))} | {v['missing']} | {v.get('stayed', '–')} |")
        if card.get("restored_at_sign_in"):
            out += [
                "",
                f"Cards restored at sign-in and dismissed before the first call: "
                f"{len(card['restored_at_sign_in'])} (statuses: "
                + ", ".join(sorted({c["status"] or "?" for c in card["restored_at_sign_in"]}))
                + ").",
            ]
        if any(card[name].get("stayed") for name in ("idle", "loaded")):
            out += [
                "",
                "Cards still open 5 s after the caller hung up while ringing (dismissed by the "
                "bench; card status shown): "
                + "; ".join(
                    f"{name}: "
                    + ", ".join(
                        f"{c['status']}" for s in card[name]["stayed_cards"] for c in s["cards"]
                    )
                    for name in ("idle", "loaded")
                    if card[name].get("stayed")
                ),
            ]
        out += ["", "Goals: " + ", ".join(f"{k} {_ok(v)}" for k, v in card["goals"].items()), ""]
    if r.get("instances"):
        import bench_instances  # noqa: PLC0415 - next to this file, only for this section

        out.append(bench_instances.markdown(r["instances"]))
    if r.get("failed"):
        out.append(f"**The run stopped early:** {r['failed']}\n")
    out.append(f"Parameters: {json.dumps(p)}; whole run {r.get('elapsed_s')} s.")
    return "\n".join(out) + "\n"


def _rounds_section(ing: dict) -> list[str]:
    """The targets run again at their saturating rates (``run_all.py --rounds``): events/s
    and ratios per round, the first being the saturation pass above."""
    rounds = ing.get("rounds") or []
    if len(rounds) < 2:
        return []
    names = [name for name in ("empty", "insert", "store", "webhook")
             if name in rounds[0]["events_per_s"]]

    def cell(value):
        return "not saturated" if value is None else str(value)

    out = ["Rounds (each target again at the rate that saturated it, the order reversed every "
           "other round; the ratios of a round come from runs minutes apart at most):", "",
           "| round | " + " | ".join(names) + " | webhook / empty | store / empty | "
           "webhook / store |",
           "|---:|" + "---:|" * (len(names) + 3)]
    for number, found in enumerate(rounds, 1):
        out.append(
            f"| {number} | " + " | ".join(cell(found["events_per_s"][name]) for name in names)
            + f" | {cell(found['ratio_webhook_to_empty'])} | {cell(found['ratio_store_to_empty'])}"
            f" | {cell(found['ratio_webhook_to_store'])} |"
        )
    return [*out, ""]


def _statements_section(ing: dict) -> list[str]:
    """PostgreSQL's statements per answered request of each ingest run (``pg_stat_statements``,
    ``bench_ingest.DatabaseWatch``), and the kinds that took the webhook's the most."""
    runs = {name: ing[name].get("statements") for name in
            ("empty", "insert", "store", "webhook", "webhook_half_rate") if name in ing}
    if not any(runs.values()):
        return []
    out = ["", "PostgreSQL's statements per answered request (`pg_stat_statements`, the bench "
           "database's; planning is Odoo's statements' own, none is prepared):", "",
           "| target | statements | execution ms | planning ms |", "|---|---:|---:|---:|"]
    for name, stats in runs.items():
        if stats:
            out.append(f"| {name.replace('_', ' ')} | {stats['per_request']} | "
                       f"{stats['exec_ms_per_request']} | {stats['plan_ms_per_request']} |")
    top = (runs["webhook"] or {}).get("top_kinds")
    if top:
        out += ["", "The saturated webhook's statements by kind, per answered event:", "",
                "| kind | statements | execution ms | planning ms |", "|---|---:|---:|---:|"]
        out += [f"| `{kind['kind']}` | {kind['per_request']} | {kind['exec_ms_per_request']} | "
                f"{kind['plan_ms_per_request']} |" for kind in top]
    return [*out, ""]


def _achieved(run: dict) -> str:
    """Events answered 200 per second; for the webhook, which folds after its answer, also
    those folded into the journal per second (its throughput) and how long after the run
    the last one was folded."""
    answered = run.get("ok_events_per_s", run.get("events_per_s"))
    if run.get("folded_events_per_s") is None:
        return f"{answered}"
    return (f"{answered} (journal **{run['folded_events_per_s']}**, last fold "
            f"+{run.get('fold_lag_s')} s)")


if __name__ == "__main__":
    print(markdown(json.loads(Path(sys.argv[1]).read_text())))
