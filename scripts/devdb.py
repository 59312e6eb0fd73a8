"""The kept development database of the edit-test loop (README, "Develop").

    scripts/devdb            # create medpulse_dev with the addons installed, or update them
    scripts/devdb -d NAME    # another database
    scripts/devdb --drop     # drop it with its filestore

The first call installs the addons (and the demo addon when the checkout has one) with demo
data, the way the test command's database is made; later calls update them (``-u``), which
is what a changed model, view or data file needs. The Odoo config, the filestore and the
log live in ``.medpulse/devdb/`` (PostgreSQL: the server PGHOST/PGPORT/PGUSER point to,
else a private cluster there that is left running for the tests). The last line printed is
the command that runs one test of the addons on it with pytest-odoo, in seconds:

    python -m pytest --odoo-config=.medpulse/devdb/medpulse_dev.conf --odoo-database=medpulse_dev \\
        --odoo-http --odoo-log-level=info medpulse_telephony/tests/test_journal.py -k name

``odoo-bin --test-enable`` (``scripts/test``) stays the authority: a test passing here on a
database that has lived through edits proves less than the fresh install there.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from odoo_instance import (  # noqa: E402 - after the sys.path set-up above
    ADDONS,
    ROOT,
    OdooInstance,
    PostgresUnavailable,
    resolve_postgres,
)

STATE_DIR = ROOT / ".medpulse" / "devdb"
# --odoo-http: HttpCase tests and tours need a server; --odoo-log-level=info: tests that read
# the log (what the webhook logs) need Odoo's usual level, pytest-odoo's default is critical.
PYTEST_ODOO_OPTIONS = ("--odoo-http", "--odoo-log-level=info")
def database_exists(instance: OdooInstance) -> bool:
    import psycopg2  # noqa: PLC0415 - Odoo's dependency, present under Odoo's Python

    pg = instance.pg
    conn = psycopg2.connect(dbname="postgres", host=pg.host, port=pg.port, user=pg.user,
                            password=pg.password or None)
    with conn, conn.cursor() as cr:
        cr.execute("SELECT 1 FROM pg_database WHERE datname = %s", (instance.dbname,))
        found = cr.fetchone() is not None
    conn.close()
    return found


def pytest_command(instance: OdooInstance) -> str:
    config = instance.config_path.relative_to(ROOT)
    return (f"{sys.executable} -m pytest --odoo-config={config} --odoo-database={instance.dbname}"
            f" {' '.join(PYTEST_ODOO_OPTIONS)} medpulse_telephony/tests/test_journal.py -k NAME")


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/devdb", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-d", "--database", default="medpulse_dev")
    parser.add_argument("--drop", action="store_true", help="drop the database and its filestore")
    opts = parser.parse_args()
    try:
        pg, _cluster = resolve_postgres(STATE_DIR)
    except PostgresUnavailable as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 2
    # A fixed HTTP port: the config is kept, and pytest-odoo's --odoo-http picks its own.
    instance = OdooInstance(opts.database, STATE_DIR, pg=pg, http_port=8969)
    if opts.drop:
        instance.drop()
        instance.config_path.unlink(missing_ok=True)
        print(f"dropped {instance.dbname} and its filestore")
        return 0
    instance.write_config()
    names = ",".join(ADDONS)
    exists = database_exists(instance)
    log = STATE_DIR / f"{instance.dbname}-{'update' if exists else 'install'}.log"
    started = time.monotonic()
    rc = instance.odoo("-u" if exists else "-i", names, "--stop-after-init", logfile=log,
                       check=False)
    if rc:
        print(f"FAIL: odoo {'-u' if exists else '-i'} {names} exited with {rc}; see {log}",
              file=sys.stderr)
        return 1
    print(f"{'updated' if exists else 'created'} {instance.dbname} ({names}) in "
          f"{time.monotonic() - started:.0f} s; log: {log}")
    print("run a test:")
    print(f"  {pytest_command(instance)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
