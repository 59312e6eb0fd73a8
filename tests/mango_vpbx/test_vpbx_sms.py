"""SMS text limits (mango_vpbx.sms) and the client's refusal of texts the PBX would refuse."""

import json

import pytest

from mango_vpbx import ArgumentError, VpbxClient, parse_event
from mango_vpbx.events import CommandResult, SmsEvent
from mango_vpbx.limits import MemoryLimitStore
from mango_vpbx.sms import MAX_SEGMENTS, check_text, measure
from mango_vpbx_emulator.testing import PbxDouble


@pytest.mark.parametrize(("text", "encoding", "length", "segments"), [
    ("", "gsm7", 0, 0),
    ("Hello", "gsm7", 5, 1),
    ("a" * 160, "gsm7", 160, 1),
    ("a" * 161, "gsm7", 161, 2),
    ("a" * 306, "gsm7", 306, 2),
    ("a" * 307, "gsm7", 307, 3),
    ("a" * 612, "gsm7", 612, 4),
    ("a" * 613, "gsm7", 613, 5),
    ("{a}", "gsm7", 5, 1),  # the extension table counts twice
    ("€" * 80, "gsm7", 160, 1),
    ("€" * 81, "gsm7", 162, 2),
    ("Привет", "ucs2", 6, 1),
    ("я" * 70, "ucs2", 70, 1),
    ("я" * 71, "ucs2", 71, 2),
    ("я" * 268, "ucs2", 268, 4),
    ("я" * 269, "ucs2", 269, 5),
    ("a" * 100 + "ж", "ucs2", 101, 2),  # one Cyrillic letter makes the whole text UCS-2
    ("😀", "ucs2", 2, 1),  # outside the BMP: two UTF-16 units
])
def test_measure(text, encoding, length, segments):
    size = measure(text)
    assert (size.encoding, size.length, size.segments) == (encoding, length, segments)
    assert size.fits == (0 < length and segments <= MAX_SEGMENTS)


def test_limits_are_the_documented_ones():
    assert measure("a").limit == 612
    assert measure("ж").limit == 268


@pytest.mark.parametrize("text", ["", "a" * 613, "ж" * 269, "{" * 307])
def test_check_text_refuses(text):
    with pytest.raises(ArgumentError):
        check_text(text)


def test_check_text_passes():
    assert check_text("ж" * 268).segments == 4


def test_client_does_not_send_a_text_over_the_limit():
    with PbxDouble("key", "salt") as pbx:
        client = VpbxClient(pbx.url, "key", "salt", timeout=2, limiter=MemoryLimitStore())
        with pytest.raises(ArgumentError):
            client.sms("101", "79161234567", "ж" * 269)
        with pytest.raises(ArgumentError):
            client.sms("101", "79161234567", "")
        assert pbx.calls("commands/sms") == []


def test_sms_result_and_delivery_events():
    result = parse_event("/result/sms", json.dumps({"command_id": "c1", "result": 4300}))
    assert isinstance(result, CommandResult)
    assert (result.command, result.command_id, result.result, result.ok) == ("sms", "c1", 4300,
                                                                             False)
    delivered = parse_event("/events/sms", json.dumps({"command_id": "c1",
                                                       "timestamp": 1700000000,
                                                       "reason": "4392"}))
    assert isinstance(delivered, SmsEvent)
    assert (delivered.command_id, delivered.reason) == ("c1", 4392)
