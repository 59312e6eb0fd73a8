"""The incoming-call card: who sees it, what it shows, and the server half of its actions.

Every new PBX event of a call ends in :meth:`MedpulseCall._after_event`. From the whole
``mango_vpbx.CallState`` it computes, for each operator involved, the card they should
see now (``ringing``, ``talking``, or a closing state), compares it with what was last
sent (``card_audience`` on the call) and sends a bus message only to the operators whose
card changed, on their own partner channel (``user._bus_send``): never a broadcast or a
string channel, because the card carries medical data.

The payload is built with the *recipient's* access rights (``with_user``), not the
webhook's superuser: an operator who may not read patients gets a card that says so.

Desk-phone binding: two desks may share one login. The payload says which of the
user's devices (``medpulse.telephony.user.number``) rings; a browser bound to a device
(a per-browser setting) ignores cards for the user's other devices. The data goes to the
user's own partner channel either way, so no other user can receive it; a subchannel
would not be safer (every session of that user could subscribe to it) and a string
channel would be guessable by anyone.
"""

import logging
from datetime import timedelta

import mango_vpbx

from odoo import Command, _, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL, plaintext2html

_logger = logging.getLogger(__name__)

CARD_NOTIFICATION = "medpulse_telephony.card"
LIVE_STATUSES = ("ringing", "talking")
# A call whose summary never arrived must not pop up again forever after a reload.
ACTIVE_CARD_HOURS = 12
RECENT_CALL_DAYS = 7
AUTO_ROUTE_PARAM = "medpulse_telephony.card_auto_route"
TRANSFER_GROUP_PARAM = "medpulse_telephony.card_transfer_group"


class MedpulseCall(models.Model):
    _inherit = "medpulse.call"

    card_audience = fields.Json(
        readonly=True, copy=False, groups="base.group_system",
        help="Operator id -> the card state last sent to them (ringing, talking, ended...).",
    )
    routed_user_id = fields.Many2one(
        "res.users", string="Routed automatically to", readonly=True, copy=False,
        help="Automatic routing sent this known patient's call to the operator who last "
        "talked to them.",
    )

    # ------------------------------------------------------------ live events

    def _after_event(self, event_record, event, state):
        super()._after_event(event_record, event, state)
        self._card_dispatch(state)
        self._auto_route(state)

    def _card_live_parties(self, state):
        """{user: (status, leg)} of the operators whose phone rings or talks now."""
        self.ensure_one()
        if state.direction != "incoming" or state.is_final:
            # The summary ends the call for everyone, even when a leg's Disconnected
            # was lost: no card may keep ringing after it.
            return {}
        Users = self.env["res.users"]
        parties = {}
        for leg in state.legs:
            if leg.location != "abonent" or leg.state not in ("Appeared", "Connected", "OnHold"):
                continue
            extension = leg.extension or leg.to.extension
            if not (extension or leg.to.number):
                continue
            user = Users._find_pbx_operator(self.company_id, extension, leg.to.number)
            if not user:
                continue
            status = "ringing" if leg.state == "Appeared" else "talking"
            if parties.get(user, ("",))[0] != "talking":
                parties[user] = (status, leg)
        return parties

    def _card_dispatch(self, state):
        """Send each involved operator the card they should see, when it changed."""
        self.ensure_one()
        call = self.sudo()
        previous = call.card_audience or {}
        live = self._card_live_parties(state)
        audience = {}
        to_send = []
        for user, (status, leg) in live.items():
            audience[str(user.id)] = status
            if previous.get(str(user.id)) != status:
                to_send.append((user, status, leg))
        ended = state.is_final or all(leg.state == "Disconnected" for leg in state.legs)
        answered_by = self.env["res.users"]._find_pbx_operator(
            self.company_id, state.answered_extension, state.answered_number
        )
        Users = self.env["res.users"].sudo()
        for key, before in previous.items():
            if key in audience:
                continue
            if before not in LIVE_STATUSES:
                audience[key] = before
                continue
            user = Users.browse(int(key))
            if ended:
                status = "ended"
            elif answered_by and answered_by != user:
                status = "answered_elsewhere"
            else:
                status = "closed"
            # Who talked keeps the card to set the follow-up; the others' card closes.
            if status == "ended" and before != "talking":
                status = "closed"
            audience[key] = status
            to_send.append((user, status, None))
        if audience != previous:
            call.card_audience = audience
        for user, status, leg in to_send:
            self._notify_card(user, status, leg)

    def _notify_ringing(self, users, call=None):
        """Pop the card up for ``users`` as ringing (tests and other modules call this)."""
        call = call or self
        for user in users:
            call._notify_card(user, "ringing")

    def _notify_card(self, user, status, leg=None):
        self.ensure_one()
        payload = self._card_payload(user, status, leg)
        user.sudo()._bus_send(CARD_NOTIFICATION, payload)

    def _notify_card_update(self, users=None):
        """Refresh the card of ``users`` (default: every operator with a live card)."""
        self.ensure_one()
        audience = self.sudo().card_audience or {}
        if users is None:
            users = self.env["res.users"].sudo().browse(
                [int(key) for key, status in audience.items() if status in LIVE_STATUSES]
            )
        for user in users:
            status = audience.get(str(user.id))
            if status in LIVE_STATUSES or status == "ended":
                self._notify_card(user, status)

    # ---------------------------------------------------------------- payload

    def _card_payload(self, user, status, leg=None):
        """What ``user``'s card shows, read with ``user``'s access rights."""
        self.ensure_one()
        call = self.sudo().with_context(lang=user.lang or self.env.lang)
        payload = {
            "call_id": self.id,
            "entry_id": call.entry_id,
            "status": status,
            "number": call.external_number_display or call.caller_number or "",
            "number_e164": call.external_e164 or "",
            "line": call.line_id.display_name or call.callee_number or "",
            "created_at": fields.Datetime.to_string(call.created_at) if call.created_at else False,
            "answered_at": fields.Datetime.to_string(call.answered_at) if call.answered_at else False,
            "answered_by": call.answered_user_id.name or "",
            "device_id": self._card_device(user, leg).id or False,
            "routed": bool(call.routed_user_id),
            "followup_state": call.followup_state,
            "followup_note": call.followup_note or "",
            "followup_states": [
                [value, label]
                for value, label in call._fields["followup_state"]._description_selection(call.env)
            ],
        }
        if status not in LIVE_STATUSES and status != "ended":
            return payload
        payload.update(self._card_patient_data(user))
        return payload

    def _card_device(self, user, leg):
        if not leg or not leg.to.number:
            return self.env["medpulse.telephony.user.number"]
        Number = self.env["medpulse.telephony.user.number"].sudo()
        key = Number._number_keys(self.company_id, leg.to.number)[1]
        return Number.search([("user_id", "=", user.id), ("number_key", "=", key)], limit=1)

    def _card_patient_data(self, user):
        call = self.sudo()
        env = self.with_user(user).with_context(lang=user.lang or self.env.lang).env
        Patient = env["medpulse.patient"]
        data = {
            "restricted": False,
            "patients": [],
            "patient_id": False,
            "appointments": [],
            "recent_calls": 0,
        }
        if not Patient.has_access("read"):
            data["restricted"] = True
            return data
        try:
            patients = Patient.search([("id", "in", call.patient_ids.ids)])
            # The card shows every doctor's history, whatever the recipient's clinic role.
            data["patients"] = [_patient_card(patient) for patient in patients.sudo().sorted(
                lambda p: (p.last_visit_at or fields.Datetime.to_datetime("1900-01-01")), reverse=True
            )]
        except AccessError:
            data["restricted"] = True
            data["patients"] = []
            return data
        if call.patient_id in patients:
            data["patient_id"] = call.patient_id.id
        elif len(patients) == 1:
            data["patient_id"] = patients.id
        appointments = env["medpulse.appointment"].search([("call_id", "=", self.id)])
        data["appointments"] = [
            {"id": appointment.id, "name": appointment.display_name,
             "start": fields.Datetime.to_string(appointment.start)}
            for appointment in appointments
        ]
        if call.external_e164:
            since = fields.Datetime.now() - timedelta(days=RECENT_CALL_DAYS)
            data["recent_calls"] = self.sudo().search_count([
                ("company_id", "=", call.company_id.id),
                ("external_e164", "=", call.external_e164),
                ("created_at", ">=", since),
                ("id", "!=", self.id),
            ])
        return data

    # ---------------------------------------------------------- client API

    @api.model
    def get_active_cards(self):
        """Cards of the current user's calls that still ring or talk: a reload brings them back."""
        user = self.env.user
        since = fields.Datetime.now() - timedelta(hours=ACTIVE_CARD_HOURS)
        calls = self.sudo().search([
            ("is_final", "=", False),
            ("created_at", ">=", since),
            "|", ("rang_user_ids", "in", user.ids), ("answered_user_id", "=", user.id),
        ])
        cards = []
        for call in calls:
            status = (call.card_audience or {}).get(str(user.id))
            if status in LIVE_STATUSES:
                cards.append(call.with_env(self.env)._card_payload(user, status))
        return cards

    def action_set_patient(self, patient_id):
        """The operator chose which patient is calling: one sharing the number, or one
        just created from the card with this number."""
        self.ensure_one()
        self.check_access("read")
        patient = self.env["medpulse.patient"].browse(patient_id).exists()
        patient.check_access("read")
        call = self.sudo()
        if patient not in call.patient_ids and patient not in patient._lookup_by_phone(
            call.external_e164 or ""
        ):
            raise UserError(_("This patient does not have the caller's number."))
        call.write({"patient_id": patient.id, "patient_ids": [Command.link(patient.id)]})
        self._notify_card_update(self.env.user)
        return True

    def action_card_followup(self, followup_state, note=False):
        """The one-step form of an ended card: follow-up status and a comment.

        The comment is logged as the user's internal note, never sent, so it does not
        depend on the user having an e-mail address. It is saved once: every tab of the
        user is told to close the card (a new login replays the bus's last minute, which
        then ends with this "closed"), and a second save changes nothing.
        """
        self.ensure_one()
        self.check_access("write")
        if followup_state not in dict(self._fields["followup_state"].selection):
            raise UserError(_("Unknown follow-up status."))
        audience = dict(self.sudo().card_audience or {})
        if audience.get(str(self.env.uid)) != "ended":
            raise UserError(_("The follow-up of this call was already saved: nothing was changed."))
        self.write({"followup_state": followup_state, "followup_note": note or False})
        if note:
            self._message_log(body=plaintext2html(note), message_type="comment")
        audience[str(self.env.uid)] = "closed"
        self.sudo().card_audience = audience
        self._notify_card(self.env.user, "closed")
        return True

    @api.model
    def get_transfer_targets(self):
        """Operators the card can transfer to: name, extension and whether they are on a call.

        For telephony operators (receptionists are operators) only, and only the colleagues
        of their current company: who works here and who is on the phone is not for
        everybody with a login.
        """
        if not self.env.user.has_group("medpulse_telephony.group_telephony_operator"):
            raise AccessError(_("Only telephony operators can transfer calls."))
        company = self.env.company
        users = self.env["res.users"].sudo().search([
            ("pbx_extension", "!=", False),
            ("company_ids", "in", company.ids),
            ("share", "=", False),
        ], order="name")
        busy = self._busy_user_ids(company)
        group = self.env["ir.config_parameter"].sudo().get_param(TRANSFER_GROUP_PARAM) or ""
        return {
            "operators": [
                {"id": user.id, "name": user.name, "extension": user.pbx_extension,
                 "busy": user.id in busy, "im_status": user.im_status, "me": user == self.env.user}
                for user in users
            ],
            "group": group,
        }

    @api.model
    def _busy_user_ids(self, company):
        since = fields.Datetime.now() - timedelta(hours=ACTIVE_CARD_HOURS)
        self.env.cr.execute(SQL(
            """
            SELECT DISTINCT audience.key::int
              FROM medpulse_call, jsonb_each_text(medpulse_call.card_audience) AS audience
             WHERE medpulse_call.company_id = %s
               AND medpulse_call.is_final IS NOT TRUE
               AND medpulse_call.created_at >= %s
               AND audience.value = 'talking'
            """,
            company.id, since,
        ))
        return {row[0] for row in self.env.cr.fetchall()}

    # -------------------------------------------------------- automatic routing

    def _auto_route(self, state):
        """Send a known patient waiting in the voice menu or queue to their last operator.

        Only when the setting is on, once per call, and only if that operator is free;
        otherwise the PBX's own rules go on.
        """
        self.ensure_one()
        call = self.sudo()
        if (
            state.direction != "incoming"
            or call.routed_user_id
            or not call.patient_id
            or not self.env["ir.config_parameter"].sudo().get_param(AUTO_ROUTE_PARAM)
        ):
            return
        waiting = [
            leg for leg in state.legs
            if leg.location in ("ivr", "queue") and leg.state in ("Appeared", "Connected")
        ]
        if not waiting or any(leg.location == "abonent" and leg.state != "Disconnected" for leg in state.legs):
            return
        last = self.sudo().search([
            ("company_id", "=", call.company_id.id),
            ("patient_ids", "in", call.patient_id.ids),
            ("answered_user_id", "!=", False),
            ("id", "!=", call.id),
        ], order="created_at desc, id desc", limit=1)
        operator = last.answered_user_id
        if not operator.pbx_extension or operator.id in self._busy_user_ids(call.company_id):
            return
        try:
            call.company_id._mango_client().route(waiting[-1].call_id, operator.pbx_extension)
        except (mango_vpbx.VpbxError, UserError) as error:
            _logger.info("Automatic routing of call %s to %s failed: %s", call.id, operator.id, error)
            return
        call.routed_user_id = operator
        call.message_post(
            body=_("Routed automatically to %(operator)s, who last talked to this patient.",
                   operator=operator.name),
            subtype_xmlid="mail.mt_note",
        )


def _patient_card(patient):
    next_appointment = patient.next_appointment_id
    return {
        "id": patient.id,
        "name": patient.name,
        "card_number": patient.card_number or "",
        "last_visit_at": fields.Datetime.to_string(patient.last_visit_at) if patient.last_visit_at else False,
        "last_service": patient.last_service_id.display_name or "",
        "next_appointment": next_appointment and {
            "id": next_appointment.id,
            "start": fields.Datetime.to_string(next_appointment.start),
            "doctor": next_appointment.doctor_id.display_name or "",
            "service": next_appointment.service_id.display_name or "",
        } or False,
        "consent_call": bool(patient.consent_call),
    }
