"""Generate a clinic's patients straight into the database of an Odoo with medpulse_clinic.

Realistic load for the benchmarks: N patients with one to three Russian numbers
each, typed the way people type them ("+7 (916) 123-45-67", "8 916 123 45 67",
"79161234567" ...), loaded with COPY in seconds rather than through the ORM in
hours. ``number_e164`` is filled with the same normaliser as the addon
(``mango_vpbx.phones.normalize_number``), so the data is what the ORM would have stored.
With ``--partners`` the same people are also written as ``res.partner`` rows
(phone, mobile, and ``phone_sanitized`` when the ``sms`` module added it), to
compare our lookup with Odoo's own phone search on identical numbers.

Everything derives from ``--seed``: :func:`people` yields the same people for the
same seed, so a later benchmark (the call journal, say) can regenerate the
numbers it needs to dial without reading them back.

With ``--calls`` it also writes the call journal: ``--operators`` receptionists with
PBX extensions 101, 102... (created through the ORM, hence ``--odoo-config``: users need
their partner, groups and password hashing right) and ``--calls`` journal records spread
over the last ``--days`` days (with the usual share today), 70% from the patients' own
numbers, mixed like a reception desk (answered and missed incoming, outgoing, unanswered
outgoing), each with the raw events the PBX sent (``events/call`` legs and
``events/summary``) linked to it, as the webhook would have stored them.

    python bench/generate.py --db bench --patients 200000
    python bench/generate.py --db bench --patients 5000 --calls 20000 --operators 50 \
        --odoo-config /tmp/medpulse_bench/bench.conf --json
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH_LOGIN  # noqa: E402 - after the sys.path set-up above

from mango_vpbx.calls import FOLD_VERSION  # noqa: E402 - after the sys.path set-up above
from mango_vpbx.phones import normalize_number  # noqa: E402 - after the sys.path set-up above

MOBILE_CODES = [
    "900", "901", "902", "903", "904", "905", "906", "908", "909", "912", "913", "914",
    "915", "916", "917", "918", "919", "920", "921", "922", "923", "924", "925", "926",
    "927", "928", "929", "930", "931", "937", "939", "950", "951", "952", "953", "958",
    "960", "961", "962", "963", "964", "965", "966", "967", "968", "977", "978", "980",
    "981", "982", "983", "984", "985", "986", "987", "988", "989", "991", "992", "993",
    "994", "995", "996", "997", "999",
]
# Landlines of a few cities (area code, local number length); some patients give
# a home or work number.
LANDLINE_CODES = [("495", 7), ("499", 7), ("812", 7), ("347", 7), ("343", 7), ("3452", 6)]
FORMATS = [
    "+7 ({code}) {a}-{b}-{c}",
    "8 {code} {a} {b} {c}",
    "8({code}){a}{b}{c}",
    "+7{code}{a}{b}{c}",
    "7{code}{a}{b}{c}",
    "8-{code}-{a}-{b}-{c}",
    "{code} {a}-{b}-{c}",
    "+7 {code} {a} {b} {c}",
]
LABELS = ["own", "relative", "work", "other"]
SURNAMES = [
    "Иванов", "Петров", "Сидоров", "Смирнов", "Кузнецов", "Попов", "Васильев", "Соколов",
    "Михайлов", "Новиков", "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов",
    "Егоров", "Павлов", "Козлов", "Степанов", "Николаев", "Орлов", "Андреев", "Макаров",
    "Никитин", "Захаров", "Зайцев", "Соловьёв", "Борисов", "Яковлев", "Григорьев", "Романов",
]
MALE = ["Александр", "Сергей", "Дмитрий", "Андрей", "Алексей", "Максим", "Иван", "Михаил"]
FEMALE = ["Елена", "Ольга", "Наталья", "Татьяна", "Ирина", "Анна", "Мария", "Светлана"]
PATRONYMIC_ROOTS = ["Александров", "Сергеев", "Дмитриев", "Андреев", "Алексеев", "Иванов"]


@dataclass(frozen=True)
class Phone:
    number: str  # as typed
    e164: str  # what the number really is
    national: str  # the ten national digits, "9161234567"
    label: str


@dataclass(frozen=True)
class Person:
    index: int
    last_name: str
    first_name: str
    patronymic: str
    gender: str
    phones: tuple[Phone, ...]

    @property
    def name(self) -> str:
        return f"{self.last_name} {self.first_name} {self.patronymic}"


def _phone(rng: random.Random, label: str, used: set[str]) -> Phone:
    while True:
        if rng.random() < 0.85:
            code, digits = rng.choice(MOBILE_CODES), f"{rng.randrange(10**7):07d}"
        else:
            code, length = rng.choice(LANDLINE_CODES)
            digits = f"{rng.randrange(2 * 10 ** (length - 1), 10**length):0{length}d}"
        national = code + digits
        if national not in used:
            used.add(national)
            break
    tail = national[3:]
    typed = rng.choice(FORMATS).format(code=national[:3], a=tail[:3], b=tail[3:5], c=tail[5:])
    return Phone(number=typed, e164="+7" + national, national=national, label=label)


def people(count: int, seed: int = 1) -> Iterator[Person]:
    """The same ``count`` people for the same ``seed``; every number is distinct."""
    rng = random.Random(seed)
    used: set[str] = set()
    for index in range(count):
        female = rng.random() < 0.55
        surname = rng.choice(SURNAMES)
        root = rng.choice(PATRONYMIC_ROOTS)
        phones = tuple(
            _phone(rng, "own" if n == 0 else rng.choice(LABELS[1:]), used)
            for n in range(rng.choice((1, 1, 2, 3)))
        )
        yield Person(
            index=index,
            last_name=surname + "а" if female else surname,
            first_name=rng.choice(FEMALE if female else MALE),
            patronymic=root + ("на" if female else "ич"),
            gender="female" if female else "male",
            phones=phones,
        )


def _copy(cr, table: str, columns: list[str], rows: list[tuple]) -> None:
    buffer = io.StringIO()
    for row in rows:
        buffer.write(
            "\t".join(r"\N" if value is None else str(value) for value in row) + "\n"
        )
    buffer.seek(0)
    cr.copy_expert(
        f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer  # noqa: S608 - fixed table names
    )


def _next_id(cr, table: str) -> int:
    cr.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")  # noqa: S608 - fixed table names
    return cr.fetchone()[0]


def _fix_sequence(cr, table: str) -> None:
    cr.execute(f"SELECT setval('{table}_id_seq', (SELECT MAX(id) FROM {table}))")  # noqa: S608 - fixed table names


def load_patients(cr, persons: list[Person], company_id: int, batch: str) -> int:
    """COPY ``persons`` into medpulse_patient / medpulse_patient_phone; returns the first id.

    Card numbers are ``<batch>-<index>`` so several loads never collide with each
    other nor with the addon's ``MP-`` sequence.
    """
    first_id = _next_id(cr, "medpulse_patient")
    patient_rows, phone_rows = [], []
    for offset, person in enumerate(persons):
        patient_id = first_id + offset
        patient_rows.append((
            patient_id, person.last_name, person.first_name, person.patronymic, person.name,
            f"{batch}-{person.index:07d}", person.gender, True, True, company_id, 0,
            "now()", "now()", 1, 1,
        ))
        for sequence, phone in enumerate(person.phones, start=1):
            phone_rows.append((
                patient_id, company_id, sequence, phone.number,
                normalize_number(phone.number, "RU"), phone.label, "now()", "now()", 1, 1,
            ))
    _copy(cr, "medpulse_patient", [
        "id", "last_name", "first_name", "patronymic", "name", "card_number", "gender",
        "consent_call", "active", "company_id", "visit_count",
        "create_date", "write_date", "create_uid", "write_uid",
    ], patient_rows)
    _copy(cr, "medpulse_patient_phone", [
        "patient_id", "company_id", "sequence", "number", "number_e164", "label",
        "create_date", "write_date", "create_uid", "write_uid",
    ], phone_rows)
    _fix_sequence(cr, "medpulse_patient")
    return first_id


def load_partners(cr, persons: list[Person]) -> None:
    """The same people as contacts: first number in ``phone``, second in ``mobile``."""
    cr.execute(
        "SELECT 1 FROM information_schema.columns "
        "WHERE table_name = 'res_partner' AND column_name = 'phone_sanitized'"
    )
    sanitized = bool(cr.fetchone())
    columns = [
        "name", "complete_name", "active", "type", "is_company", "phone", "mobile",
        "create_date", "write_date", "create_uid", "write_uid",
    ] + (["phone_sanitized"] if sanitized else [])
    rows = []
    for person in persons:
        first = person.phones[0]
        second = person.phones[1] if len(person.phones) > 1 else None
        row = (
            person.name, person.name, True, "contact", False, first.number,
            second.number if second else None, "now()", "now()", 1, 1,
        )
        if sanitized:
            # what Odoo's compute stores: E.164 of the mobile, else of the phone
            row += (normalize_number((second or first).number, "RU"),)
        rows.append(row)
    _copy(cr, "res_partner", columns, rows)


CLINIC_LINES = ["73472251010", "73472251020"]


def ensure_operators(config_path: str, dbname: str, count: int) -> list[tuple[int, str]]:
    """``count`` receptionists with extensions 101..; the first logs in as the bench user."""
    import odoo  # noqa: PLC0415 - only this step needs Odoo itself
    from odoo.tools import config  # noqa: PLC0415 - imported where it is needed

    config.parse_config(["-c", config_path, "-d", dbname, "--log-level=warn"])
    registry = odoo.modules.registry.Registry(dbname)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        Users = env["res.users"].with_context(no_reset_password=True, mail_create_nolog=True)
        groups = [env.ref("base.group_user").id,
                  env.ref("medpulse_clinic.group_clinic_receptionist").id]
        operator_group = env.ref("medpulse_telephony.group_telephony_operator", False)
        if operator_group:
            groups.append(operator_group.id)
        wanted = {(BENCH_LOGIN if i == 0 else f"bench_operator_{101 + i}"): str(101 + i)
                  for i in range(count)}
        existing = set(Users.search([("login", "in", list(wanted))]).mapped("login"))
        rng = random.Random(count)
        # One batch, and a password only for the login the card benchmark signs in
        # with: hashing 50 passwords costs minutes on a busy 2-core machine.
        Users.create([{
            "name": f"{rng.choice(FEMALE)} {rng.choice(SURNAMES)}а",
            "login": login,
            "medpulse_pbx_extension": extension,
            "tz": "Europe/Moscow",
            "groups_id": [odoo.Command.set(groups)],
            **({"password": login} if login == BENCH_LOGIN else {}),
        } for login, extension in wanted.items() if login not in existing])
        for number in CLINIC_LINES:
            env["medpulse.telephony.line"]._get_or_create(env.company, number)
        users = Users.search([("login", "in", list(wanted))], order="medpulse_pbx_extension")
        return [(user.id, user.medpulse_pbx_extension) for user in users]


class _Copier:
    """Rows streamed to COPY in chunks, so a million calls never sit in memory."""

    def __init__(self, cr, table: str, columns: list[str], chunk: int = 50_000,
                 after: _Copier | None = None) -> None:
        self.cr, self.table, self.columns, self.chunk = cr, table, columns, chunk
        self.after = after  # rows referenced by a foreign key go in first
        self.rows: list[tuple] = []
        self.count = 0

    def add(self, *row) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.chunk:
            self.flush()

    def flush(self) -> None:
        if self.after:
            self.after.flush()
        if self.rows:
            _copy(self.cr, self.table, self.columns, self.rows)
            self.count += len(self.rows)
            self.rows = []


def _digest(body: str) -> str:
    """The signed body's digest, as the webhook stores it (``medpulse.call.event._insert``):
    without it, ``-u`` of a generated database digests every raw event once."""
    return hashlib.sha256(body.encode()).hexdigest()


def _text(value: str) -> str:
    """A JSON document as one COPY text field (backslashes and tabs escaped)."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def load_calls(cr, count: int, days: int, operators: list[tuple[int, str]], company_id: int,
               seed: int) -> tuple[int, int]:
    """COPY ``count`` journal calls and their raw events; returns (calls, events)."""
    rng = random.Random(seed + 2)
    cr.execute("SELECT number_e164, patient_id FROM medpulse_patient_phone "
               "WHERE sequence = 1 AND number_e164 IS NOT NULL")
    patient_of = dict(cr.fetchall())
    known = list(patient_of)
    cr.execute("SELECT id, number FROM medpulse_telephony_line WHERE number = ANY(%s)",
               [CLINIC_LINES])
    lines = cr.fetchall()
    call_id = _next_id(cr, "medpulse_call")
    event_id = _next_id(cr, "medpulse_call_event")
    calls = _Copier(cr, "medpulse_call", [
        "id", "entry_id", "company_id", "direction", "result", "call_type", "missed_at",
        "caller_number", "caller_e164", "callee_number", "callee_e164", "external_e164",
        "line_id", "patient_id", "answered_user_id", "operator_user_id", "created_at",
        "answered_at", "ended_at", "wait_seconds", "talk_seconds", "disconnect_reason",
        "disconnect_category", "is_final", "followup_state", "fold_version",
        "create_uid", "create_date", "write_uid", "write_date",
    ])
    events = _Copier(cr, "medpulse_call_event", [
        "id", "company_id", "path", "json", "received_at", "identity", "entry_id",
        "pbx_call_id", "state", "call_id", "create_uid", "create_date", "write_uid",
        "write_date", "body_sha256",
    ], chunk=100_000, after=calls)
    # the search view finds a caller's calls through patient_ids, the card through patient_id
    call_patients = _Copier(cr, "medpulse_call_medpulse_patient_rel",
                            ["medpulse_call_id", "medpulse_patient_id"], after=calls)
    rang = _Copier(cr, "medpulse_call_rang_user_rel", ["call_id", "user_id"], after=calls)
    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    for _n in range(count):
        entry = f"bench-{call_id:09d}"
        # uniform over the period, plus the usual share of calls in today's first hours
        ago = rng.randrange(6 * 3600) if rng.random() < 1 / days else rng.randrange(days * 86400)
        created = now - timedelta(seconds=ago)
        kind = rng.random()
        outgoing = kind >= 0.75
        answered = kind < 0.60 or 0.75 <= kind < 0.95
        uid, extension = operators[rng.randrange(len(operators))]
        external = (known[rng.randrange(len(known))] if known and rng.random() < 0.7
                    else f"+79{rng.randrange(10**9):09d}")
        line_id, line_number = lines[rng.randrange(len(lines))]
        wait = rng.randrange(3, 40)
        talk = rng.randrange(20, 400) if answered else 0
        reason = 1100 if answered or outgoing else 1110
        if outgoing:
            call_type = "outgoing" if answered else "unanswered_outgoing"
            caller, callee = line_number, external[1:]
        else:
            call_type = "incoming" if answered else "missed_incoming"
            caller, callee = external[1:], line_number
        followup = "new"
        if call_type == "missed_incoming":
            followup = "needs_callback" if ago < 3 * 86400 else rng.choice(
                ["called_back", "resolved", "no_action"])
        operator = uid if answered or outgoing else None
        calls.add(
            call_id, entry, company_id, "outgoing" if outgoing else "incoming",
            "answered" if answered else "missed", call_type,
            None if answered or outgoing else rng.choice(["ivr", "queue", "operator"]),
            caller, "+" + caller, callee, "+" + callee, external, line_id,
            patient_of.get(external), operator if answered else None, operator,
            created, created + timedelta(seconds=wait) if answered else None,
            created + timedelta(seconds=wait + talk), wait, talk, reason,
            "normal" if reason == 1100 else "caller_hangup", True, followup,
            # folded as today's fold folds them: the refold cron finds nothing to do
            FOLD_VERSION, 1, now, 1, now,
        )
        if external in patient_of:
            call_patients.add(call_id, patient_of[external])
        if not outgoing:
            rang.add(call_id, uid)
        start = int(created.replace(tzinfo=timezone.utc).timestamp())
        leg = f"{entry}-1"
        outside = {"number": external[1:]}
        desk = {"extension": extension, "number": f"sip:{extension}@bench.mangosip.ru"}
        source, target = (desk, outside) if outgoing else (outside, desk)
        states = [("Appeared", start)] + ([("Connected", start + wait)] if answered else [])
        states.append(("Disconnected", start + wait + talk))
        for seq, (state, moment) in enumerate(states, start=1):
            payload = {"entry_id": entry, "call_id": leg, "timestamp": moment, "seq": seq,
                       "call_state": state, "location": "abonent", "from": source, "to": target}
            if state == "Disconnected":
                payload["disconnect_reason"] = reason
            at = created + timedelta(seconds=moment - start)
            body = json.dumps(payload, ensure_ascii=False)
            events.add(event_id, company_id, "events/call", _text(body), at,
                       f"events/call:{leg}:{seq}:{state}", entry, leg, "processed", call_id,
                       1, at, 1, at, _digest(body))
            event_id += 1
        summary = {"entry_id": entry, "call_direction": 2 if outgoing else 1, "from": source,
                   "to": target, "create_time": start, "forward_time": start,
                   "talk_time": start + wait if answered else 0, "end_time": start + wait + talk,
                   "entry_result": int(answered), "disconnect_reason": reason,
                   "line_number": line_number}
        at = created + timedelta(seconds=wait + talk)
        body = json.dumps(summary, ensure_ascii=False)
        events.add(event_id, company_id, "events/summary", _text(body), at,
                   f"events/summary:{entry}", entry, None, "processed", call_id, 1, at, 1, at,
                   _digest(body))
        event_id += 1
        call_id += 1
    for copier in (calls, events, call_patients, rang):
        copier.flush()
    _fix_sequence(cr, "medpulse_call")
    _fix_sequence(cr, "medpulse_call_event")
    return calls.count, events.count


def sizes(cr) -> dict:
    """Rows and disk (table, indexes and TOAST) per table, and the whole database."""
    result = {}
    for table in ("medpulse_patient", "medpulse_patient_phone", "res_partner", "medpulse_call",
                  "medpulse_call_event", "res_users"):
        cr.execute("SELECT to_regclass(%s)", [table])
        if cr.fetchone()[0] is None:  # medpulse_telephony not installed
            continue
        cr.execute(f"SELECT count(*), pg_total_relation_size('{table}') FROM {table}")  # noqa: S608 - fixed table names
        rows, size = cr.fetchone()
        result[table] = {"rows": rows, "mb": round(size / 2**20, 1)}
    cr.execute("SELECT pg_database_size(current_database())")
    result["database_mb"] = round(cr.fetchone()[0] / 2**20, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, help="database with medpulse_clinic installed")
    parser.add_argument("--db-host", default="localhost")
    parser.add_argument("--db-port", type=int, default=5432)
    parser.add_argument("--db-user", default="root")
    parser.add_argument("--patients", type=int, default=200_000)
    parser.add_argument(
        "--partners", type=int, default=None,
        help="how many of the same people to add as res.partner rows (default: all)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", default="B", help="card number prefix of this load")
    parser.add_argument("--company-id", type=int, default=1)
    parser.add_argument("--chunk", type=int, default=50_000)
    parser.add_argument("--calls", type=int, default=0, help="journal calls with raw events")
    parser.add_argument("--operators", type=int, default=50, help="receptionists (with --calls)")
    parser.add_argument("--days", type=int, default=365, help="the calls span these last days")
    parser.add_argument("--odoo-config", help="Odoo config of --db (needed with --calls)")
    parser.add_argument("--json", action="store_true", help="print sizes and timings as JSON")
    args = parser.parse_args(argv)

    partners = args.patients if args.partners is None else args.partners
    conn = psycopg2.connect(
        dbname=args.db, host=args.db_host, port=args.db_port, user=args.db_user
    )
    started = time.perf_counter()
    with conn, conn.cursor() as cr:
        chunk: list[Person] = []
        done = 0
        for person in people(args.patients, args.seed):
            chunk.append(person)
            if len(chunk) == args.chunk:
                load_patients(cr, chunk, args.company_id, args.batch)
                load_partners(cr, chunk[: max(0, partners - done)])
                done += len(chunk)
                chunk = []
                print(f"  {done} patients", file=sys.stderr)
        if chunk:
            load_patients(cr, chunk, args.company_id, args.batch)
            load_partners(cr, chunk[: max(0, partners - done)])
            done += len(chunk)
        _fix_sequence(cr, "res_partner")
        cr.execute("ANALYZE medpulse_patient; ANALYZE medpulse_patient_phone; ANALYZE res_partner")
    patients_seconds = time.perf_counter() - started
    calls = events = 0
    operators: list[tuple[int, str]] = []
    if args.calls:
        if not args.odoo_config:
            sys.exit("--calls needs --odoo-config (operators are created through the ORM)")
        operators = ensure_operators(args.odoo_config, args.db, args.operators)
        with conn, conn.cursor() as cr:
            calls, events = load_calls(cr, args.calls, args.days, operators, args.company_id,
                                       args.seed)
            cr.execute("ANALYZE medpulse_call; ANALYZE medpulse_call_event")
    with conn, conn.cursor() as cr:
        # Every table, the relation tables (patients of a call, operators who rang) and
        # res_users included: after a bulk COPY autovacuum has not run yet, and stale
        # statistics gave the journal's patient filter a scan of the whole relation.
        cr.execute("ANALYZE")
        reached = sizes(cr)
    conn.close()
    elapsed = time.perf_counter() - started
    if args.json:
        print(json.dumps({
            "requested": {"patients": args.patients, "calls": args.calls,
                          "operators": args.operators if args.calls else 0, "days": args.days},
            "generated": {"patients": done, "partners": min(partners, done), "calls": calls,
                          "events": events, "operators": len(operators)},
            "seconds": {"patients": round(patients_seconds, 1), "total": round(elapsed, 1)},
            "sizes": reached,
        }, indent=2))
    else:
        print(
            f"{done} patients (and {min(partners, done)} partners), {calls} calls with {events} "
            f"events loaded into {args.db} in {elapsed:.1f}s; database {reached['database_mb']} MB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
