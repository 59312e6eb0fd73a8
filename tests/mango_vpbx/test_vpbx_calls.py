"""fold(): the official call sequences, order and duplication independence, partial states."""

import json
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mango_vpbx import fold, parse_event
from mango_vpbx.assumptions import MAX_CALL_SECONDS
from mango_vpbx.calls import Folding, Transfer, duration_seconds
from mango_vpbx.events import CallEvent, SummaryEvent
from mango_vpbx.times import TimeBase
from mango_vpbx_emulator import reference as seq


def utc(ts):
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def state(sequence, **kwargs):
    return fold(seq.events(sequence), **kwargs)


def test_outgoing():
    call = state(seq.OUTGOING)
    assert call.direction == "outgoing" and call.result == "answered"
    assert call.caller_extension == "1234" and call.caller_number == "74955404444"
    assert call.called_number == "12345678" and call.external_number == "12345678"
    assert call.answered_extension is None and call.answered_number == "12345678"
    assert call.operator_extension == "1234"
    assert call.rang_extensions == () and call.rang_numbers == ("12345678",)
    assert call.created_at == utc(1399906976) and call.answered_at == utc(1399906988)
    assert call.ended_at == utc(1399907008)
    assert (call.wait_seconds, call.talk_seconds) == (12, 20)
    assert call.disconnect_reason == 1120
    assert call.disconnect_reason_text == "Call ended by the called party"
    assert not call.is_final and not call.is_callback and call.missed_at is None
    assert [leg.state for leg in call.legs] == ["Disconnected"]


def test_callback_of_the_specification():
    """The doc's target has extension 5555: a callback between two employees."""
    call = state(seq.CALLBACK)
    assert call.is_callback and call.command_id == seq.CALLBACK_COMMAND
    assert call.direction == "internal"
    assert call.caller_extension == "1234" and call.called_extension == "5555"
    assert call.called_number == "74955404444"
    assert call.result == "missed" and call.missed_at == "operator"
    assert call.rang_extensions == ("1234", "5555")
    assert call.transfers == ()
    assert call.disconnect_reason == 1124
    assert call.created_at == utc(1399906971)


def test_callback_to_an_external_number_is_outgoing():
    call = state(seq.CALLBACK_EXTERNAL)
    assert call.direction == "outgoing" and call.result == "missed" and call.missed_at is None
    assert call.caller_extension == "1234" and call.operator_extension == "1234"
    assert call.external_number == "74955404444"
    assert call.answered_extension is None and call.transfers == ()

    answered = state(seq.CALLBACK_EXTERNAL_ANSWERED)
    assert answered.direction == "outgoing" and answered.result == "answered"
    assert answered.answered_number == "74955404444"
    assert answered.answered_at == utc(1399906978) and answered.talk_seconds == 21
    assert answered.transfers == ()


def test_callback_first_leg_alone_is_not_incoming():
    first_leg = [e for e in seq.events(seq.CALLBACK_EXTERNAL)
                 if isinstance(e, CallEvent) and e.call_id == "100:500:251"][:2]
    call = fold(first_leg)
    assert call.direction == "outgoing" and call.result == "in_progress"
    assert call.connected_extensions == ("1234",)


def test_callback_initiator_marks_a_callback():
    events = [parse_event("events/call", json.dumps({
        "entry_id": "e", "call_id": "c", "seq": 1, "call_state": "Appeared",
        "location": "abonent", "callback_initiator": "WEB",
        "from": {"number": "79161234567"}, "to": {"extension": "101"}}))]
    call = fold(events)
    assert call.is_callback and call.direction == "outgoing"
    assert call.callback_initiator == "WEB" and call.command_id is None
    assert call.ringing_extensions == ("101",)


def test_routing_from_ivr():
    call = state(seq.IVR_ROUTING)
    assert call.direction == "incoming" and call.result == "answered"
    assert not call.is_callback and call.command_id is None
    assert call.caller_number == "79000000000" and call.external_number == "79000000000"
    assert call.line_number == "7800123456789" and call.called_number == "7800123456789"
    assert call.answered_extension == "123" and call.answered_number is None
    assert call.rang_extensions == ("123",) and call.transfers == ()
    assert [leg.location for leg in call.legs] == ["ivr", "abonent"]
    assert call.legs[1].command_id == "c111"
    assert call.legs[1].taken_from_call_id == "100:500:256"
    assert call.disconnect_reason == 1120


def test_consultative_transfer():
    call = state(seq.CONSULTATIVE)
    assert call.direction == "incoming" and call.result == "answered"
    assert call.answered_extension == "123" and call.rang_extensions == ("123", "321")
    assert call.transfers == (Transfer(from_extension="123", to_extension="321",
                                       kind="consultative", call_id="202:515",
                                       to_number="87654321", completed=True),)
    assert call.talk_seconds == 30 and call.disconnect_reason == 1110


def test_consultative_transfer_while_consulting():
    events = seq.events(seq.CONSULTATIVE[:5])
    call = fold(events)
    assert call.result == "answered" and call.connected_extensions == ("123", "321")
    assert call.transfers[0].kind == "consultative" and not call.transfers[0].completed
    assert call.ended_at is None and call.talk_seconds is None


def test_blind_transfer():
    call = state(seq.BLIND)
    assert call.answered_extension == "333" and call.rang_extensions == ("333", "321")
    assert call.transfers == (Transfer(from_extension="333", to_extension="321", kind="blind",
                                       call_id="400-200", to_number="87654321",
                                       completed=True),)
    assert call.result == "answered" and call.disconnect_reason == 1110


def test_blind_transfer_while_ringing_the_target():
    call = state(seq.BLIND[:4])
    assert call.ringing_extensions == ("321",) and call.connected_extensions == ("333",)
    assert call.transfers[0].kind == "blind" and not call.transfers[0].completed
    after = state(seq.BLIND[:7])
    assert after.connected_extensions == ("321",) and after.ringing_extensions == ()
    assert after.transfers[0].completed


def test_explicit_transfer_field_wins():
    payloads = [dict(p) for _path, p in seq.BLIND]
    for payload in payloads:
        if payload["call_id"] == "400-200":
            payload["transfer"] = "consultative"
    call = fold([parse_event("events/call", json.dumps(p)) for p in payloads])
    assert call.transfers[0].kind == "consultative"


def test_dtmf_routing():
    call = state(seq.DTMF)
    assert call.dtmf == ("1", "123456789")
    assert call.direction == "incoming" and call.answered_extension == "12"
    assert call.line_number == "74952150438" and call.caller_number == "74955404444"
    assert call.wait_seconds == 67 and call.talk_seconds == 60


def test_missed_in_ivr():
    call = state(seq.MISSED_IN_IVR)
    assert call.is_final and call.result == "missed" and call.missed_at == "ivr"
    assert call.disconnect_reason == 1170 and call.talk_seconds == 0
    assert call.wait_seconds == 14 and call.answered_extension is None
    summary_only = state(seq.MISSED_IN_IVR[-1:])
    assert summary_only.missed_at == "ivr" and summary_only.direction == "incoming"
    assert summary_only.caller_number == "79000000000" and summary_only.legs == ()


def test_queue_where_one_of_three_operators_answers():
    call = state(seq.QUEUE_ONE_OF_THREE)
    assert call.is_final and call.result == "answered" and call.direction == "incoming"
    assert call.rang_extensions == ("101", "102", "103")
    assert call.answered_extension == "102" and call.operator_extension == "102"
    assert call.ringing_extensions == () and call.connected_extensions == ()
    assert call.created_at == utc(1670060527) and call.answered_at == utc(1670060542)
    assert (call.wait_seconds, call.talk_seconds) == (15, 119)
    assert call.recording_ids == ("rec:1",)
    assert call.recordings[0].state == "Completed" and call.recordings[0].added
    assert call.recordings[0].extension == "102" and call.recordings[0].completion_code == 1000
    assert call.line_number == "74952129298"


def test_queue_live_states():
    ringing = state(seq.QUEUE_ONE_OF_THREE[:4])
    assert ringing.result == "in_progress"
    assert ringing.ringing_extensions == ("101", "102", "103")
    answered = state(seq.QUEUE_ONE_OF_THREE[:5])
    assert answered.result == "answered"
    assert answered.ringing_extensions == ("101", "103")
    assert answered.connected_extensions == ("102",)
    assert answered.answered_extension == "102" and answered.ended_at is None


def test_missed_at_operator():
    call = state(seq.MISSED_AT_OPERATOR)
    assert call.result == "missed" and call.missed_at == "operator"
    assert call.rang_extensions == ("0511",) and call.answered_extension is None
    assert call.wait_seconds == 25 and call.talk_seconds == 0
    without_summary = state(seq.MISSED_AT_OPERATOR[:2])
    assert without_summary.result == "missed" and not without_summary.is_final
    assert without_summary.missed_at == "operator"
    summary_only = state(seq.MISSED_AT_OPERATOR[-1:])
    assert summary_only.missed_at == "operator"


def test_missed_in_queue():
    call = state(seq.MISSED_IN_QUEUE)
    assert call.result == "missed" and call.missed_at == "queue"
    assert call.disconnect_reason == 1163 and call.ended_at == utc(1700000040)


def test_internal():
    call = state(seq.INTERNAL)
    assert call.direction == "internal" and call.result == "answered"
    assert call.external_number is None and call.operator_extension == "101"
    assert call.connected_extensions == ("101", "102")


def test_summary_direction_wins_and_fills_answer():
    summary = parse_event("events/summary", json.dumps({
        "entry_id": seq.ENTRY, "call_direction": 2, "from": {"extension": "1234"},
        "to": {"number": "12345678"}, "create_time": 1399906976, "talk_time": 1399906988,
        "end_time": 1399907008, "entry_result": 1, "disconnect_reason": 1110}))
    call = fold([summary])
    assert call.direction == "outgoing" and call.result == "answered"
    assert call.answered_number == "12345678" and call.called_number == "12345678"
    assert call.talk_seconds == 20 and call.disconnect_reason == 1110


def test_time_base():
    utc_call = state(seq.OUTGOING)
    msk_call = state(seq.OUTGOING, time_base=TimeBase.MSK)
    assert utc_call.created_at - msk_call.created_at == TimeBase.MSK.offset
    assert msk_call.talk_seconds == utc_call.talk_seconds


def _summary(create, talk, end, result=1):
    return parse_event("events/summary", json.dumps({
        "entry_id": seq.ENTRY, "call_direction": 1, "from": {"number": "79161234567"},
        "to": {"extension": "101"}, "create_time": create, "talk_time": talk,
        "end_time": end, "entry_result": result, "disconnect_reason": 1110}))


@pytest.mark.parametrize(("create", "talk", "end", "result"), [
    (1, 2_200_000_000, 2_200_000_060, 1),  # created "in 1970", answered 70 years later
    (1_700_000_000, 1_700_000_010, 3_900_000_000, 1),  # ends in 2093
    (1, 0, 2_200_000_001, 0),  # missed: waited 70 years
    (2_200_000_000, 0, 1, 0),  # ended 70 years before it began
])
def test_times_decades_apart_give_no_duration_and_a_flag(create, talk, end, result):
    call = fold([_summary(create, talk, end, result)])
    assert call.implausible_times
    durations = [d for d in (call.wait_seconds, call.talk_seconds) if d is not None]
    assert all(0 <= d <= MAX_CALL_SECONDS for d in durations), durations
    assert None in (call.wait_seconds, call.talk_seconds)
    # The times are kept as the PBX sent them.
    assert call.created_at == utc(create) and call.ended_at == utc(end)


def test_times_decades_apart_in_leg_events():
    """The same through the legs alone (no summary): timestamps 1 and 2,200,000,000."""
    leg = {"entry_id": "e", "call_id": "c", "location": "abonent",
           "from": {"number": "79161234567"}, "to": {"extension": "101"}}
    events = [parse_event("events/call", json.dumps(dict(leg, seq=n, call_state=s, timestamp=t)))
              for n, s, t in ((1, "Appeared", 1), (2, "Connected", 2_200_000_000),
                              (3, "Disconnected", 2_200_000_030))]
    call = fold(events)
    assert call.implausible_times and call.wait_seconds is None and call.talk_seconds == 30


def test_plausible_times_are_not_flagged():
    call = fold([_summary(1_700_000_000, 1_700_000_012, 1_700_000_072)])
    assert (call.wait_seconds, call.talk_seconds, call.implausible_times) == (12, 60, False)
    week = MAX_CALL_SECONDS
    assert duration_seconds(utc(0), utc(week)) == week
    assert duration_seconds(utc(0), utc(week + 1)) is None
    assert duration_seconds(utc(10), utc(5)) == 0


def test_recordings_without_record_added_and_the_other_way_round():
    events = seq.events([
        ("/events/recording", {"recording_id": "b", "recording_state": "Started", "seq": 1,
                               "entry_id": "e", "timestamp": 5}),
        ("/events/record/added", {"recording_id": "a", "entry_id": "e"}),
    ])
    call = fold(events)
    assert call.recording_ids == ("b", "a")
    assert call.recordings[0].state == "Started" and not call.recordings[0].added
    assert call.recordings[1].state is None and call.recordings[1].added
    assert call.direction is None and call.result == "in_progress"


def test_fold_errors():
    with pytest.raises(ValueError, match="several calls"):
        fold(seq.events(seq.OUTGOING) + seq.events(seq.INTERNAL))
    with pytest.raises(ValueError, match="at least one"):
        fold([])
    with pytest.raises(ValueError, match="at least one"):
        fold(seq.events(seq.CALLBACK[:1]))


def test_conflicting_duplicates_are_resolved_the_same_way():
    first, second = (parse_event("events/call", json.dumps({
        "entry_id": "e", "call_id": "c", "seq": 1, "call_state": "Appeared",
        "location": "abonent", "to": {"extension": ext}})) for ext in ("101", "102"))
    assert fold([first, second]) == fold([second, first])


# --- properties ---------------------------------------------------------------------

SCENARIOS = sorted(seq.SEQUENCES)


@st.composite
def shuffled_with_duplicates(draw):
    name = draw(st.sampled_from(SCENARIOS))
    events = seq.events(seq.SEQUENCES[name])
    order = draw(st.permutations(events))
    extra = draw(st.lists(st.sampled_from(events), max_size=len(events)))
    mixed = draw(st.permutations(list(order) + extra))
    return name, events, mixed


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shuffled_with_duplicates())
def test_any_order_and_duplication_gives_the_same_call(case):
    _name, events, mixed = case
    assert fold(mixed) == fold(events)


@st.composite
def subsets_without_summary(draw):
    name = draw(st.sampled_from(SCENARIOS))
    events = [e for e in seq.events(seq.SEQUENCES[name]) if not isinstance(e, SummaryEvent)
              and getattr(e, "entry_id", None)]
    subset = draw(st.lists(st.sampled_from(events), min_size=1, max_size=len(events) + 2))
    return subset, draw(st.permutations(subset))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subsets_without_summary())
def test_no_subset_without_summary_is_final(case):
    subset, permuted = case
    call = fold(subset)
    assert not call.is_final
    assert call == fold(permuted)
    assert call.result in ("answered", "missed", "in_progress")
    assert set(call.ringing_extensions) <= set(call.rang_extensions)


# --- Folding: fold one delivery at a time -------------------------------------------


@st.composite
def deliveries(draw):
    """A scenario's events, shuffled, some delivered twice, split into deliveries of any size."""
    name = draw(st.sampled_from(SCENARIOS))
    events = seq.events(seq.SEQUENCES[name])
    extra = draw(st.lists(st.sampled_from(events), max_size=len(events)))
    mixed = draw(st.permutations(events + extra))
    cuts = sorted(draw(st.sets(st.integers(0, len(mixed)), max_size=len(mixed))))
    bounds = [0, *cuts, len(mixed)]
    return events, [mixed[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deliveries())
def test_folding_delivery_by_delivery_is_the_fold_of_everything(case):
    events, batches = case
    folding = Folding()
    delivered = []
    for batch in batches:
        before = folding
        folding = folding.add(*batch)
        delivered += batch
        if any(getattr(e, "entry_id", None) for e in delivered):
            # After every delivery, not only the last: the webhook shows each state.
            assert folding.state() == fold(delivered)
        assert before == Folding(delivered[: len(delivered) - len(batch)]), "add() keeps the old"
    assert folding.state() == fold(events)
    assert folding == Folding(events) and folding.events == Folding(reversed(events)).events


def test_folding_keeps_the_choice_of_fold_among_conflicting_duplicates():
    first, second = (parse_event("events/call", json.dumps({
        "entry_id": "e", "call_id": "c", "seq": 1, "call_state": "Appeared",
        "location": "abonent", "to": {"extension": ext}})) for ext in ("101", "102"))
    assert Folding([first]).add(second).state() == fold([first, second])
    assert Folding([second]).add(first) == Folding([first, second])


def test_folding_drops_what_fold_ignores_and_raises_as_it_does():
    result = parse_event("result/callback", json.dumps({"command_id": "x", "result": 1000}))
    assert Folding([result]).events == ()
    with pytest.raises(ValueError, match="at least one"):
        Folding([result]).state()
    events = seq.events(seq.OUTGOING)
    assert Folding(events).add(result).state() == fold(events)


def test_canonical_json_is_computed_once_per_event():
    event = seq.events(seq.OUTGOING)[0]
    assert event.canonical_json is event.canonical_json
    assert json.loads(event.canonical_json) == event.raw_dict()
