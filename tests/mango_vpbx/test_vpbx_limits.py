"""Limit stores: sliding windows, all-or-nothing grants, blocks; and the time base."""

import threading
from datetime import datetime, timedelta, timezone

import pytest

from mango_vpbx.limits import (
    RATE_LIMITS,
    LimitStore,
    MemoryLimitStore,
    SqliteLimitStore,
    buckets_for,
)
from mango_vpbx.times import TimeBase, parse_pbx_int, to_pbx, to_utc


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path):
    clock = Clock()
    if request.param == "memory":
        made = MemoryLimitStore(clock)
    else:
        made = SqliteLimitStore(str(tmp_path / "limits.sqlite"), clock)
    made.test_clock = clock
    return made


def test_is_a_limit_store(store):
    assert isinstance(store, LimitStore)


def test_sliding_window(store):
    bucket = [("acc:commands/callback", 4, 1.0)]
    assert [store.acquire(bucket) for _ in range(4)] == [0.0] * 4
    assert store.acquire(bucket) == pytest.approx(1.0)
    store.test_clock.now += 0.5
    assert store.acquire(bucket) == pytest.approx(0.5)
    store.test_clock.now += 0.5
    assert store.acquire(bucket) == 0.0


def test_all_or_nothing(store):
    slow = ("acc:commands/route", 1, 2.0)
    fast = ("acc:*", 10, 1.0)
    assert store.acquire([fast, slow]) == 0.0
    assert store.acquire([fast, slow]) == pytest.approx(2.0)
    # The refused request took nothing from the other bucket: 9 more fit in it.
    assert [store.acquire([fast]) for _ in range(9)] == [0.0] * 9
    assert store.acquire([fast]) > 0


def test_blocks(store):
    assert store.blocked_until("acc:invalid") is None
    assert store.block("acc:invalid", 1120.0) == 1120.0
    assert store.block("acc:invalid", 1050.0) == 1120.0
    assert store.blocked_until("acc:invalid") == 1120.0
    assert store.blocked_until("other:invalid") is None
    store.test_clock.now = 1120.0
    assert store.blocked_until("acc:invalid") is None


def test_memory_store_is_thread_safe():
    store = MemoryLimitStore(Clock())
    granted = []

    def worker():
        for _ in range(50):
            granted.append(store.acquire([("b", 25, 10.0)]) == 0.0)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert granted.count(True) == 25


def test_buckets_for():
    assert buckets_for("acc", "commands/callback") == [("acc:*", 10, 1.0),
                                                       ("acc:commands/callback", 4, 1.0)]
    assert buckets_for("acc", "incominglines") == [("acc:*", 10, 1.0)]
    assert RATE_LIMITS["config/users/request"] == (1, 2.0)


def test_to_utc():
    assert to_utc(None) is None and to_utc("") is None and to_utc(0) is None
    assert to_utc("1399906976") == datetime(2014, 5, 12, 15, 2, 56, tzinfo=timezone.utc)
    assert to_utc(1399906976, TimeBase.MSK) == datetime(2014, 5, 12, 12, 2, 56,
                                                        tzinfo=timezone.utc)
    with pytest.raises(ValueError):
        to_utc("soon")


def test_to_pbx():
    moment = datetime(2014, 5, 12, 15, 2, 56, tzinfo=timezone.utc)
    assert to_pbx(moment) == 1399906976
    assert to_pbx(moment, TimeBase.MSK) == 1399906976 + 3 * 3600
    assert to_pbx(1399906976, TimeBase.MSK) == 1399906976 + 3 * 3600
    assert to_utc(to_pbx(moment, TimeBase.MSK), TimeBase.MSK) == moment
    assert to_pbx(moment.astimezone(timezone(timedelta(hours=3)))) == 1399906976
    with pytest.raises(ValueError, match="naive"):
        to_pbx(datetime(2014, 5, 12))
    with pytest.raises(TypeError):
        to_pbx("1399906976")
    with pytest.raises(TypeError):
        to_pbx(True)


@pytest.mark.parametrize(("value", "expected"), [
    (5, 5), ("5", 5), (" 5 ", 5), (5.0, 5), ("5.0", 5), (None, None), ("", None), ("-1", -1),
])
def test_parse_pbx_int(value, expected):
    assert parse_pbx_int(value) == expected


@pytest.mark.parametrize("value", [True, 5.5, "5.5", "x", [5], {}])
def test_parse_pbx_int_refuses(value):
    with pytest.raises(ValueError):
        parse_pbx_int(value)
