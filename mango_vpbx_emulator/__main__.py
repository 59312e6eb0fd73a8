"""``mango-emulator``: run the emulated PBX, one scenario, a replay, or a load test.

    mango-emulator serve --webhook http://127.0.0.1:8069/mango --api-key K --api-salt S --port 8180
    mango-emulator scenario incoming_answered --set extension=102 --speed 10 --webhook ...
    mango-emulator replay day.jsonl --speed 60 --webhook ...
    mango-emulator load --rate 5 --duration 30 --webhook ...

Key and salt also come from ``MANGO_EMULATOR_API_KEY`` / ``MANGO_EMULATOR_API_SALT``
or the config file; without any, random ones are generated and printed.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
import threading
from typing import Any

from .demo_files import DemoFiles
from .faults import FaultConfig, FaultInjector
from .load import DEFAULT_MIX, run_load
from .pbx import COLLEAGUE_MODES, Autopilot, Pbx
from .replay import ReplayError, read_log, replay
from .scenarios import SCENARIOS, describe, run_scenario
from .sender import EventSender, summarize
from .server import Emulator
from .state import Directory, directory_from_config, load_config, parse_employees_flag


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--webhook", help="base URL the PBX posts events to, e.g. http://127.0.0.1:8069/mango"
    )
    parser.add_argument(
        "--api-key", help="vpbx_api_key (default: $MANGO_EMULATOR_API_KEY, config, random)"
    )
    parser.add_argument(
        "--api-salt", help="signing salt (default: $MANGO_EMULATOR_API_SALT, config, random)"
    )
    parser.add_argument(
        "--config", help="JSON or TOML file: employees, groups, lines, api_key, api_salt, webhook"
    )
    parser.add_argument(
        "--employees", help="EXT:NAME[:EMAIL],... replaces the configured employees"
    )
    parser.add_argument("--speed", type=float, help="emulated seconds per real second (default 1)")
    parser.add_argument(
        "--faults", help='fault injection as JSON, e.g. \'{"duplicate":0.1,"reorder_window":4}\''
    )
    parser.add_argument(
        "--record-delay",
        type=float,
        default=5.0,
        help="emulated seconds between a call's summary and record/added",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mango-emulator", description="Mango Office VPBX emulator"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the PBX: API, events, console")
    _common(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8180)
    serve.add_argument(
        "--manual",
        action="store_true",
        help="calls started by commands wait for the console instead of answering themselves",
    )
    serve.add_argument(
        "--answer-after", type=float, default=3.0, help="autopilot: seconds before people answer"
    )
    serve.add_argument("--talk", type=float, default=20.0, help="autopilot: seconds people talk")
    serve.add_argument(
        "--colleague",
        choices=COLLEAGUE_MODES,
        default="answer",
        help="autopilot: what a colleague rung by a transfer or a route does",
    )
    serve.add_argument(
        "--no-rate-limit", action="store_true", help="do not enforce the PBX's rate limits"
    )
    serve.add_argument("--lockout-seconds", type=float, default=120.0)
    serve.add_argument(
        "--directory",
        metavar="FILE",
        help="JSON of the PBX's people and the callers the console offers (read when it "
        "appears or changes; written by scripts/demo_init.py --emulator-dir)",
    )
    serve.add_argument(
        "--history",
        metavar="FILE",
        help="a history of calls (scripts/demo_init.py --history): counted in the statistics, "
        "its recordings served, today's calls posted to the webhook once it answers",
    )
    serve.add_argument(
        "--control-from",
        action="append",
        default=[],
        help="network allowed to use /control (repeatable; default loopback only)",
    )

    scen = sub.add_parser(
        "scenario",
        help="play one scenario against the webhook and exit",
        epilog="scenarios: " + "; ".join(f"{d['name']}: {d['doc']}" for d in describe()),
    )
    scen.add_argument("name", choices=sorted(SCENARIOS))
    _common(scen)
    scen.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="scenario parameter (value parsed as JSON when possible), repeatable",
    )
    scen.add_argument("-v", "--verbose", action="store_true", help="print every event sent")

    rep = sub.add_parser("replay", help="replay a JSON Lines event log, re-signed")
    rep.add_argument("file", help="JSON Lines: path, json, received_at ('-' for stdin)")
    _common(rep)
    rep.add_argument("--max-gap", type=float, help="longest real pause between two events")
    rep.add_argument("--no-wait", action="store_true", help="send the events back to back")

    load = sub.add_parser("load", help="N calls per second for a duration; summary of the answers")
    _common(load)
    load.add_argument("--rate", type=float, required=True, help="calls started per second")
    load.add_argument("--duration", type=float, required=True, help="seconds of starting calls")
    load.add_argument(
        "--scenario",
        action="append",
        choices=sorted(SCENARIOS),
        help=f"scenario mix (repeatable; default {', '.join(DEFAULT_MIX)})",
    )
    load.add_argument("--workers", type=int, default=32)
    return parser


def _settings(args: argparse.Namespace) -> tuple[dict[str, Any], Directory, str, str]:
    cfg = load_config(args.config) if args.config else {}
    if args.employees:
        cfg["employees"] = [
            {"extension": e.extension, "name": e.name, "email": e.email}
            for e in parse_employees_flag(args.employees)
        ]
    directory = directory_from_config(cfg)
    key = (
        args.api_key
        or os.environ.get("MANGO_EMULATOR_API_KEY")
        or cfg.get("api_key")
        or secrets.token_hex(14)
    )
    salt = (
        args.api_salt
        or os.environ.get("MANGO_EMULATOR_API_SALT")
        or cfg.get("api_salt")
        or secrets.token_hex(16)
    )
    if args.webhook is None:
        args.webhook = cfg.get("webhook")
    if args.speed is None:
        args.speed = float(cfg.get("speed", 1.0))
    return cfg, directory, key, salt


def _faults(args: argparse.Namespace) -> FaultConfig:
    return FaultConfig.from_json(json.loads(args.faults)) if args.faults else FaultConfig()


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def cmd_serve(args: argparse.Namespace) -> int:
    cfg, directory, key, salt = _settings(args)
    emulator = Emulator(
        key,
        salt,
        args.webhook,
        directory,
        speed=args.speed,
        autopilot=Autopilot(
            enabled=not args.manual,
            answer_after=args.answer_after,
            talk=args.talk,
            colleague=args.colleague,
        ),
        rate_limits=not args.no_rate_limit,
        lockout_seconds=args.lockout_seconds,
        record_delay=args.record_delay,
        control_from=("127.0.0.0/8", "::1/128", *args.control_from),
    )
    emulator.faults.configure(_faults(args))
    files = DemoFiles(emulator, args.directory, args.history)
    files.start()
    url = emulator.start(args.host, args.port)
    print(f"Mango VPBX emulator listening on {url}", flush=True)
    print(f"  PBX API base URL : {url}/vpbx/", flush=True)
    print(f"  console          : {url}/", flush=True)
    print(f"  vpbx_api_key     : {key}", flush=True)
    print(f"  api salt         : {salt}", flush=True)
    print(f"  webhook          : {args.webhook or '(none: events are only logged)'}", flush=True)
    if emulator.history_entries:
        print(f"  history          : {len(emulator.history_entries)} calls", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    files.stop()
    emulator.stop()
    return 0


def _standalone(args: argparse.Namespace) -> tuple[Pbx, EventSender, FaultInjector]:
    _cfg, directory, key, salt = _settings(args)
    if not args.webhook:
        raise SystemExit("--webhook is required (or 'webhook' in the config file)")
    sender = EventSender(args.webhook, key, salt)
    faults = FaultInjector(sender, _faults(args))
    pbx = Pbx(directory, faults, speed=args.speed, record_delay=args.record_delay)
    return pbx, sender, faults


def cmd_scenario(args: argparse.Namespace) -> int:
    pbx, sender, faults = _standalone(args)
    params = {"speed": args.speed}
    for item in args.set:
        name, _, value = item.partition("=")
        params[name] = _value(value)
    try:
        run = run_scenario(pbx, args.name, params)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    pbx.join()
    faults.flush()
    deliveries = sender.log()
    if args.verbose:
        for d in deliveries:
            print(f"{d.n:4} {d.outcome:10} {d.status or '':>3} {d.path:22} {d.json}")
    print(
        json.dumps(
            {
                "scenario": args.name,
                "entry_id": run.entry_id,
                "error": run.error,
                **summarize(deliveries),
            },
            indent=2,
        )
    )
    return 1 if run.error or any(d.outcome == "failed" for d in deliveries) else 0


def cmd_replay(args: argparse.Namespace) -> int:
    _pbx, sender, faults = _standalone(args)
    try:
        if args.file == "-":
            events = read_log(sys.stdin)
        else:
            with open(args.file, encoding="utf-8") as fh:
                events = read_log(fh)
    except ReplayError as exc:
        raise SystemExit(f"{args.file}: {exc}") from None
    replay(events, faults, speed=None if args.no_wait else args.speed, max_gap=args.max_gap)
    print(json.dumps(summarize(sender.log()), indent=2))
    return 0 if all(d.outcome == "delivered" for d in sender.log() if d.fault is None) else 1


def cmd_load(args: argparse.Namespace) -> int:
    speed = args.speed or 200.0  # calls of a load test are played fast unless told otherwise
    pbx, sender, _faults = _standalone(args)
    summary = run_load(
        pbx,
        sender,
        args.rate,
        args.duration,
        tuple(args.scenario or DEFAULT_MIX),
        params={"speed": speed},
        workers=args.workers,
    )
    print(json.dumps(summary, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {"serve": cmd_serve, "scenario": cmd_scenario, "replay": cmd_replay, "load": cmd_load}
    return handler[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
