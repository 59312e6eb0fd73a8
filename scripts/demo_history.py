"""The demo's history of calls, Odoo's side: ``scripts/demo_init.py --history [DAYS]``.

The history itself is made by the emulator's generator (``mango_vpbx_emulator.history``)
from the demo's operators and patients, and saved where the emulator reads it. Here the
older calls go through the code live events go through: each event is stored as a raw
event of the webhook (``medpulse.call.event._store``, with the moment the PBX would have
posted it), the call is folded from all its events (``medpulse.call._recompute``) and
the hooks of live events run (``_after_event``: recordings scheduled for download,
follow-up of missed calls, their call-backs: returned in time, late or never, so that
"Missed calls to return", the activities and the lost-patient ledger have something to
show). Then the operators' part: the follow-up status and comment of the card's closing
form (a wrong number marked "No action needed", which cancels its call-back), and
appointments booked from the call. Today's calls are not folded here: the emulator posts
them to the running Odoo's webhook.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

from mango_vpbx_emulator.history import BULK, DEFAULT_SEED, Caller, generate
from mango_vpbx_emulator.state import demo_directory, directory_from_config

#: Where the parameters of the history of a database are kept (JSON): they let the file
#: be made again, identical, when it is lost.
MARKER = "medpulse_demo.history"
#: Calls folded per transaction.
BATCH = 50


def callers(env):
    """The demo patients' numbers, as the PBX writes them (``7XXXXXXXXXX``)."""
    phones = env["medpulse.patient.phone"].sudo().search(
        [("number_e164", "!=", False), ("patient_id.active", "=", True)], order="id"
    )
    return [Caller(p.number_e164.lstrip("+"), p.patient_id.name) for p in phones]


def emulator_directory(env, company):
    """The emulator's ``--directory`` file: the PBX's people by their Odoo names, the callers.

    Operators keep the extensions and devices of the emulator's demo account; the
    console lists the patients to call from.
    """
    demo = demo_directory()
    users = (
        env["res.users"]
        .sudo()
        .search(
            [("medpulse_pbx_extension", "!=", False), ("company_ids", "in", company.ids)],
            order="medpulse_pbx_extension",
        )
    )
    employees = []
    for user in users:
        known = demo.employees.get(user.medpulse_pbx_extension)
        employees.append({
            "extension": user.medpulse_pbx_extension,
            "name": user.name,
            "email": user.email or "",
            **({"mobile": known.mobile} if known and known.mobile else {}),
        })
    extensions = [e["extension"] for e in employees]
    return {
        "employees": employees,
        "groups": [
            {"extension": g.extension, "name": g.name,
             "members": [m for m in g.members if m in extensions] or extensions}
            for g in demo.groups.values()
        ],
        "lines": [{"number": ln.number, "name": ln.name} for ln in demo.lines],
        "callers": [
            {"number": c.number, "name": c.name}
            for c in sorted(callers(env), key=lambda c: (c.name, c.number))
        ],
    }


def make(env, company, directory, days, path, marker=None):
    """Generate the history (again, from ``marker``, when given) and save it to ``path``."""
    params = marker or {
        "seed": DEFAULT_SEED, "days": days, "now": int(datetime.now(timezone.utc).timestamp()),
    }
    history = generate(
        directory_from_config(directory), callers(env), now=params["now"], days=params["days"],
        seed=params["seed"], tz=company.resource_calendar_id.tz or "UTC",
    )
    history.save(path)
    return history, params


def load(env, company, history):
    """Fold the ``bulk`` calls into the journal and replay what the operators did."""
    env = env(context=dict(env.context, allowed_company_ids=company.ids))
    Event = env["medpulse.call.event"].with_company(company)
    Call = env["medpulse.call"].with_company(company)
    Users = env["res.users"]
    operators = {
        u.medpulse_pbx_extension: u
        for u in Users.sudo().search(
            [("medpulse_pbx_extension", "!=", False), ("company_ids", "in", company.ids)]
        )
    }
    _name_lines(env, company, directory_lines=demo_directory().lines)
    rng = random.Random(history.seed)
    doctors = env["medpulse.doctor"].sudo().search([("service_ids", "!=", False)], order="id")
    counts = {"calls": 0, "events": 0, "appointments": 0}
    for n, item in enumerate(history.part(BULK), 1):
        last_message = _last_message_id(env)
        stored = []
        for path, json_str in item.events:
            record, event = Event._store(company, path, json_str)
            if record:
                stored.append((record, event))
                _date_event(env, record, _posted_at(json_str))
        if not stored:
            continue  # already folded by an earlier run
        with Users._medpulse_pbx_operator_memo():
            call, state, events = Call._recompute(company, item.entry_id)
            events._link_folded(call)
            for record, event in stored:
                if event is not None:
                    call._after_event(record, event, state)
        # As the webhook's fold does (medpulse.call.event._process): folded, so processed.
        Event.browse([record.id for record, _event in stored]).filtered(
            lambda r: r.state == "received"
        ).write({"state": "processed"})
        counts["calls"] += 1
        counts["events"] += len(stored)
        user = operators.get(item.followup.get("operator"))
        if user:
            counts["appointments"] += _operator_part(env, call, item.followup, user, doctors, rng)
        env.flush_all()
        env.cr.precommit.run()  # mail tracking: its messages are dated below
        _date_messages(env, last_message, item.call.end_time + 60)
        if n % BATCH == 0:
            env.cr.commit()
    # The reconciliation cron starts where the webhook's part begins: the older calls
    # came in-process, the rest it compares with the PBX's statistics.
    since = min(
        (c.started for c in history.calls if c.delivery != BULK), default=history.generated_at
    )
    company.sudo().medpulse_pbx_reconciled_until = _naive(since)
    env.cr.commit()
    return counts


def _name_lines(env, company, directory_lines):
    Line = env["medpulse.telephony.line"].sudo()
    for line in directory_lines:
        if not Line.search_count([("company_id", "=", company.id), ("number", "=", line.number)]):
            Line.create({"company_id": company.id, "number": line.number, "name": line.name})


def _posted_at(json_str):
    """When the PBX posts an event: its own time (a summary: the end of the call)."""
    payload = json.loads(json_str)
    return int(payload.get("timestamp") or payload.get("end_time") or payload.get("create_time"))


def _date_event(env, record, moment):
    env.cr.execute(
        "UPDATE medpulse_call_event SET received_at = %s, create_date = %s WHERE id = %s",
        (_naive(moment), _naive(moment), record.id),
    )
    record.invalidate_recordset(["received_at", "create_date"])


def _naive(moment):
    return datetime.fromtimestamp(moment, timezone.utc).replace(tzinfo=None)


def _last_message_id(env):
    env.cr.execute("SELECT COALESCE(MAX(id), 0) FROM mail_message")
    return env.cr.fetchone()[0]


def _date_messages(env, after_id, moment):
    """Comments, tracking and follow-up notes of a call happened around its end, not today."""
    env.cr.execute(
        "UPDATE mail_message SET date = %s"
        " WHERE id > %s AND model IN ('medpulse.call', 'medpulse.appointment')",
        (_naive(moment), after_id),
    )
    env["mail.message"].invalidate_model(["date"])


def _operator_part(env, call, followup, user, doctors, rng):
    """The card's closing form (status, comment) and a booking, as ``user``; appointments made."""
    booked = 0
    if followup.get("book") and doctors:
        booked = _book(env, call, user, doctors, rng)
    state = followup.get("state")
    if state:
        call.with_user(user).write(
            {"followup_state": state, "followup_note": followup.get("comment") or False}
        )
    if followup.get("comment"):
        # As the card's form posts it (action_card_followup), authored by the operator.
        call.sudo().message_post(
            body=followup["comment"], subtype_xmlid="mail.mt_note", author_id=user.partner_id.id,
        )
    return booked


def _book(env, call, user, doctors, rng):
    """An appointment booked during the call, at the doctor's next free slot some days on."""
    patient = call.sudo().patient_id
    if not patient:
        return 0
    Appointment = env["medpulse.appointment"]
    doctor = rng.choice(doctors)
    service = rng.choice(doctor.service_ids.sorted("id"))
    after = call.ended_at + timedelta(days=rng.randint(1, 10))
    start = Appointment._find_next_free_slot(doctor, service, after=after)
    if not start:
        return 0
    appointment = Appointment.with_user(user).with_company(call.company_id).create({
        "patient_id": patient.id, "doctor_id": doctor.id, "service_id": service.id,
        "start": start, "call_id": call.id, "origin": "phone",
    })
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    draw = rng.random()
    if start < now - timedelta(hours=1):
        state = "done" if draw < 0.85 else ("no_show" if draw < 0.93 else "cancelled")
    elif start < now:
        state = "arrived"
    else:
        state = "confirmed" if draw < 0.4 else "scheduled"
    if state != "scheduled":
        appointment.sudo().write({"state": state})
    return 1


def read_marker(env):
    value = env["ir.config_parameter"].sudo().get_param(MARKER)
    return json.loads(value) if value else None


def write_marker(env, params):
    env["ir.config_parameter"].sudo().set_param(MARKER, json.dumps(params))

