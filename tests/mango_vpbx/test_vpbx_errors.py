"""One root for everything the toolkit raises, and what raises what."""

from datetime import datetime, timezone

import pytest

import mango_vpbx
from mango_vpbx import (
    ArgumentError,
    EventError,
    MangoVpbxError,
    StatsError,
    VpbxClient,
    VpbxError,
    fold,
    parse_event,
)
from mango_vpbx.stats import parse_csv
from mango_vpbx.times import parse_pbx_int, to_pbx


def test_every_exception_has_the_root():
    exceptions = [
        obj for obj in vars(mango_vpbx.errors).values()
        if isinstance(obj, type) and issubclass(obj, BaseException)
    ]
    assert len(exceptions) >= 14
    assert all(issubclass(cls, MangoVpbxError) for cls in exceptions)
    # The top level offers each of them.
    assert {cls.__name__ for cls in exceptions} <= set(mango_vpbx.__all__)


@pytest.mark.parametrize("cls", [EventError, StatsError, ArgumentError])
def test_the_value_errors_stay_value_errors_and_are_no_pbx_failures(cls):
    assert issubclass(cls, ValueError) and issubclass(cls, MangoVpbxError)
    assert not issubclass(cls, VpbxError)


def test_what_raises_what():
    with pytest.raises(EventError):
        parse_event("/events/call", "not json")
    with pytest.raises(StatsError):
        parse_csv("1;2", "no_such_field")
    with pytest.raises(ArgumentError, match="at least one"):
        fold([])
    with pytest.raises(ArgumentError):
        parse_pbx_int("soon")
    with pytest.raises(ArgumentError, match="naive"):
        to_pbx(datetime(2026, 1, 1))
    with pytest.raises(ArgumentError):
        VpbxClient("http://127.0.0.1:9/", "", "")
    # A caught root catches them all, and the PBX's failures too.
    for error in (EventError("x"), VpbxError(code=3102), StatsError("y")):
        with pytest.raises(MangoVpbxError):
            raise error
    assert to_pbx(datetime(2026, 1, 1, tzinfo=timezone.utc)) > 0


def test_small_top_level():
    names = [name for name in mango_vpbx.__all__
             if not isinstance(getattr(mango_vpbx, name), type(mango_vpbx))]
    assert len(names) <= 25
    for name in ("VpbxClient", "DEFAULT_BASE_URL", "sign", "verify", "encode", "parse_event",
                 "Event", "fold", "CallState", "MangoVpbxError"):
        assert name in names
    # Everything else is one attribute away after ``import mango_vpbx``.
    assert mango_vpbx.codes.describe(1110) and mango_vpbx.phones.normalize_number("89161234567")


def test_the_top_level_names_every_exception_once_and_binds_what_it_names():
    """``__all__`` takes the exceptions from ``errors.__all__``: each one is bound at the
    top level (the explicit import), once, and the helper ``error_for_code`` stays there."""
    exceptions = [n for n in mango_vpbx.errors.__all__ if n != "error_for_code"]
    assert [n for n in mango_vpbx.__all__ if n in mango_vpbx.errors.__all__] == exceptions
    # 35: the submodule `sms` joined the top level with the SMS limits (issue 21).
    assert len(set(mango_vpbx.__all__)) == len(mango_vpbx.__all__) == 35
    for name in mango_vpbx.__all__:
        assert getattr(mango_vpbx, name) is not None, name
    for name in exceptions:
        assert getattr(mango_vpbx, name) is getattr(mango_vpbx.errors, name)
    assert "error_for_code" not in mango_vpbx.__all__
