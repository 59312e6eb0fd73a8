"""Numbers: the PBX's forms and people's forms to E.164, and back for display."""

import pytest

from mango_vpbx.phones import format_number, is_sip_uri, normalize_number, sip_user


@pytest.mark.parametrize(("raw", "expected"), [
    ("74951234567", "+74951234567"),
    ("+7 (916) 123-45-67", "+79161234567"),
    ("8 916 123 45 67", "+79161234567"),
    ("89161234567", "+79161234567"),
    ("9161234567", "+79161234567"),
    ("81079270120777", "+79270120777"),
    ("88001234567", "+78001234567"),
    ("sip:79161234567@x.mangosip.ru", "+79161234567"),
    ("SIP:+79161234567@x.mangosip.ru;transport=udp", "+79161234567"),
    ("+44 20 7946 0958", "+442079460958"),
    (79161234567, "+79161234567"),
    ("  79607164646 ", "+79607164646"),
    # Ten bare digits are a Russian national number, even when reading them as
    # "country code first" would also give a valid number (Lebanon, Germany, Myanmar).
    ("961 160-63-06", "+79611606306"),
    ("495 475-38-22", "+74954753822"),
    ("950 754-15-19", "+79507541519"),
    ("+4954753822", "+4954753822"),
])
def test_external_numbers(raw, expected):
    assert normalize_number(raw) == expected


@pytest.mark.parametrize("raw", [
    "101", "0511", "12", "sip:user1@x.mangosip.ru", "sip:101@x.mangosip.ru", "garbage",
    "", "   ", None, True, "12345678", "7800123456789", "+7", "79161234567abc",
])
def test_not_external_numbers(raw):
    assert normalize_number(raw) is None


def test_default_region():
    assert normalize_number("020 7946 0958", default_region="GB") == "+442079460958"


def test_sip_uris():
    assert is_sip_uri("sip:user1@x.mangosip.ru")
    assert is_sip_uri("sips:user1@x")
    assert not is_sip_uri("74951234567")
    assert not is_sip_uri(None)
    assert sip_user("sip:user1@x.mangosip.ru") == "user1"
    assert sip_user("74951234567") is None


@pytest.mark.parametrize(("raw", "shown"), [
    ("+79161234567", "+7 916 123-45-67"),
    ("74951234567", "+7 495 123-45-67"),
    ("101", "101"),
    ("sip:user1@x.mangosip.ru", "sip:user1@x.mangosip.ru"),
    (None, ""),
])
def test_format_number(raw, shown):
    assert format_number(raw) == shown


def test_format_number_remembers_text_per_region():
    from mango_vpbx import phones  # noqa: PLC0415 - its private cache

    phones._format_text.cache_clear()
    assert format_number("89161234567") == "+7 916 123-45-67"
    assert format_number("89161234567") == "+7 916 123-45-67"
    assert phones._format_text.cache_info().hits == 1, "the second one remembered"
    # The region is part of what is remembered: the same text read elsewhere differs.
    assert format_number("0612345678", "NL") == "+31 6 12345678"
    assert format_number("0612345678", "RU") != "+31 6 12345678"
    assert format_number(79161234567) == "+7 916 123-45-67", "not text: not remembered"
    assert phones._format_text.cache_info().currsize == 3
