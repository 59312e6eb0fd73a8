"""The call sequences of the PBX's protocol reference (§6.2), as events.

Built from the field tables and the documented examples, with the reference's typos
fixed (``locaton``, missing commas, inconsistent ids) and the steps it only describes in
words (e.g. "Connected seq 2") written out, plus a few variants of them (a callback to
an outside number, an internal call). Each sequence is a list of ``(path, payload)``;
:data:`SEQUENCES` names them, :func:`events` parses one. They sit next to the scenarios
(which the emulator plays with its own ids and times) so that tests have one source of
call sequences: :func:`mango_vpbx_emulator.testing.sequence` gives both
(``sequence("reference:outgoing")``); the ones here keep the reference's exact values.
"""

from __future__ import annotations

import json

from mango_vpbx import parse_event


def events(sequence):
    """Parse a sequence of ``(path, payload)`` into events."""
    return [parse_event(path, json.dumps(payload, ensure_ascii=False))
            for path, payload in sequence]


def call(**payload):
    return ("/events/call", payload)


ENTRY = "232wc3e3w3s222"

OUTGOING = [
    call(call_id="100:500:256", entry_id=ENTRY, timestamp="1399906976", seq="1",
         location="abonent", call_state="Appeared", **{"from": {"extension": "1234"}},
         to={"number": "12345678"}),
    call(call_id="100:500:256", entry_id=ENTRY, timestamp="1399906988", seq="2",
         location="abonent", call_state="Connected",
         **{"from": {"extension": "1234", "number": "74955404444"}}, to={"number": "12345678"}),
    call(call_id="100:500:256", entry_id=ENTRY, timestamp="1399907008", seq="3",
         location="abonent", call_state="Disconnected",
         **{"from": {"extension": "1234", "number": "74955404444"}}, to={"number": "12345678"},
         disconnect_reason="1120"),
]

CALLBACK_COMMAND = "cmd.2.vpbx.12345.external.system.com.net"
CALLBACK = [
    ("/result/callback", {"command_id": CALLBACK_COMMAND, "result": "1000"}),
    call(call_id="100:500:251", entry_id=ENTRY, timestamp=1399906971, seq="1",
         location="abonent", call_state="Appeared",
         **{"from": {"extension": "5555", "number": "74955404444"}},
         to={"extension": "1234", "number": "12345678"}, command_id=CALLBACK_COMMAND),
    call(call_id="100:500:251", entry_id=ENTRY, timestamp=1399906973, seq="2",
         location="abonent", call_state="Connected",
         **{"from": {"extension": "5555", "number": "74955404444"}},
         to={"extension": "1234", "number": "12345678"}, command_id=CALLBACK_COMMAND),
    call(call_id="100:500:251", entry_id=ENTRY, timestamp=1399906975, seq="3",
         location="abonent", call_state="Disconnected",
         **{"from": {"extension": "5555", "number": "74955404444"}},
         to={"extension": "1234", "number": "12345678"}, disconnect_reason="1000",
         command_id=CALLBACK_COMMAND),
    call(call_id="100:500:258", entry_id=ENTRY, timestamp=1399906976, seq="1",
         location="abonent", call_state="Appeared",
         **{"from": {"extension": "1234", "number": "12345678",
                     "taken_from_call_id": "100:500:251"}},
         to={"extension": "5555", "number": "74955404444"}, command_id=CALLBACK_COMMAND),
    call(call_id="100:500:258", entry_id=ENTRY, timestamp=1399906979, seq="2",
         location="abonent", call_state="Disconnected",
         **{"from": {"extension": "1234", "number": "12345678"}},
         to={"extension": "5555", "number": "74955404444"}, disconnect_reason="1124",
         command_id=CALLBACK_COMMAND),
]


def _external_target(sequence):
    """The callback of the doc, to a patient's phone: the target has no extension."""
    result = []
    for path, payload in sequence:
        payload = json.loads(json.dumps(payload))
        for side in ("from", "to"):
            if payload.get(side, {}).get("extension") == "5555":
                del payload[side]["extension"]
        result.append((path, payload))
    return result


CALLBACK_EXTERNAL = _external_target(CALLBACK)
# The patient picks up the second leg.
CALLBACK_EXTERNAL_ANSWERED = CALLBACK_EXTERNAL[:-1] + [
    call(call_id="100:500:258", entry_id=ENTRY, timestamp=1399906978, seq="2",
         location="abonent", call_state="Connected",
         **{"from": {"extension": "1234", "number": "12345678"}},
         to={"number": "74955404444"}, command_id=CALLBACK_COMMAND),
    call(call_id="100:500:258", entry_id=ENTRY, timestamp=1399906999, seq="3",
         location="abonent", call_state="Disconnected",
         **{"from": {"extension": "1234", "number": "12345678"}},
         to={"number": "74955404444"}, disconnect_reason="1110", command_id=CALLBACK_COMMAND),
]

IVR_ROUTING = [
    call(call_id="100:500:256", entry_id=ENTRY, timestamp="1399906976", seq="1",
         call_state="Appeared", location="ivr", **{"from": {"number": "79000000000"}},
         to={"number": "7800123456789", "line_number": "7800123456789"}),
    call(call_id="100:500:256", entry_id=ENTRY, timestamp="1399906976", seq="2",
         call_state="Disconnected", location="ivr", **{"from": {"number": "79000000000"}},
         to={"number": "7800123456789", "line_number": "7800123456789"},
         disconnect_reason="1100"),
    call(call_id="100:500:257", entry_id=ENTRY, timestamp="1399906977", seq="1",
         command_id="c111", call_state="Appeared", location="abonent",
         **{"from": {"number": "79000000000", "taken_from_call_id": "100:500:256"}},
         to={"extension": "123", "number": "sip:aaa@mangosip.ru",
             "line_number": "7800123456789"}),
    ("/result/route", {"command_id": "c111", "result": "1000"}),
    call(call_id="100:500:257", entry_id=ENTRY, timestamp="1399906980", seq="2",
         command_id="c111", call_state="Connected", location="abonent",
         **{"from": {"number": "79000000000", "taken_from_call_id": "100:500:256"}},
         to={"extension": "123", "number": "sip:aaa@mangosip.ru",
             "line_number": "7800123456789"}),
    call(call_id="100:500:257", entry_id=ENTRY, timestamp="1399907008", seq="3",
         command_id="c111", call_state="Disconnected", location="abonent",
         **{"from": {"number": "79000000000", "taken_from_call_id": "100:500:256"}},
         to={"extension": "123", "number": "sip:aaa@mangosip.ru",
             "line_number": "7800123456789"}, disconnect_reason="1120"),
]

_CUSTOMER = {"number": "74955404444"}
CONSULTATIVE = [
    call(entry_id=ENTRY, call_id="200:514", timestamp="1398956978", seq="1", location="abonent",
         call_state="Appeared", **{"from": _CUSTOMER},
         to={"extension": "123", "number": "12345678"}),
    call(entry_id=ENTRY, call_id="200:514", timestamp="1398956985", seq="2", location="abonent",
         call_state="Connected", **{"from": _CUSTOMER},
         to={"extension": "123", "number": "12345678"}),
    call(entry_id=ENTRY, call_id="200:514", timestamp="1398956995", seq="3", call_state="OnHold",
         location="abonent", **{"from": _CUSTOMER}, to={"extension": "123", "number": "12345678"}),
    call(entry_id=ENTRY, call_id="202:515", timestamp="1398957000", seq="1", location="abonent",
         call_state="Appeared",
         **{"from": {"extension": "123", "number": "12345678", "taken_from_call_id": "200:514"}},
         to={"extension": "321", "number": "87654321"}),
    call(entry_id=ENTRY, call_id="202:515", timestamp="1398957002", seq="2", location="abonent",
         call_state="Connected",
         **{"from": {"extension": "123", "number": "12345678", "taken_from_call_id": "200:514"}},
         to={"extension": "321", "number": "87654321"}),
    call(entry_id=ENTRY, call_id="200:514", timestamp="1398957005", seq="4", location="abonent",
         call_state="Disconnected", **{"from": _CUSTOMER},
         to={"extension": "123", "number": "12345678"}, disconnect_reason="1120"),
    call(entry_id=ENTRY, call_id="202:515", timestamp=1398957005, seq="3", location="abonent",
         call_state="Connected",
         **{"from": {"number": "74955404444", "taken_from_call_id": "200:514"}},
         to={"extension": "321", "number": "87654321"}),
    call(entry_id=ENTRY, call_id="202:515", timestamp="1398957015", seq="4", location="abonent",
         call_state="Disconnected",
         **{"from": {"number": "74955404444", "taken_from_call_id": "200:514"}},
         to={"extension": "321", "number": "87654321"}, disconnect_reason="1110"),
]

BLIND = [
    call(entry_id=ENTRY, call_id="300:200", timestamp=1399957000, seq="1", location="abonent",
         call_state="Appeared", **{"from": _CUSTOMER},
         to={"extension": "333", "number": "33333333"}),
    call(entry_id=ENTRY, call_id="300:200", timestamp=1399957001, seq="2", location="abonent",
         call_state="Connected", **{"from": _CUSTOMER},
         to={"extension": "333", "number": "33333333"}),
    call(entry_id=ENTRY, call_id="300:200", timestamp=1399957004, seq="3", location="abonent",
         call_state="OnHold", **{"from": _CUSTOMER},
         to={"extension": "333", "number": "33333333", "hold_initiator": True}),
    call(entry_id=ENTRY, call_id="400-200", timestamp=1399957005, seq="1", location="abonent",
         call_state="Appeared",
         **{"from": {"extension": "333", "number": "33333333", "taken_from_call_id": "300:200"}},
         to={"extension": "321", "number": "87654321"}),
    call(entry_id=ENTRY, call_id="300:200", timestamp=1399957006, seq="4", location="abonent",
         call_state="Disconnected", **{"from": _CUSTOMER},
         to={"extension": "333", "number": "33333333", "was_transferred": True},
         disconnect_reason="1120"),
    call(entry_id=ENTRY, call_id="400-200", timestamp=1399957006, seq="2", location="abonent",
         call_state="Appeared",
         **{"from": {"number": "74955404444", "taken_from_call_id": "300:200"}},
         to={"extension": "321", "number": "87654321"}),
    call(entry_id=ENTRY, call_id="400-200", timestamp=1399957010, seq="3", location="abonent",
         call_state="Connected",
         **{"from": {"number": "74955404444", "taken_from_call_id": "300:200"}},
         to={"extension": "321", "number": "87654321"}),
    call(entry_id=ENTRY, call_id="400-200", timestamp=1399957030, seq="4", location="abonent",
         call_state="Disconnected",
         **{"from": {"number": "74955404444", "taken_from_call_id": "300:200"}},
         to={"extension": "321", "number": "87654321"}, disconnect_reason="1110"),
]

DTMF_ENTRY = "Nzg2ODQwMT"
_DTMF_COMMON = {"entry_id": DTMF_ENTRY, "call_id": "AwOTU2NTo4MTozMTI2OTQy",
                "initiator": "74955404444", "from_number": "74955404444",
                "to_number": "74952150438", "line_number": "74952150438"}
_IVR_SIDES = {"from": {"number": "74955404444"},
              "to": {"number": "74952150438", "line_number": "74952150438"}}
DTMF = [
    call(entry_id=DTMF_ENTRY, call_id="AwOTU2NTo4MTozMTI2OTQy", timestamp=1488272633, seq=1,
         call_state="Appeared", location="ivr", **_IVR_SIDES),
    ("/events/dtmf", {"seq": 1, "dtmf": "1", "timestamp": 1488272649, "location": "ivr",
                      **_DTMF_COMMON}),
    ("/events/dtmf", {"seq": 2, "dtmf": "123456789", "timestamp": 1488272662,
                      "location": "ivr.1", **_DTMF_COMMON}),
    ("/result/route", {"command_id": "cid1488272666", "result": 1000}),
    call(entry_id=DTMF_ENTRY, call_id="AwOTU2NTo4MTozMTI2OTQy", timestamp=1488272667, seq=2,
         call_state="Disconnected", location="ivr", disconnect_reason=1100, **_IVR_SIDES),
    call(entry_id=DTMF_ENTRY, call_id="TU2NTo4MTozMTI2OT", timestamp=1488272695, seq=1,
         call_state="Appeared", location="abonent", command_id="cid1488272666",
         **{"from": {"number": "74955404444", "taken_from_call_id": "AwOTU2NTo4MTozMTI2OTQy"}},
         to={"extension": "12", "number": "79260297870", "line_number": "74952150438"}),
    call(entry_id=DTMF_ENTRY, call_id="TU2NTo4MTozMTI2OT", timestamp=1488272700, seq=2,
         call_state="Connected", location="abonent", command_id="cid1488272666",
         **{"from": {"number": "74955404444", "taken_from_call_id": "AwOTU2NTo4MTozMTI2OTQy"}},
         to={"extension": "12", "number": "79260297870", "line_number": "74952150438"}),
    call(entry_id=DTMF_ENTRY, call_id="TU2NTo4MTozMTI2OT", timestamp=1488272760, seq=3,
         call_state="Disconnected", location="abonent", command_id="cid1488272666",
         disconnect_reason=1110,
         **{"from": {"number": "74955404444", "taken_from_call_id": "AwOTU2NTo4MTozMTI2OTQy"}},
         to={"extension": "12", "number": "79260297870", "line_number": "74952150438"}),
]

MISSED_IN_IVR = [
    call(entry_id=ENTRY, call_id="ivr:1", timestamp=1399906976, seq=1, call_state="Appeared",
         location="ivr", **{"from": {"number": "79000000000"}},
         to={"number": "7800123456789", "line_number": "7800123456789"}),
    call(entry_id=ENTRY, call_id="ivr:1", timestamp=1399906990, seq=2, call_state="Disconnected",
         location="ivr", **{"from": {"number": "79000000000"}},
         to={"number": "7800123456789", "line_number": "7800123456789"}, disconnect_reason=1170),
    ("/events/summary", {"entry_id": ENTRY, "call_direction": 1,
                         "from": {"number": "79000000000"}, "to": {},
                         "line_number": "7800123456789", "create_time": 1399906976,
                         "forward_time": 1399906978, "talk_time": 0, "end_time": 1399906990,
                         "entry_result": 1, "disconnect_reason": 1170}),
]

QUEUE_ENTRY = "MTYxNzM5NjY0OTE="
_CALLER = {"number": "79607164646"}
_LINE = "74952129298"


def _operator(leg, ext, seq, state, ts, **more):
    return call(entry_id=QUEUE_ENTRY, call_id=leg, timestamp=ts, seq=seq, call_state=state,
                location="abonent", **{"from": {**_CALLER, "taken_from_call_id": "q:1"}},
                to={"extension": ext, "number": f"sip:op{ext}@clinic.mangosip.ru",
                    "line_number": _LINE, "acd_group": "22"}, **more)


QUEUE_ONE_OF_THREE = [
    call(entry_id=QUEUE_ENTRY, call_id="q:1", timestamp=1670060527, seq=1, call_state="Appeared",
         location="queue", **{"from": _CALLER}, to={"number": _LINE, "line_number": _LINE,
                                                   "acd_group": "22"}),
    _operator("op:101", "101", 1, "Appeared", 1670060530),
    _operator("op:102", "102", 1, "Appeared", 1670060530),
    _operator("op:103", "103", 1, "Appeared", 1670060530),
    _operator("op:102", "102", 2, "Connected", 1670060542, dct={"type": 0}),
    _operator("op:101", "101", 2, "Disconnected", 1670060542, disconnect_reason=1182),
    _operator("op:103", "103", 2, "Disconnected", 1670060542, disconnect_reason=1182),
    call(entry_id=QUEUE_ENTRY, call_id="q:1", timestamp=1670060542, seq=2,
         call_state="Disconnected", location="queue", **{"from": _CALLER},
         to={"number": _LINE, "line_number": _LINE, "acd_group": "22"}, disconnect_reason=1100),
    _operator("op:102", "102", 3, "Disconnected", 1670060661, disconnect_reason=1110),
    ("/events/recording", {"recording_id": "rec:1", "recording_state": "Started", "seq": 1,
                           "entry_id": QUEUE_ENTRY, "call_id": "op:102", "extension": "102",
                           "timestamp": 1670060542}),
    ("/events/recording", {"recording_id": "rec:1", "recording_state": "Completed", "seq": 2,
                           "entry_id": QUEUE_ENTRY, "call_id": "op:102", "extension": "102",
                           "timestamp": 1670060661, "completion_code": 1000,
                           "recipient": "Cloud"}),
    ("/events/record/added", {"entry_id": QUEUE_ENTRY, "product_id": 300022532,
                              "user_id": 300049012, "timestamp": 1670060700,
                              "recording_id": "rec:1"}),
    ("/events/summary", {"entry_id": QUEUE_ENTRY, "call_direction": 1, "from": _CALLER,
                         "to": {"extension": "102", "number": "sip:op102@clinic.mangosip.ru"},
                         "line_number": _LINE, "create_time": 1670060527,
                         "forward_time": 1670060530, "talk_time": 1670060542,
                         "end_time": 1670060661, "entry_result": 1, "disconnect_reason": 1110}),
]

MISSED_AT_OPERATOR = [
    call(entry_id="missed:op", call_id="m:1", timestamp=1700000000, seq=1, call_state="Appeared",
         location="abonent", **{"from": {"number": "79161234567"}},
         to={"extension": "0511", "number": "sip:reception@clinic.mangosip.ru",
             "line_number": _LINE}),
    call(entry_id="missed:op", call_id="m:1", timestamp=1700000025, seq=2,
         call_state="Disconnected", location="abonent", **{"from": {"number": "79161234567"}},
         to={"extension": "0511", "number": "sip:reception@clinic.mangosip.ru",
             "line_number": _LINE}, disconnect_reason=1110),
    ("/events/summary", {"entry_id": "missed:op", "call_direction": 1,
                         "from": {"number": "79161234567"},
                         "to": {"extension": "0511",
                                "number": "sip:reception@clinic.mangosip.ru"},
                         "line_number": _LINE, "create_time": 1700000000, "forward_time": 0,
                         "talk_time": 0, "end_time": 1700000025, "entry_result": 0,
                         "disconnect_reason": 1110}),
]

MISSED_IN_QUEUE = [
    call(entry_id="missed:q", call_id="q:9", timestamp=1700000000, seq=1, call_state="Appeared",
         location="queue", **{"from": {"number": "79161234567"}},
         to={"number": _LINE, "line_number": _LINE, "acd_group": "22"}),
    call(entry_id="missed:q", call_id="q:9", timestamp=1700000040, seq=2,
         call_state="Disconnected", location="queue", **{"from": {"number": "79161234567"}},
         to={"number": _LINE, "line_number": _LINE, "acd_group": "22"}, disconnect_reason=1163),
]

INTERNAL = [
    call(entry_id="int:1", call_id="i:1", timestamp=1700000100, seq=1, call_state="Appeared",
         location="abonent", **{"from": {"extension": "101", "number": "sip:a@x.mangosip.ru"}},
         to={"extension": "102", "number": "sip:b@x.mangosip.ru"}),
    call(entry_id="int:1", call_id="i:1", timestamp=1700000104, seq=2, call_state="Connected",
         location="abonent", **{"from": {"extension": "101", "number": "sip:a@x.mangosip.ru"}},
         to={"extension": "102", "number": "sip:b@x.mangosip.ru"}),
]

SEQUENCES = {
    "outgoing": OUTGOING,
    "callback": CALLBACK,
    "callback_external": CALLBACK_EXTERNAL,
    "callback_external_answered": CALLBACK_EXTERNAL_ANSWERED,
    "ivr_routing": IVR_ROUTING,
    "consultative": CONSULTATIVE,
    "blind": BLIND,
    "dtmf": DTMF,
    "missed_in_ivr": MISSED_IN_IVR,
    "queue_one_of_three": QUEUE_ONE_OF_THREE,
    "missed_at_operator": MISSED_AT_OPERATOR,
    "missed_in_queue": MISSED_IN_QUEUE,
    "internal": INTERNAL,
}
