"""Every scenario's events fold to the call it is meant to be, and look like the reference's."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from mango_vpbx import fold, parse_event
from mango_vpbx.signing import dumps
from mango_vpbx_emulator.scenarios import SCENARIOS, run_scenario, scenario_params
from mango_vpbx_emulator.testing import sequence


def play(name: str, **params: Any) -> tuple[Any, list[tuple[str, str]]]:
    sent = sequence(name, **params)
    events = [parse_event(p, j) for p, j in sent if not p.startswith("result/")]
    return fold(events), sent


# name, params, expected CallState fields
CASES = [
    (
        "incoming_answered",
        {},
        dict(
            direction="incoming",
            result="answered",
            answered_extension="101",
            rang_extensions=("101",),
            missed_at=None,
            disconnect_reason=1110,
        ),
    ),
    (
        "incoming_answered",
        {"hangup_by": "operator", "extension": "103"},
        dict(result="answered", answered_extension="103", disconnect_reason=1120),
    ),
    (
        "missed_ivr",
        {"dtmf": "1"},
        dict(
            direction="incoming", result="missed", missed_at="ivr", rang_extensions=(), dtmf=("1",)
        ),
    ),
    (
        "missed_operator",
        {},
        dict(
            result="missed",
            missed_at="operator",
            rang_extensions=("101",),
            answered_extension=None,
            disconnect_reason=1110,
        ),
    ),
    (
        "missed_operator",
        {"missed_by": "timeout"},
        dict(result="missed", missed_at="operator", disconnect_reason=1111),
    ),
    (
        "queue",
        {},
        dict(
            result="answered",
            rang_extensions=("101", "102", "103"),
            answered_extension="102",
            ringing_extensions=(),
        ),
    ),
    ("queue", {"answered_by": "103"}, dict(result="answered", answered_extension="103")),
    (
        "queue",
        {"answered_by": "none"},
        dict(result="missed", missed_at="operator", rang_extensions=("101", "102", "103")),
    ),
    (
        "blind_transfer",
        {},
        dict(result="answered", answered_extension="101", rang_extensions=("101", "102")),
    ),
    (
        "consultative_transfer",
        {},
        dict(result="answered", answered_extension="101", rang_extensions=("101", "102")),
    ),
    (
        "callback",
        {"extension": "102", "target": "79270001122"},
        dict(
            direction="outgoing",
            result="answered",
            is_callback=True,
            operator_extension="102",
            external_number="79270001122",
        ),
    ),
    (
        "internal",
        {},
        dict(
            direction="internal",
            result="answered",
            answered_extension="102",
            operator_extension="101",
            line_number=None,
        ),
    ),
    (
        "outgoing",
        {"target": "79270001122"},
        dict(
            direction="outgoing",
            result="answered",
            external_number="79270001122",
            operator_extension="101",
        ),
    ),
]


@pytest.mark.parametrize(
    ("name", "params", "expected"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_scenario_folds_to_intended_call(name: str, params: dict, expected: dict) -> None:
    call, sent = play(name, **params)
    assert call.is_final
    for field, value in expected.items():
        assert getattr(call, field) == value, field
    assert call.ringing_extensions == ()
    # every leg's seq runs 1..n in the order the events were emitted
    seqs: dict[str, list[int]] = defaultdict(list)
    for path, body in sent:
        if path == "events/call":
            event = parse_event(path, body)
            seqs[event.call_id].append(event.seq)
    for leg_seqs in seqs.values():
        assert leg_seqs == list(range(1, len(leg_seqs) + 1))
    assert sum(p == "events/summary" for p, _ in sent) == 1


def test_every_scenario_is_covered() -> None:
    assert {c[0] for c in CASES} == set(SCENARIOS)


def test_times_follow_the_emulated_clock() -> None:
    # A real delay of the machine stretches emulated time by ``speed`` times: at 200, a busy
    # CI's 60 ms turned a 30 s wait into 42 s. At 50 the call takes 1.8 s and such a delay
    # adds 3 s, within the margin; a clock that ignored the speed would be far off.
    call, _sent = play(
        "incoming_answered", ivr_seconds=10, ring_seconds=20, talk_seconds=60, speed=50
    )
    assert 28 <= call.wait_seconds <= 36
    assert 58 <= call.talk_seconds <= 66


def test_transfers_are_reported() -> None:
    blind, _ = play("blind_transfer")
    assert [(t.from_extension, t.to_extension, t.kind) for t in blind.transfers] == [
        ("101", "102", "blind")
    ]
    consult, sent = play("consultative_transfer")
    assert [(t.from_extension, t.to_extension, t.kind) for t in consult.transfers] == [
        ("101", "102", "consultative")
    ]
    # §6.2: the consultation leg is Connected twice, the second time with the customer in `from`
    legs = defaultdict(list)
    for path, body in sent:
        if path == "events/call":
            e = parse_event(path, body)
            legs[e.call_id].append(e)
    consult_leg = next(v for v in legs.values() if v[0].from_.extension == "101")
    states = [e.call_state for e in consult_leg]
    assert states == ["Appeared", "Connected", "Connected", "Disconnected"]
    assert consult_leg[2].from_.number == "79177654321"


def test_callback_legs_follow_the_reference() -> None:
    call, sent = play("callback", extension="101", target="79270001122")
    calls = [parse_event(p, j) for p, j in sent if p == "events/call"]
    first = [e for e in calls if e.call_id == calls[0].call_id]
    # pitfall 7.4: leg 1 rings the employee (in `to`) for the target (in `from`), ends with 1000
    assert first[0].to.extension == "101" and first[0].from_.number == "79270001122"
    assert [e.call_state for e in first] == ["Appeared", "Connected", "Disconnected"]
    assert first[-1].disconnect_reason == 1000
    second = [e for e in calls if e.call_id != calls[0].call_id]
    assert second[0].from_.taken_from_call_id == calls[0].call_id
    assert all(e.command_id == call.command_id for e in calls)
    assert ("result/callback", dumps({"command_id": call.command_id, "result": 1000})) in sent


def test_scenario_parameters_are_validated() -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        scenario_params("nope")
    with pytest.raises(ValueError, match="unknown parameters"):
        scenario_params("queue", {"colour": "red"})
    with pytest.raises(ValueError, match="speed"):
        scenario_params("queue", {"speed": 0})


def test_scenario_over_http_reaches_the_webhook(emulator, webhook) -> None:
    run = run_scenario(emulator.pbx, "queue", {"speed": 500})
    emulator.pbx.join()
    webhook.wait(lambda: webhook.events("events/record/added"))
    events = [parse_event(p, j) for p, j in webhook.events() if not p.startswith("result/")]
    call = fold(e for e in events if e.entry_id == run.entry_id)
    assert call.is_final and call.answered_extension == "102"
    assert not webhook.rejected
