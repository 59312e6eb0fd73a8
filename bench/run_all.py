"""Run every benchmark in one go and write ``bench/results/<date>.json`` and ``.md``.

    /opt/odoo18/venv/bin/python bench/run_all.py            # small sizes, a few minutes
    /opt/odoo18/venv/bin/python bench/run_all.py --full     # 200k patients, 1M calls, 50 operators

Steps, on one throw-away database (``bench_main`` unless ``--db``), started the one way
Odoo is started here (``scripts/odoo_instance.py``):

1. install ``medpulse_clinic``, ``medpulse_telephony``, ``sms`` (gives contacts Odoo's
   ``phone_mobile_search``, the lookup baseline) and the bench-only baseline addon;
2. generate the data (``generate.py``, SQL COPY), report sizes and disk;
3. caller lookup (``bench_lookup.py``) and journal queries (``bench_journal.py``),
   in-process, with no server running;
4. profile of the webhook's work per event (``bench_ingest.py profile``);
5. start Odoo with ``--workers=2`` (and its gevent port); ingest (``bench_ingest.py``),
   then the card latency in Chromium (``bench_card.py``) idle and under background
   load at half the ingest throughput measured just before; then the webhook's
   throughput of one instance vs two on the database (``bench_instances.py``);
6. stop, drop the database (``--keep`` keeps it), write the results.

``--tree`` picks the checkout whose addons and toolkit are measured (default: the one
holding this file), e.g. a git worktree of the latest commit.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PYTHON = "/opt/odoo18/venv/bin/python"
SMALL = {"patients": 5000, "calls": 20000, "operators": 50, "duration": 10.0, "card_calls": 20,
         "lookup_samples": 200, "suffix_samples": 40, "journal_repeat": 20, "profile_calls": 20}
FULL = {"patients": 200_000, "calls": 1_000_000, "operators": 50, "duration": 30.0,
        "card_calls": 100, "lookup_samples": 1000, "suffix_samples": 100, "journal_repeat": 40,
        "profile_calls": 40}


def step(title: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {title}", flush=True)


def run_script(instance, script: str, *args: str, odoo_args: bool = True,
               timeout: float = 7200) -> dict:
    """Run a bench script on the instance's database; the JSON it prints."""
    cmd = [PYTHON, str(BENCH / script)]
    if odoo_args:
        cmd += ["-c", str(instance.config_path), "-d", instance.dbname]
    proc = subprocess.run([*cmd, *args], env=instance.env(), capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode:
        sys.stderr.write(proc.stderr[-5000:])
        raise RuntimeError(f"{script} {' '.join(args)} failed with {proc.returncode}")
    out = proc.stdout
    return json.loads(out[out.index("{"):]) if "{" in out else {}


def bench_instance(dbname: str, work_dir: Path, port: int):
    """The benchmarks' Odoo (``--workers=2``, the bench-only addons on its path), its
    configuration written; the tree under test first on ``sys.path``."""
    from server import make_instance  # noqa: PLC0415 - from the tree under test

    from scripts.odoo_instance import OdooInstance  # noqa: PLC0415 - from the tree under test

    instance = make_instance(OdooInstance, dbname, work_dir, python=PYTHON, http_port=port,
                             workers=2)
    instance.extra_options.update({
        "addons_path": instance.addons_path() + "," + str(BENCH / "addons"),
        "log_level": "warn",
        "db_maxconn": "16",
        "limit_time_real": "600",
        # Production shape: one cron worker (the wallboards' pushes come from a cron job).
        "max_cron_threads": "1",
    })
    instance.write_config()
    return instance


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal"))) // 1024
    pg = subprocess.run(["psql", "-h", "localhost", "-U", "root", "-d", "postgres", "-Atc",
                         "SHOW server_version"], capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_mb": mem, "postgresql": pg,
            "python": platform.python_version(), "load_avg_at_start": os.getloadavg()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--full", action="store_true", help="200k patients, 1M calls, 30 s loads, 100 card calls"
    )
    parser.add_argument("--tree", default=str(BENCH.parent), help="checkout under test")
    parser.add_argument("--db", default="bench_main")
    parser.add_argument("--port", type=int, default=8191)
    parser.add_argument("--work-dir", default="/tmp/medpulse_bench")
    parser.add_argument("--patients", type=int)
    parser.add_argument("--calls", type=int)
    parser.add_argument("--operators", type=int)
    parser.add_argument("--days", type=int,
                        help="the generated calls span these last days (default 365)")
    parser.add_argument("--rate", type=float, default=25.0,
                        help="calls/s first offered when saturating (about 8 events per call); "
                             "doubled while a target takes it all")
    parser.add_argument("--rounds", type=int, default=1,
                        help="ingest: run the targets this many times, at the rates that "
                             "saturated them, in alternating order; a ratio per round")
    parser.add_argument("--duration", type=float, help="seconds of each load run")
    parser.add_argument("--card-calls", type=int)
    parser.add_argument("--skip", action="append", default=[],
                        choices=["lookup", "journal", "wallboard", "reports", "profile", "ingest",
                                 "card", "instances",
                                 "wallboard_live"])
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse a kept database (no install, no generation)"
    )
    parser.add_argument(
        "--data-from",
        help="with --reuse: the results JSON of the run that generated the "
        "kept database; its data section (sizes, disk, timings) is carried over and named",
    )
    parser.add_argument("--out", default=str(BENCH / "results"))
    parser.add_argument(
        "--name", help="results file name after the date (default: full or small)"
    )
    args = parser.parse_args(argv)
    sizes = dict(FULL if args.full else SMALL)
    for key in ("patients", "calls", "operators", "duration", "card_calls"):
        if getattr(args, key) is not None:
            sizes[key] = getattr(args, key)

    tree = Path(args.tree).resolve()
    sys.path.insert(0, str(tree))
    from server import PathRouter  # noqa: PLC0415 - imported where it is needed

    instance = bench_instance(args.db, Path(args.work_dir), args.port)
    commit = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    # A variant measured from a tree with changes not committed says so: the commit alone
    # would name code that was not the code measured.
    if subprocess.run(["git", "-C", str(tree), "status", "--porcelain", "--untracked-files=no"],
                      capture_output=True, text=True).stdout.strip():
        commit += " with uncommitted changes"
    results: dict = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "commit": commit, "full": args.full, "parameters": sizes, "machine": machine()}
    started = time.monotonic()
    try:
        if args.reuse and args.data_from:
            earlier = json.loads(Path(args.data_from).read_text())
            results["data"] = dict(
                earlier["data"], generated_by_run=f"{earlier['date']} (commit {earlier['commit']})"
            )
        if not args.reuse:
            step(f"install on {args.db} (tree {tree}, commit {commit})")
            instance.drop()
            instance.install(
                ("medpulse_clinic", "medpulse_telephony", "sms", "medpulse_bench_baseline"),
                demo=False,
            )
            step(
                f"generate {sizes['patients']} patients, {sizes['calls']} calls, "
                f"{sizes['operators']} operators"
            )
            results["data"] = run_script(
                instance,
                "generate.py",
                "--db",
                instance.dbname,
                "--patients",
                str(sizes["patients"]),
                "--calls",
                str(sizes["calls"]),
                "--operators",
                str(sizes["operators"]),
                *(("--days", str(args.days)) if args.days else ()),
                "--odoo-config",
                str(instance.config_path),
                "--json",
                odoo_args=False,
            )
            run_script(instance, "bench_ingest.py", "configure")
        if "lookup" not in args.skip:
            step("caller lookup")
            output = Path(args.work_dir) / "lookup.json"
            run_script(
                instance,
                "bench_lookup.py",
                "--db",
                instance.dbname,
                "--addons-path",
                instance.extra_options["addons_path"],
                "--patients",
                str(sizes["patients"]),
                "--samples",
                str(sizes["lookup_samples"]),
                "--slow-samples",
                str(sizes["suffix_samples"]),
                "--output",
                str(output),
                odoo_args=False,
            )
            results["lookup"] = json.loads(output.read_text())
        if "journal" not in args.skip:
            step("journal queries")
            results["journal"] = run_script(
                instance, "bench_journal.py", "--repeat", str(sizes["journal_repeat"])
            )
        if "wallboard" not in args.skip:
            step("wallboard first load")
            results["wallboard"] = run_script(
                instance, "bench_wallboard.py", "--repeat", str(sizes["journal_repeat"])
            )
        if "reports" not in args.skip:
            step("managers' reports, before and after the tallies")
            results["reports"] = run_script(
                instance, "bench_reports.py", "--repeat", str(sizes["journal_repeat"])
            )
        if "profile" not in args.skip:
            step("profile of the webhook's work per event")
            results["profile"] = run_script(instance, "bench_ingest.py", "profile",
                                          "--calls", str(sizes["profile_calls"]))
        if {"ingest", "card", "instances", "wallboard_live"} - set(args.skip):
            import bench_ingest  # noqa: PLC0415 - after sys.path holds bench/
            employees = run_script(instance, "bench_ingest.py", "employees")["employees"]
            callers = bench_ingest.callers_file(
                instance, Path(args.work_dir) / f"{args.db}-callers.txt"
            )
            step("start Odoo --workers=2")
            instance.start()
            router = PathRouter(instance.http_port, instance.gevent_port()).start_and_wait()
            try:
                half_rate = None
                if "ingest" not in args.skip:
                    step(
                        f"ingest: saturate empty, insert, store, webhook from {args.rate} calls/s, "
                        f"{sizes['duration']} s each"
                        + (f", then {args.rounds - 1} more round(s)" if args.rounds > 1 else "")
                    )
                    # never ring the card bench's receptionist: a call of a saturated run whose
                    # leg events were lost would leave her a card restored at sign-in
                    import bench_card  # noqa: PLC0415 - imported where it is needed
                    results["ingest"] = bench_ingest.run_ingest(
                        instance, PYTHON, bench_card.without_receptionist(employees), args.rate,
                        sizes["duration"], callers, rounds=args.rounds)
                    half_rate = results["ingest"]["webhook_half_rate"]["offered_calls_per_s"]
                if "card" not in args.skip:
                    step(f"card latency: {sizes['card_calls']} calls idle, then under load")
                    import bench_card  # noqa: PLC0415 - imported where it is needed
                    results["card"] = bench_card.run_card(
                        instance,
                        router.url,
                        PYTHON,
                        employees,
                        sizes["card_calls"],
                        half_rate or 2.0,
                        callers,
                    )
                if "instances" not in args.skip:
                    step("one instance vs two on the database (a sibling started)")
                    import bench_card  # noqa: PLC0415 - imported where it is needed
                    import bench_instances  # noqa: PLC0415 - imported where it is needed
                    results["instances"] = bench_instances.run_instances(
                        instance, PYTHON, bench_card.without_receptionist(employees), args.rate,
                        sizes["duration"], callers)
                if "wallboard_live" not in args.skip:
                    step(f"wallboard live: {sizes['card_calls']} calls to the board idle and "
                         f"loaded, the webhook with 0 and 30 boards, {sizes['duration']} s each")
                    import bench_wallboard  # noqa: PLC0415 - imported where it is needed
                    results["wallboard_live"] = bench_wallboard.run_live(
                        instance, router.url, PYTHON, employees, sizes["duration"], args.rate,
                        sizes["card_calls"], half_rate or 0.5, callers,
                    )
            finally:
                router.stop()
                instance.stop()
    except Exception as error:  # noqa: BLE001 - keep what was measured before the failure
        results["failed"] = f"{type(error).__name__}: {error}"[:1000]
        step(f"FAILED: {results['failed']}")
    finally:
        if not args.keep:
            instance.drop()
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y-%m-%d") + "-" + (
        args.name or ("full" if args.full else "small")
    )
    (out / f"{stamp}.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    import report  # noqa: PLC0415 - imported where it is needed
    markdown = report.markdown(results)
    (out / f"{stamp}.md").write_text(markdown)
    print(markdown)
    step(f"written {out / stamp}.json and .md")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(BENCH))
    sys.exit(main())
