"""What the caller chose and what the call was about: DTMF choices, call tracking (``dct``)
in the fold, and the three insight queries of the client (speech-analytics topics and
transcripts, the call-tracking visitor), from the documented payload shapes and odd ones."""

import json
from datetime import datetime, timezone

import pytest

from mango_vpbx import VpbxClient, fold, parse_event
from mango_vpbx.calls import DtmfChoice
from mango_vpbx.errors import ArgumentError, VpbxLockedOut, VpbxNotFound, VpbxUnavailable
from mango_vpbx.events import EventError
from mango_vpbx.limits import MemoryLimitStore
from mango_vpbx_emulator import reference as seq
from mango_vpbx_emulator.testing import PbxDouble, Response, closed_port_url

KEY, SALT = "key", "salt"


def events(pairs):
    return [parse_event(path, json.dumps(payload)) for path, payload in pairs]


def call_event(seq_no=1, dct=None, **extra):
    payload = {
        "entry_id": "E1", "call_id": "L1", "timestamp": 1700000000 + seq_no, "seq": seq_no,
        "call_state": "Appeared", "location": "ivr", "from": {"number": "79001234567"},
        "to": {"number": "74951112233", "line_number": "74951112233"},
    }
    if dct is not None:
        payload["dct"] = dct
    payload.update(extra)
    return ("events/call", payload)


def dtmf(seq_no, digits, location, timestamp=1700000010):
    return ("events/dtmf", {
        "seq": seq_no, "dtmf": digits, "timestamp": timestamp, "call_id": "L1",
        "entry_id": "E1", "location": location, "initiator": "79001234567",
    })


# ----------------------------------------------------------------------------- fold


def test_dtmf_choices_of_the_official_routing_example():
    state = fold(events(seq.DTMF))
    assert [(c.location, c.dtmf) for c in state.dtmf_choices] == [
        ("ivr", "1"), ("ivr.1", "123456789")
    ]
    assert state.dtmf_choices[0].next_location == "ivr.1"
    # A card number typed in a sub-menu leads nowhere the labels could name.
    assert state.dtmf_choices[1].next_location is None
    assert state.dtmf_choices[0].at == datetime.fromtimestamp(1488272649, tz=timezone.utc)


def test_dtmf_choices_in_typing_order_whatever_the_arrival_order():
    pairs = [call_event(), dtmf(2, "1", "ivr.2", 1700000020), dtmf(1, "2", "ivr", 1700000010)]
    forward = fold(events(pairs))
    backward = fold(events(list(reversed(pairs)) + pairs))
    assert forward.dtmf_choices == backward.dtmf_choices
    assert [c.dtmf for c in forward.dtmf_choices] == ["2", "1"]


def test_dtmf_odd_values():
    # No location, no timestamp, '*' and '#', a leading zero: kept as typed, no next menu.
    pairs = [call_event(), ("events/dtmf", {"dtmf": "0#", "entry_id": "E1", "seq": "3"}),
             ("events/dtmf", {"dtmf": "*", "entry_id": "E1", "location": "", "seq": 4})]
    choices = fold(events(pairs)).dtmf_choices
    assert {(c.dtmf, c.location, c.at) for c in choices} == {("0#", None, None), ("*", None, None)}
    assert all(c.next_location is None for c in choices)
    assert DtmfChoice(dtmf="#", location="ivr").next_location is None


def test_dtmf_as_an_integer_is_not_understood():
    with pytest.raises(EventError, match="dtmf"):
        parse_event("events/dtmf", json.dumps({"dtmf": 2, "entry_id": "E1"}))


def test_dct_of_the_official_example():
    # S1 §3.1.2, verbatim.
    example = {
        "entry_id": "1MN0Q1MDOQ==", "call_id": "MIxEyNTzTo6NDxkzNMMOzNQ==",
        "timestamp": 1558422128, "seq": 2, "call_state": "Disconnected", "location": "abonent",
        "from": {"number": "79001234567", "taken_from_call_id": "oMNTMyzTzNTo6NxNkDIxOxM3EMNTj"},
        "to": {"extension": "29", "number": "sip:user00000@tech.mangosip.ru",
               "line_number": "sip:line00000@tech.mangosip.ru", "acd_group": "303"},
        "disconnect_reason": 1131, "dct": {"number": "74001234567", "type": 1},
    }
    state = fold(events([("events/call", example)]))
    assert (state.dct_number, state.dct_type) == ("74001234567", 1)


@pytest.mark.parametrize("dct, expected", [
    (None, (None, None)),                              # key missing
    ({}, (None, None)),                                # empty object
    ("", (None, None)),                                # empty string
    ({"type": 0}, (None, 0)),                          # not call-tracking
    ({"type": "2", "number": "74001234567"}, ("74001234567", 2)),   # type as a string
    ({"number": 74001234567, "type": 1}, ("74001234567", 1)),       # number as an integer
    ({"number": "74001234567", "type": 7}, ("74001234567", 7)),     # unknown type: kept
])
def test_dct_shapes(dct, expected):
    state = fold(events([call_event(dct=dct)]))
    assert (state.dct_number, state.dct_type) == expected


def test_dct_not_an_object_is_not_understood():
    with pytest.raises(EventError, match="dct"):
        parse_event("events/call", json.dumps(call_event(dct="74001234567")[1]))


def test_dct_with_a_number_wins_over_type_only_and_the_summary_over_legs():
    legs = [call_event(1, dct={"type": 0}), call_event(2, dct={"number": "74001234567", "type": 1})]
    assert fold(events(legs)).dct_number == "74001234567"
    summary = ("events/summary", {
        "entry_id": "E1", "call_direction": 1, "from": {"number": "79001234567"}, "to": {},
        "create_time": 1700000000, "forward_time": 0, "talk_time": 0, "end_time": 1700000030,
        "entry_result": 0, "disconnect_reason": 1110, "dct": {"number": "74009998877", "type": 2},
    })
    state = fold(events([*legs, summary]))
    assert (state.dct_number, state.dct_type) == ("74009998877", 2)


# ----------------------------------------------------------------------------- queries


@pytest.fixture
def pbx():
    with PbxDouble(KEY, SALT) as double:
        yield double


def client(url):
    return VpbxClient(url, KEY, SALT, timeout=2, limiter=MemoryLimitStore())


@pytest.mark.parametrize("body, topics", [
    ({"result": 1000, "data": [{"recording_id": "R1", "categories": [
        {"id": 1, "name": "Booking"}, {"id": 2, "name": "Prices"}]}]}, ("Booking", "Prices")),
    ({"categories": ["Booking", " ", "Booking", "Complaint"]}, ("Booking", "Complaint")),
    ({"result": "1000", "category": {"title": "Prices"}}, ("Prices",)),
    ({"data": [{"recording_id": "OTHER", "categories": ["Nope"]},
               {"categories": [{"category": "Test results"}, None, 5, True]}]},
     ("Test results", "5")),
    ({"result": 1000}, ()),
    ({"result": 1000, "data": []}, ()),
    ({"result": 1000, "categories": "Booking"}, ()),
])
def test_recording_topics_shapes(pbx, body, topics):
    pbx.script("queries/recording_categories", Response(200, body))
    answer = client(pbx.url).recording_topics("R1")
    assert answer.topics == topics
    assert pbx.calls("queries/recording_categories") == [{"recording_id": "R1"}]


@pytest.mark.parametrize("body, text", [
    ({"data": [{"recording_id": "R1", "transcripts": [
        {"speaker": "operator", "start": 0, "text": "Clinic."},
        {"speaker": "client", "start": "3.5", "text": " I want to book. "}]}]},
     "operator: Clinic.\nclient: I want to book."),
    ({"transcript": ["Hello", "", {"phrase": "Bye", "channel": 2, "time": "x"}]},
     "Hello\n2: Bye"),
    ({"result": 1000}, ""),
])
def test_recording_transcript_shapes(pbx, body, text):
    pbx.script("queries/recording_transcripts", Response(200, body))
    assert client(pbx.url).recording_transcript("R1").text == text


def test_transcript_phrase_times(pbx):
    pbx.script("queries/recording_transcripts", Response(200, {"transcripts": [
        {"text": "a", "start": "3.5"}, {"text": "b", "start": "nan"}, {"text": "c"}]}))
    phrases = client(pbx.url).recording_transcript("R1").phrases
    assert [p.start for p in phrases] == [3.5, None, None]


@pytest.mark.parametrize("body, expected", [
    ({}, (False, None, None, None)),
    ({"result": 1000}, (False, None, None, None)),
    ({"uid": "u1", "channel": {"source": "yandex", "medium": "cpc", "campaign": "spring"},
      "current_page": {"url": "https://clinic.example/"}}, (True, "yandex", "cpc", "spring")),
    ({"uid": "u1", "channel": "direct", "current_page": []}, (True, None, None, None)),
    ({"uid": "u1", "channel": {"source": "", "medium": None, "campaign": 42}},
     (True, None, None, "42")),
])
def test_dct_visitor_shapes(pbx, body, expected):
    pbx.script("queries/user_info_by_dct_number", Response(200, body))
    visitor = client(pbx.url).dct_visitor("74001234567")
    assert (visitor.bound, visitor.source, visitor.medium, visitor.campaign) == expected
    assert pbx.calls("queries/user_info_by_dct_number") == [{"number": "74001234567"}]


def test_queries_need_their_key():
    api = VpbxClient("http://127.0.0.1:9/", KEY, SALT)
    for call in (lambda: api.recording_topics(""), lambda: api.recording_transcript(""),
                 lambda: api.dct_visitor("")):
        with pytest.raises(ArgumentError):
            call()


def test_query_failures(pbx):
    pbx.fail("queries/recording_categories", 3320)
    api = client(pbx.url)
    with pytest.raises(VpbxNotFound):
        api.recording_topics("R404")
    # The 3xxx answer holds every request of the account for two minutes, locally.
    with pytest.raises(VpbxLockedOut):
        api.dct_visitor("74001234567")
    with pytest.raises(VpbxUnavailable):
        client(closed_port_url()).recording_transcript("R1")
