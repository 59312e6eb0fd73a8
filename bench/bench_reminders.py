"""Building a day of reminders: 2,000 appointments tomorrow, one rule, the daily build.

Runs inside Odoo on a database where ``medpulse_telephony`` is installed (the development
database of ``scripts/devdb`` will do), in one transaction that is rolled back: nothing is
left behind. It makes a clinic in Ufa (UTC+5) with a reminder rule "SMS, then a call if
not confirmed", ``--count`` patients (every fifth without SMS consent, every seventh
without call consent) and one appointment each tomorrow, then measures what the hourly
job does for that day (``medpulse.reminder._build_day``): the first build (every reminder
created, 2 per appointment) and a second one (nothing to add: idempotent), each flushed to
PostgreSQL, as wall-clock seconds of the server's process (its Python and its SQL) and
the number of SQL statements. The target (issue 21) is under 5 s for 2,000.

    /opt/odoo18/venv/bin/python bench/bench_reminders.py -c .medpulse/devdb/medpulse_dev.conf \\
        -d medpulse_dev [--count 2000] [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

TARGET_SECONDS = 5.0
UFA = "Asia/Yekaterinburg"


def make_clinic(env, count: int):
    """The company, its rule, ``count`` patients and their appointments tomorrow (in Ufa)."""
    from odoo import Command  # noqa: PLC0415 - Odoo is importable once the caller set it up

    from odoo.addons.medpulse_telephony.models.medpulse_reminder import day_bounds, local_day

    env = env(context=dict(env.context, tracking_disable=True, mail_create_nolog=True,
                           mail_notrack=True))
    company = env["res.company"].create({"name": "Bench reminders clinic"})
    company.resource_calendar_id.tz = UFA
    env["medpulse.reminder.rule"].create({
        "name": "Default", "company_id": company.id, "channel": "sms_call",
        "lead_hours": 24, "call_hours": 20,
    })
    specialty = env["medpulse.specialty"].create({"name": "Bench"})
    service = env["medpulse.service"].create({
        "name": "Bench visit", "code": "BENCH-REM", "duration": 15,
        "specialty_id": specialty.id, "company_id": company.id,
    })
    doctors = env["medpulse.doctor"].create([
        {"name": f"Bench doctor {n}", "specialty_id": specialty.id, "company_id": company.id,
         "service_ids": [Command.set(service.ids)]}
        for n in range(60)
    ])
    patients = env["medpulse.patient"].create([
        {"last_name": f"Benchov{n}", "first_name": "Ivan", "company_id": company.id,
         "consent_sms": n % 5 != 4, "consent_call": n % 7 != 6,
         "phone_ids": [Command.create({"number": f"+7 916 {n // 10000:03d}-{n % 10000:04d}"})]}
        for n in range(count)
    ])
    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    tomorrow = local_day(company, now) + timedelta(days=1)
    begin, _end = day_bounds(company, tomorrow)
    per_doctor = -(-count // len(doctors))
    appointments = env["medpulse.appointment"].create([
        {"patient_id": patient.id, "doctor_id": doctors[n // per_doctor].id,
         "service_id": service.id, "company_id": company.id,
         # From 08:00 in Ufa, a quarter of an hour each, per doctor (34 each for 2,000).
         "start": begin + timedelta(hours=8, minutes=15 * (n % per_doctor))}
        for n, patient in enumerate(patients)
    ])
    env.flush_all()
    return company, tomorrow, now, appointments


def measure(env, company, day: date, now: datetime) -> dict:
    Reminder = env["medpulse.reminder"]
    cr = env.cr
    env.invalidate_all()
    queries = cr.sql_log_count
    started, cpu = time.perf_counter(), time.process_time()
    built = Reminder._build_day(company, day, now=now)
    env.flush_all()
    return {
        "reminders": len(built),
        "seconds": round(time.perf_counter() - started, 3),
        "python_cpu_seconds": round(time.process_time() - cpu, 3),
        "sql_statements": cr.sql_log_count - queries,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("-d", "--database", required=True)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--out", help="folder for <date>-reminders.json and .md")
    args = parser.parse_args(argv)

    import odoo  # noqa: PLC0415 - after the path set-up
    from odoo.tools import config  # noqa: PLC0415

    config.parse_config(["-c", args.config, "-d", args.database, "--log-level=warn"])
    registry = odoo.modules.registry.Registry(args.database)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        setup_started = time.perf_counter()
        company, day, now, appointments = make_clinic(env, args.count)
        setup = round(time.perf_counter() - setup_started, 1)
        first = measure(env, company, day, now)
        second = measure(env, company, day, now)
        by_state = dict(env["medpulse.reminder"]._read_group(
            [("company_id", "=", company.id)], ["skip_reason"], ["__count"]))
        cr.rollback()
    result = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "load_avg_at_start": os.getloadavg(),
                    "python": platform.python_version()},
        "appointments": len(appointments),
        "setup_seconds": setup,
        "first_build": first,
        "second_build": second,
        "skipped_by_reason": {str(k or "planned"): v for k, v in by_state.items()},
        "target_seconds": TARGET_SECONDS,
        "met": first["seconds"] < TARGET_SECONDS,
    }
    print(json.dumps(result, indent=2))
    if args.out:
        out = Path(args.out)
        stem = out / f"{datetime.now():%Y-%m-%d}-reminders"
        stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
        stem.with_suffix(".md").write_text(
            f"# Reminders: building a day of {len(appointments)} appointments\n\n"
            "| build | reminders | seconds | Python CPU s | SQL statements |\n"
            "|---|---|---|---|---|\n"
            + "".join(
                f"| {name} | {run['reminders']} | {run['seconds']} | "
                f"{run['python_cpu_seconds']} | {run['sql_statements']} |\n"
                for name, run in (("first", first), ("again (idempotent)", second))
            )
            + f"\nTarget: under {TARGET_SECONDS} s for the first build: "
            f"{'met' if result['met'] else 'NOT met'}. Load average at the start: "
            f"{result['machine']['load_avg_at_start'][0]:.1f} on {os.cpu_count()} cores.\n"
        )
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
