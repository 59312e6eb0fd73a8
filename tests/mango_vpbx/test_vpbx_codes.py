"""Result codes: meanings, classes of unknown codes, disconnect categories, exceptions."""

from datetime import datetime, timezone

import pytest

from mango_vpbx import (
    VpbxAuthError,
    VpbxBillingError,
    VpbxCommandFailed,
    VpbxError,
    VpbxLockedOut,
    VpbxNotFound,
    VpbxRateLimited,
    VpbxRequestError,
    VpbxUnavailable,
)
from mango_vpbx.codes import (
    CODES,
    DISCONNECT_CATEGORIES,
    code_class,
    describe,
    describe_ru,
    disconnect_category,
    is_success,
    known_code,
)
from mango_vpbx.errors import error_for_code


def test_table_has_both_languages():
    assert len(CODES) > 100
    for code, (ru, en) in CODES.items():
        assert 1000 <= code <= 6999 and ru and en


@pytest.mark.parametrize(("code", "known"), [
    (1000, 1000), (1090, 1000), (2219, 2210), (2299, 2200), (2999, 2000), (3102, 3102),
    (3199, 3100), (4103, 4100), (5999, 5000), (1399, 1300), (110, None), (9999, None),
])
def test_unknown_codes_by_class(code, known):
    assert known_code(code) == known


def test_describe():
    assert describe(1110) == "Call ended by the caller"
    assert describe_ru(1110) == "Вызов завершен вызывающим абонентом"
    assert describe(2219) == describe(2210)
    assert describe(None) == describe_ru(None) == ""
    assert "110" in describe(110) and "110" in describe_ru(110)


def test_success_class():
    assert is_success(1000) and is_success(1001) and is_success(1099)
    assert not is_success(1100) and not is_success(3102)


@pytest.mark.parametrize(("code", "cls"), [
    (3102, VpbxAuthError), (3105, VpbxAuthError), (3100, VpbxRequestError),
    (3104, VpbxRequestError), (3310, VpbxNotFound), (3320, VpbxNotFound), (4101, VpbxNotFound),
    (2240, VpbxBillingError), (2219, VpbxBillingError), (4001, VpbxCommandFailed),
    (4290, VpbxRateLimited), (5003, VpbxUnavailable), (6000, VpbxError), (1100, VpbxError),
])
def test_error_for_code(code, cls):
    error = error_for_code(code, 420)
    assert type(error) is cls
    assert isinstance(error, VpbxError)
    assert error.code == code and error.http_status == 420
    assert error.meaning == describe(code)
    assert str(code) in str(error) or cls is VpbxRateLimited


def test_auth_error_is_a_request_error():
    assert issubclass(VpbxAuthError, VpbxRequestError)


def test_lockout_and_rate_messages():
    until = datetime(2026, 1, 1, 10, 0, tzinfo=timezone.utc)
    error = VpbxLockedOut(until)
    assert error.until == until and "10:00:00" in str(error)
    assert VpbxRateLimited(retry_after=3).retry_after == 3
    assert str(VpbxError()) == "PBX error"


@pytest.mark.parametrize(("code", "klass"), [
    (1000, "success"), (1110, "success"), (2219, "billing"), (3102, "request"),
    (4101, "cannot_do"), (5999, "server"), (6001, "fax"), (7000, None), (999, None),
    (None, None),
])
def test_code_class(code, klass):
    assert code_class(code) == klass


@pytest.mark.parametrize(("code", "category"), [
    (None, None), (0, None), (1000, "normal"), (1100, "normal"), (1110, "caller_hangup"),
    (1111, "no_answer"), (1120, "callee_hangup"), (1121, "busy"), (1122, "rejected"),
    (1124, "do_not_disturb"), (1131, "unreachable"), (1151, "caller_restricted"),
    (1160, "no_operator"), (1175, "scheme"), (1183, "command"), (1191, "inactive"),
    (1199, "inactive"), (1101, "normal"), (1350, "normal"), (2210, "billing"),
    (3200, "unreachable"), (4201, "unreachable"), (4002, "technical"), (5999, "technical"),
    (3100, "other"), (6000, "other"),
])
def test_disconnect_category(code, category):
    assert disconnect_category(code) == category


def test_disconnect_categories_have_labels():
    keys = [key for key, _label in DISCONNECT_CATEGORIES]
    assert len(keys) == len(set(keys)) and all(label for _key, label in DISCONNECT_CATEGORIES)
    for code in range(1000, 6000):
        assert disconnect_category(code) in keys
