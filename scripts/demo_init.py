"""Initialise a demo database wired to a PBX (the emulator): the one init of every path.

Used unchanged by ``scripts/demo`` (this machine, no Docker), by the Odoo container of
``docker-compose.yml`` and by the end-to-end tests, so the tested path is the shipped one.

    python scripts/demo_init.py -c odoo.conf -d medpulse --pbx-url http://127.0.0.1:8180/vpbx/ \
        --api-key KEY --api-salt SALT --odoo-url http://127.0.0.1:8069

It installs the addons with demo data when the database does not have them yet, then
points the company's PBX account at ``--pbx-url`` and gives the demo users the
extensions the emulator knows by default (101 admin, 102 demo, 103 anna). Running it
again changes nothing but what the arguments change.

``--emulator-dir DIR`` writes ``DIR/directory.json`` for the emulator's ``--directory``
(the operators by their Odoo names, the demo patients to call from). ``--history [DAYS]``
(60 by default; opt-in, the end-to-end tests count calls) gives a new demo database that
many days of calls (``scripts/demo_history.py``) and writes ``DIR/history.json`` for the
emulator's ``--history``, which posts today's calls to the webhook once Odoo runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADDONS = ("medpulse_clinic", "medpulse_telephony", "medpulse_telephony_demo")
# login -> (name, extension, password for users this script creates)
OPERATORS = {
    "admin": ("", "101", None),
    "demo": ("", "102", None),
    "anna": ("Анна Смирнова", "103", "anna"),
}
CLINIC_TZ = "Asia/Yekaterinburg"  # Ufa, UTC+5
HISTORY_DAYS = 60
#: The reconciliation cron waits this long after a history is made, so that it compares
#: the PBX's statistics with a journal that has today's calls too (the emulator posts
#: them once Odoo answers).
RECONCILE_AFTER = timedelta(minutes=3)


def installed(config: str, dbname: str) -> bool:
    import psycopg2  # noqa: PLC0415 - Odoo's dependency

    import odoo  # noqa: PLC0415 - imported where it is needed

    odoo.tools.config.parse_config(["-c", config, "-d", dbname])
    cfg = odoo.tools.config
    try:
        conn = psycopg2.connect(
            dbname=dbname, host=cfg["db_host"] or None, port=cfg["db_port"] or None,
            user=cfg["db_user"] or None, password=cfg["db_password"] or None,
        )
    except psycopg2.OperationalError:
        return False
    with conn, conn.cursor() as cr:
        cr.execute("SELECT to_regclass('ir_module_module')")
        if cr.fetchone()[0] is None:
            return False
        cr.execute("SELECT count(*) FROM ir_module_module WHERE name IN %s AND state = 'installed'",
                   (ADDONS,))
        count = cr.fetchone()[0]
    conn.close()
    return count == len(ADDONS)


def install(config: str, dbname: str) -> None:
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    cmd = [sys.executable, "-m", "odoo", "-c", config, "-d", dbname, "-i", ",".join(ADDONS),
           "--stop-after-init"]
    subprocess.run(cmd, check=True, env=env)


def configure(env, pbx_url: str, api_key: str, api_salt: str, odoo_url: str | None) -> None:
    """Point the main company at the PBX and give the demo operators their extensions."""
    company = env.ref("base.main_company")
    company.write(
        {
            "medpulse_pbx_api_url": pbx_url,
            "medpulse_pbx_api_key": api_key,
            "medpulse_pbx_api_salt": api_salt,
        }
    )
    if not company.medpulse_sms_extension:
        # The reminders' SMS (issue 21) go from an extension the emulator knows.
        company.medpulse_sms_extension = OPERATORS["admin"][1]
    if "iap_enrich_auto_done" in company._fields:
        # The web client would otherwise send the company to Odoo's enrichment service at
        # the first login, from every tab at once (concurrent writes of the company row).
        company.iap_enrich_auto_done = True
    if odoo_url:
        env["ir.config_parameter"].set_param("web.base.url", odoo_url)
        env["ir.config_parameter"].set_param("web.base.url.freeze", "True")
    groups = [env.ref(x) for x in (
        "medpulse_telephony.group_telephony_operator",
        "medpulse_clinic.group_clinic_receptionist",
    )]
    users = env["res.users"].with_context(active_test=False)
    for login, (name, extension, password) in OPERATORS.items():
        user = users.search([("login", "=", login)], limit=1)
        if not user and password:
            user = users.create({"name": name, "login": login, "password": password,
                                 "company_id": company.id, "company_ids": [(6, 0, company.ids)]})
        if not user:
            continue
        if "odoobot_state" in user._fields and user.odoobot_state in (False, "not_initialized"):
            # No OdooBot onboarding chat in a clinic's demo (started by every first tab).
            user.odoobot_state = "disabled"
        user.write({
            "medpulse_pbx_extension": extension,
            "tz": CLINIC_TZ,
            "groups_id": [(4, g.id) for g in groups],
        })


def emulator_files(env, directory: Path, history_days: int) -> None:
    """Write the emulator's directory file and, with ``history_days``, the history."""
    import demo_history  # noqa: PLC0415 - next to this script

    import odoo  # noqa: PLC0415 - imported where it is needed

    company = env.ref("base.main_company")
    directory.mkdir(parents=True, exist_ok=True)
    people = demo_history.emulator_directory(env, company)
    # Written whole then renamed: the emulator may be reading it (it watches the file).
    tmp = directory / "directory.json.tmp"
    tmp.write_text(json.dumps(people, ensure_ascii=False, indent=1))
    tmp.replace(directory / "directory.json")
    if not history_days:
        return
    path = directory / "history.json"
    marker = demo_history.read_marker(env)
    if marker:
        if not path.exists() or json.loads(path.read_text()).get("generated_at") != marker["now"]:
            demo_history.make(env, company, people, history_days, path, marker=marker)
        return
    started = time.monotonic()
    history, params = demo_history.make(env, company, people, history_days, path)
    counts = demo_history.load(env, company, history)
    demo_history.write_marker(env, params)
    cron = env.ref("medpulse_telephony.ir_cron_medpulse_call_reconcile")
    cron.nextcall = max(cron.nextcall, odoo.fields.Datetime.now() + RECONCILE_AFTER)
    print(
        f"history: {len(history.calls)} calls over {history_days} days; {counts['calls']} folded "
        f"here ({counts['events']} events, {counts['appointments']} appointments) in "
        f"{time.monotonic() - started:.1f} s; the emulator posts the other "
        f"{len(history.calls) - counts['calls']} to the webhook (3 of them never arrive)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("-d", "--database", required=True)
    parser.add_argument(
        "--pbx-url", required=True, help="the emulator's API base, ending in /vpbx/"
    )
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--api-salt", required=True)
    parser.add_argument("--odoo-url", help="public URL of this Odoo (the PBX posts to <url>/mango)")
    parser.add_argument("--emulator-dir", type=Path,
                        help="write the emulator's directory.json (and history.json) here")
    parser.add_argument("--history", nargs="?", type=int, const=HISTORY_DAYS, default=0,
                        metavar="DAYS", help=f"give a new database DAYS days of calls "
                        f"(default {HISTORY_DAYS}); needs --emulator-dir")
    opts = parser.parse_args(argv)
    if opts.history and not opts.emulator_dir:
        parser.error("--history needs --emulator-dir: the emulator reads the history from there")

    if not installed(opts.config, opts.database):
        install(opts.config, opts.database)

    import odoo  # noqa: PLC0415 - imported where it is needed
    from odoo.modules.registry import Registry  # noqa: PLC0415 - imported where it is needed

    odoo.tools.config.parse_config(["-c", opts.config, "-d", opts.database])
    registry = Registry(opts.database)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        configure(env, opts.pbx_url, opts.api_key, opts.api_salt, opts.odoo_url)
        if opts.emulator_dir:
            emulator_files(env, opts.emulator_dir, opts.history)
    print(f"database {opts.database} ready: PBX {opts.pbx_url}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
