"""Initialise a demo database wired to a PBX (the emulator): the one init of every path.

Used unchanged by ``scripts/demo`` (this machine, no Docker), by the Odoo container of
``docker-compose.yml`` and by the end-to-end tests, so the tested path is the shipped one.

    python scripts/demo_init.py -c odoo.conf -d medpulse --pbx-url http://127.0.0.1:8180/vpbx/ \
        --api-key KEY --api-salt SALT --odoo-url http://127.0.0.1:8069

It installs the addons with demo data when the database does not have them yet, then
points the company's PBX account at ``--pbx-url`` and gives the demo users the
extensions the emulator knows by default (101 admin, 102 demo, 103 anna). Running it
again changes nothing but what the arguments change.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADDONS = ("medpulse_clinic", "medpulse_telephony")
# login -> (name, extension, password for users this script creates)
OPERATORS = {
    "admin": ("", "101", None),
    "demo": ("", "102", None),
    "anna": ("Анна Смирнова", "103", "anna"),
}
CLINIC_TZ = "Asia/Yekaterinburg"  # Ufa, UTC+5


def installed(config: str, dbname: str) -> bool:
    import psycopg2  # noqa: PLC0415 - Odoo's dependency

    import odoo  # noqa: PLC0415

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
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    cmd = [sys.executable, "-m", "odoo", "-c", config, "-d", dbname, "-i", ",".join(ADDONS),
           "--stop-after-init"]
    subprocess.run(cmd, check=True, env=env)


def configure(env, pbx_url: str, api_key: str, api_salt: str, odoo_url: str | None) -> None:
    """Point the main company at the PBX and give the demo operators their extensions."""
    company = env.ref("base.main_company")
    company.write({"mango_api_url": pbx_url, "mango_api_key": api_key, "mango_api_salt": api_salt})
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
        user.write({
            "pbx_extension": extension,
            "tz": CLINIC_TZ,
            "groups_id": [(4, g.id) for g in groups],
        })


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("-d", "--database", required=True)
    parser.add_argument("--pbx-url", required=True, help="the emulator's API base, ending in /vpbx/")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--api-salt", required=True)
    parser.add_argument("--odoo-url", help="public URL of this Odoo (the PBX posts to <url>/mango)")
    opts = parser.parse_args(argv)

    if not installed(opts.config, opts.database):
        install(opts.config, opts.database)

    import odoo  # noqa: PLC0415
    from odoo.modules.registry import Registry  # noqa: PLC0415

    odoo.tools.config.parse_config(["-c", opts.config, "-d", opts.database])
    registry = Registry(opts.database)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        configure(env, opts.pbx_url, opts.api_key, opts.api_salt, opts.odoo_url)
    print(f"database {opts.database} ready: PBX {opts.pbx_url}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
