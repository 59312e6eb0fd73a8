"""stats/result CSV: the specification's examples and realistic reports."""

from datetime import datetime, timezone

import pytest

from mango_vpbx import StatsError
from mango_vpbx.stats import (
    DEFAULT_FIELDS,
    StatsRow,
    call_state,
    normalize_fields,
    parse_csv,
    row_direction,
    split_period,
)
from mango_vpbx.times import TimeBase

DOC_FIELDS = "records, start, finish, from_extension, from_number, to_extension, to_number, " \
             "disconnect_reason"


def utc(ts):
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def test_example_of_the_current_specification():
    text = ("547658365,547658366,547658367;1072915314;1072915399;456;749404444;937;12345678;Busy\n"
            "677567599;1072915516;1072915645;1072915901;32;74959988654;64;987654321;RemoteHangup")
    first, second = parse_csv(text, DOC_FIELDS)
    assert first.records == ("547658365", "547658366", "547658367")
    assert first.start == utc(1072915314) and first.finish == utc(1072915399)
    assert first.answer is None and not first.answered
    assert (first.from_extension, first.from_number) == ("456", "749404444")
    assert (first.to_extension, first.to_number) == ("937", "12345678")
    assert first.disconnect_reason == "Busy"
    # The doc's second row has one field more than it asked for: kept, not lost.
    assert second.extra == ("RemoteHangup",)
    [with_answer] = parse_csv(text.splitlines()[1], ["records", "start", "finish", "answer",
                                                    "from_extension", "from_number",
                                                    "to_extension", "to_number",
                                                    "disconnect_reason"])
    assert with_answer.answer == utc(1072915901) and with_answer.disconnect_reason == "RemoteHangup"


def test_example_of_the_2017_specification():
    text = ("547658365,547658366,547658367;1072915314;1072915399;456;74955404444;937;12345678;"
            "Busy\r\n"
            "677567599;1072915516;1072915645;;74955404444;;12345678;\r\n"
            "547658365;1072915789;1072915901;32;74959988654;64;987654321;RemoteHangup\r\n")
    rows = parse_csv(text, DOC_FIELDS)
    assert len(rows) == 3
    assert rows[1].from_extension is None and rows[1].to_extension is None
    assert rows[1].disconnect_reason is None and rows[1].records == ("677567599",)
    assert rows[2].disconnect_reason == "RemoteHangup"
    assert dict(rows[0].values)["to_number"] == "12345678"


def test_realistic_default_fields():
    text = (
        "[MToxMDA4NjI3Nzo1MDI6NjQ0MjQzNTM5,MToxMDA4NjI3Nzo1MDI6NjQ0MjQzNTQw];1670060527;"
        "1670060661;1670060542;;79607164646;222;sip:op@clinic.mangosip.ru;1110;74952129298;"
        "abonent\n"
        "[];1670070000;1670070025;0;;79161234567;0511;;1111;74952129298;queue\n"
        "\n"
    )
    first, second = parse_csv(text.encode())
    assert first.records == ("MToxMDA4NjI3Nzo1MDI6NjQ0MjQzNTM5", "MToxMDA4NjI3Nzo1MDI6NjQ0MjQzNTQw")
    assert first.answered and first.answer == utc(1670060542)
    assert first.from_extension is None and first.to_extension == "222"
    assert first.disconnect_reason == 1110 and first.location == "abonent"
    assert first.line_number == "74952129298"
    assert second.records == () and second.answer is None and second.to_extension == "0511"
    assert second.disconnect_reason == 1111


def test_custom_fields_with_entry_id_and_create_and_time_base():
    [row] = parse_csv("MTYxNzM5NjY0OTE=;1670060527;1670060530",
                      ["entry_id", "create", "start"], time_base=TimeBase.MSK)
    assert row.entry_id == "MTYxNzM5NjY0OTE="
    assert row.create == utc(1670060527 - 3 * 3600)
    assert row.records == () and row.finish is None


def test_short_rows_are_padded():
    [row] = parse_csv("1;1670060527")
    assert row.records == ("1",) and row.finish is None and row.location is None


def test_fields():
    assert normalize_fields(None) == DEFAULT_FIELDS
    assert normalize_fields(" , ") == DEFAULT_FIELDS
    assert normalize_fields("entry_id,records") == ("entry_id", "records")
    with pytest.raises(StatsError, match="unknown statistics field"):
        normalize_fields(["records", "duration"])


def test_bad_time():
    with pytest.raises(StatsError, match="not a time"):
        parse_csv("1;yesterday", ["records", "start"])


def test_split_period():
    month = 30 * 24 * 3600 - 1
    assert split_period(0, 100) == [(0, 100)]
    assert split_period(0, month) == [(0, month)]
    spans = split_period(0, 3 * month)
    assert spans[0] == (0, month) and spans[1][0] == month + 1 and spans[-1][1] == 3 * month
    assert all(b - a <= month for a, b in spans)
    assert all(nxt[0] == prev[1] + 1 for prev, nxt in zip(spans, spans[1:], strict=False))
    with pytest.raises(StatsError):
        split_period(10, 5)


def row(**values):
    for name in ("start", "finish", "answer", "create"):
        if values.get(name) is not None:
            values[name] = utc(values[name])
    return StatsRow(**values)


def test_call_state_of_an_incoming_call_answered_on_its_second_leg():
    rows = [
        # Given out of order: the state sorts them by creation.
        row(start=1000, answer=1030, finish=1090, from_number="79161234567", to_extension="102",
            to_number="74951000000", line_number="74951000000", disconnect_reason=1110,
            records=("rec-1", "rec-2")),
        row(start=995, finish=1010, from_number="79161234567", to_extension="101",
            line_number="74951000000", disconnect_reason=1111, records=("rec-1",)),
    ]
    state = call_state("E-1", rows)
    assert (state.entry_id, state.direction, state.result) == ("E-1", "incoming", "answered")
    assert state.caller_number == state.external_number == "79161234567"
    assert state.called_number == state.line_number == "74951000000"
    assert state.rang_extensions == ("101", "102")
    assert state.answered_extension == state.operator_extension == "102"
    assert state.answered_number is None and state.missed_at is None
    assert (state.created_at, state.answered_at, state.ended_at) == (utc(995), utc(1030), utc(1090))
    assert (state.wait_seconds, state.talk_seconds) == (35, 60)
    assert state.disconnect_reason == 1110
    assert state.disconnect_reason_text == "Call ended by the caller"
    assert state.recording_ids == ("rec-1", "rec-2")
    assert all(r.added for r in state.recordings)
    assert not state.is_final and not state.implausible_times and state.legs == ()


def test_call_state_of_a_missed_call_and_of_an_outgoing_one():
    missed = call_state("E-2", [row(create=10, start=12, finish=40, from_number="79160000000",
                                    to_number="74950000000", location="Queue",
                                    disconnect_reason="Busy")])
    assert (missed.result, missed.missed_at, missed.talk_seconds) == ("missed", "queue", 0)
    assert missed.called_number == "74950000000" and missed.wait_seconds == 30
    assert missed.disconnect_reason is None and missed.disconnect_reason_text == "Busy"
    outgoing = call_state("E-3", [row(start=1, answer=5, finish=9, from_extension="101",
                                      to_number="79161234567", to_extension=None,
                                      location="abonent")])
    assert (outgoing.direction, outgoing.result, outgoing.missed_at) == ("outgoing", "answered",
                                                                         None)
    assert outgoing.external_number == "79161234567" and outgoing.operator_extension == "101"
    assert outgoing.rang_extensions == () and outgoing.answered_extension is None
    unanswered = call_state("E-4", [row(start=1, finish=9, from_extension="101",
                                        to_number="79161234567", location="abonent")])
    assert unanswered.missed_at is None
    internal = call_state("E-5", [row(start=1, finish=9, from_extension="101",
                                      to_extension="102")])
    assert row_direction(StatsRow(from_extension="1", to_extension="2")) == "internal"
    assert internal.direction == "internal" and internal.external_number is None


def test_call_state_bounds_implausible_times_like_fold():
    state = call_state("E-6", [row(start=1000, answer=1000 + 10**9, finish=1000 + 10**9 + 5)])
    assert state.implausible_times and state.wait_seconds is None and state.talk_seconds == 5
    undated = call_state("E-7", [row(from_number="1"), row(from_number="2")])
    assert undated.created_at is None and undated.wait_seconds is None
    with pytest.raises(StatsError):
        call_state("E-8", [])
