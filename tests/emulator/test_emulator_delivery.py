"""Sender, fault injection, replay, load mode and the CLI, against a local webhook."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from mango_vpbx.signing import dumps
from mango_vpbx_emulator.__main__ import main
from mango_vpbx_emulator.faults import FaultConfig, FaultInjector
from mango_vpbx_emulator.load import run_load
from mango_vpbx_emulator.pbx import Pbx
from mango_vpbx_emulator.replay import ReplayError, parse_time, read_log, replay
from mango_vpbx_emulator.scenarios import run_scenario
from mango_vpbx_emulator.sender import EventSender, summarize
from mango_vpbx_emulator.state import demo_directory

KEY, SALT = "delivery-key", "delivery-salt"


@pytest.fixture
def sender(webhook):
    webhook.key, webhook.salt = KEY, SALT
    return EventSender(webhook.url, KEY, SALT)


def play_day(sink, calls=6):
    pbx = Pbx(demo_directory(), sink, record_delay=1)
    for name in (
        "incoming_answered",
        "queue",
        "missed_operator",
        "blind_transfer",
        "callback",
        "missed_ivr",
    )[:calls]:
        run_scenario(pbx, name, {"speed": 1000})
    pbx.join()
    sink.flush()
    return pbx


def test_sender_signs_and_logs_every_event(sender, webhook) -> None:
    play_day(sender, calls=2)
    log = sender.log()
    assert log and all(d.outcome == "delivered" and d.status == 200 for d in log)
    # verified and parsed by the webhook (record/added comes from another thread: any order)
    assert Counter((d.path, d.json) for d in log) == Counter(webhook.events())
    assert not webhook.rejected
    summary = summarize(log)
    assert (
        summary["status_counts"] == {"200": len(log)} and summary["latency_ms"]["p50"] is not None
    )


def test_sender_records_http_errors_and_unreachable_webhooks(sender, webhook) -> None:
    webhook.status = 503
    sender.send(
        "events/call",
        {"entry_id": "e", "call_id": "c", "seq": 1, "call_state": "Appeared", "timestamp": 1},
    )
    assert sender.log()[-1].outcome == "failed" and sender.log()[-1].status == 503
    dead = EventSender("http://127.0.0.1:9/hook", KEY, SALT, timeout=1)
    dead.send("ping", "{}")
    assert dead.log()[-1].outcome == "failed" and dead.log()[-1].error


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_duplicate_reorder_delay_keep_the_multiset(sender, webhook, seed) -> None:
    faults = FaultInjector(
        sender, FaultConfig(duplicate=0.3, reorder_window=5, delay=0.3, delay_max=0.05, seed=seed)
    )
    play_day(faults)
    log = sender.log()
    emitted = Counter((d.path, d.json) for d in log if d.fault != "duplicate")
    duplicates = Counter((d.path, d.json) for d in log if d.fault == "duplicate")
    received = Counter(webhook.events())
    assert received == emitted + duplicates
    assert duplicates and any(d.fault == "reordered" for d in log)
    # reordering really changed the order somewhere
    assert [e for e in webhook.events()] != sorted(
        webhook.events(), key=[(d.path, d.json) for d in log].index
    )


def test_drop_and_outage_lose_only_what_the_log_says(sender, webhook) -> None:
    faults = FaultInjector(sender, FaultConfig(drop=0.3, seed=7))
    pbx = play_day(faults)
    log = sender.log()
    dropped = Counter((d.path, d.json) for d in log if d.outcome == "dropped")
    delivered = Counter((d.path, d.json) for d in log if d.outcome == "delivered")
    assert dropped and Counter(webhook.events()) == delivered
    assert sum(dropped.values()) + sum(delivered.values()) == len(log)
    # the PBX still knows every call: statistics are not affected by delivery
    assert len(pbx.history) == 6

    faults.configure(FaultConfig.from_json({"outage_seconds": 60}))
    before = len(webhook.events())
    pbx2 = play_day(faults, calls=2)
    assert len(webhook.events()) == before
    assert {d.outcome for d in sender.log()[len(log) :]} == {"outage"}
    assert len(pbx2.history) == 2


def test_fault_config_is_validated() -> None:
    with pytest.raises(ValueError):
        FaultConfig.from_json({"drop": 2})
    with pytest.raises(ValueError):
        FaultConfig.from_json({"explode": 1})


def test_replay_resigns_a_recorded_log(sender, webhook, tmp_path) -> None:
    bodies = [
        (
            "/mango/events/call",
            {
                "entry_id": "E1",
                "call_id": "L1",
                "timestamp": 1700000000,
                "seq": 1,
                "call_state": "Appeared",
                "location": "ivr",
                "from": {"number": "79170000001"},
                "to": {"number": "73472251010", "line_number": "73472251010"},
            },
        ),
        (
            "events/summary",
            {
                "entry_id": "E1",
                "call_direction": 1,
                "from": {"number": "79170000001"},
                "to": {},
                "line_number": "73472251010",
                "create_time": 1700000000,
                "forward_time": 0,
                "talk_time": 0,
                "end_time": 1700000004,
                "entry_result": 0,
                "disconnect_reason": 1110,
            },
        ),
        (
            "https://clinic.example/mango/events/call/",
            {
                "entry_id": "E1",
                "call_id": "L1",
                "timestamp": 1700000004,
                "seq": 2,
                "call_state": "Disconnected",
                "location": "ivr",
                "from": {"number": "79170000001"},
                "to": {"number": "73472251010", "line_number": "73472251010"},
                "disconnect_reason": 1110,
            },
        ),
    ]
    times = ["2023-11-14T22:13:20Z", "2023-11-14T22:13:24.500+00:00", 1700000004.2]
    log_file = tmp_path / "day.jsonl"
    log_file.write_text(
        "".join(
            json.dumps({"path": p, "json": json.dumps(b), "received_at": t}) + "\n"
            for (p, b), t in zip(bodies, times, strict=False)
        )
        + "\n"
    )
    events = read_log(log_file.open())
    assert [e.path for e in events] == [
        "events/call",
        "events/call",
        "events/summary",
    ]  # by received_at
    assert replay(events, sender, speed=100) == 3
    assert webhook.events() == [(e.path, e.json) for e in events]  # json strings kept verbatim


def test_replay_rejects_bad_lines() -> None:
    with pytest.raises(ReplayError, match="line 1"):
        read_log(['{"path": "events/call"}'])
    with pytest.raises(ReplayError, match="line 2"):
        read_log(
            [
                '{"path": "events/call", "json": "{}", "received_at": 1}',
                '{"path": "/admin", "json": "{}", ' '"received_at": 1}',
            ]
        )
    assert parse_time(1700000000000) == 1700000000.0
    assert parse_time("1700000000") == 1700000000.0


def test_load_mode_summary(sender, webhook) -> None:
    pbx = Pbx(demo_directory(), FaultInjector(sender), record_delay=1)
    summary = run_load(pbx, sender, rate=20, duration=1, params={"speed": 1000})
    assert summary["calls"] == 20 and not summary["scenario_errors"]
    assert summary["status_counts"] == {"200": summary["events"]}
    assert summary["events"] == len(webhook.events()) > 20 * 2
    assert (
        summary["latency_ms"]["p50"] <= summary["latency_ms"]["p95"] <= summary["latency_ms"]["p99"]
    )
    assert summary["events_per_s"] > 0
    assert sum(p == "events/summary" for p, _ in webhook.events()) == 20


def test_load_mode_takes_callers_in_turn(sender, webhook) -> None:
    """One external number per call from ``callers``; without, the scenarios' default."""
    pbx = Pbx(demo_directory(), FaultInjector(sender), record_delay=1)
    callers = ["79160000001", "79160000002", "79160000003"]
    summary = run_load(pbx, sender, rate=20, duration=0.3, params={"speed": 1000},
                       scenarios=("incoming_answered", "outgoing"), callers=callers)
    assert summary["calls"] == 6 and not summary["scenario_errors"]
    summaries = [json.loads(j) for p, j in webhook.events("events/summary")]
    externals = [s["from"]["number"] if s["call_direction"] == 1 else s["to"]["number"]
                 for s in summaries]
    assert sorted(externals) == sorted(callers * 2)


def test_load_mode_says_whether_the_generator_kept_up(sender, webhook) -> None:
    """CPU time, requests in flight and start lateness: a pool too small shows it."""
    pbx = Pbx(demo_directory(), FaultInjector(sender), record_delay=1)
    roomy = run_load(pbx, sender, rate=20, duration=0.5, params={"speed": 1000}, workers=32)
    assert roomy["workers"] == 32 and roomy["cpu_s"] >= 0
    assert 0 < roomy["in_flight_mean"] < 32
    assert 0 <= roomy["start_lateness_ms"]["p50"] <= roomy["start_lateness_ms"]["max"] < 500
    # one thread for 10 calls, one every 50 ms, each lasting ~190 ms (37 emulated seconds
    # on average at speed 200): every call waits for the ones before it
    narrow = run_load(pbx, sender, rate=20, duration=0.5, params={"speed": 200}, workers=1)
    assert narrow["calls"] == 10 and narrow["status_counts"] == {"200": narrow["events"]}
    assert narrow["start_lateness_ms"]["max"] > 800
    assert narrow["in_flight_mean"] <= 1.5


def test_cli_scenario_and_replay(sender, webhook, tmp_path, capsys) -> None:
    args = ["--webhook", webhook.url, "--api-key", KEY, "--api-salt", SALT, "--speed", "1000"]
    assert main(["scenario", "queue", "--set", "answered_by=103", *args]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["scenario"] == "queue" and out["status_counts"] == {"200": out["events"]}
    log_file = tmp_path / "log.jsonl"
    log_file.write_text(
        "".join(
            json.dumps({"path": p, "json": j, "received_at": i}) + "\n"
            for i, (p, j) in enumerate(webhook.events())
        )
    )
    count = len(webhook.events())
    assert main(["replay", str(log_file), "--no-wait", *args]) == 0
    assert webhook.events()[count:] == webhook.events()[:count]
    capsys.readouterr()
    assert (
        main(["load", "--rate", "10", "--duration", "0.5", "--scenario", "missed_ivr", *args]) == 0
    )
    assert json.loads(capsys.readouterr().out)["calls"] == 5


def test_cli_config_file_and_employees_flag(tmp_path, webhook, sender, capsys) -> None:
    cfg = tmp_path / "pbx.json"
    cfg.write_text(
        dumps(
            {
                "employees": [{"extension": "0511", "name": "Zero"}],
                "lines": [{"number": "73470000000"}],
                "groups": [{"extension": "600", "name": "Q", "members": ["0511"]}],
            }
        )
    )
    args = ["--webhook", webhook.url, "--api-key", KEY, "--api-salt", SALT, "--speed", "1000"]
    assert (
        main(
            [
                "scenario",
                "queue",
                "--config",
                str(cfg),
                "--set",
                "group=600",
                "--set",
                'answered_by="0511"',
                *args,
            ]
        )
        == 0
    )
    summary = json.loads([j for p, j in webhook.events() if p == "events/summary"][-1])
    assert summary["to"]["extension"] == "0511" and summary["line_number"] == "73470000000"
    assert (
        main(
            [
                "scenario",
                "internal",
                "--employees",
                "201:Ann,202:Bob:bob@x.example",
                "--set",
                "extension=201",
                "--set",
                "to_extension=202",
                *args,
            ]
        )
        == 0
    )
