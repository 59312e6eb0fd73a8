"""Caller identification: our indexed E.164 lookup against Odoo's own phone search.

Runs inside Odoo (``odoo.tools.config`` + ``Registry``), through the ORM, as a
non-superuser receptionist, so record rules apply exactly as on a real call. On
the data of ``bench/generate.py`` (the same numbers as patients and as contacts)
it measures, for a random sample of the generated people:

* ``medpulse.patient._lookup_by_phone(raw)`` for every input form a number
  arrives in (the PBX's ``79161234567``, ``+79161234567``, ``+7 (916) 123-45-67``,
  ``8 916 123 45 67``, ``8-916-123-45-67``, a SIP URI);
* ``res.partner`` ``phone_mobile_search`` ``=`` with ``+7…`` and with the PBX's
  form, and ``ilike`` with the ten national digits (Odoo's ``sms`` module);
* a suffix match over the phone columns, the OCA ``base_phone`` way.

It prints median and p99 per lookup, the hit rate of each, the ratios the issue
asks for, and writes everything to JSON. Nothing is written to the database: the
receptionist is created in a transaction that is rolled back.

    python bench/generate.py --db bench --patients 200000
    python bench/bench_lookup.py --db bench --patients 200000
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import people  # noqa: E402 - after the sys.path set-up above


def _grouped(national: str, sep: str) -> str:
    return sep.join((national[:3], national[3:6], national[6:8], national[8:]))


INPUT_FORMS = {
    "pbx": lambda p: p.e164[1:],
    "e164": lambda p: p.e164,
    "human_plus7": lambda p: (
        f"+7 ({p.national[:3]}) {p.national[3:6]}-{p.national[6:8]}-{p.national[8:]}"
    ),
    "human_8": lambda p: "8 " + _grouped(p.national, " "),
    "dashes_8": lambda p: "8-" + _grouped(p.national, "-"),
    "sip": lambda p: f"sip:{p.e164[1:]}@clinic.mangosip.ru",
}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _measure(fn, cases, warmup: int = 20) -> dict:
    for raw, _expected in cases[:warmup]:
        fn(raw)
    timings, hits = [], 0
    for raw, expected in cases:
        started = time.perf_counter()
        found = fn(raw)
        timings.append((time.perf_counter() - started) * 1000)
        hits += expected in found
    return {
        "n": len(cases),
        "median_ms": statistics.median(timings),
        "p99_ms": _percentile(timings, 0.99),
        "hit_rate": hits / len(cases),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--db-host", default="localhost")
    parser.add_argument("--db-port", default="5432")
    parser.add_argument("--db-user", default="root")
    parser.add_argument(
        "--addons-path", default=f"/opt/odoo18/src/addons,{ROOT}",
        help="Odoo addons path (must contain medpulse_clinic)",
    )
    parser.add_argument("--patients", type=int, required=True,
                        help="--patients given to generate.py")
    parser.add_argument("--seed", type=int, default=1, help="--seed given to generate.py")
    parser.add_argument("--samples", type=int, default=1000, help="lookups per indexed method")
    parser.add_argument("--slow-samples", type=int, default=60,
                        help="lookups per scanning method (ilike, suffix)")
    parser.add_argument("--output", default=None, help="JSON file (default bench/results/...)")
    args = parser.parse_args(argv)

    import odoo
    from odoo.modules.registry import Registry
    from odoo.tools import config

    config.parse_config([
        "-d", args.db, "--db_host", args.db_host, "--db_port", args.db_port,
        "--db_user", args.db_user, "--addons-path", args.addons_path, "--log-level", "warn",
    ])
    registry = Registry(args.db)

    # Sample people from the generated set; each sample keeps one of its numbers.
    rng = random.Random(args.seed + 1)
    sample_index = set(rng.sample(range(args.patients), min(args.samples, args.patients)))
    sample = [p for p in people(args.patients, args.seed) if p.index in sample_index]
    picked = [(person, rng.choice(person.phones)) for person in sample]

    with registry.cursor() as cr:
        su = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        if "phone_mobile_search" not in su["res.partner"]._fields:
            sys.exit("res.partner has no phone_mobile_search: install the 'sms' module first")
        receptionist_group = su.ref("medpulse_clinic.group_clinic_receptionist")
        receptionist = su["res.users"].with_context(no_reset_password=True).create({
            "name": "Bench Receptionist",
            "login": f"bench_receptionist_{time.time_ns()}",
            "groups_id": [odoo.Command.set(receptionist_group.ids)],
        })
        env = odoo.api.Environment(cr, receptionist.id, {})
        Patient, Partner = env["medpulse.patient"], env["res.partner"]
        # generated people -> database ids, by the true E.164 of the sampled number
        cr.execute(
            "SELECT number_e164, patient_id FROM medpulse_patient_phone "
            "WHERE number_e164 = ANY(%s)",
            [[phone.e164 for _person, phone in picked]],
        )
        patient_of = dict(cr.fetchall())
        # a person's contact is the partner whose phone is their first number, as typed
        cr.execute(
            "SELECT phone, id FROM res_partner WHERE phone = ANY(%s)",
            [[person.phones[0].number for person, _phone in picked]],
        )
        partner_of = dict(cr.fetchall())
        cr.execute("SELECT count(*) FROM medpulse_patient")
        n_patients = cr.fetchone()[0]
        cr.execute("SELECT count(*) FROM res_partner")
        n_partners = cr.fetchone()[0]

        def patient_cases(form, limit=None):
            cases = [(INPUT_FORMS[form](phone), patient_of.get(phone.e164, -1))
                     for _person, phone in picked]
            return cases[:limit] if limit else cases

        def partner_search(domain_of):
            def run(raw):
                return set(Partner.search(domain_of(raw)).ids)
            return run

        def measure_partner(make, fn, limit=None):
            # a contact carries the first two numbers of a person (phone, mobile)
            cases = [
                (make(phone), partner_of.get(person.phones[0].number, -1))
                for person, phone in picked if phone in person.phones[:2]
            ]
            return _measure(fn, cases[:limit] if limit else cases)

        def suffix_sql(raw):
            # OCA base_phone: match the last digits of the stored numbers, separators removed
            pattern = "%" + raw[-10:]
            cr.execute(
                "SELECT id FROM res_partner WHERE "
                "regexp_replace(phone, '[^0-9]', '', 'g') LIKE %s "
                "OR regexp_replace(mobile, '[^0-9]', '', 'g') LIKE %s",
                [pattern, pattern],
            )
            return {row[0] for row in cr.fetchall()}

        results = {}
        for form in INPUT_FORMS:
            results[f"lookup[{form}]"] = _measure(
                lambda raw: set(Patient._lookup_by_phone(raw).ids), patient_cases(form)
            )
        results["partner '=' +7"] = measure_partner(
            lambda p: p.e164, partner_search(lambda raw: [("phone_mobile_search", "=", raw)]))
        results["partner '=' pbx"] = measure_partner(
            lambda p: p.e164[1:], partner_search(lambda raw: [("phone_mobile_search", "=", raw)]))
        results["partner ilike national"] = measure_partner(
            lambda p: p.national,
            partner_search(lambda raw: [("phone_mobile_search", "ilike", raw)]),
            limit=args.slow_samples)
        results["partner suffix LIKE (base_phone)"] = measure_partner(
            lambda p: p.national, suffix_sql, limit=args.slow_samples)
        cr.rollback()

    ours = statistics.median(
        r["median_ms"] for k, r in results.items() if k.startswith("lookup[")
    )
    worst_ours = max(r["median_ms"] for k, r in results.items() if k.startswith("lookup["))
    ratios = {
        "lookup worst form / partner '=' +7 (goal <= 1.2)":
            worst_ours / results["partner '=' +7"]["median_ms"],
        "partner ilike / lookup (goal >= 5)":
            results["partner ilike national"]["median_ms"] / worst_ours,
        "suffix LIKE / lookup (goal >= 100)":
            results["partner suffix LIKE (base_phone)"]["median_ms"] / worst_ours,
    }

    print(f"\n{args.db}: {n_patients} patients, {n_partners} partners "
          f"(receptionist, record rules on)\n")
    print(f"{'method':<36} {'n':>5} {'median ms':>10} {'p99 ms':>9} {'hits':>7}")
    for name, r in results.items():
        print(f"{name:<36} {r['n']:>5} {r['median_ms']:>10.3f} {r['p99_ms']:>9.3f} "
              f"{r['hit_rate']:>7.1%}")
    print()
    for name, value in ratios.items():
        print(f"{name:<52} {value:8.2f}")

    output = Path(args.output) if args.output else (
        ROOT / "bench" / "results" / f"lookup-{n_patients}.json"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "database": args.db,
        "patients": n_patients,
        "partners": n_partners,
        "median_of_forms_ms": ours,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "results": results,
        "ratios": ratios,
    }, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwritten to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
