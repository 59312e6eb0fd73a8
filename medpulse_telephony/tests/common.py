"""Shared fixtures: a configured PBX account, operators, a patient and call scripts.

The scripts follow the official "examples of behaviour" of the PBX documentation
(incoming call through the IVR to an employee, an employee's outgoing call, a
missed call) with the fields of the events tables, as the PBX sends them: numbers
without '+', extensions as strings, seq and timestamp sometimes as strings.
"""

import json
import random
import uuid
from datetime import datetime, timezone

from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user

import mango_vpbx
from mango_vpbx_emulator.scenarios import SCENARIOS
from mango_vpbx_emulator.testing import ACCEPTED, PbxDouble, sequence

API_KEY = "test-vpbx-key-0001"
API_SALT = "test-vpbx-salt-0001"
LINE = "74951234567"
PATIENT_NUMBER = "79161234567"
OPERATOR_MOBILE = "79031112233"
# 2026-03-02 09:00:00 UTC = 14:00 in Ufa (UTC+5).
T0 = int(datetime(2026, 3, 2, 9, 0, 0, tzinfo=timezone.utc).timestamp())


def call_event(entry_id, call_id, seq, state, ts, location="abonent", from_=None, to=None, **extra):
    payload = {
        "entry_id": entry_id, "call_id": call_id, "timestamp": ts, "seq": seq,
        "call_state": state, "location": location, "from": from_ or {}, "to": to or {},
    }
    payload.update(extra)
    return ("events/call", payload)


def summary(entry_id, direction, from_, to, create, forward, talk, end, result, reason, line=LINE):
    payload = {
        "entry_id": entry_id, "call_direction": direction, "from": from_, "to": to,
        "line_number": line, "create_time": create, "forward_time": forward,
        "talk_time": talk, "end_time": end, "entry_result": result, "disconnect_reason": reason,
    }
    return ("events/summary", payload)


def incoming_answered(entry_id="E-IN-1", t0=T0, caller=PATIENT_NUMBER, to_operator=None):
    """IVR -> employee 101 (rings 102 too) -> answered after 12 s -> 60 s of talk.

    ``to_operator`` replaces the answering party, e.g. ``{"number": mobile}`` for a
    leg that rings an operator's mobile with no extension.
    """
    answering = to_operator or {"extension": "101", "number": "sip:reception1@clinic.mangosip.ru"}
    ivr_to = {"number": LINE, "line_number": LINE}
    return [
        call_event(
            entry_id, f"{entry_id}:ivr", "1", "Appeared", str(t0), "ivr", {"number": caller}, ivr_to
        ),
        call_event(
            entry_id,
            f"{entry_id}:ivr",
            "2",
            "Disconnected",
            str(t0 + 5),
            "ivr",
            {"number": caller},
            ivr_to,
            disconnect_reason="1100",
        ),
        call_event(
            entry_id,
            f"{entry_id}:op2",
            1,
            "Appeared",
            t0 + 5,
            "abonent",
            {"number": caller, "taken_from_call_id": f"{entry_id}:ivr"},
            {
                "extension": "102",
                "number": "sip:reception2@clinic.mangosip.ru",
                "line_number": LINE,
                "acd_group": "300",
            },
        ),
        call_event(
            entry_id,
            f"{entry_id}:op1",
            1,
            "Appeared",
            t0 + 5,
            "abonent",
            {"number": caller, "taken_from_call_id": f"{entry_id}:ivr"},
            dict(answering, line_number=LINE, acd_group="300"),
        ),
        call_event(
            entry_id,
            f"{entry_id}:op1",
            2,
            "Connected",
            t0 + 12,
            "abonent",
            {"number": caller},
            dict(answering, line_number=LINE, acd_group="300"),
        ),
        call_event(
            entry_id,
            f"{entry_id}:op2",
            2,
            "Disconnected",
            t0 + 12,
            "abonent",
            {"number": caller},
            {
                "extension": "102",
                "number": "sip:reception2@clinic.mangosip.ru",
                "line_number": LINE,
                "acd_group": "300",
            },
            disconnect_reason=1182,
        ),
        call_event(
            entry_id,
            f"{entry_id}:op1",
            3,
            "Disconnected",
            t0 + 72,
            "abonent",
            {"number": caller},
            dict(answering, line_number=LINE, acd_group="300"),
            disconnect_reason=1110,
        ),
        summary(entry_id, 1, {"number": caller}, answering, t0, t0 + 5, t0 + 12, t0 + 72, 1, 1110),
    ]


def incoming_missed(entry_id="E-MISS-1", t0=T0, caller=PATIENT_NUMBER):
    """IVR -> queue -> employee 101 rings 20 s -> the caller hangs up."""
    ivr_to = {"number": LINE, "line_number": LINE}
    op_to = {"extension": "101", "number": "sip:reception1@clinic.mangosip.ru", "line_number": LINE}
    return [
        call_event(
            entry_id, f"{entry_id}:ivr", 1, "Appeared", t0, "ivr", {"number": caller}, ivr_to
        ),
        call_event(
            entry_id,
            f"{entry_id}:ivr",
            2,
            "Disconnected",
            t0 + 4,
            "ivr",
            {"number": caller},
            ivr_to,
            disconnect_reason=1100,
        ),
        call_event(
            entry_id,
            f"{entry_id}:op1",
            1,
            "Appeared",
            t0 + 4,
            "abonent",
            {"number": caller, "taken_from_call_id": f"{entry_id}:ivr"},
            op_to,
        ),
        call_event(
            entry_id,
            f"{entry_id}:op1",
            2,
            "Disconnected",
            t0 + 24,
            "abonent",
            {"number": caller},
            op_to,
            disconnect_reason=1110,
        ),
        summary(entry_id, 1, {"number": caller}, op_to, t0, t0 + 4, 0, t0 + 24, 0, 1110),
    ]


def outgoing(entry_id="E-OUT-1", t0=T0, callee=PATIENT_NUMBER, answered=True, extension="101"):
    """An employee's outgoing call, as in the official example (sequence 245)."""
    from_ = {"extension": extension, "number": "sip:reception1@clinic.mangosip.ru"}
    events = [
        call_event(
            entry_id,
            f"{entry_id}:1",
            "1",
            "Appeared",
            str(t0),
            "abonent",
            {"extension": extension},
            {"number": callee},
        ),
    ]
    if answered:
        events += [
            call_event(
                entry_id,
                f"{entry_id}:1",
                "2",
                "Connected",
                str(t0 + 8),
                "abonent",
                from_,
                {"number": callee},
            ),
            call_event(
                entry_id,
                f"{entry_id}:1",
                "3",
                "Disconnected",
                str(t0 + 38),
                "abonent",
                from_,
                {"number": callee},
                disconnect_reason="1120",
            ),
            summary(entry_id, 2, from_, {"number": callee}, t0, t0, t0 + 8, t0 + 38, 1, 1120),
        ]
    else:
        events += [
            call_event(
                entry_id,
                f"{entry_id}:1",
                "2",
                "Disconnected",
                str(t0 + 30),
                "abonent",
                from_,
                {"number": callee},
                disconnect_reason="1111",
            ),
            summary(entry_id, 2, from_, {"number": callee}, t0, t0, 0, t0 + 30, 0, 1111),
        ]
    return events


def shuffled_scenarios(seeds=2):
    """Every emulator scenario as the PBX might deliver it: for each and each seed,
    ``(label, entry_id, mixed)``: its events shuffled, half of them delivered twice."""
    for name in sorted(SCENARIOS):
        for seed in range(seeds):
            sent = sequence(name)
            rnd = random.Random(seed)
            mixed = sent + rnd.sample(sent, k=len(sent) // 2)
            rnd.shuffle(mixed)
            entry_id = next(
                json.loads(text)["entry_id"] for path, text in sent
                if path.startswith("events/call")
            )
            yield f"{name} {seed}", entry_id, mixed


def forget_call_backs(env, entry_ids):
    """Remove the call-backs that committed calls opened or closed (tests on real transactions).

    Deleting the calls alone leaves their call-backs behind (the links are set to NULL), and a
    later test counting the day's call-backs would count them.
    """
    env["medpulse.call.callback"].search([
        "|", "|",
        ("call_ids.entry_id", "in", list(entry_ids)),
        ("attempt_call_ids.entry_id", "in", list(entry_ids)),
        ("reached_call_id.entry_id", "in", list(entry_ids)),
    ]).unlink()


def receptionist_with_extension(env, login, extension="101"):
    """A receptionist with a PBX extension: who opens My Preferences in the tours (also
    the demo addon's)."""
    user = new_test_user(env, login=login, groups="medpulse_clinic.group_clinic_receptionist")
    user.medpulse_pbx_extension = extension
    return user


def stats_pbx(csv_for, not_ready=1, status=None, api_key=API_KEY, api_salt=API_SALT):
    """A PBX double (not started: use it in ``with``) serving the statistics.

    Every ``stats/request`` opens a report whose CSV is ``csv_for(request json)``;
    ``stats/result`` answers 204 for its first ``not_ready`` polls, then the CSV (404 for
    an unknown key). ``status``: every request is answered with it instead (failures).
    Unsigned requests get the PBX's refusal.
    """
    pbx = PbxDouble(api_key, api_salt, require_signature=True)
    if status:
        pbx.script("*", (status, ""))
        return pbx
    reports = {}

    def request(req):
        key = f"key-{len(reports) + 1}"
        reports[key] = {"csv": csv_for(req.data), "polls": 0}
        return 200, {"key": key}

    def result(req):
        report = reports.get(req.data.get("key"))
        if report is None:
            return 404, ""
        report["polls"] += 1
        return (204, "") if report["polls"] <= not_ready else (200, report["csv"])

    pbx.script("stats/request", request)
    pbx.script("stats/result", result)
    return pbx


def csv_rows(rows, fields):
    """Rows (dicts) as the PBX's CSV for the requested ``fields`` string."""
    names = [name.strip() for name in fields.split(",")]
    return "".join(";".join(str(row.get(name, "")) for name in names) + "\n" for row in rows)


def window_csv(rows, line_end="\n"):
    """A ``csv_for`` serving the rows whose ``start`` is inside the requested window."""

    def csv_for(data):
        low, high = int(data["date_from"]), int(data["date_to"])
        chosen = [row for row in rows if low <= int(row["start"]) <= high]
        return csv_rows(chosen, data["fields"]).replace("\n", line_end)

    return csv_for


def dumps(payload):
    return mango_vpbx.signing.dumps(payload)


# role -> groups of a test user created for it (public uses the real public user).
ROLES = {
    "operator": "medpulse_telephony.group_telephony_operator",
    "receptionist": "medpulse_clinic.group_clinic_receptionist",
    "doctor": "medpulse_clinic.group_clinic_doctor",
    "telephony_manager": "medpulse_telephony.group_telephony_manager",
    "clinic_manager": "medpulse_clinic.group_clinic_manager",
    "administrator": "base.group_system,medpulse_telephony.group_telephony_manager,"
    "medpulse_clinic.group_clinic_manager",
    "portal": "base.group_portal",
    "public": None,
}
#: The groups of the "other_company" user of the access tables: every right, in its company only.
OTHER_COMPANY_GROUPS = (
    "medpulse_clinic.group_clinic_manager,medpulse_telephony.group_telephony_manager"
)


def statements_per_event(case, events):
    """Fold ``events`` one by one through the webhook's ``_receive`` for ``case.company``;
    the SQL statements each took (the statement budgets' measure)."""
    Event = case.env["medpulse.call.event"].sudo()
    counts = []
    for path, payload in events:
        case.env.invalidate_all()
        case.env.cr.flush()
        before = case.cr.sql_log_count
        Event._receive(case.company, path, dumps(payload))
        case.env.cr.flush()
        counts.append(case.cr.sql_log_count - before)
    return counts


def role_users(env, prefix, other_company=None):
    """A user per role of ``ROLES`` for an access table (login ``<prefix>_<role>``; "public"
    is the real public user), and with ``other_company`` (a ``res.company``) an
    "other_company" user who manages the clinic and its telephony there only."""
    users = {}
    for role, groups in ROLES.items():
        if groups is None:
            users[role] = env.ref("base.public_user")
        else:
            users[role] = new_test_user(env, login=f"{prefix}_{role}", groups=groups)
    if other_company is not None:
        users["other_company"] = new_test_user(
            env, login=f"{prefix}_other_company", company_id=other_company.id,
            company_ids=[(6, 0, other_company.ids)], groups=OTHER_COMPANY_GROUPS,
        )
    return users


def attempt_allowed(case, role, action):
    """Whether ``case.attempt(role, action)`` (one cell of an access table: the role's user
    does the action) is allowed: its answer, or False when the access rights refuse it
    (``AccessError``, or the ``UserError`` of a model's own guard)."""
    try:
        return case.attempt(role, action)
    except (AccessError, UserError):
        return False


def matrix_mismatches(case, matrix, actions):
    """The cells of an access table where ``case.attempt`` disagrees with it: ``matrix`` is
    {role: the actions it allows}, every action of ``actions`` is tried for every role, each
    in a sub-test and a savepoint rolled back (a cell's writes never change the next
    one's). Returns ``["<role> <action>: allowed|refused", ...]``, empty when all agree."""
    wrong = []
    for role, allowed_actions in matrix.items():
        for action in actions:
            with case.subTest(role=role, action=action), case.env.cr.savepoint() as savepoint:
                allowed = attempt_allowed(case, role, action)
                savepoint.rollback()
            case.env.invalidate_all()
            if allowed != (action in allowed_actions):
                wrong.append(f"{role} {action}: {'allowed' if allowed else 'refused'}")
    return wrong


class TelephonyFixtures:
    """Mixin for TransactionCase/HttpCase: PBX account, operators, patient."""

    @classmethod
    def setup_telephony(cls):
        cls.company = cls.env.company
        cls.company.sudo().write({
            "medpulse_pbx_api_key": API_KEY, "medpulse_pbx_api_salt": API_SALT,
            "medpulse_pbx_time_base": "utc", "medpulse_pbx_default_region": "RU",
        })
        cls.operator1 = new_test_user(
            cls.env, login="tel_op1", name="Olga Operator", email="olga@clinic.example",
            groups="medpulse_clinic.group_clinic_receptionist", tz="Asia/Yekaterinburg",
        )
        cls.operator2 = new_test_user(
            cls.env, login="tel_op2", name="Pavel Operator",
            groups="medpulse_clinic.group_clinic_receptionist",
        )
        cls.operator3 = new_test_user(
            cls.env,
            login="tel_op3",
            name="Mira Mobile",
            groups="medpulse_clinic.group_clinic_receptionist",
        )
        cls.manager = new_test_user(
            cls.env, login="tel_mgr", name="Marat Manager",
            groups="medpulse_telephony.group_telephony_manager,medpulse_clinic.group_clinic_receptionist",
        )
        cls.operator1.sudo().medpulse_pbx_extension = "101"
        cls.operator2.sudo().medpulse_pbx_extension = "102"
        cls.env["medpulse.telephony.user.number"].sudo().create({
            "user_id": cls.operator3.id, "number": OPERATOR_MOBILE, "kind": "mobile",
        })
        cls.patient = cls.env["medpulse.patient"].sudo().create({
            "last_name": "Ivanova", "first_name": "Anna",
            "phone_ids": [(0, 0, {"number": "+7 (916) 123-45-67"})],
        })

    def receive(self, events):
        """Store and fold events as the webhook does, without HTTP."""
        Event = self.env["medpulse.call.event"].sudo()
        for path, payload in events:
            Event._receive(self.company, path, dumps(payload))
        entry_id = events[0][1]["entry_id"]
        return self.env["medpulse.call"].sudo().search(
            [("entry_id", "=", entry_id), ("company_id", "=", self.company.id)]
        )

    @staticmethod
    def snapshot(call):
        """The journal values that must not depend on delivery order or duplicates."""
        names = [
            "direction", "result", "call_type", "missed_at", "caller_number", "caller_e164",
            "callee_number", "callee_e164", "external_e164", "created_at", "answered_at",
            "ended_at", "wait_seconds", "talk_seconds", "disconnect_reason", "disconnect_category",
            "transfers", "recording_ids_text", "is_final", "followup_state",
        ]
        values = {name: call[name] for name in names}
        values.update({
            "line": call.line_id.number, "patient": call.sudo().patient_id.id,
            "answered": call.answered_user_id.id, "operator": call.operator_user_id.id,
            "rang": sorted(call.rang_user_ids.ids), "events": len(call.sudo().event_ids),
        })
        return json.loads(json.dumps(values, default=str))


class CommittedPbxBudget:
    """With a TransactionCase: the company talks to the toolkit's PBX double, which accepts
    every request until a test scripts otherwise.

    The TransactionCase's ``registry.cursor()`` gives real, concurrent transactions, as in
    production, so the rows of the PBX request budget are committed: each test's are removed
    after it.
    """

    PREFIX = "pbx"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.api_key, cls.api_salt = f"{cls.PREFIX}-{uuid.uuid4().hex}", f"{cls.PREFIX}-salt"
        cls.stub = PbxDouble(cls.api_key, cls.api_salt, require_signature=True).start()
        cls.addClassCleanup(cls.stub.stop)
        cls.company = cls.env.company
        cls.company.sudo().write({
            "medpulse_pbx_api_key": cls.api_key, "medpulse_pbx_api_salt": cls.api_salt,
            "medpulse_pbx_api_url": cls.stub.url,
        })

    def setUp(self):
        super().setUp()
        self.stub.reset()
        self.stub.script("*", ACCEPTED)
        self.account = self.company._medpulse_pbx_client().account
        self.addCleanup(self.forget_budget)

    def forget_budget(self):
        with self.registry.cursor() as cr:
            cr.execute("DELETE FROM medpulse_telephony_limit WHERE key LIKE %s",
                       [f"{self.account}:%"])
