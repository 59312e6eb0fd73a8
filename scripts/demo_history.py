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
form (a wrong number marked "No action needed", which cancels its call-back), the call's
outcome, and appointments booked from the call. Last, a past integration incident (a
lockout by the PBX), through the health check's own steps. Today's calls are not folded
here: the emulator posts them to the running Odoo's webhook.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

import pytz

from mango_vpbx.assumptions import LOCKOUT_SECONDS
from mango_vpbx_emulator.history import BULK, DEFAULT_SEED, Caller, generate
from mango_vpbx_emulator.state import demo_directory, directory_from_config

#: Where the parameters of the history of a database are kept (JSON): they let the file
#: be made again, identical, when it is lost.
MARKER = "medpulse_demo.history"
#: Calls folded per transaction.
BATCH = 50
#: The outcome an operator gives a call the card's form closed with this comment (else
#: "Booked" after a booking, "Information given" for the other answered calls).
OUTCOME_OF_COMMENT = {
    "Перенесли запись на следующую неделю.": "medpulse_telephony.medpulse_call_outcome_rescheduled",
}
#: The demo's past integration incident: this many days before the history was made (or
#: its second day, for a shorter history), at this local time, the PBX locked the API
#: access of the account for LOCKOUT_SECONDS (an administrator had pasted a wrong key).
INCIDENT_DAYS_AGO = 9
INCIDENT_AT = (11, 20)


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
    _past_incident(env, company, history)
    env.cr.commit()
    return counts


def _past_incident(env, company, history):
    """The integration incident of a past lockout, through the health check's own steps.

    The PBX's 401 is recorded as the PBX client records it (a "locked" block of the
    account in the shared limit store, ``LOCKOUT_SECONDS`` long), then the incident cron's
    check runs at the moments it would have run (``_evaluate(company, now)``, the clock
    it takes as an argument): red during working hours, one incident and its alerts to
    the administrators; green again once the lock ends; closed after the company's
    closing delay, the administrators' activities marked done. Its bus notifications are
    not news today: they are dropped, not shown at the next login.
    """
    zone = pytz.timezone(company.resource_calendar_id.tz or "UTC")
    generated = datetime.fromtimestamp(history.generated_at, zone).date()
    day = max(generated - timedelta(days=INCIDENT_DAYS_AGO),
              datetime.fromtimestamp(history.since, zone).date() + timedelta(days=1))
    while day.weekday() >= 5:
        day += timedelta(days=1)
    start = zone.localize(datetime(day.year, day.month, day.day, *INCIDENT_AT))
    start = start.astimezone(timezone.utc).replace(tzinfo=None)
    Incident = env["medpulse.telephony.incident"].sudo()
    if Incident.search_count([("company_id", "=", company.id)]):
        return  # made already (a second run of the initialisation)
    account = company.sudo()._medpulse_pbx_client().account
    until = start.replace(tzinfo=timezone.utc).timestamp() + LOCKOUT_SECONDS
    env["medpulse.telephony.limit"]._limit_store().block(f"{account}:locked", until)
    # The store commits on a cursor of its own: a new transaction sees the block.
    env.cr.commit()
    env.cr.execute("SELECT COALESCE(MAX(id), 0) FROM bus_bus")
    last_bus = env.cr.fetchone()[0]
    last_message = _last_message_id(env)
    close_after = timedelta(minutes=company.medpulse_health_close_minutes)
    lock = timedelta(seconds=LOCKOUT_SECONDS)
    for moment in (start, start + timedelta(minutes=1), start + lock + timedelta(minutes=1),
                   start + lock + close_after + timedelta(minutes=2)):
        Incident._evaluate(company, moment)
        env.flush_all()
        env.cr.precommit.run()  # the tracking and the bus, dated or dropped below
        _date_messages(env, last_message, moment, models=(Incident._name,))
        last_message = _last_message_id(env)
    env["bus.bus"].sudo().search([("id", ">", last_bus)]).unlink()


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


def _date_messages(env, after_id, moment,
                   models=("medpulse.call", "medpulse.appointment", "medpulse.patient")):
    """Comments, tracking and follow-up notes of a call (and the note its outcome left on
    the patient) happened around its end, not today. ``moment``: epoch seconds or a naive
    UTC datetime."""
    if not isinstance(moment, datetime):
        moment = _naive(moment)
    env.cr.execute(
        "UPDATE mail_message SET date = %s WHERE id > %s AND model IN %s",
        (moment, after_id, tuple(models)),
    )
    env["mail.message"].invalidate_model(["date"])


def _operator_part(env, call, followup, user, doctors, rng):
    """The card's closing form (status, comment) and a booking, as ``user``; appointments made."""
    booked = 0
    if followup.get("book") and doctors:
        booked = _book(env, call, user, doctors, rng)
    state = followup.get("state")
    if state:
        vals = {"followup_state": state, "followup_note": followup.get("comment") or False}
        if call.result == "answered":
            # The outcome of the card's form (a booking, a note on the patient, is logged).
            outcome = OUTCOME_OF_COMMENT.get(followup.get("comment")) or (
                "medpulse_telephony.medpulse_call_outcome_booked" if booked
                else "medpulse_telephony.medpulse_call_outcome_information"
            )
            vals["outcome_id"] = env.ref(outcome).id
        call.with_user(user).write(vals)
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

