"""SMS to patients through the PBX (``commands/sms``): one record per message, the log.

Every SMS goes through ``medpulse.call.command`` (kind ``sms``): the command and this
record are committed together, ``pending``, before the request leaves, so the PBX's
``result/sms`` and ``events/sms`` find them whatever the order of the answers. The
state follows the command and the delivery report:

``pending`` (committed, request in flight) → ``accepted`` (the PBX took it) | ``refused``
(the PBX said no: its code and meaning) | ``failed`` (the PBX could not be reached, is
locked out or busy: it never got the SMS) → ``delivered`` | ``failed`` (the delivery
report's reason: expired, lost, rejected, cancelled).

Patient data: the text and the patient are for clinic roles only; an operator without a
clinic role sees a number and a state.
"""

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

import mango_vpbx
from mango_vpbx.client import new_command_id

from .medpulse_telephony_limit import INTERACTIVE

CLINIC_ROLES = "medpulse_clinic.group_clinic_receptionist,medpulse_clinic.group_clinic_doctor"
RECEPTION = "medpulse_clinic.group_clinic_receptionist"

SMS_STATES = [
    ("pending", "Pending"),
    ("accepted", "Accepted by the PBX"),
    ("refused", "Refused by the PBX"),
    ("delivered", "Delivered"),
    ("failed", "Failed"),
]


class MedpulseSms(models.Model):
    _name = "medpulse.sms"
    _description = "SMS"
    _order = "create_date desc, id desc"
    _rec_name = "number"

    number = fields.Char(string="To", required=True, readonly=True, index=True,
                         help="The recipient's number (E.164).")
    patient_id = fields.Many2one(
        "medpulse.patient", readonly=True, index="btree_not_null", ondelete="set null",
        groups=CLINIC_ROLES,
    )
    appointment_id = fields.Many2one(
        "medpulse.appointment", readonly=True, ondelete="set null", groups=CLINIC_ROLES,
    )
    template_id = fields.Many2one(
        "medpulse.sms.template", readonly=True, ondelete="set null", groups=CLINIC_ROLES,
    )
    text = fields.Text(readonly=True, groups=CLINIC_ROLES)
    char_count = fields.Integer(string="Length", readonly=True, aggregator=None,
                            help="Characters, as the SMS counts them.")
    segments = fields.Integer(readonly=True, help="Parts the SMS is sent in (at most 4).")
    user_id = fields.Many2one("res.users", string="Sent by", required=True, readonly=True,
                              index=True)
    extension = fields.Char(string="From extension", readonly=True,
                            help="The PBX extension the SMS was sent as (and billed to).")
    sender_name = fields.Char(readonly=True)
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    pbx_command_id = fields.Many2one(
        "medpulse.call.command", string="PBX command", required=True, readonly=True,
        index=True, ondelete="restrict",
    )
    command_id = fields.Char(related="pbx_command_id.command_id", string="Command id")
    delivery_code = fields.Integer(
        readonly=True, aggregator=None, help="Reason code of the PBX's delivery report.",
    )
    delivered_at = fields.Datetime(string="Delivery reported at", readonly=True)
    state = fields.Selection(
        SMS_STATES, compute="_compute_state", store=True, index=True, readonly=True,
    )
    pbx_code = fields.Integer(
        string="PBX code", compute="_compute_state", store=True, aggregator=None,
        help="The PBX's code of a refusal or of a failed delivery.",
    )
    reason = fields.Char(compute="_compute_reason", help="What the PBX's code means.")

    @api.depends("pbx_command_id.state", "pbx_command_id.error_code",
                 "pbx_command_id.result_code", "delivery_code")
    def _compute_state(self):
        for sms in self:
            command = sms.pbx_command_id.sudo()
            code = command.result_code if command.result_code not in (0, 1000) else (
                command.error_code)
            if sms.delivery_code:
                delivered = 1000 <= sms.delivery_code <= 1099
                sms.state = "delivered" if delivered else "failed"
                sms.pbx_code = 0 if delivered else sms.delivery_code
            elif command.state in ("queued", "pending"):
                sms.state, sms.pbx_code = "pending", 0
            elif command.state == "failed":
                # A code is the PBX's answer; none: the PBX never got the SMS (down, locked
                # out, busy), which is a failure, not a refusal.
                sms.state = "refused" if code else "failed"
                sms.pbx_code = code
            else:
                sms.state, sms.pbx_code = "accepted", 0

    @api.depends("state", "pbx_code")
    @api.depends_context("lang")
    def _compute_reason(self):
        ru = (self.env.lang or "").startswith("ru")
        for sms in self:
            if sms.state == "failed" and sms.delivery_code:
                describe = mango_vpbx.codes.describe_ru if ru else mango_vpbx.codes.describe
                sms.reason = describe(sms.delivery_code)
            elif sms.state in ("refused", "failed"):
                sms.reason = sms.pbx_command_id.sudo().error_text or False
            else:
                sms.reason = False

    # ------------------------------------------------------------ sending

    @api.model
    def _may_send(self, user):
        """Whether ``user`` may send SMS to patients (the card offers it to them only)."""
        return user.has_group(RECEPTION)

    @api.model
    def _send(self, patient, text, number, appointment=None, template=None, automatic=False):
        """Send ``text`` to ``number`` (one of ``patient``'s) through the PBX.

        Refusals that send nothing raise ``UserError`` (no consent, no text or over the
        PBX's limit, no extension, a number that is not the patient's, the PBX not set
        up). Otherwise the SMS is recorded and sent: returns ``{"ok", "message",
        "sms_id"}``; a PBX that is down, locked out or refusing gives ``ok`` False, the
        reason in ``message`` and a ``failed`` or ``refused`` record, never "sent".
        ``automatic``: sent as the company's SMS extension rather than the user's own.
        """
        user = self.env.user
        if not self._may_send(user):
            raise AccessError(_("Only the reception can send SMS to patients."))
        patient.check_access("read")
        company = patient.company_id
        if company not in self.env.companies:
            raise AccessError(_("This company is not one of the companies you are working in."))
        if not patient.consent_sms:
            raise UserError(_(
                "%(patient)s has not agreed to SMS: nothing was sent. Record the consent on "
                "the patient's form first, if the patient gives it.", patient=patient.name,
            ))
        size = mango_vpbx.sms.measure(text or "")
        if not size.length:
            raise UserError(_("The SMS has no text."))
        if not size.fits:
            raise UserError(_(
                "The SMS is %(length)s characters long: the PBX sends at most %(limit)s "
                "(4 parts). Shorten it.", length=size.length, limit=size.limit,
            ))
        own_numbers = patient.phone_ids.mapped("number_e164")
        e164 = company._medpulse_pbx_normalize(number or "")
        if not e164 or e164 not in own_numbers:
            raise UserError(_("Choose one of the patient's numbers."))
        if automatic:
            extension = company.sudo().medpulse_sms_extension
            if not extension:
                raise UserError(_(
                    "No SMS extension is set for automatic SMS: set it in Settings ▸ "
                    "Telephony ▸ SMS."
                ))
        else:
            extension = user.medpulse_pbx_extension
            if not extension:
                raise UserError(_(
                    "Your user has no PBX extension, which the PBX sends SMS from: set it in "
                    "Settings ▸ Users ▸ Telephony."
                ))
        return self._record_and_send(
            company, patient, e164, text, extension, number=number,
            appointment=appointment, template=template,
            success_message=_("The PBX accepted the SMS. Its delivery shows in the patient's SMS."),
        )

    @api.model
    def _record_and_send(self, company, patient, e164, text, extension, number=None,
                         appointment=None, template=None, success_message="", link=None,
                         priority=INTERACTIVE):
        """Record the SMS and its command ``pending``, commit them, then send them.

        The checks are the caller's (:meth:`_send` for a person, the reminders for the
        automatic SMS). ``priority`` is the request budget's (``batch`` for the
        reminders, see ``medpulse.telephony.limit``; the command records it);
        ``link(env, sms)`` runs in the committing transaction, so what the caller links
        to the SMS is committed with it (a reminder's link to its SMS: a job that dies
        after the request left never sends it again). Raises ``UserError`` when the PBX
        is not set up (nothing recorded); else returns ``{"ok", "message", "sms_id",
        "unsent"}`` (``unsent``: a failure the PBX surely never acted on, see
        ``medpulse_call_command.never_reached``).
        """
        client = company._medpulse_pbx_client(priority)
        user = self.env.user
        size = mango_vpbx.sms.measure(text)
        sender = company.sudo().medpulse_sms_sender or False
        Command = self.env["medpulse.call.command"]
        command_id = new_command_id()
        # The command and the SMS, committed before the request leaves (see the module).
        # Not named "cr" or "env": _() looks the language up through such locals.
        with self.env.registry.cursor() as pending_cr:
            own = self.env(cr=pending_cr, su=True)
            command = own["medpulse.call.command"].create({
                "kind": "sms",
                "state": "pending",
                "priority": priority,
                "command_id": command_id,
                "company_id": company.id,
                "user_id": user.id,
                "extension": extension,
                "number": number or e164,
                "number_e164": e164,
                "patient_id": patient.id,
                "res_model": "medpulse.patient",
                "res_id": patient.id,
            })
            sms = own["medpulse.sms"].create({
                "number": e164,
                "patient_id": patient.id,
                "appointment_id": appointment.id if appointment else False,
                "template_id": template.id if template else False,
                "text": text,
                "char_count": size.length,
                "segments": size.segments,
                "user_id": user.id,
                "extension": extension,
                "sender_name": sender,
                "company_id": company.id,
                "pbx_command_id": command.id,
            })
            if link:
                link(own, sms)
            own.flush_all()
            command_record, sms_id = command.id, sms.id
        to_number = e164.lstrip("+")
        answer = Command._send_one(
            company, client, command_record, "sms", command_id,
            lambda client, command_id: client.sms(
                extension, to_number, text, sms_sender=sender or None, command_id=command_id
            ),
            success_message,
        )
        self.browse(sms_id).invalidate_recordset()
        return {"ok": answer["ok"], "message": answer["message"], "sms_id": sms_id,
                "unsent": answer.get("unsent", False)}

    # ------------------------------------------------------------ PBX feedback

    @api.model
    def _on_delivery(self, company, event):
        """An ``events/sms`` delivery report arrived (webhook transaction, superuser)."""
        sms = self.search([("command_id", "=", event.command_id),
                           ("company_id", "=", company.id)], limit=1)
        if not sms or event.reason is None:
            return
        # A "delivered" is final: a late failure report of the same SMS does not undo it.
        if sms.state == "delivered" and not event.delivered:
            return
        sms.write({
            "delivery_code": event.reason,
            "delivered_at": fields.Datetime.now(),
        })
