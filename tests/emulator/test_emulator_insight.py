"""The emulator sends what the caller chose and what the call was about (DTMF in nested
menus, a call-tracking ``dct``, ``record/tagged``) and answers the three insight queries,
failures included, through the real client."""

from __future__ import annotations

import json

import pytest

from mango_vpbx import VpbxClient, fold, parse_event
from mango_vpbx.errors import VpbxNotFound, VpbxRequestError
from mango_vpbx.limits import MemoryLimitStore
from mango_vpbx_emulator.history import generate
from mango_vpbx_emulator.pbx import DEMO_TOPICS
from mango_vpbx_emulator.state import demo_directory
from mango_vpbx_emulator.testing import PbxDouble, sequence

KEY, SALT = "insight-key", "insight-salt"


def state_of(sent):
    return fold(parse_event(p, j) for p, j in sent if p.startswith("events/"))


def test_nested_menu_keys_dct_and_tagging_in_a_scenario():
    sent = sequence("incoming_answered", dtmf="2,1", dct="74001234567",
                    utm="yandex/cpc/spring", topics="Booking, Prices")
    state = state_of(sent)
    assert [(c.location, c.dtmf) for c in state.dtmf_choices] == [("ivr", "2"), ("ivr.2", "1")]
    assert (state.dct_number, state.dct_type) == ("74001234567", 1)
    paths = [p for p, _j in sent]
    assert paths.index("events/record/tagged") > paths.index("events/record/added")
    tagged = json.loads(dict(sent)["events/record/tagged"])
    assert set(tagged) == {"entry_id", "product_id", "user_id", "timestamp", "recording_id"}
    assert tagged["recording_id"] in state.recording_ids


def test_no_dct_is_type_zero_and_a_missed_call_is_not_tagged():
    sent = sequence("missed_ivr", dtmf="3")
    state = state_of(sent)
    assert (state.dct_number, state.dct_type) == (None, 0)
    assert "events/record/tagged" not in [p for p, _j in sent]


@pytest.fixture
def pbx():
    with PbxDouble(KEY, SALT) as double:
        yield double


def client(pbx):
    return VpbxClient(pbx.url, KEY, SALT, timeout=5, limiter=MemoryLimitStore())


def test_queries_answer_from_the_calls(pbx):
    pbx.play("incoming_answered", dct="74001234567", utm="google/cpc/dentistry",
             topics="Complaint")
    pbx.pbx.join(5)
    [recording_id] = list(pbx.pbx.recordings)
    api = client(pbx)
    assert api.recording_topics(recording_id).topics == ("Complaint",)
    transcript = api.recording_transcript(recording_id)
    assert "Complaint" in transcript.text and transcript.phrases[0].speaker == "operator"
    visitor = api.dct_visitor("74001234567")
    assert (visitor.bound, visitor.source, visitor.medium, visitor.campaign) == (
        True, "google", "cpc", "dentistry")
    assert api.dct_visitor("74009999999").bound is False


def test_default_topics_come_from_the_catalogue(pbx):
    pbx.play("incoming_answered")
    pbx.pbx.join(5)
    [recording_id] = list(pbx.pbx.recordings)
    topics = client(pbx).recording_topics(recording_id).topics
    assert topics and set(topics) <= set(DEMO_TOPICS)


def test_unknown_recording_is_refused_with_3320(pbx):
    with pytest.raises(VpbxNotFound):
        client(pbx).recording_topics("no-such-recording")


def test_missing_number_is_refused(pbx):
    # The client never sends an empty number; a raw request without it gets 3103.
    api = client(pbx)
    with pytest.raises(VpbxRequestError):
        api._query("queries/user_info_by_dct_number", {})


def test_the_living_history_has_menu_keys_and_tracked_calls():
    history = generate(demo_directory(), [], days=3, seed=7, now=1764748800)
    states = [fold(parse_event(p, j) for p, j in c.events if p.startswith("events/"))
              for c in history.calls if c.call.direction == 1]
    assert any(s.dtmf_choices for s in states)
    assert any(s.dct_number for s in states)
    tracked = [c.call for c in history.calls if c.call.dct_number]
    assert all(c.dct_channel.get("source") for c in tracked)
