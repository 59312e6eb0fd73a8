"""Fuzz of the parser and the fold: what the internet can send must not crash them.

The webhook is public: after the signature check, whatever the sender put in the
``json`` field reaches :func:`mango_vpbx.parse_event`. The contract tested here on
generated input (well over 10,000 requests in all):

* ``parse_event`` returns an event or raises :class:`EventError`, nothing else
  (a ``TypeError``, ``KeyError`` or ``RecursionError`` would be a 500 in Odoo);
* whatever parses can be folded: ``fold`` never crashes on parsed events of one
  ``entry_id``, and gives the same call whatever their order and duplication;
* an event's ``identity`` (the uniqueness key of the raw event table) is a string.

The generators start from valid payloads of every event path and replace, drop or
corrupt fields with values of the wrong type, numbers full of unicode and control
characters, huge integers and deep nesting, besides fully random paths and bodies.
"""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mango_vpbx import Event, EventError, fold, parse_event
from mango_vpbx.signing import dumps

#: Hypothesis examples of the structured tests; the batch test sends BATCH requests per example.
EXAMPLES = 300
BATCH_EXAMPLES = 850
BATCH = 12
#: Requests given to parse_event in this module's run (printed; the README quotes it).
PARSED = {"requests": 0}


def fuzz_settings(examples):
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
        ],
    )


PATHS = [
    "events/call",
    "events/summary",
    "events/recording",
    "events/record/added",
    "events/record/tagged",
    "events/dtmf",
    "events/sms",
    "result/callback",
    "result/stat",
    "result/stats",
    "ping",
    "/mango/events/call",
    "events/call/",
]

BASE_PAYLOADS = {
    "events/call": {
        "entry_id": "MTIzNDU2Nzg5",
        "call_id": "Q0FMTC0x",
        "timestamp": 1700000000,
        "seq": 1,
        "call_state": "Appeared",
        "location": "abonent",
        "from": {"number": "79161234567", "taken_from_call_id": "Q0FMTC0w"},
        "to": {
            "extension": "101",
            "number": "sip:op@x.mangosip.ru",
            "line_number": "74951234567",
            "acd_group": "500",
        },
        "disconnect_reason": 1110,
        "command_id": "cmd-1",
        "callback_initiator": "API",
        "transfer": "blind",
        "dct": {"number": "74950000000", "type": 1},
    },
    "events/summary": {
        "entry_id": "MTIzNDU2Nzg5",
        "call_direction": 1,
        "from": {"number": "79161234567"},
        "to": {"extension": "101"},
        "line_number": "74951234567",
        "create_time": 1700000000,
        "forward_time": 1700000005,
        "talk_time": 1700000012,
        "end_time": 1700000072,
        "entry_result": 1,
        "disconnect_reason": 1110,
    },
    "events/recording": {
        "recording_id": "UmVjLTE=",
        "recording_state": "Completed",
        "seq": 2,
        "entry_id": "MTIzNDU2Nzg5",
        "call_id": "Q0FMTC0x",
        "extension": "101",
        "timestamp": 1700000072,
        "completion_code": 1000,
    },
    "events/record/added": {
        "entry_id": "MTIzNDU2Nzg5",
        "product_id": 1,
        "user_id": 2,
        "recording_id": "UmVjLTE=",
        "timestamp": 1700000080,
    },
    "events/dtmf": {
        "seq": 1,
        "dtmf": "1",
        "timestamp": 1700000003,
        "call_id": "Q0FMTC0w",
        "entry_id": "MTIzNDU2Nzg5",
        "location": "ivr",
        "initiator": "79161234567",
        "from_number": "79161234567",
        "to_number": "74951234567",
        "line_number": "74951234567",
    },
    "events/sms": {"command_id": "sms-1", "timestamp": 1700000000, "reason": 1000},
    "result/callback": {"command_id": "cmd-1", "result": 1000},
    "result/stat": {"key": "stats-key"},
}

# JSON values of every type, including deep nesting and huge numbers.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)
# Numbers as a hostile sender writes them: digits mixed with unicode digits, control
# characters, bidi marks, NUL, emoji, whitespace.
nasty_chars = st.sampled_from(
    list(
        "0123456789+()- \t\r\n\x00\x07\x1b\x7f\u200b\u200e\u202e\ufeff\u0660\u06f1\u0966\uff11"
        "\U0001f4de\u00a0\u2028"
    )
)
nasty_numbers = st.lists(nasty_chars, max_size=30).map("".join) | st.text(max_size=30)


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@st.composite
def mutated_payloads(draw):
    """A valid payload of some path with fields replaced, dropped or corrupted."""
    path = draw(st.sampled_from(sorted(BASE_PAYLOADS)))
    payload = json.loads(json.dumps(BASE_PAYLOADS[path]))
    for key in draw(st.lists(st.sampled_from(sorted(payload)), max_size=len(payload), unique=True)):
        action = draw(st.sampled_from(["wrong_type", "drop", "nasty", "nested"]))
        if action == "drop":
            payload.pop(key)
        elif action == "wrong_type":
            payload[key] = draw(json_values)
        elif action == "nasty":
            payload[key] = draw(nasty_numbers)
        else:
            side = payload[key] if isinstance(payload[key], dict) else {}
            for sub in draw(
                st.lists(
                    st.sampled_from(
                        [
                            "number",
                            "extension",
                            "line_number",
                            "acd_group",
                            "taken_from_call_id",
                            "was_transferred",
                        ]
                    ),
                    max_size=3,
                    unique=True,
                )
            ):
                side[sub] = draw(json_values | nasty_numbers)
            payload[key] = side
    extra = draw(st.dictionaries(st.text(max_size=10), json_values, max_size=2))
    payload.update(extra)
    return draw(st.sampled_from([path, *PATHS])), payload


@pytest.fixture(scope="module", autouse=True)
def fuzz_figures():
    yield
    print(f"\nFIGURES parser fuzz: {PARSED['requests']} requests given to parse_event")


def parse_or_reject(path, json_str):
    """``parse_event`` outcome; any exception other than EventError fails the test."""
    PARSED["requests"] += 1
    try:
        event = parse_event(path, json_str)
    except EventError:
        return None
    assert isinstance(event, Event)
    assert isinstance(event.identity, str) and event.identity
    return event


def fold_holds(events):
    """fold() of parsed events of one entry_id: no crash, order and duplicates do not matter."""
    folded = [e for e in events if getattr(e, "entry_id", None)]
    if not folded:
        return
    entry_id = folded[0].entry_id
    same_call = [e for e in folded if e.entry_id == entry_id]
    state = fold(same_call)
    assert state.entry_id == entry_id
    assert fold(list(reversed(same_call)) + same_call) == state


@fuzz_settings(EXAMPLES)
@given(
    path=st.sampled_from(PATHS) | st.text(max_size=40),
    body=st.text(max_size=200) | st.binary(max_size=100),
)
def test_random_paths_and_bodies_only_raise_event_error(path, body):
    event = parse_or_reject(path, body)
    if event is not None:
        fold_holds([event])


@fuzz_settings(EXAMPLES)
@given(request=mutated_payloads())
def test_corrupted_fields_only_raise_event_error_and_fold(request):
    path, payload = request
    event = parse_or_reject(path, dumps(payload))
    if event is not None:
        fold_holds([event])


@fuzz_settings(EXAMPLES // 3)
@given(requests=st.lists(mutated_payloads(), min_size=2, max_size=6))
def test_sets_of_parsed_events_fold_in_any_order(requests):
    events = [parse_or_reject(path, dumps(payload)) for path, payload in requests]
    fold_holds([e for e in events if e is not None])


@fuzz_settings(EXAMPLES)
@given(
    path=st.sampled_from(PATHS),
    depth=st.integers(min_value=1, max_value=100_000),
    wrapper=st.sampled_from(["raw", "field", "party"]),
    junk=st.text(alphabet=string.printable, max_size=5),
)
def test_deep_nesting_is_rejected_not_crashing(path, depth, wrapper, junk):
    nested = deep(depth)
    if wrapper == "raw":
        body = nested + junk
    elif wrapper == "field":
        body = '{"entry_id":"E","call_id":"C","call_state":"Appeared","seq":' + nested + "}"
    else:
        body = (
            '{"entry_id":"E","call_id":"C","call_state":"Appeared","from":{"number":'
            + nested
            + "}}"
        )
    parse_or_reject(path, body)


# --- bulk: many requests per example, mutated with a random generator seeded by hypothesis

SCALARS = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    10**30,
    -(10**20),
    1e308,
    "",
    " ",
    "1",
    "abc",
    "٣٤٥",
    "７９１６",
    "79\x00161",
    "\u202e7916",
    "\U0001f4de",
    "\ud7ff",
    "x" * 500,
    "1e400",
    "NaN",
]


def random_value(rnd, depth=0):
    kind = rnd.random()
    if kind < 0.5 or depth > 3:
        return rnd.choice(SCALARS)
    if kind < 0.7:
        return "".join(rnd.choice(NASTY) for _ in range(rnd.randrange(20)))
    if kind < 0.85:
        return [random_value(rnd, depth + 1) for _ in range(rnd.randrange(3))]
    return {
        rnd.choice(["number", "extension", "x", ""]): random_value(rnd, depth + 1)
        for _ in range(rnd.randrange(3))
    }


NASTY = list(
    "0123456789+()- \t\r\n\x00\x07\x1b\x7f\u200b\u200e\u202e\ufeff\u0660\u06f1\u0966\uff11"
    "\U0001f4de\u00a0\u2028"
)


def random_request(rnd):
    """One (path, json) a hostile or broken sender could produce."""
    roll = rnd.random()
    path = (
        rnd.choice(PATHS)
        if rnd.random() < 0.9
        else "".join(rnd.choice(NASTY + list("/ab")) for _ in range(8))
    )
    if roll < 0.1:
        return path, "".join(chr(rnd.randrange(0x20, 0x3000)) for _ in range(rnd.randrange(40)))
    if roll < 0.15:
        depth = rnd.randrange(1, 50_000)
        return path, '{"entry_id":"E","x":' + "[" * depth + "]" * depth + "}"
    base_path = rnd.choice(sorted(BASE_PAYLOADS))
    payload = json.loads(json.dumps(BASE_PAYLOADS[base_path]))
    # A few calls only, so that parsed events of one entry_id meet in fold().
    payload["entry_id"] = rnd.choice(["E1", "E2", "E3"])
    for key in rnd.sample(sorted(payload), rnd.randrange(len(payload) + 1)):
        action = rnd.random()
        if action < 0.2:
            payload.pop(key)
        elif action < 0.5 and isinstance(payload[key], dict):
            payload[key][
                rnd.choice(
                    [
                        "number",
                        "extension",
                        "line_number",
                        "acd_group",
                        "taken_from_call_id",
                        "was_transferred",
                    ]
                )
            ] = random_value(rnd)
        elif action < 0.75:
            payload[key] = random_value(rnd)
        # else: the field keeps its valid value
    return (base_path if rnd.random() < 0.8 else path), dumps(payload)


@fuzz_settings(BATCH_EXAMPLES)
@given(rnd=st.randoms(use_true_random=True))
def test_bulk_requests_only_raise_event_error_and_fold(rnd):
    events = []
    for _ in range(BATCH):
        path, body = random_request(rnd)
        event = parse_or_reject(path, body)
        if event is not None:
            events.append(event)
    for entry_id in {getattr(e, "entry_id", None) for e in events} - {None}:
        fold_holds([e for e in events if getattr(e, "entry_id", None) == entry_id])
    assert PARSED["requests"] >= BATCH  # the counter sees this test's requests
