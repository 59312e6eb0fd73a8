"""The demo's history: weeks of a clinic's calls played on the emulated PBX, the same
calls in its statistics, and today's calls posted to the webhook as the PBX would."""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import requests

from mango_vpbx import fold, parse_event
from mango_vpbx.client import VpbxClient
from mango_vpbx.limits import MemoryLimitStore
from mango_vpbx_emulator import history as hist
from mango_vpbx_emulator.demo_files import DemoFiles
from mango_vpbx_emulator.server import Emulator
from mango_vpbx_emulator.state import demo_directory

UFA = ZoneInfo("Asia/Yekaterinburg")
#: A Wednesday, 14:30 in Ufa.
NOW = int(datetime(2026, 11, 25, 14, 30, tzinfo=UFA).timestamp())
CALLERS = [hist.Caller(f"7917{n:07d}", f"Пациент {n}") for n in range(60)]
DAYS = 21


@pytest.fixture(scope="module")
def history() -> hist.History:
    return hist.generate(demo_directory(), CALLERS, now=NOW, days=DAYS)


def folded(item: hist.HistoryCall):
    return fold(parse_event(path, body) for path, body in item.events)


def test_a_clinic_at_work(history) -> None:
    local = [datetime.fromtimestamp(c.started, UFA) for c in history.calls]
    assert all(t.weekday() < 5 and 8 <= t.hour < 20 for t in local), "working hours, in Ufa"
    assert max(c.started for c in history.calls) <= NOW - hist.QUIET_MINUTES * 60
    per_day = Counter(t.date() for t in local)
    assert len(per_day) == 15  # the working days of three weeks
    assert 15 <= sum(per_day.values()) / len(per_day) <= 25
    assert set(Counter(c.kind for c in history.calls)) == set(hist.KINDS)
    assert sum(len(c.recordings) for c in history.calls) > 20
    followups = [c.followup for c in history.calls if c.followup]
    assert {f["state"] for f in followups} == {"resolved", "no_action"}
    assert sum(bool(f.get("book")) for f in followups) > 10
    assert sum(bool(f.get("comment")) for f in followups) > 10
    parts = Counter(c.delivery for c in history.calls)
    assert parts[hist.LEFT_OUT] == 3
    # Today's calls go to the webhook; the days before are worked through.
    today = datetime.fromtimestamp(NOW, UFA).date()
    webhook_part = [c for c in history.calls if c.delivery == hist.WEBHOOK]
    assert {datetime.fromtimestamp(c.started, UFA).date() for c in webhook_part} == {today}
    assert len(webhook_part) == per_day[today] - sum(
        c.delivery == hist.LEFT_OUT and datetime.fromtimestamp(c.started, UFA).date() == today
        for c in history.calls)
    left_out = [c for c in history.calls if c.delivery == hist.LEFT_OUT]
    assert all(c.started >= NOW - hist.LEFT_OUT_HOURS * 3600 for c in left_out)
    assert all(c.started >= history.since for c in history.calls)
    assert not any(c.followup for c in webhook_part + left_out), "still to do"


def test_missed_calls_are_returned_soon_late_or_not_yet(history) -> None:
    """The follow-up of missed calls: most are called back, some within half an hour."""
    missed = [c for c in history.calls if folded(c).result == "missed"
              and c.kind != "outgoing"]
    delays = []
    for item in missed:
        number = item.call.caller["number"]
        later = [c for c in history.calls if c.started > item.started
                 and number in (c.call.caller.get("number"), c.call.callee.get("number"))
                 and c.call.talk_time]
        if later:
            delays.append(later[0].started - item.started)
    assert len(delays) > len(missed) / 2
    assert any(d <= 1800 for d in delays) and any(d > 7200 for d in delays)
    assert len(delays) < len(missed), "some still wait"


def test_every_call_is_over_and_folds_as_it_was_played(history) -> None:
    answered, missed = ("incoming", "answered"), ("incoming", "missed")
    expected = {
        "incoming_answered": answered, "queue_answered": answered, "blind_transfer": answered,
        "consultative_transfer": answered, "missed_ivr": missed, "missed_operator": missed,
        "queue_missed": missed, "internal": ("internal", "answered"),
    }
    for item in history.calls:
        state = folded(item)
        assert state.is_final, item.kind
        assert state.entry_id == item.entry_id
        if item.kind in expected:
            assert (state.direction, state.result) == expected[item.kind], item.kind
        if item.kind.endswith("transfer"):
            assert [t.kind for t in state.transfers] == [item.kind.split("_")[0]]
        assert {r.recording_id for r in item.recordings} == set(state.recording_ids)
        assert all(r.added for r in state.recordings), "every recording is announced"


def test_the_same_inputs_give_the_same_history(history) -> None:
    again = hist.generate(demo_directory(), CALLERS, now=NOW, days=DAYS)
    assert again.as_json() == history.as_json()
    other = hist.generate(demo_directory(), CALLERS, now=NOW, days=DAYS, seed=7)
    assert other.as_json()["calls"] != history.as_json()["calls"]


def test_saved_and_read_back(history, tmp_path) -> None:
    path = tmp_path / "history.json"
    history.save(path)
    assert hist.History.load(path).as_json() == history.as_json()
    item = next(c for c in history.calls if c.delivery == hist.WEBHOOK)
    order = item.delivery_order()
    assert order[0][0] == "events/summary" and sorted(order) == sorted(item.events)
    path.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ValueError):
        hist.History.load(path)


@pytest.fixture
def pbx(webhook, history):
    emulator = Emulator(webhook.key, webhook.salt, webhook.url, stats_not_ready_polls=0)
    emulator.use_history(history)
    emulator.start("127.0.0.1", 0)
    yield emulator
    emulator.stop()
    emulator.pbx.join(5)


def test_the_pbx_statistics_are_the_history(pbx, history) -> None:
    """Every call of the history, the left-out ones too, once, with what the PBX saw."""
    client = VpbxClient(pbx.url + "/vpbx/", pbx.api_key, pbx.api_salt, limiter=MemoryLimitStore(),
                        max_rate_wait=3)
    rows = client.stats(history.since, NOW, fields=["entry_id", "start", "answer", "from_number",
                                                    "to_number", "to_extension", "records"],
                        poll_interval=0.01)
    by_entry = {row.entry_id: row for row in rows}
    assert len(rows) == len(by_entry) == len(history.calls)
    for item in history.calls:
        row = by_entry[item.entry_id]
        assert int(row.start.timestamp()) == item.call.create_time
        assert bool(row.answer) == bool(item.call.talk_time)
        assert set(row.records) == {r.recording_id for r in item.recordings}
    recording = next(r for c in history.calls for r in c.recordings)
    assert client.download_recording(recording.recording_id).content[:4] == b"RIFF"
    calls = requests.get(pbx.url + "/control/calls?finished=0", timeout=5).json()
    assert calls["finished"] == [], "the console's refresh does not fetch the history"


def test_the_last_day_goes_to_the_webhook_summary_first(pbx, webhook, history, tmp_path) -> None:
    path = tmp_path / "history.json"
    history.save(path)
    files = DemoFiles(pbx, history=str(path))
    assert files.check() == ["history"]
    expected = [e for c in history.calls if c.delivery == hist.WEBHOOK for e in c.delivery_order()]
    webhook.wait(lambda: len(webhook.events()) >= len(expected), timeout=30)
    assert webhook.pings >= 1, "it waited for the webhook to answer"
    assert webhook.events() == expected
    left_out = {c.entry_id for c in history.calls if c.delivery == hist.LEFT_OUT}
    dropped = [d for d in pbx.sender.log() if d.outcome == "dropped"]
    assert {json.loads(d.json).get("entry_id") for d in dropped} == left_out
    for item in history.calls:
        first = [p for p, body in webhook.events() if item.entry_id in body][:1]
        assert first in ([], ["events/summary"]), "no card may ring for a call long over"
    files.stop()


def test_files_are_read_when_they_appear_and_when_they_change(tmp_path, history) -> None:
    emulator = Emulator("history-key", "history-salt")
    files = DemoFiles(emulator, str(tmp_path / "directory.json"), str(tmp_path / "history.json"))
    assert files.check() == [], "not there yet (the other container has not written them)"
    directory = {"employees": [{"extension": "101", "name": "Mitchell Admin"}],
                 "callers": [{"number": "79170000001", "name": "Иванов Иван"}]}
    (tmp_path / "directory.json").write_text(json.dumps(directory))
    history.save(tmp_path / "history.json")
    assert sorted(files.check()) == ["directory", "history"]
    status = emulator.status()
    assert [e["name"] for e in status["employees"]] == ["Mitchell Admin"]
    assert status["callers"] == directory["callers"]
    assert status["history_calls"] == len(history.calls)
    assert files.check() == [], "unchanged"
    shorter = hist.History(history.seed, history.days, history.generated_at, history.timezone,
                           history.calls[:10])
    shorter.save(tmp_path / "history.json")
    os.utime(tmp_path / "history.json", (NOW, NOW))
    assert files.check() == ["history"]
    assert len(emulator.pbx.history) == 10, "a changed history replaces the previous one"
    files.stop()
    emulator.pbx.join(1)


def test_early_in_the_morning_the_webhook_gets_the_last_calls() -> None:
    """A Monday at 08:20: no call yet today, the webhook gets Friday's last ones."""
    monday = int(datetime(2026, 11, 30, 8, 20, tzinfo=UFA).timestamp())
    early = hist.generate(demo_directory(), CALLERS, now=monday, days=5)
    webhook_part = [c for c in early.calls if c.delivery == hist.WEBHOOK]
    assert len(webhook_part) + sum(c.delivery == hist.LEFT_OUT for c in early.calls[-8:]) == 8
    assert {datetime.fromtimestamp(c.started, UFA).weekday() for c in webhook_part} == {4}
    assert webhook_part == [c for c in early.calls[-8:] if c.delivery == hist.WEBHOOK]


@pytest.mark.parametrize("moment", [
    datetime(2026, 12, 5, 12, 10),  # a Saturday noon: Friday's last hours only
    datetime(2026, 12, 6, 18, 0),  # a Sunday
    datetime(2026, 11, 30, 8, 20),  # a Monday before the first call
])
def test_after_a_day_off_calls_are_still_left_out(moment) -> None:
    """Whatever the hour and the day, the history leaves its calls out for the
    reconciliation to recover: the latest ones when the last hours had too few."""
    now = int(moment.replace(tzinfo=UFA).timestamp())
    history = hist.generate(demo_directory(), CALLERS, now=now, days=7)
    left_out = [c for c in history.calls if c.delivery == hist.LEFT_OUT]
    assert len(left_out) == 3
    assert all(not c.recordings for c in left_out)

