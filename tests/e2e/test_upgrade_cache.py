"""The caches the suite keeps between runs (``odoo_instance.DatabaseCache``): what comes back
is what was saved, another key builds again, and a cache never fails a run.

Real PostgreSQL (the server the test command uses), small databases made here; the cache
folder is the test's own.
"""

from __future__ import annotations

import os

import pytest
from odoo_instance import DatabaseCache, OdooInstance
from upgrade_release import CACHE_FORMAT, SOURCES, release_key


@pytest.fixture
def databases(tmp_path):
    """``make(name)``: an OdooInstance whose database is dropped at the end."""
    made = []

    def make(name: str) -> OdooInstance:
        instance = OdooInstance(f"medpulse_cache_{name}_{os.getpid()}", tmp_path / "work")
        made.append(instance)
        return instance

    yield make
    for instance in made:
        instance.drop()


def create(instance: OdooInstance, value: str) -> None:
    """A database holding ``value`` in a table, and a file in its filestore."""
    conn = instance.connect()
    conn.autocommit = True
    with conn.cursor() as cr:
        cr.execute(f'CREATE DATABASE "{instance.dbname}"')
    conn.close()
    conn = instance.connect(instance.dbname)
    with conn, conn.cursor() as cr:
        cr.execute("CREATE TABLE kept (value text)")
        cr.execute("INSERT INTO kept VALUES (%s)", (value,))
    conn.close()
    (instance.filestore / "ab").mkdir(parents=True)
    (instance.filestore / "ab" / "abc").write_text(value)


def read(instance: OdooInstance) -> tuple[str, str]:
    conn = instance.connect(instance.dbname)
    with conn.cursor() as cr:
        cr.execute("SELECT value FROM kept")
        [value] = cr.fetchone()
    conn.close()
    return value, (instance.filestore / "ab" / "abc").read_text()


def exists(instance: OdooInstance) -> bool:
    conn = instance.connect()
    with conn.cursor() as cr:
        cr.execute("SELECT 1 FROM pg_database WHERE datname = %s", (instance.dbname,))
        found = cr.fetchone()
    conn.close()
    return bool(found)


def test_a_saved_database_comes_back_under_its_key_only(tmp_path, databases):
    cache = DatabaseCache("sample", tmp_path / "cache")
    original = databases("original")
    create(original, "release database")
    assert cache.save("key-a", original, {"before": {"n": 1}})

    copy = databases("copy")
    assert cache.restore("key-a", copy) == {"before": {"n": 1}}
    assert read(copy) == ("release database", "release database")

    # The key changed (another release, Odoo or source): no entry, nothing restored; the
    # maker builds the database again and saves it under the new key.
    other = databases("other")
    assert cache.restore("key-b", other) is None
    assert not exists(other)
    assert cache.save("key-b", original, {"before": {"n": 2}})
    assert cache.restore("key-b", other) == {"before": {"n": 2}}


def test_the_entries_used_last_are_kept(tmp_path, databases):
    cache = DatabaseCache("sample", tmp_path / "cache")
    original = databases("original")
    create(original, "x")
    for n in range(cache.KEEP + 1):
        assert cache.save(f"key-{n}", original, {})
        os.utime(cache.dir / f"key-{n}" / "READY", (n + 1, n + 1))
    kept = sorted(p.name for p in cache.dir.iterdir())
    assert kept == [f"key-{n}" for n in range(1, cache.KEEP + 1)]


def test_a_cache_never_fails_a_run(tmp_path, databases):
    original = databases("original")
    create(original, "x")
    # A cache folder that cannot be made (a file is in the way): not saved, no error.
    (tmp_path / "blocked").write_text("")
    blocked = DatabaseCache("sample", tmp_path / "blocked")
    assert blocked.save("key", original, {}) is False
    assert blocked.restore("key", databases("none")) is None
    # An entry cut short (no READY: a run stopped while saving) is not used.
    cache = DatabaseCache("sample", tmp_path / "cache")
    assert cache.save("key", original, {})
    (cache.dir / "key" / "READY").unlink()
    assert cache.restore("key", databases("unready")) is None
    # A broken dump: restore says no and leaves no database behind, to be built again.
    assert cache.save("key", original, {})
    (cache.dir / "key" / "dump").write_bytes(b"not a dump")
    broken = databases("broken")
    assert cache.restore("key", broken) is None
    assert not exists(broken)


def test_the_release_database_key_names_what_it_depends_on():
    sources = {name: b"source" for name in SOURCES}
    key = release_key("d42edee", "odoo 18.0", "150020", sources)
    assert key == release_key("d42edee", "odoo 18.0", "150020", dict(sources))
    changed = [
        release_key("1553211", "odoo 18.0", "150020", sources),  # another release
        release_key("d42edee", "odoo 18.0 other", "150020", sources),  # another Odoo
        release_key("d42edee", "odoo 18.0", "160004", sources),  # another PostgreSQL
        release_key("d42edee", "odoo 18.0", "150020",  # the code that builds it
                    {**sources, "tests/e2e/upgrade_release.py": b"changed"}),
    ]
    assert key not in changed and len(set(changed)) == len(changed)
    assert CACHE_FORMAT
    # What the comparison documents (MIGRATED, NEW_MODELS) does not change the database.
    assert "tests/e2e/test_upgrade.py" not in SOURCES
