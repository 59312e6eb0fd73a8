"""Field-level access, found by introspection: who reads which field of patient data.

The fields are not listed by hand. :func:`linked_fields` walks every model of the two
addons (and the fields they add to Odoo's models) and collects each field that links to
a patient, an appointment or a call, is related to one, or is computed from one, every
field of the models that are patient data themselves, and every text field whose name
says it may hold a number or a name. ``CLASSIFICATION`` says what each holds;
:meth:`test_every_such_field_is_classified` fails as soon as a new such field appears
that it does not classify (or a classified one disappears).

Then every classified field is read by a user of each role and by a user of another
company, through every path a client has: ``read``, ``search_read``, ``web_read``,
``web_read`` nested through another record (e.g. a call's commands), ``read_group``,
``search`` on the field (and through the name of what it links to), ``export_data`` (of
the field, and through another record: ``command_ids/patient_id``),
``onchange`` (for related and computed fields) and the transient models (wizards,
screens) created by that user. Expected, from the access matrix of the README:

* patient data (names, cards, appointments, visits): the clinic roles only
  (receptionist, doctor, clinic manager, administrator), where they read the record;
* the history over every doctor (last visit, last service, next appointment): the
  reception only; a doctor sees the same history restricted to their own appointments;
* numbers and links to calls: those who read calls (operators, receptionists,
  telephony and clinic managers, administrators): operators and telephony managers
  without a clinic role see numbers, never a patient's name;
* raw events, recordings, reports, statistics: telephony managers and administrators;
* another company's user: nothing.

On top of the expected value, the output of every path is searched for the patient's
name, card number and services (and, for whoever may not read calls, the caller's
number): they must not appear where the role may not see them.
"""

import inspect
import json
import re
from datetime import timedelta

from odoo import Command, fields
from odoo.exceptions import AccessError, MissingError, UserError, ValidationError
from odoo.tests import TransactionCase, new_test_user, tagged
from odoo.tools import mute_logger

import mango_vpbx

from .common import ROLES, role_users
from .test_access_matrix import incoming_call_events

OURS = ("medpulse_clinic", "medpulse_telephony")
LINKED_MODELS = {"medpulse.patient", "medpulse.appointment", "medpulse.call"}
#: Models that are patient data: every field of theirs is in scope.
PATIENT_MODELS = {"medpulse.patient", "medpulse.patient.phone", "medpulse.appointment"}
#: Text fields whose name says they may hold a number or a name.
TEXT_NAMES = re.compile(
    r"number|phone|e164|caller|callee|name|label|json|transfer|legs|player|note|text|email|street|city"
)
MAGIC = {"id", "create_uid", "create_date", "write_uid", "write_date"}

CALLER = "79165554433"
#: The caller's number in any format: looked for among the digits of what is read.
NUMBER_DIGITS = "5554433"

# ----------------------------------------------------------------- who is who
CLINIC = {"receptionist", "doctor", "clinic_manager", "administrator"}
RECEPTION = {"receptionist", "clinic_manager", "administrator"}
CALLS = {"operator", "receptionist", "telephony_manager", "clinic_manager", "administrator"}
MANAGERS = {"telephony_manager", "administrator"}
EXPORTERS = {"telephony_manager", "administrator"}  # Odoo's "Access to export feature"
ALL_ROLES = (*ROLES, "other_company")

#: Who reads the records of each model (its access rights and record rules).
READERS = {
    "medpulse.patient": CLINIC,
    "medpulse.patient.phone": CLINIC,
    "medpulse.appointment": CLINIC,
    "medpulse.doctor": CLINIC,
    "medpulse.call": CALLS,
    "medpulse.call.command": CALLS,  # an operator their own commands (each role has one)
    "medpulse.call.callback": CALLS,
    "medpulse.call.event": MANAGERS,
    "medpulse.call.recording": MANAGERS,
    "medpulse.call.recording.access": MANAGERS,
    "medpulse.call.report": MANAGERS,
    # Issue 24: the reports' tallies (numbers per day, no patient data).
    "medpulse.call.tally": MANAGERS,
    "medpulse.call.tally.hour": MANAGERS,
    "medpulse.call.tally.month": MANAGERS,
    "medpulse.call.tally.hour.month": MANAGERS,
    "medpulse.pbx.stats.wizard": MANAGERS,
    "medpulse.pbx.stats.line": MANAGERS,
    # The lost-patient ledger: telephony and clinic managers.
    "medpulse.call.ledger": {"telephony_manager", "clinic_manager", "administrator"},
    # Issue 21: the SMS log (text and patient by field groups), the send dialog (own).
    "medpulse.sms": CALLS | CLINIC,
    "medpulse.sms.send": RECEPTION,
    # Issue 21, part 2: the reminders' log and the confirmation call list (patient and
    # appointment by field groups).
    "medpulse.reminder": CALLS,
    "medpulse.confirmation.item": CALLS,
    # Issue 22, part 3: the waiting list, its freed slots and their offers: the reception's.
    "medpulse.waitlist": RECEPTION,
    "medpulse.waitlist.slot": RECEPTION,
    "medpulse.waitlist.offer": RECEPTION,
    # Issue 23, part 2: the questions to the PBX and the funnel by source.
    "medpulse.call.insight": MANAGERS,
    "medpulse.call.source.report": MANAGERS,
    # Issue 25, part 2: the raw events the retention purged, compressed (no ORM field holds
    # them): administrators only, as the raw events' deletion.
    "medpulse.call.event.snapshot": {"administrator"},
}
#: What a field holds -> who may see it (among the readers of its record). "label" is
#: read by all readers, with the patient's name only for the clinic roles; "own" is
#: the doctor's history restricted to their appointments. "staff" and "count" hold no
#: patient data (the clinic's lines, operators' devices, counts): classified, not read.
CATEGORIES = {
    "patient": CLINIC,
    "reception": RECEPTION,
    "own": {"doctor"},
    "call": CALLS | CLINIC,
    "recording": MANAGERS,
    "label": CALLS | CLINIC,
}
UNCHECKED = {"staff", "count"}

PATIENT_FIELDS = {  # fields of the patient models that are not plain patient data
    ("medpulse.patient", "last_visit_at"): "reception",
    ("medpulse.patient", "last_service_id"): "reception",
    ("medpulse.patient", "visit_count"): "reception",
    ("medpulse.patient", "next_appointment_id"): "reception",
    ("medpulse.patient", "next_appointment_at"): "reception",
    ("medpulse.patient", "doctor_last_visit_at"): "own",
    ("medpulse.patient", "doctor_last_service_id"): "own",
    ("medpulse.patient", "doctor_visit_count"): "own",
    ("medpulse.patient", "doctor_next_appointment_id"): "own",
    ("medpulse.patient", "call_count"): "count",
    # The journal's calls of the patient: those who read both patients and calls.
    ("medpulse.patient", "recent_call_ids"): "reception",
    ("medpulse.patient", "company_id"): "staff",
    ("medpulse.patient", "active"): "staff",
    ("medpulse.patient.phone", "company_id"): "staff",
    ("medpulse.patient.phone", "sequence"): "staff",
    ("medpulse.appointment", "call_id"): "reception",
    ("medpulse.appointment", "doctor_id"): "staff",
    ("medpulse.appointment", "company_id"): "staff",
    ("medpulse.appointment", "color"): "staff",
    ("medpulse.appointment", "allowed_service_ids"): "staff",
    ("medpulse.appointment", "outside_working_hours"): "staff",
    # The patient's open call-backs (Calls tab): those who read both patients and call-backs.
    ("medpulse.patient", "open_callback_ids"): "reception",
    # Issue 21: an appointment's reminders (its tab): the reception's, like its call.
    ("medpulse.appointment", "reminder_ids"): "reception",
}
#: Every other field in scope, by model.
CLASSIFICATION = {
    "medpulse.call": {
        "dct_number": "staff",  # issue 23: the clinic's call-tracking number, not the caller's
        "caller_number": "call",
        "caller_e164": "call",
        "callee_number": "call",
        "callee_e164": "call",
        "external_e164": "call",
        "external_number_display": "call",
        "number_search": "call",
        "caller_search": "call",
        "patient_id": "patient",
        "patient_ids": "patient",
        "patient_search": "patient",
        "patient_count": "count",
        "disconnect_reason_text": "call",
        "transfers": "call",
        "recording_ids_text": "call",
        "followup_note": "call",
        "closed_by_call_id": "call",
        "closed_call_ids": "call",
        "appointment_ids": "patient",
        "appointment_count": "count",
        "event_count": "count",
        "legs_html": "call",
        "display_name": "call",
        "recording_player_html": "recording",
    },
    "medpulse.call.callback": {
        "e164": "call",
        "display_name": "call",
        "patient_id": "patient",
        "call_ids": "call",
        "attempt_call_ids": "call",
        "reached_call_id": "call",
        "cancelled_by_call_id": "call",
    },
    "medpulse.call.command": {
        "error_text": "call",
        "number": "call",
        "number_e164": "call",
        "desk_number": "staff",
        "line_number": "staff",
        "patient_id": "patient",
        "call_id": "call",
        "display_name": "staff",
    },
    "medpulse.call.event": {"json": "call", "call_id": "call", "display_name": "staff"},
    # Its name is the PBX's entry id.
    "medpulse.call.event.snapshot": {"call_id": "call", "display_name": "staff"},
    "medpulse.call.recording": {
        "call_id": "call",
        "patient_id": "patient",
        "access_count": "count",
        "player_html": "recording",
        "display_name": "staff",
    },
    "medpulse.call.recording.access": {"call_id": "call", "note": "call", "display_name": "staff"},
    "medpulse.call.report": {"call_id": "call", "display_name": "call"},
    # A day's name (its date): numbers only.
    "medpulse.call.tally": {"display_name": "count"},
    "medpulse.call.tally.hour": {"display_name": "count"},
    "medpulse.call.tally.month": {"display_name": "count"},
    "medpulse.call.tally.hour.month": {"display_name": "count"},
    # Issue 23, part 2: the clinic's own call-tracking number; the places of its voice menu
    # and the speech-analytics topics are the clinic's words, not a patient's.
    "medpulse.call.insight": {"call_id": "call", "display_name": "staff"},
    "medpulse.call.source.report": {"call_id": "call", "dct_number": "staff",
                                    "display_name": "call"},
    "medpulse.call.topic": {"call_count": "count", "display_name": "staff", "name": "staff"},
    "medpulse.ivr.label": {"display_name": "staff", "name": "staff"},
    "medpulse.call.ledger": {"e164": "call", "display_name": "call", "patient_id": "patient"},
    "medpulse.pbx.stats.line": {
        "from_number": "call",
        "from_e164": "call",
        "to_number": "call",
        "to_e164": "call",
        "patient_id": "patient",
        "from_label": "label",
        "to_label": "label",
        "line_number": "staff",
        "call_id": "call",
        "in_journal": "count",
        "display_name": "staff",
    },
    "medpulse.pbx.stats.wizard": {"number": "call", "display_name": "staff"},
    "medpulse.call.outcome": {"name": "staff", "display_name": "staff"},
    "medpulse.doctor": {"name": "staff", "appointment_ids": "patient", "display_name": "staff"},
    "medpulse.service": {"name": "staff", "display_name": "staff"},
    "medpulse.specialty": {"name": "staff", "display_name": "staff"},
    "medpulse.call.dashboard": dict.fromkeys(
        (
            "date_from",
            "date_to",
            "incoming_count",
            "missed_count",
            "missed_rate",
            "returned_count",
            "returned_rate",
            "waiting_count",
            "median_return_minutes",
            "average_wait_seconds",
            "average_talk_seconds",
            "appointment_count",
            "conversion_rate",
            "display_name",
        ),
        "count",
    ),
    "medpulse.telephony.health": dict.fromkeys(
        (
            "status",
            "status_message",
            "last_event_at",
            "events_24h",
            "events_per_hour",
            "events_by_hour_html",
            "not_understood_count",
            "error_event_count",
            "waiting_event_count",
            "recovered_count",
            "completed_count",
            "last_reconcile_state",
            "failed_command_count",
            "failed_download_count",
            "refold_id",
            "refold_done_count",
            "refold_remaining_count",
            "refold_changed_count",
            "refold_changes_html",
            "display_name",
        ),
        "count",
    ),
    # An integration incident: what was red (kinds and the health check's words), no call.
    "medpulse.telephony.incident": {"kinds_label": "count", "display_name": "staff"},
    # A refold of the journal: counts of calls, and the names of the fields it changed.
    "medpulse.call.refold": dict.fromkeys(
        ("remaining_count", "stats_remaining_count", "changes_html", "display_name"), "count"
    ),
    "medpulse.telephony.import.users.line": dict.fromkeys(
        ("pbx_name", "pbx_email", "numbers_display", "numbers_json", "display_name"), "staff"
    ),
    "medpulse.telephony.line": dict.fromkeys(
        ("name", "number", "number_e164", "pbx_schema_name", "call_count", "display_name"), "staff"
    ),
    "medpulse.telephony.user.number": dict.fromkeys(
        ("number", "number_e164", "number_key", "display_name"), "staff"
    ),
    "res.config.settings": {"medpulse_card_transfer_group": "staff"},
    # Issue 21: SMS. The number is the call's kind of data; text and patient, the patient's.
    "medpulse.sms": {
        "number": "call",
        "patient_id": "patient",
        "appointment_id": "patient",
        "text": "patient",
        "sender_name": "staff",
        "display_name": "call",
    },
    "medpulse.sms.send": {
        "patient_id": "patient",
        "appointment_id": "patient",
        "phone_id": "patient",
        "consent_sms": "patient",
        "text": "patient",
        "call_id": "call",
        "display_name": "staff",
    },
    "medpulse.sms.template": {"name": "staff", "display_name": "staff"},
    # Issue 21, part 2: the number is the call's kind of data; who and which appointment,
    # the patient's. Rules and the progress screen hold no patient data.
    "medpulse.reminder": {
        "appointment_id": "patient",
        "patient_id": "patient",
        "number": "call",
        "display_name": "call",
    },
    "medpulse.confirmation.item": {
        "appointment_id": "patient",
        "patient_id": "patient",
        "doctor_id": "patient",
        "service_id": "patient",
        "next_free_slots": "patient",
        # Issue 22: a recall's new appointment.
        "rebooked_appointment_id": "patient",
        "number": "call",
        "display_name": "call",
    },
    # Issue 22, part 3: who waits and for what, and who was offered a freed time.
    "medpulse.waitlist": {
        "patient_id": "patient",
        "patient_phone": "patient",
        "appointment_id": "patient",
        "notes": "patient",
        "display_name": "patient",
    },
    "medpulse.waitlist.slot": {
        "patient_id": "patient",
        "source_appointment_id": "patient",
        "booked_appointment_id": "patient",
        "display_name": "staff",
    },
    "medpulse.waitlist.offer": {
        "patient_id": "patient",
        "patient_phone": "patient",
        "consent_sms": "patient",
        "notes": "patient",
        "display_name": "patient",
    },
    "medpulse.reminder.rule": {"name": "staff", "display_name": "staff"},
    "medpulse.confirmation.progress": {"display_name": "staff"},
    **{
        model: {"display_name": "staff"}
        for model in (
            "medpulse.call.reconcile",
            "medpulse.call.recording.delete",
            "medpulse.telephony.import.users",
            "medpulse.telephony.limit",
            "medpulse.call.followup.lock",
            # Issue 23: the wallboards' changed and open companies (their name, no patient).
            "medpulse.wallboard.change",
            "medpulse.wallboard.watch",
        )
    },
}


def _is_link(field):
    return (
        field.type in ("many2one", "one2many", "many2many") and field.comodel_name in LINKED_MODELS
    )


def declared_by_us(Model):
    """Names of the fields that the classes of our addons declare on ``Model``."""
    return {
        name
        for cls in type(Model).mro()
        if cls.__module__.startswith(tuple(f"odoo.addons.{addon}." for addon in OURS))
        for name, value in vars(cls).items()
        if isinstance(value, fields.Field)
    }


def linked_fields(env):
    """{(model, field): why} of every field in scope, found by introspection."""
    found = {}
    for model_name in sorted(env.registry.models):
        Model = env[model_name]
        if Model._abstract:
            continue
        ours = Model._original_module in OURS
        declared = declared_by_us(Model)
        for name, field in Model._fields.items():
            if not (ours or name in declared) or name in MAGIC:
                continue
            reasons = []
            if model_name in PATIENT_MODELS and name in declared:
                reasons.append("patient data")
            if _is_link(field):
                reasons.append("link")
            if field.related and _related_through_link(env, Model, field.related):
                reasons.append("related")
            if field.compute and not field.related and _computed_from_link(env, Model, field):
                reasons.append("computed")
            if field.type in ("char", "text", "html") and TEXT_NAMES.search(name):
                reasons.append("text")
            if reasons:
                found[(model_name, name)] = reasons
    return found


def _related_through_link(env, Model, path):
    for part in path.split("."):
        field = Model._fields[part]
        if _is_link(field):
            return True
        if not field.relational:
            return False
        Model = env[field.comodel_name]
    return False


def _computed_from_link(env, Model, field):
    for dependency in env.registry.field_depends.get(field, ()):
        first = Model._fields.get(dependency.split(".")[0])
        if first is not None and _is_link(first):
            return True
    # Computes that search the linked models without declaring it (counts, labels).
    method = (
        getattr(type(Model), field.compute, None)
        if isinstance(field.compute, str)
        else field.compute
    )
    try:
        source = inspect.getsource(method)
    except (TypeError, OSError):
        return False
    return bool(re.search(r"medpulse\.(patient|appointment|call)\b|patient", source))


def classification(env):
    """{(model, field): category} of the fields in scope (None: not classified)."""
    result = {}
    for key in linked_fields(env):
        model, name = key
        if model in PATIENT_MODELS:
            result[key] = PATIENT_FIELDS.get(key, "patient")
        else:
            result[key] = CLASSIFICATION.get(model, {}).get(name)
    return result


class Refused(Exception):
    """The path refused to answer (access error, user error...)."""


def _observe(call):
    try:
        with mute_logger(
            "odoo.models", "odoo.addons.base.models.ir_model", "odoo.addons.base.models.ir_rule"
        ):
            return call()
    except (AccessError, UserError, ValidationError, MissingError) as error:
        raise Refused(type(error).__name__) from error


def _norm(value):
    """A value as read, reduced to what compares: ids of records, text of the rest."""
    if isinstance(value, dict) and "id" in value:
        return value["id"]
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and isinstance(value[0], int)
        and isinstance(value[1], str)
    ):
        return value[0]
    if isinstance(value, (list, tuple)):
        return tuple(sorted(_norm(v) for v in value))
    return value


def _norm_field(field, value):
    """A field's value on a record, reduced as :func:`_norm` reduces what is read."""
    if field.type == "many2one":
        return value.id or False
    if field.type in ("one2many", "many2many"):
        return tuple(sorted(value.ids))
    return value


@tagged("post_install", "-at_install")
class TestFieldAccess(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.company = cls.env.company
        cls.company.sudo().write(
            {"medpulse_pbx_api_key": "fld-key", "medpulse_pbx_api_salt": "fld-salt"}
        )
        cls.company_b = cls.env["res.company"].create({"name": "Field access branch B"})
        cls.users = role_users(cls.env, "fld", cls.company_b)
        cls._make_data()

    @classmethod
    def _make_data(cls):
        env = cls.env
        colleague = new_test_user(
            env, login="fld_colleague", groups="medpulse_clinic.group_clinic_receptionist"
        )
        colleague.sudo().medpulse_pbx_extension = "101"
        specialty = env["medpulse.specialty"].create({"name": "Fieldspecialty"})
        cls.service = env["medpulse.service"].create(
            {
                "name": "Fieldservice Qx",
                "code": "FLD-1",
                "duration": 30,
                "specialty_id": specialty.id,
            }
        )
        other_service = env["medpulse.service"].create(
            {
                "name": "Otherservice Zk",
                "code": "FLD-2",
                "duration": 30,
                "specialty_id": specialty.id,
            }
        )
        cls.doctor = env["medpulse.doctor"].create(
            {
                "name": "Fielddoctor",
                "specialty_id": specialty.id,
                "user_id": cls.users["doctor"].id,
                "service_ids": [Command.set(cls.service.ids)],
            }
        )
        other_doctor = env["medpulse.doctor"].create(
            {
                "name": "Otherdoctor",
                "specialty_id": specialty.id,
                "service_ids": [Command.set(other_service.ids)],
            }
        )
        Patient = env["medpulse.patient"]
        cls.patient = Patient.create(
            {
                "last_name": "Fieldova",
                "first_name": "Qzvera",
                "patronymic": "Qzpatronymic",
                "email": "qzvera@example.com",
                "birth_date": "1980-02-03",
                "gender": "female",
                "consent_recording": True,
                "street": "Fieldstreet 1",
                "city": "Fieldcity",
                "notes": "<p>Fieldnote allergy</p>",
                "phone_ids": [
                    Command.create(
                        {
                            "number": "+7 916 555-44-33",
                            "relative_name": "Fieldrelative",
                            "label": "relative",
                        }
                    )
                ],
            }
        )
        cls.sibling = Patient.create(
            {
                "last_name": "Fieldov",
                "first_name": "Qzsemyon",
                "phone_ids": [Command.create({"number": "+7 916 555-44-33"})],
            }
        )
        now = fields.Datetime.now().replace(second=0, microsecond=0)
        Appointment = env["medpulse.appointment"]
        visit = Appointment.create(
            {
                "patient_id": cls.patient.id,
                "doctor_id": cls.doctor.id,
                "service_id": cls.service.id,
                "start": now - timedelta(days=30),
                "notes": "<p>Fieldnote visit</p>",
            }
        )
        visit.action_done()
        upcoming = Appointment.create(
            {
                "patient_id": cls.patient.id,
                "doctor_id": cls.doctor.id,
                "service_id": cls.service.id,
                "start": now + timedelta(days=20),
            }
        )
        # The patient's next appointment over every doctor is another doctor's (S7 bait).
        Appointment.create(
            {
                "patient_id": cls.patient.id,
                "doctor_id": other_doctor.id,
                "service_id": other_service.id,
                "start": now + timedelta(days=10),
            }
        )
        Event = env["medpulse.call.event"].sudo()
        t0 = int((now - timedelta(days=1)).timestamp())
        for entry_id, start, answered in (("FLD-MISSED", t0, False), ("FLD-CALL", t0 + 600, True)):
            events = incoming_call_events(entry_id, CALLER, start)
            if not answered:
                events = [
                    events[0],
                    (
                        "events/call",
                        dict(
                            events[0][1],
                            seq=3,
                            call_state="Disconnected",
                            timestamp=start + 20,
                            disconnect_reason=1110,
                        ),
                    ),
                    ("events/summary", dict(events[-1][1], talk_time=0, entry_result=0)),
                ]
            for path, payload in events:
                Event._receive(cls.company, path, mango_vpbx.signing.dumps(payload))
        Call = env["medpulse.call"].sudo()
        cls.call = Call.search([("entry_id", "=", "FLD-CALL")])
        missed = Call.search([("entry_id", "=", "FLD-MISSED")])
        assert missed.closed_by_call_id == cls.call, "the answered call closed the missed one"
        cls.call.write(
            {
                "transfers": f"101 → {CALLER} (blind transfer)",
                "followup_note": f"call {CALLER} back",
                "recording_ids_text": "FLD-REC",
                "disconnect_reason_text": "Caller hung up",
            }
        )
        upcoming.call_id = cls.call
        # The missed call opened a call-back that the answered call closed; an attempt too.
        callback = env["medpulse.call.callback"].sudo().search([("call_ids", "in", missed.ids)])
        assert callback.reached_call_id == cls.call, "the answered call closed the call-back"
        callback.attempt_call_ids = cls.call
        # (The "No action needed" that would have cancelled it, for the field's readers.)
        callback.cancelled_by_call_id = missed
        # A later miss waits for its call-back: the patient's form shows it (open_callback_ids).
        env["medpulse.call.callback"].sudo().create(
            {
                "company_id": cls.company.id,
                "e164": "+" + CALLER,
                "patient_id": cls.patient.id,
                "due_at": fields.Datetime.now(),
            }
        )
        Command_ = env["medpulse.call.command"].sudo()
        cls.commands = Command_.create(
            [
                {
                    "command_id": f"fld-{role}",
                    "kind": "callback",
                    "state": "failed",
                    "user_id": user.id,
                    "company_id": cls.company.id,
                    "number": CALLER,
                    "number_e164": "+" + CALLER,
                    "desk_number": "sip:desk@x",
                    "line_number": "74951234567",
                    "patient_id": cls.patient.id,
                    "call_id": cls.call.id,
                    "error_text": f"Could not call {CALLER}",
                }
                for role, user in cls.users.items()
                if role != "public"
            ]
        )
        cls.recording = (
            env["medpulse.call.recording"]
            .sudo()
            .create(
                {
                    "recording_id": "FLD-REC",
                    "company_id": cls.company.id,
                    "call_id": cls.call.id,
                    "entry_id": "FLD-CALL",
                    "state": "available",
                }
            )
        )
        env["medpulse.call.recording.access"].sudo().create(
            {
                "recording_id": cls.recording.id,
                "user_id": cls.users["administrator"].id,
                "action": "delete",
                "note": f"The patient {CALLER} asked",
            }
        )
        # Issue 21: an SMS to the patient about the upcoming appointment.
        cls.patient.consent_sms = True
        sms_command = Command_.create({
            "command_id": "fld-sms", "kind": "sms", "state": "sent",
            "user_id": colleague.id, "company_id": cls.company.id,
            "number": CALLER, "number_e164": "+" + CALLER, "patient_id": cls.patient.id,
        })
        cls.sms = env["medpulse.sms"].sudo().create({
            "number": "+" + CALLER,
            "patient_id": cls.patient.id,
            "appointment_id": upcoming.id,
            "text": "Qzvera, Fieldservice tomorrow",
            "sender_name": "CLINIC",
            "user_id": colleague.id,
            "extension": "101",
            "company_id": cls.company.id,
            "pbx_command_id": sms_command.id,
        })
        cls.sms_appointment = upcoming
        # Issue 21, part 2: a reminder of the upcoming appointment and its call list entry.
        cls.reminder = env["medpulse.reminder"].sudo().create({
            "company_id": cls.company.id, "appointment_id": upcoming.id,
            "patient_id": cls.patient.id, "step": "sms", "appointment_start": upcoming.start,
            "planned_at": upcoming.start - timedelta(days=1), "number": "+" + CALLER,
            "state": "sent",
        })
        cls.item = env["medpulse.confirmation.item"].sudo().create({
            "company_id": cls.company.id, "appointment_id": upcoming.id,
            "patient_id": cls.patient.id, "number": "+" + CALLER,
            "appointment_start": upcoming.start, "list_date": upcoming.start.date(),
            # Issue 22: the field of a recall, given a value (the entry is the operators').
            "rebooked_appointment_id": upcoming.id,
        })
        # Issue 22, part 3: the patient waits; the upcoming appointment's time, freed.
        waiting = env["medpulse.waitlist"].sudo().create({
            "company_id": cls.company.id, "patient_id": cls.patient.id,
            "doctor_id": cls.doctor.id, "notes": "Fieldnote: earlier, please",
            "state": "booked", "appointment_id": upcoming.id,
        })
        slot = env["medpulse.waitlist.slot"].sudo().create({
            "company_id": cls.company.id, "doctor_id": cls.doctor.id,
            "service_id": upcoming.service_id.id, "start": upcoming.start,
            "stop": upcoming.stop, "patient_id": cls.patient.id,
            "source_appointment_id": upcoming.id, "booked_appointment_id": upcoming.id,
            "reason": "cancelled", "freed_at": fields.Datetime.now(),
        })
        offer = env["medpulse.waitlist.offer"].sudo().create(
            {"slot_id": slot.id, "entry_id": waiting.id})
        # Issue 23, part 2: the call came on a call-tracking number of an ad; a question about
        # it waits for the PBX.
        cls.call.sudo().write({"dct_number": "74950001122", "dct_type": "1",
                               "dct_source": "yandex"})
        insight = env["medpulse.call.insight"].sudo().create({
            "company_id": cls.company.id, "call_id": cls.call.id, "kind": "source",
        })
        env.flush_all()  # the funnel by source is a view of the calls
        cls.subjects = {
            "medpulse.reminder": cls.reminder,
            "medpulse.waitlist": waiting,
            "medpulse.waitlist.slot": slot,
            "medpulse.waitlist.offer": offer,
            "medpulse.call.insight": insight,
            "medpulse.call.source.report": env["medpulse.call.source.report"]
            .sudo()
            .search([("call_id", "=", cls.call.id)]),
            "medpulse.confirmation.item": cls.item,
            "medpulse.sms": cls.sms,
            "medpulse.patient": cls.patient,
            "medpulse.patient.phone": cls.patient.phone_ids,
            "medpulse.appointment": visit | upcoming,
            "medpulse.doctor": cls.doctor,
            "medpulse.call": cls.call | missed,
            "medpulse.call.command": cls.commands,
            "medpulse.call.callback": callback,
            "medpulse.call.event": Event.search([("entry_id", "=", "FLD-CALL")]),
            # The call's purged events (none: only the row matters here).
            "medpulse.call.event.snapshot": env["medpulse.call.event.snapshot"].sudo().create({
                "company_id": cls.company.id, "call_id": cls.call.id,
                "entry_id": cls.call.entry_id,
            }),
            "medpulse.call.recording": cls.recording,
            "medpulse.call.recording.access": cls.recording.sudo().access_ids,
            "medpulse.call.report": env["medpulse.call.report"]
            .sudo()
            .search([("call_id", "in", (cls.call | missed).ids)]),
            "medpulse.call.ledger": cls._ledger_rows(),
        }
        cls.patient_markers = (
            "Fieldova",
            "Qzvera",
            "Qzsemyon",
            "Qzpatronymic",
            cls.patient.card_number,
            "Fieldservice",
            "Fieldnote",
            "Fieldrelative",
            "qzvera@",
            "Fieldstreet",
        )
        cls.other_doctor_markers = ("Otherservice", "Otherdoctor")
        cls._transients = {}

    @classmethod
    def _ledger_rows(cls):
        """The caller's rows of the lost-patient ledger (today reconciled, so that it counts)."""
        cls.company.sudo().medpulse_pbx_reconciled_until = fields.Datetime.now() + timedelta(days=2)
        cls.env.flush_all()
        rows = cls.env["medpulse.call.ledger"].sudo().search([("e164", "=", "+" + CALLER)])
        assert rows and rows.patient_id == cls.patient, "the caller is in the ledger"
        return rows

    # ----------------------------------------------------------- classification

    def test_every_such_field_is_classified(self):
        """A new field linking to patient data (or holding a number or a name) must be
        classified here before it ships; a classified field that is gone, removed."""
        found = classification(self.env)
        missing = sorted(key for key, category in found.items() if category is None)
        self.assertFalse(missing, f"Fields not classified in test_field_access: {missing}")
        known = {(m, f) for m, names in CLASSIFICATION.items() for f in names} | set(PATIENT_FIELDS)
        stale = sorted(known - set(found))
        self.assertFalse(
            stale, f"Classified fields that no longer exist or no longer link: {stale}"
        )
        self.assertLessEqual(set(found.values()), set(CATEGORIES) | UNCHECKED)

    def test_introspection_finds_the_fields_that_leaked(self):
        """The fields of the review's findings are found by the introspection itself."""
        found = linked_fields(self.env)
        for key in [
            ("medpulse.call.command", "patient_id"),
            ("medpulse.patient", "next_appointment_id"),
            ("medpulse.patient", "last_service_id"),
            ("medpulse.call.recording", "patient_id"),
            ("medpulse.pbx.stats.line", "from_label"),
            ("medpulse.appointment", "call_id"),
        ]:
            self.assertIn(key, found)

    # ----------------------------------------------------------- the paths

    def expected_visible(self, role, model, name, category):
        return role in READERS.get(model, set()) and role in CATEGORIES[category]

    def subjects_for(self, role, model):
        """The records of ``model`` the checks read as ``role`` (transients: made by them)."""
        if model == "medpulse.call.command":
            # An operator reads their own commands: each role reads the one made in its name.
            own = self.commands.filtered(lambda command: command.user_id == self.users[role])
            return own or self.commands[:1]
        if model in self.subjects:
            return self.subjects[model]
        if role == "other_company":
            # Another company's user cannot make these: they try the administrator's.
            role = "administrator"
        if (role, model) not in self._transients:
            self._transients[role, model] = self._make_transient(role, model)
        return self._transients[role, model]

    def _make_transient(self, role, model):
        user = self.users[role]
        if model in ("medpulse.pbx.stats.wizard", "medpulse.pbx.stats.line"):
            wizard = (
                self.env["medpulse.pbx.stats.wizard"]
                .with_user(user)
                .sudo()
                .create(
                    {
                        "company_id": self.company.id,
                        "number": CALLER,
                        "date_from": fields.Datetime.now() - timedelta(days=2),
                        "date_to": fields.Datetime.now(),
                    }
                )
            )
            if model == "medpulse.pbx.stats.wizard":
                return wizard
            return (
                self.env["medpulse.pbx.stats.line"]
                .with_user(user)
                .sudo()
                .create(
                    {
                        "wizard_id": wizard.id,
                        "company_id": self.company.id,
                        "entry_id": "FLD-CALL",
                        "direction": "incoming",
                        "answered": True,
                        "from_number": CALLER,
                        "from_e164": "+" + CALLER,
                        "to_number": "74951234567",
                        "to_e164": "+74951234567",
                        "line_number": "74951234567",
                        "patient_id": self.patient.id,
                    }
                )
            )
        if model == "medpulse.sms.send":
            return (
                self.env["medpulse.sms.send"]
                .with_user(user)
                .sudo()
                .create({
                    "patient_id": self.patient.id,
                    "appointment_id": self.sms_appointment.id,
                    "call_id": self.call.id,
                    "text": "Qzvera, Fieldservice tomorrow",
                })
            )
        raise AssertionError(f"no subject records for {model}")

    def expected_value(self, role, model, name, records):
        """What a role allowed to see the field reads: the superuser's value, computed as
        that user for the doctor's own history."""
        user = self.users[role]
        as_reader = records.with_user(user).sudo() if name.startswith("doctor_") else records.sudo()
        field = records._fields[name]
        return {record.id: _norm_field(field, record[name]) for record in as_reader}

    def paths(self, role, model, name, records):
        """{path: function returning {record id: value}} of every way to read the field."""
        user = self.users[role]
        Model = self.env[model].with_user(user)
        field = Model._fields[name]
        mine = records.with_user(user)
        ids = records.ids
        sub = {"fields": {"display_name": {}}} if field.relational else {}

        def by_id(rows):
            return {row["id"]: _norm(row.get(name)) for row in rows if name in row}, rows

        paths = {
            "read": lambda: by_id(mine.read([name])),
            "search_read": lambda: by_id(Model.search_read([("id", "in", ids)], [name])),
            "web_read": lambda: by_id(mine.web_read({name: sub})),
            "web_search_read": lambda: by_id(
                Model.web_search_read([("id", "in", ids)], {name: sub})["records"]
            ),
        }
        if field.store and field.type not in ("one2many", "many2many", "html", "text", "binary"):
            paths["read_group"] = lambda: self._read_group(Model, ids, name)
        if (field.store or field.search) and name != "display_name":
            paths["search"] = lambda: self._search(Model, records, name)
            if field.type == "many2one":
                paths["search by name"] = lambda: self._search_by_name(Model, records, name)

        def export():
            rows = mine.export_data([name])["datas"]
            return {record.id: row[0] for record, row in zip(mine, rows, strict=False)}, rows

        paths["export"] = export
        if field.related or field.compute:
            paths["onchange"] = lambda: self._onchange(Model, records, name, sub)
        for parent_model, parent_name in self.parents(model):
            paths[f"nested web_read {parent_model}.{parent_name}"] = (
                lambda pm=parent_model, pn=parent_name: self._nested(
                    user, pm, pn, records, name, sub
                )
            )
            if role in EXPORTERS or role == "other_company":
                # The others are refused any export (the "export" path shows it).
                paths[f"nested export {parent_model}.{parent_name}"] = (
                    lambda pm=parent_model, pn=parent_name: self._nested_export(
                        user, pm, pn, records, name
                    )
                )
        return paths

    def parents(self, model):
        """(model, field) of our models that link to ``model``: nested reads go through them."""
        result = []
        for parent_model, Parent in ((m, self.env[m]) for m in self.subjects):
            for parent_name, field in Parent._fields.items():
                searchable = field.store or field.search or field.type == "one2many"
                if (
                    field.relational
                    and field.comodel_name == model
                    and field._module in OURS
                    and searchable
                ):
                    result.append((parent_model, parent_name))
        return result

    def _read_group(self, Model, ids, name):
        groups = Model.read_group([("id", "in", ids)], [name], [name], lazy=False)
        found = {}
        for group in groups:
            for record in Model.sudo().search(group["__domain"]):
                found[record.id] = (
                    _norm(group[name])
                    if Model._fields[name].type not in ("date", "datetime")
                    else group[name]
                )
        return found, groups

    def _search(self, Model, records, name):
        found = {}
        for record in records.sudo():
            value = record[name]
            if not value:
                continue
            domain = (
                [(name, "in", value.ids)]
                if Model._fields[name].relational
                else [(name, "=", value)]
            )
            if record.id in Model.search(domain + [("id", "=", record.id)]).ids:
                found[record.id] = _norm_field(Model._fields[name], value)
        return found, found

    def _search_by_name(self, Model, records, name):
        found = {}
        for record in records.sudo():
            value = record[name]
            if (
                value
                and record.id
                in Model.search([(name, "ilike", value.display_name), ("id", "=", record.id)]).ids
            ):
                found[record.id] = value.id
        return found, found

    def _onchange(self, Model, records, name, sub):
        """A new record given the superuser's values of what the field is computed from.

        The raw answer is returned without what was given: a value computed from the
        caller's own input (a number formatted) is no leak.
        """
        field = Model._fields[name]
        found, raw = {}, {"answers": [], "given": []}
        for record in records.sudo():
            roots = {dep.split(".")[0] for dep in self.env.registry.field_depends.get(field, ())}
            if field.related:
                roots.add(field.related.split(".")[0])
            values = {}
            for root in roots:
                source = Model._fields.get(root)
                if source is None or not source.store or root == "id":
                    continue
                value = record[root]
                if source.type == "many2one":
                    values[root] = value.id
                elif source.type in ("one2many", "many2many"):
                    values[root] = [Command.set(value.ids)]
                else:
                    values[root] = source.convert_to_write(value, record)
            if not values:
                continue
            result = Model.onchange(
                values, list(values), {name: sub, **{root: {} for root in values}}
            )
            if name in result.get("value", {}):
                found[record.id] = _norm(result["value"][name])
                raw["answers"].append(result["value"][name])
                raw["given"].append(values)
        return found, raw

    def _nested(self, user, parent_model, parent_name, records, name, sub):
        Parent = self.env[parent_model]
        parent_field = Parent._fields[parent_name]
        operator = "in" if parent_field.type != "many2one" else "in"
        parents = Parent.sudo().search([(parent_name, operator, records.ids)])
        if not parents:
            return {}, []
        spec = {parent_name: {"fields": {name: sub}}}
        found = {}
        rows = parents.with_user(user).web_read(spec)
        for row in rows:
            linked = row.get(parent_name)
            linked = linked if isinstance(linked, list) else [linked] if linked else []
            for item in linked:
                if isinstance(item, dict) and item.get("id") in records.ids and name in item:
                    found[item["id"]] = _norm(item[name])
        return found, rows

    def _nested_export(self, user, parent_model, parent_name, records, name):
        """The field exported through a record linking to it (``parent/field``): the
        markers judge what comes out."""
        parents = self.env[parent_model].sudo().search([(parent_name, "in", records.ids)])
        if not parents:
            return {}, []
        rows = parents.with_user(user).export_data([f"{parent_name}/{name}"])["datas"]
        return {}, rows

    # ----------------------------------------------------------- the test

    def test_each_role_reads_what_the_matrix_allows_on_every_path(self):
        checked = {
            key: category
            for key, category in classification(self.env).items()
            if category in CATEGORIES
        }
        self.assertGreater(len(checked), 40)
        failures = []
        coverage = {}
        for (model, name), category in sorted(checked.items()):
            if model not in READERS:
                failures.append(f"{model}.{name}: no reader specification")
                continue
            for role in ALL_ROLES:
                records = self.subjects_for(role, model)
                expected = self.expected_value(role, model, name, records)
                if role in RECEPTION and not any(expected.values()) and category != "own":
                    failures.append(f"{model}.{name}: the fixture gives it no value")
                visible = self.expected_visible(role, model, name, category)
                for path, read in self.paths(role, model, name, records).items():
                    # As in a request of its own: nothing of another user's reads in the cache.
                    self.env.invalidate_all()
                    try:
                        observed, raw = _observe(read)
                        outcome = "ok"
                    except Refused:
                        observed, raw, outcome = {}, None, "refused"
                    coverage[path] = coverage.get(path, 0) + 1
                    problem = self.judge(
                        role, model, name, category, path, visible, expected, observed, raw, outcome
                    )
                    if problem:
                        failures.append(problem)
        self.assertFalse(failures, "\n".join(failures[:60]) + f"\n({len(failures)} in all)")
        for path in (
            "read",
            "search_read",
            "web_read",
            "read_group",
            "search",
            "search by name",
            "export",
            "onchange",
        ):
            self.assertTrue(coverage.get(path), f"no field was read through {path}")
        for kind in ("web_read", "export"):
            self.assertTrue(
                any(p.startswith(f"nested {kind} medpulse.call.command_ids") for p in coverage)
            )

    def judge(self, role, model, name, category, path, visible, expected, observed, raw, outcome):
        label = f"{role} × {model}.{name} × {path}"
        text, given = json.dumps(raw, default=str), ""
        if path == "onchange" and raw:
            # What the caller gave (and what is computed from it alone) is no leak.
            text, given = (
                json.dumps(raw["answers"], default=str),
                json.dumps(raw["given"], default=str),
            )
        markers = []
        if role not in CLINIC or role == "other_company":
            markers += self.patient_markers
        if role == "doctor":
            markers += self.other_doctor_markers
        leaked = [marker for marker in markers if marker and marker in text and marker not in given]
        if role not in (CALLS | CLINIC) or role == "other_company":
            digits, given_digits = re.sub(r"\D", "", text), re.sub(r"\D", "", given)
            if NUMBER_DIGITS in digits and NUMBER_DIGITS not in given_digits:
                leaked.append(CALLER)
        if leaked:
            return f"{label}: LEAK of {leaked}: {text[:200]}"
        wanted = {
            record_id: value
            for record_id, value in expected.items()
            if value not in (False, None, (), "", 0)
        }
        if path == "export" and role not in EXPORTERS:
            visible = False
        if category == "label":
            # Read by all readers; the name itself was checked by the markers above.
            if visible and (outcome != "ok" or not observed):
                return f"{label}: refused ({outcome}), expected readable"
            return None
        if path == "onchange":
            return None  # a new record computes from what it is given: the markers judge it
        if path.startswith(("search", "nested")) or path == "read_group":
            # Paths that may legitimately say nothing about some records.
            if visible and path in ("search", "read_group") and wanted and not observed:
                return f"{label}: found nothing, expected the record"
            if not visible and any(
                observed.get(rid) == value for rid, value in wanted.items() if path != "read_group"
            ):
                return f"{label}: answered {text[:120]}, expected nothing"
            return None
        got = {rid: observed.get(rid) for rid in wanted}
        if visible:
            if outcome != "ok":
                return f"{label}: refused, expected readable"
            if path == "export":
                if not all(got.values()):
                    return f"{label}: exported {text[:120]}"
                return None
            if self.env[model]._fields[name].type == "html":
                # Rendered for the reader (time zone, buttons): there, not equal.
                if not all(got.values()):
                    return f"{label}: read {got}, expected it rendered"
                return None
            if category == "patient" and any(isinstance(v, tuple) for v in wanted.values()):
                # A doctor reads the x2many of their own appointments only.
                if not all(got[rid] and set(got[rid]) <= set(wanted[rid]) for rid in wanted):
                    return f"{label}: read {got}, expected {wanted}"
                return None
            if got != wanted:
                return f"{label}: read {got}, expected {wanted}"
            return None
        if outcome == "ok" and any(got.get(rid) == value for rid, value in wanted.items()):
            return f"{label}: read {text[:120]}, expected refused"
        return None
