"""Webhook ingest: the emulator's load mode against the baselines and the real webhook.

One Odoo server in production mode (``--workers=2`` plus its gevent process), three
targets driven by the same load generator (``python -m mango_vpbx.emulator load``,
signed form posts of full call sequences: voice menu, legs, recording, summary,
record/added), one after the other in the same run:

- ``empty``: ``/bench/empty/<path>`` (bench addon): Odoo's HTTP floor;
- ``insert``: ``/bench/insert/<path>``: one INSERT per event;
- ``webhook``: ``/mango/<path>``: our webhook (verify, store, fold, journal, card).

Each target is first saturated (``--rate`` calls/s offered, more than 2 cores can
take): the events/s it sustains is its throughput. The webhook is then run again at
half of its own throughput, where its latency percentiles are the ones that matter
(the goal: p99 < 150 ms). The RSS of every server process is sampled meanwhile.

``profile`` (in-process, no HTTP): where the time of one webhook request goes below the
HTTP layer: SQL statements and their time, Python time, the heaviest functions.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import odoo_env, ratio  # noqa: E402

API_KEY = "bench-vpbx-api-key-0000000000"
API_SALT = "bench-vpbx-salt-000000000000000"
TARGETS = {"empty": "/bench/empty", "insert": "/bench/insert", "webhook": "/mango"}


def configure_pbx(env, key: str = API_KEY, salt: str = API_SALT) -> None:
    env.company.write({"mango_api_key": key, "mango_api_salt": salt})


def employees_flag(env, exclude: tuple[str, ...] = ()) -> str:
    users = env["res.users"].search([("pbx_extension", "!=", False)], order="pbx_extension")
    return ",".join(f"{u.pbx_extension}:Operator {u.pbx_extension}"
                    for u in users if u.pbx_extension not in exclude)


class RssSampler(threading.Thread):
    """Peak resident memory of a server's processes, sampled every 200 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        import psutil  # noqa: PLC0415 - installed with Odoo

        self.root = psutil.Process(pid)
        self.peaks: dict[int, dict] = {}
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            for proc in [self.root, *self.root.children(recursive=True)]:
                try:
                    rss = proc.memory_info().rss
                    kind = "gevent" if "gevent" in " ".join(proc.cmdline()) else (
                        "main" if proc.pid == self.root.pid else "http_worker")
                except Exception:  # noqa: BLE001 - a worker may be recycled between two calls
                    continue
                peak = self.peaks.setdefault(proc.pid, {"kind": kind, "peak_mb": 0.0})
                peak["peak_mb"] = max(peak["peak_mb"], round(rss / 2**20, 1))
            self.stop_event.wait(0.2)

    def stop(self) -> dict:
        self.stop_event.set()
        self.join(2)
        workers = [p["peak_mb"] for p in self.peaks.values() if p["kind"] == "http_worker"]
        return {"peak_http_worker_mb": max(workers, default=None), "processes": list(self.peaks.values())}


def load(python: str, env: dict, url: str, employees: str, rate: float, duration: float,
         workers: int = 32) -> dict:
    """One run of the emulator's load mode; its JSON summary with the error count."""
    cmd = [python, "-m", "mango_vpbx.emulator", "load", "--rate", str(rate),
           "--duration", str(duration), "--webhook", url, "--api-key", API_KEY,
           "--api-salt", API_SALT, "--employees", employees, "--workers", str(workers)]
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True,
                             timeout=duration * 60 + 600).stdout
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        return {"failed": str(error)[:300], "errors": None, "events": 0, "calls": 0,
                "events_per_s": None, "status_counts": {}, "latency_ms": {}}
    summary = json.loads(out)
    summary["errors"] = sum(n for status, n in summary["status_counts"].items() if status != "200")
    summary["errors"] += len(summary.get("scenario_errors") or [])
    summary.pop("scenario_errors", None)
    return summary


def run_ingest(instance, python: str, employees: str, rate: float, duration: float) -> dict:
    """Saturate each target, then the webhook at half its throughput."""
    env = instance.env()
    sampler = RssSampler(instance.process.pid)
    sampler.start()
    result: dict = {"offered_calls_per_s": rate, "duration_s": duration}
    for name, path in TARGETS.items():
        result[name] = load(python, env, instance.url + path, employees, rate, duration)
    memory_saturated = sampler.stop()
    throughput = result["webhook"]["events_per_s"] or 0
    events_per_call = result["webhook"]["events"] / max(1, result["webhook"]["calls"]) or 8
    half_rate = max(0.2, round(throughput / 2 / events_per_call, 2))
    result["webhook_half_rate"] = load(python, env, instance.url + TARGETS["webhook"],
                                       employees, half_rate, duration)
    result["webhook_half_rate"]["offered_calls_per_s"] = half_rate
    result["memory"] = memory_saturated
    result["ratio_webhook_to_empty"] = ratio(throughput, result["empty"]["events_per_s"])
    result["ratio_insert_to_empty"] = ratio(result["insert"]["events_per_s"],
                                            result["empty"]["events_per_s"])
    result["goals"] = {
        "ratio_ge_0_6": (result["ratio_webhook_to_empty"] or 0) >= 0.6,
        "p99_half_rate_lt_150ms": (result["webhook_half_rate"]["latency_ms"].get("p99") or 1e9) < 150,
        "zero_errors": all(result[k]["errors"] == 0 for k in ("webhook", "webhook_half_rate")),
    }
    return result


class CollectingSink:
    """An emulator sink that keeps the events instead of posting them."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def send(self, path: str, payload) -> None:
        with self.lock:
            self.events.append((path, payload if isinstance(payload, str) else json.dumps(payload)))

    def flush(self) -> None:
        pass


def profile(env, calls: int = 20, seed: int = 5) -> dict:
    """Feed full call sequences to ``medpulse.call.event._receive`` under cProfile."""
    from mango_vpbx.emulator.pbx import Pbx  # noqa: PLC0415 - the checkout under test
    from mango_vpbx.emulator.scenarios import run_scenario  # noqa: PLC0415
    from mango_vpbx.emulator.state import directory_from_config  # noqa: PLC0415

    rnd = random.Random(seed)
    env.cr.execute("SELECT number_e164 FROM medpulse_patient_phone WHERE label = 'own' LIMIT 5000")
    numbers = [r[0][1:] for r in env.cr.fetchall()]
    extensions = env["res.users"].search([("pbx_extension", "!=", False)]).mapped("pbx_extension")
    directory = directory_from_config({"employees": [
        {"extension": ext, "name": f"Operator {ext}"} for ext in extensions]})
    sink = CollectingSink()
    pbx = Pbx(directory, sink, speed=1000.0, record_delay=5.0)
    for i in range(calls):
        scenario = ("incoming_answered", "missed_operator", "queue", "outgoing")[i % 4]
        run_scenario(pbx, scenario, {"speed": 1000.0, "extension": rnd.choice(extensions),
                                     "caller": rnd.choice(numbers)})
    pbx.join()
    company = env.company
    Event = env["medpulse.call.event"].with_company(company)
    thread = threading.current_thread()
    profiler = cProfile.Profile()
    per_path: dict[str, list] = {}
    for path, payload in sink.events:
        thread.query_count, thread.query_time = 0, 0.0
        env.invalidate_all()
        start = time.perf_counter()
        profiler.enable()
        Event._receive(company, path, payload)
        env.cr.flush()
        profiler.disable()
        total = time.perf_counter() - start
        per_path.setdefault(path, []).append((total, thread.query_count, thread.query_time))
    env.cr.rollback()
    rows = {}
    for path, samples in per_path.items():
        n = len(samples)
        total = sum(s[0] for s in samples) / n * 1000
        sql = sum(s[2] for s in samples) / n * 1000
        rows[path] = {"n": n, "total_ms": round(total, 2), "sql_count": round(sum(s[1] for s in samples) / n, 1),
                      "sql_ms": round(sql, 2), "python_ms": round(total - sql, 2)}
    everything = [s for samples in per_path.values() for s in samples]
    n = len(everything)
    overall = {"events": n,
               "total_ms": round(sum(s[0] for s in everything) / n * 1000, 2),
               "sql_count": round(sum(s[1] for s in everything) / n, 1),
               "sql_ms": round(sum(s[2] for s in everything) / n * 1000, 2)}
    overall["python_ms"] = round(overall["total_ms"] - overall["sql_ms"], 2)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(40)
    return {"overall_per_event": overall, "per_path": rows, "top_cumulative": _trim(text.getvalue())}


def _trim(stats_text: str) -> list[str]:
    """The profile's table lines, paths shortened to what a reader needs."""
    lines = []
    for line in stats_text.splitlines():
        if not line.strip() or not line.strip()[0].isdigit():
            continue
        for prefix in ("/opt/odoo18/src/", "/opt/odoo18/venv/lib/python3.11/site-packages/"):
            line = line.replace(prefix, "")
        lines.append(line.rstrip())
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("-d", "--database", required=True)
    parser.add_argument("action", choices=["configure", "employees", "profile"])
    parser.add_argument("--calls", type=int, default=20, help="call sequences to profile")
    args = parser.parse_args(argv)
    with odoo_env(args.config, args.database) as env:
        if args.action == "configure":
            configure_pbx(env)
            print(json.dumps({"configured": True}))
        elif args.action == "employees":
            print(json.dumps({"employees": employees_flag(env)}))
        else:
            print(json.dumps(profile(env, args.calls), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
