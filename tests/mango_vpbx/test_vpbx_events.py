"""parse_event: every official example, loose types, paths, identities, errors."""

import dataclasses
import json

import pytest

from mango_vpbx import EventError, parse_event
from mango_vpbx.assumptions import MAX_STRING_LENGTH
from mango_vpbx.events import (
    CallEvent,
    CommandResult,
    DtmfEvent,
    PingEvent,
    RecordAddedEvent,
    RecordingEvent,
    RecordTaggedEvent,
    SmsEvent,
    StatsReadyEvent,
    SummaryEvent,
    normalize_path,
)
from mango_vpbx.times import TimeBase


def parse(path, payload):
    return parse_event(path, payload if isinstance(payload, str) else json.dumps(payload))


OFFICIAL_CALL = {
    "entry_id": "1MN0Q1MDOQ==", "call_id": "MIxEyNTzTo6NDxkzNMMOzNQ==", "timestamp": 1558422128,
    "seq": 2, "call_state": "Disconnected", "location": "abonent",
    "from": {"number": "79001234567", "taken_from_call_id": "oMNTMyzTzNTo6NxNkDIxOxM3EMNTj"},
    "to": {"extension": "29", "number": "sip:user00000@tech.mangosip.ru",
           "line_number": "sip:line00000@tech.mangosip.ru", "acd_group": "303"},
    "disconnect_reason": 1131, "dct": {"number": "74001234567", "type": 1},
}


def test_official_call_event():
    event = parse("/events/call", OFFICIAL_CALL)
    assert isinstance(event, CallEvent)
    assert event.path == "events/call"
    assert (event.entry_id, event.call_id, event.seq) == (
        "1MN0Q1MDOQ==", "MIxEyNTzTo6NDxkzNMMOzNQ==", 2)
    assert event.call_state == "Disconnected" and event.location == "abonent"
    assert event.from_.number == "79001234567" and event.from_.extension is None
    assert event.from_.e164 == "+79001234567"
    assert event.from_.taken_from_call_id == "oMNTMyzTzNTo6NxNkDIxOxM3EMNTj"
    assert event.to.extension == "29" and event.to.acd_group == "303"
    assert event.to.line_number == "sip:line00000@tech.mangosip.ru"
    assert event.disconnect_reason == 1131
    assert event.dct.number == "74001234567" and event.dct.type == 1
    assert event.identity == "events/call:MIxEyNTzTo6NDxkzNMMOzNQ==:2:Disconnected"
    assert event.time().isoformat() == "2019-05-21T07:02:08+00:00"
    assert event.time(TimeBase.MSK).isoformat() == "2019-05-21T04:02:08+00:00"
    assert event.raw_dict() == OFFICIAL_CALL


def test_real_call_event_from_odoo_module_docstring():
    event = parse("events/call", {
        "entry_id": "MTYxNzM5NjY0OTE=", "call_id": "MToxMDA4NjI3Nzo1MDI6NjQ0MjQzNTM5",
        "timestamp": 1670060542, "seq": 2, "call_state": "Connected", "location": "abonent",
        "from": {"number": "79607164646",
                 "taken_from_call_id": "MToxMDA4NjI3Nzo1MDI6NjQ0MjQzNTMyOjE="},
        "to": {"extension": "222", "number": "79776307393",
               "line_number": "sip:roistat-0758@vpbx400076322.mangosip.ru", "acd_group": "999"},
        "dct": {"type": 0}})
    assert event.to.extension == "222" and event.dct.type == 0 and event.dct.number is None


SUMMARIES = [
    {"entry_id": "232wc3e3w3s222", "call_direction": 1, "from": {"number": "7800123635242"},
     "to": {"extension": "123", "number": "7800123456789"}, "line_number": "7800123456789",
     "create_time": 1399906976, "forward_time": 1399906978, "talk_time": 1399906980,
     "end_time": 1399906990, "entry_result": 1, "disconnect_reason": 1100},
    {"entry_id": "232wc3e3w3s222", "call_direction": 1, "from": {"number": "79000000000"},
     "to": {}, "line_number": "7800123456789", "create_time": 1399906976,
     "forward_time": 1399906978, "talk_time": 0, "end_time": 1399906990, "entry_result": 1,
     "disconnect_reason": 1170},
    {"entry_id": "232wc3e3w3s222", "call_direction": 2,
     "from": {"extension": "123", "number": "sip:user1@хyz.mangosip.ru"},
     "to": {"number": "7800123456789"}, "line_number": "74953333357", "create_time": 1399906976,
     "forward_time": 1399906976, "talk_time": 1399906980, "entry_result": 1,
     "end_time": 1399906990, "disconnect_reason": 1100},
    {"entry_id": "232wc3e3w3s222", "call_direction": 2,
     "from": {"extension": "123", "number": "sip:user1@хyz.mangosip.ru"},
     "to": {"number": "7800123456789"}, "line_number": "74953333357", "create_time": 1399906976,
     "forward_time": 1399906976, "talk_time": 0, "entry_result": 0, "end_time": 1399906990,
     "disconnect_reason": 1100},
]


@pytest.mark.parametrize(("payload", "direction", "answered"), [
    (SUMMARIES[0], "incoming", True), (SUMMARIES[1], "incoming", False),
    (SUMMARIES[2], "outgoing", True), (SUMMARIES[3], "outgoing", False),
])
def test_official_summaries(payload, direction, answered):
    event = parse("/events/summary", payload)
    assert isinstance(event, SummaryEvent)
    assert event.direction == direction and event.answered is answered
    assert event.identity == "events/summary:232wc3e3w3s222"


def test_summary_missed_in_ivr_has_empty_to():
    event = parse("/events/summary", SUMMARIES[1])
    assert event.to.is_empty and event.talk_time == 0 and event.entry_result == 1


def test_summary_without_talk_time_reads_entry_result():
    assert parse("events/summary", {"entry_id": "e", "entry_result": "1"}).answered
    assert not parse("events/summary", {"entry_id": "e"}).answered
    assert parse("events/summary", {"entry_id": "e", "call_direction": 7}).direction is None


@pytest.mark.parametrize("payload", [
    {"recording_id": "r100:777:500:256", "recording_state": "Started", "seq": 1,
     "call_id": "100:500:256", "entry_id": "232wc3e3w3s222", "extension": "1234",
     "timestamp": "1399906976", "command_id": "cmd.12.vpbx.12345.external.system.com.net"},
    {"recording_id": "r500:256", "recording_state": "Started", "seq": 1,
     "call_id": "100:500:512", "entry_id": "232wc3e3w3s222", "extension": "1342",
     "timestamp": "1398906976"},
    {"recording_id": "MToxMjI3NTM6MzUyODbvczg4OTow", "recording_state": "Started", "seq": 1,
     "entry_id": "MzUyODbvczg4OTo0MDE=", "call_id": "MToxMjI3NTM6NDAxOjYyODMxMTI1OA==",
     "extension": "360", "timestamp": 1516454940, "recipient": "Cloud"},
])
def test_official_recordings(payload):
    event = parse("/events/recording", payload)
    assert isinstance(event, RecordingEvent)
    assert event.recording_state == "Started" and event.seq == 1
    assert isinstance(event.timestamp, int)
    assert event.identity == f"events/recording:{payload['recording_id']}:1:Started"


def test_recording_completed_and_empty_extension():
    event = parse("/events/recording", {"recording_id": "r", "recording_state": "completed",
                                        "seq": "3", "extension": "", "completion_code": "4002"})
    assert event.recording_state == "Completed" and event.completion_code == 4002
    assert event.extension == ""


def test_official_record_added_and_tagged():
    added = parse("/events/record/added", {
        "entry_id": "NTAwOTQxMTAyMg==", "product_id": 300022532, "user_id": 300049012,
        "timestamp": 1578664187, "recording_id": "MToxMDAwNjA4NTo1MDA5NDExMDIyOjE="})
    assert type(added) is RecordAddedEvent and added.user_id == 300049012
    assert added.identity == "events/record/added:MToxMDAwNjA4NTo1MDA5NDExMDIyOjE="
    tagged = parse("/events/record/tagged", {
        "entry_id": "NTAwOTQxMTAyMg==", "product_id": 300022532, "user_id": 300049012,
        "timestamp": 1578664187, "recording_id": "MToxMDAwNjAMDA5NDExMDIyOjE="})
    assert type(tagged) is RecordTaggedEvent
    assert tagged.identity == "events/record/tagged:MToxMDAwNjAMDA5NDExMDIyOjE=:1578664187"
    assert parse("/events/record/added", {"recording_id": "r", "user_id": -1}).user_id == -1


def test_official_dtmf():
    event = parse("/events/dtmf", {
        "seq": 1, "dtmf": "124", "timestamp": "1399906980", "call_id": "100:500:256",
        "entry_id": "232wc3e3w3s222", "location": "ivr.2", "initiator": "79000000000",
        "from_number": "79000000000", "to_number": "7800123456789",
        "line_number": "7800123456789"})
    assert isinstance(event, DtmfEvent)
    assert event.dtmf == "124" and event.location == "ivr.2" and event.timestamp == 1399906980
    assert event.identity == "events/dtmf:232wc3e3w3s222:100:500:256:1:124"


def test_dtmf_keeps_leading_zero_and_refuses_integers():
    assert parse("/events/dtmf", {"dtmf": "0#", "entry_id": "e"}).dtmf == "0#"
    with pytest.raises(EventError, match="dtmf"):
        parse("/events/dtmf", {"dtmf": 124, "entry_id": "e"})


def test_official_sms_fixed():
    event = parse("/events/sms", {"command_id": "1sjdhjh1231", "timestamp": "1399906980",
                                  "reason": "1000"})
    assert isinstance(event, SmsEvent) and event.reason == 1000
    assert event.identity == "events/sms:1sjdhjh1231:1000:1399906980"


@pytest.mark.parametrize(("path", "command", "result"), [
    ("/result/callback", "callback", 1000),
    ("/vpbx/api/v1/result/callback", "callback", 1000),
    ("/result/callback_group", "callback_group", 1000),
    ("/result/call/hangup", "call/hangup", 4101),
    ("/result/sms", "sms", 1000),
    ("/result/recording/start", "recording/start", 1000),
    ("/result/play/start", "play/start", 1000),
    ("/result/route", "route", 1000),
    ("/result/transfer", "transfer", 1000),
    ("/result/calls_connect/", "calls_connect", 1000),
    ("/result/transfer_cancel/", "transfer_cancel", 1000),
    ("/result/call/hold/on", "call/hold/on", 1000),
])
def test_command_results(path, command, result):
    for value in (result, str(result)):
        event = parse(path, {"command_id": "cmd.654.vpbx.12345.external.system.com.net",
                             "result": value})
        assert isinstance(event, CommandResult)
        assert event.command == command and event.result == result
        assert event.ok is (result == 1000)
        assert event.identity == f"result/{command}:cmd.654.vpbx.12345.external.system.com.net"


@pytest.mark.parametrize("path", ["/result/stat", "/result/stats", "result/stats/",
                                  "https://clinic.example/mango/result/stat"])
def test_stats_ready(path):
    event = parse(path, {"key": "b3Z7pivetIDB+DvIt8hPJReV8v4MYspQQA==",
                         "request_id": "request22230"})
    assert isinstance(event, StatsReadyEvent)
    assert event.path == "result/stat" and event.request_id == "request22230"
    assert event.identity == "result/stat:b3Z7pivetIDB+DvIt8hPJReV8v4MYspQQA=="


@pytest.mark.parametrize("body", ["", "{}", "not json", '{"x": 1}', "[1]"])
def test_ping(body):
    event = parse_event("/mango/ping", body)
    assert isinstance(event, PingEvent) and event.path == "ping"
    assert event.identity.startswith("ping:")


@pytest.mark.parametrize(("path", "canonical"), [
    ("events/call", "events/call"), ("/events/call", "events/call"),
    ("/events/call/", "events/call"), ("/mango/events/call", "events/call"),
    ("/vpbx/api/v1/events/record/added?x=1", "events/record/added"),
    ("https://x.example/a/events/summary", "events/summary"),
    ("/events/events/call", "events/call"),
])
def test_paths(path, canonical):
    assert normalize_path(path) == canonical


@pytest.mark.parametrize("path", ["", "/", "/events/unknown", "/events", "/result", "x/y",
                                  "/events/record"])
def test_unknown_paths(path):
    with pytest.raises(EventError, match="unknown event path"):
        parse_event(path, "{}")
    with pytest.raises(EventError):
        normalize_path(path)


def test_path_must_be_text():
    with pytest.raises(EventError):
        normalize_path(None)


def test_loose_types():
    event = parse("events/call", {
        "entry_id": 123, "call_id": "c", "seq": "7", "timestamp": "1399906976",
        "call_state": "connected", "location": "ABONENT",
        "from": {"extension": 101, "number": 79161234567},
        "to": {"extension": "0511", "acd_group": "", "was_transfered": "true"},
        "disconnect_reason": "1110", "task_id": "55", "transfer": "consultative",
        "callback_initiator": "СС", "unknown_field": {"a": [1, 2]}, "dct": "",
    })
    assert event.entry_id == "123" and event.seq == 7 and event.timestamp == 1399906976
    assert event.call_state == "Connected" and event.location == "abonent"
    assert event.from_.extension == "101" and event.from_.number == "79161234567"
    assert event.to.extension == "0511" and event.to.acd_group == ""
    assert event.to.was_transferred is True
    assert event.disconnect_reason == 1110 and event.task_id == 55
    assert event.callback_initiator == "CC"
    assert event.extra == {"unknown_field": {"a": (1, 2)}}
    assert event.dct is None


def test_cyrillic_and_unknown_enum_values_kept():
    event = parse("events/call", {"entry_id": "e", "call_id": "c", "call_state": "Appeared",
                                  "callback_initiator": "MissGroupСallCallback",
                                  "location": "somewhere", "transfer": "new_kind"})
    assert event.callback_initiator == "MissGroupCallCallback"
    assert event.location == "somewhere" and event.transfer == "new_kind"
    assert event.seq == 0 and event.timestamp is None and event.to.is_empty


def test_was_transferred_both_spellings_and_hold_initiator():
    for key in ("was_transferred", "was_transfered"):
        event = parse("events/call", {"entry_id": "e", "call_id": "c", "seq": 1,
                                      "call_state": "Disconnected", "from": {key: True},
                                      "to": {"hold_initiator": 1}})
        assert event.from_.was_transferred and event.to.hold_initiator


def test_events_are_immutable_and_hashable():
    event = parse("/events/call", OFFICIAL_CALL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.seq = 3
    with pytest.raises(TypeError):
        event.raw["seq"] = 3
    with pytest.raises(TypeError):
        event.raw["to"]["extension"] = "1"
    assert event == parse_event("/events/call", json.dumps(OFFICIAL_CALL).encode())
    assert len({event, parse("/events/call", OFFICIAL_CALL)}) == 1
    with pytest.raises(NotImplementedError):
        _ = super(CallEvent, event).identity


@pytest.mark.parametrize(("path", "body", "message"), [
    ("/events/call", "not json", "not valid JSON"),
    ("/events/call", "[1, 2]", "JSON object"),
    ("/events/call", '"text"', "JSON object"),
    ("/events/call", "", "JSON object"),
    ("/events/call", b"\xff", "UTF-8"),
    ("/events/call", {"call_id": "c", "call_state": "Appeared"}, "entry_id"),
    ("/events/call", {"entry_id": "e", "call_state": "Appeared"}, "call_id"),
    ("/events/call", {"entry_id": "e", "call_id": "c"}, "call_state"),
    ("/events/call", {"entry_id": "e", "call_id": "c", "call_state": "Ringing"},
     "unknown call_state"),
    ("/events/call", {"entry_id": "e", "call_id": "c", "call_state": "Appeared",
                      "seq": "two"}, "'seq' must be an integer"),
    ("/events/call", {"entry_id": "e", "call_id": "c", "call_state": "Appeared",
                      "seq": 1.5}, "'seq' must be an integer"),
    ("/events/call", {"entry_id": "e", "call_id": "c", "call_state": "Appeared",
                      "seq": True}, "'seq' must be an integer"),
    ("/events/call", {"entry_id": "e", "call_id": "c", "call_state": "Appeared",
                      "from": "79000000000"}, "'from' must be an object"),
    ("/events/call", {"entry_id": "e", "call_id": "c", "call_state": "Appeared",
                      "to": {"extension": ["1"]}}, "in 'to'"),
    ("/events/call", {"entry_id": ["e"], "call_id": "c", "call_state": "Appeared"},
     "'entry_id' must be a string"),
    ("/events/summary", {"call_direction": 1}, "entry_id"),
    ("/events/recording", {"recording_id": "r", "recording_state": "Paused"},
     "unknown recording_state"),
    ("/events/recording", {"recording_state": "Started"}, "recording_id"),
    ("/events/record/added", {"entry_id": "e"}, "recording_id"),
    ("/events/dtmf", {"entry_id": "e"}, "dtmf"),
    ("/events/sms", {"reason": 1000}, "command_id"),
    ("/result/callback", {"command_id": "c"}, "result"),
    ("/result/callback", {"result": 1000}, "command_id"),
    ("/result/stat", {"request_id": "r"}, "key"),
])
def test_event_errors(path, body, message):
    with pytest.raises(EventError, match=message):
        parse_event(path, body if isinstance(body, str | bytes) else json.dumps(body))


def test_event_error_is_a_value_error_and_wrong_json_type():
    assert issubclass(EventError, ValueError)
    with pytest.raises(EventError, match="must be a string"):
        parse_event("/events/call", 42)


def test_floats_and_numeric_strings():
    event = parse("events/call", {"entry_id": "e", "call_id": "c", "call_state": "Appeared",
                                  "seq": 2.0, "timestamp": "1399906976.0"})
    assert event.seq == 2 and event.timestamp == 1399906976


# --- string bounds (MAX_STRING_LENGTH) -----------------------------------------------

LONG = "7" * (MAX_STRING_LENGTH + 1)


def _set(payload, dotted, value):
    """A copy of ``payload`` with the key ``dotted`` ("to.line_number") set to ``value``."""
    copy = json.loads(json.dumps(payload))
    *parents, key = dotted.split(".")
    target = copy
    for parent in parents:
        target = target.setdefault(parent, {})
    target[key] = value
    return copy


_STRING_FIELDS = [
    ("events/call", OFFICIAL_CALL, name)
    for name in ("entry_id", "call_id", "location", "transfer", "command_id", "callback_initiator",
                 "sip_call_id", "from.number", "from.extension", "from.taken_from_call_id",
                 "to.extension", "to.number", "to.line_number", "to.acd_group", "dct.number")
] + [
    ("events/summary", {"entry_id": "e", "call_direction": 1}, name)
    for name in ("entry_id", "line_number", "sip_call_id", "from.number", "to.extension")
] + [
    ("events/recording", {"recording_id": "r", "recording_state": "Started"}, name)
    for name in ("recording_id", "entry_id", "call_id", "extension", "recipient", "command_id")
] + [
    ("events/record/added", {"recording_id": "r"}, name) for name in ("recording_id", "entry_id")
] + [
    ("events/dtmf", {"dtmf": "1"}, name)
    for name in ("dtmf", "entry_id", "call_id", "location", "initiator", "from_number",
                 "to_number", "line_number")
] + [
    ("events/sms", {"command_id": "c"}, "command_id"),
    ("result/callback", {"command_id": "c", "result": 1000}, "command_id"),
    ("result/stat", {"key": "k"}, "key"),
    ("result/stat", {"key": "k"}, "request_id"),
]


@pytest.mark.parametrize("path, payload, name", _STRING_FIELDS)
def test_every_string_is_bounded(path, payload, name):
    # At the maximum the event parses; one character more and it is not understood.
    parse(path, _set(payload, name, "7" * MAX_STRING_LENGTH))
    with pytest.raises(EventError, match=f"longer than {MAX_STRING_LENGTH} characters"):
        parse(path, _set(payload, name, LONG))


def test_an_8000_character_entry_id_or_line_number_is_not_understood():
    for name in ("entry_id", "to.line_number"):
        with pytest.raises(EventError, match="longer than"):
            parse("events/call", _set(OFFICIAL_CALL, name, "1" * 8000))


def test_an_integer_given_for_a_string_is_bounded_too():
    with pytest.raises(EventError, match="longer than"):
        parse("events/call", _set(OFFICIAL_CALL, "to.extension", int(LONG)))


def test_long_paths_are_not_understood():
    with pytest.raises(EventError, match="path is longer"):
        normalize_path("events/" * 40 + "call")
    with pytest.raises(EventError, match="path is longer"):
        parse("result/" + "x" * MAX_STRING_LENGTH, {"command_id": "c", "result": 1000})


def test_an_integer_literal_too_long_for_python_is_not_understood():
    # Python refuses to convert integers of more than 4,300 digits: a ValueError, not a
    # JSONDecodeError, escaped parse_event before.
    body = '{"entry_id": "e", "call_id": "c", "call_state": "Appeared", "seq": 1' + "0" * 5000 + "}"
    with pytest.raises(EventError, match="not valid JSON"):
        parse_event("events/call", body)
