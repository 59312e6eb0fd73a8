"""Every command Odoo sends to the PBX: click-to-call (``commands/callback``), call
control (hang up, route, transfer), recording start, the automatic routing of the
incoming-call card, the demo's "Ring me", and SMS (``commands/sms``, sent and logged by
``medpulse.sms``).

Why a record per command: the PBX answers a command twice, synchronously (accepted or
refused) and later with ``result/<command>``, and the call a callback produces arrives
as events carrying our ``command_id``, possibly *before* the synchronous answer. The
record is therefore committed (on a separate cursor) before the request leaves, so
the webhook's transaction sees it whatever the order, and links the call to the
patient and to the record the operator started from. It is also the trace of what was
asked of the PBX, by whom, and what came of it.

Two ways in, one way out (:meth:`MedpulseCallCommand._send_one`):

- a user's action calls :meth:`MedpulseCallCommand._send`: the record is created
  ``pending`` on its own cursor and committed, then the request leaves;
- the webhook's fold (inside the webhook's transaction, under the call's lock) only
  *queues* a command (:meth:`MedpulseCallCommand._queue`, state ``queued``); the webhook
  sends the queued commands of the call once that transaction committed and the lock
  is released (:meth:`MedpulseCallCommand._send_queued`), so no PBX request ever waits
  inside a webhook transaction or holds up the call's next events.

Lifecycle (``state``): [``queued`` (recorded by the fold, not sent yet) →] ``pending``
(committed, request in flight) → ``sent`` (the PBX accepted the request) → ``accepted``
(its result or its call arrived) | ``failed`` (refused, unreachable, or a failed
result). A refused command produces no call: the journal is only ever filled from the
PBX's events.
"""

import logging
import re

import requests
import urllib3
from psycopg2 import errors as pg_errors

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL

import mango_vpbx
from mango_vpbx.client import new_command_id

from .medpulse_telephony_limit import INTERACTIVE, PRIORITIES

_logger = logging.getLogger(__name__)

COMMAND_KINDS = [
    ("callback", "Click-to-call"),
    ("hangup", "Hang up"),
    ("route", "Route"),
    ("transfer", "Transfer"),
    ("calls_connect", "Complete transfer"),
    ("transfer_cancel", "Cancel transfer"),
    ("recording_start", "Start recording"),
    ("sms", "SMS"),
]

COMMAND_STATES = [
    ("queued", "Queued"),
    ("pending", "Pending"),
    ("sent", "Sent"),
    ("accepted", "Accepted"),
    ("failed", "Failed"),
]

# Where an operator can start a call from, and how the patient is found from it.
ORIGIN_MODELS = (
    "medpulse.patient",
    "medpulse.patient.phone",
    "medpulse.appointment",
    "medpulse.call",
    "res.partner",
)

# Live phases of a click-to-call, pushed to the operator's browser.
PHASE_RINGING = "ringing_operator"
PHASE_CONNECTED = "operator_connected"
PHASE_ENDED = "ended"

BUS_TYPE = "medpulse_telephony.command"
OPERATOR_GROUP = "medpulse_telephony.group_telephony_operator"
MANAGER_GROUP = "medpulse_telephony.group_telephony_manager"
#: Where a transaction keeps the ids of the commands it queued: ``cr.postcommit.data``
#: (what is for after the commit; ``precommit.data`` is emptied by every flush).
_QUEUED_KEY = "medpulse.call.command.queued"


class MedpulseCallCommand(models.Model):
    _name = "medpulse.call.command"
    _description = "PBX command"
    _order = "create_date desc, id desc"
    _rec_name = "command_id"

    command_id = fields.Char(
        string="Command id", required=True, readonly=True, index=True, copy=False
    )
    kind = fields.Selection(COMMAND_KINDS, required=True, readonly=True)
    state = fields.Selection(
        COMMAND_STATES, required=True, readonly=True, default="pending", index=True
    )
    phase = fields.Selection(
        [
            (PHASE_RINGING, "Ringing the operator"),
            (PHASE_CONNECTED, "Operator connected"),
            (PHASE_ENDED, "Ended"),
        ],
        readonly=True,
        help="Last live state of the call, as last sent to the operator's browser.",
    )
    # Issue 21: a person's command goes first; batch work (reminders) yields to it in the
    # account's request budget (medpulse.telephony.limit).
    priority = fields.Selection(
        PRIORITIES, required=True, readonly=True, default=INTERACTIVE,
        help="Interactive: a person waits for it. Batch: automatic work (reminders), sent "
        "only when no interactive request waits for the PBX.",
    )
    error_code = fields.Integer(string="PBX code", readonly=True, aggregator=None)
    error_text = fields.Char(string="Error", readonly=True)
    result_code = fields.Integer(
        string="Result code",
        readonly=True,
        aggregator=None,
        help="Code of the PBX's result/* notification.",
    )
    user_id = fields.Many2one(
        "res.users", string="Operator", required=True, readonly=True, index=True
    )
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    extension = fields.Char(string="Operator's extension", readonly=True)
    number = fields.Char(string="Number as typed", readonly=True)
    number_e164 = fields.Char(string="Number (E.164)", readonly=True, index="btree_not_null")
    desk_number = fields.Char(
        string="Desk phone",
        readonly=True,
        help="The phone the PBX rang first (from.number), bound to the operator's browser.",
    )
    line_number = fields.Char(
        string="Line", readonly=True, help="The clinic line shown to the patient."
    )
    target_user_id = fields.Many2one("res.users", string="Transfer to", readonly=True)
    pbx_call_id = fields.Char(string="Leg id", readonly=True, help="The leg the command acted on.")
    # Like the call's patient fields: telephony managers and operators without a clinic
    # role see commands and their numbers, never whose they are.
    patient_id = fields.Many2one(
        "medpulse.patient", readonly=True, index="btree_not_null",
        groups="medpulse_clinic.group_clinic_receptionist,medpulse_clinic.group_clinic_doctor",
    )
    res_model = fields.Char(string="Started from (model)", readonly=True)
    res_id = fields.Many2oneReference(
        string="Started from (id)", model_field="res_model", readonly=True
    )
    call_id = fields.Many2one(
        "medpulse.call", readonly=True, index="btree_not_null", ondelete="set null"
    )

    _sql_constraints = [
        ("command_id_uniq", "UNIQUE(command_id)", "A PBX command with this id already exists."),
    ]

    # ------------------------------------------------------------ click-to-call

    @api.model
    def action_click_to_call(
        self, number, res_model=False, res_id=False, desk_number=False, desk_device_id=False
    ):
        """Call ``number`` from the current user's phone through the PBX (``commands/callback``).

        The PBX rings the operator first (on the desk phone the browser is bound to,
        else on their usual devices), then ``number``, showing the
        clinic line chosen in the settings (the user's own line first). ``res_model``/
        ``res_id`` is the record the operator clicked from (patient, patient phone,
        appointment, call, partner): it gives the patient, and an appointment or a
        missed call is linked to the resulting call.

        The desk phone is ``desk_device_id`` (the ``medpulse.telephony.user.number`` the
        browser is bound to, the web client's way) or ``desk_number``; either must be one
        of the user's own devices: the PBX would ring any number it is given, and the
        call's card follows the phone that answers.

        Returns ``{"ok": bool, "message": str, "command_id": str or False}``; never
        raises on a user or PBX error.
        """
        user = self.env.user
        if not user.has_group(OPERATOR_GROUP):
            return _answer(False, _("Only telephony operators can place calls through the PBX."))
        if not user.medpulse_pbx_extension:
            return _answer(
                False, _("Your user has no PBX extension: set it in Settings ▸ Users ▸ Telephony")
            )
        company = self.env.company
        number = (number or "").strip()
        to_number = self._dialable(company, number)
        if not to_number:
            return _answer(False, _("“%s” is not a phone number that can be dialled.", number))
        try:
            origin = self._click_to_call_origin(res_model, res_id)
        except (AccessError, UserError) as error:
            return _answer(False, str(error.args[0]))
        patient = self._click_to_call_patient(origin, number)
        line = user.medpulse_pbx_callback_line_id or company.medpulse_medpulse_pbx_callback_line_id
        desk = self._desk_number(desk_device_id)
        if (desk_number or "").strip():
            desk = self._own_device_number(company, desk_number.strip())
            if not desk:
                return _answer(False, _(
                    "“%s” is not one of your phones: "
                    "only your own devices can ring for your calls.",
                    desk_number.strip(),
                ))
        e164 = company._medpulse_pbx_normalize(number)
        # A colleague calling this caller back right now: "being called by …" (issue 20).
        Callback = self.env["medpulse.call.callback"]
        claimed, refusal = Callback._claim_for_click_to_call(company, e164)
        if refusal:
            return _answer(False, refusal)
        vals = {
            "number": number,
            "number_e164": e164,
            "desk_number": desk,
            "line_number": line.number or False,
            "patient_id": patient.id or False,
            "res_model": origin._name if origin else False,
            "res_id": origin.id if origin else False,
        }
        answer = self._send(
            company,
            "callback",
            vals,
            lambda client, command_id: client.callback(
                user.medpulse_pbx_extension,
                to_number,
                line_number=line.number or None,
                from_number=desk or None,
                command_id=command_id,
            ),
            _("Calling… pick up your phone"),
        )
        Callback._claim_sent(claimed, answer)
        return answer

    @api.model
    def _desk_number(self, device_id):
        """The number of the user's own device ``device_id``, or False."""
        if not device_id:
            return False
        device = self.env["medpulse.telephony.user.number"].sudo().browse(int(device_id)).exists()
        if device.user_id != self.env.user or device.company_id != self.env.company:
            return False
        return device.number

    @api.model
    def _own_device_number(self, company, number):
        """``number`` as listed among the user's own devices in ``company``, or False."""
        Device = self.env["medpulse.telephony.user.number"].sudo()
        key = Device._number_keys(company, number)[1]
        device = Device.search(
            [
                ("user_id", "=", self.env.uid),
                ("company_id", "=", company.id),
                ("number_key", "=", key),
            ],
            limit=1,
        )
        return device.number or False

    @api.model
    def _dialable(self, company, number):
        """What to put in ``to_number``: E.164 digits without '+', or a short extension."""
        e164 = company._medpulse_pbx_normalize(number)
        if e164:
            return e164.lstrip("+")
        digits = re.sub(r"[\s\-()]", "", number)
        # A colleague's or a group's short number.
        if digits.isdigit() and len(digits) <= 6:
            return digits
        return False

    @api.model
    def _click_to_call_origin(self, res_model, res_id):
        """The record the call was started from, readable by the user, or None."""
        if not res_model or not res_id or res_model not in ORIGIN_MODELS:
            return None
        record = self.env[res_model].browse(int(res_id)).exists()
        if not record:
            return None
        record.check_access("read")
        return record

    @api.model
    def _click_to_call_patient(self, origin, number):
        Patient = self.env["medpulse.patient"]
        if origin is not None:
            if origin._name == "medpulse.patient":
                return origin
            if origin._name in ("medpulse.patient.phone", "medpulse.appointment"):
                return origin.patient_id
            if origin._name == "medpulse.call" and Patient.has_access("read"):
                patient = origin.patient_id
                if patient:
                    return patient
        if not Patient.has_access("read"):
            return Patient
        return Patient._lookup_by_phone(number, limit=1)

    # ------------------------------------------------------------ sending

    @api.model
    def _send(self, company, kind, vals, request, success_message):
        """Record a command, commit it, send it with ``request(client, command_id)``.

        For a user's action, outside any webhook transaction. The pending record is
        committed on its own cursor before the request leaves: the webhook must find it
        even when the command's events beat the PBX's reply. Its final state is written
        on a fresh cursor too, never in the caller's transaction, so a concurrent webhook
        update of the same row cannot make the caller's request fail and be retried
        (which would send the command twice).

        ``request`` may raise ``mango_vpbx.VpbxError`` (the PBX refused or could not be
        reached): the command is then ``failed``. Returns ``{"ok", "message",
        "command_id"}`` (``message`` is ``success_message`` or what went wrong).
        """
        try:
            client = company._medpulse_pbx_client()
        except UserError as error:
            return _answer(False, str(error.args[0]))
        command_id = new_command_id()
        record_id = self._create_pending(
            dict(
                vals,
                kind=kind,
                command_id=command_id,
                company_id=company.id,
                user_id=self.env.uid,
                extension=self.env.user.medpulse_pbx_extension or False,
            )
        )
        return self._send_one(company, client, record_id, kind, command_id, request,
                              success_message)

    @api.model
    def _send_one(self, company, client, record_id, kind, command_id, request, success_message):
        """Send one committed ``pending`` command and record what the PBX said."""
        try:
            request(client, command_id)
        except mango_vpbx.VpbxError as error:
            message = company._medpulse_pbx_error_text(error)
            _logger.info("PBX command %s (%s) failed: %s", command_id, kind, error)
            self._finish(record_id, "failed", error_code=error.code or 0, error_text=message)
            return dict(_answer(False, message, command_id), unsent=never_reached(error))
        self._finish(record_id, "sent")
        return _answer(True, success_message, command_id)

    @api.model
    def _queue(self, company, kind, vals):
        """Record a command to send once the caller's transaction committed (``queued``).

        For the webhook's fold, which runs in the webhook's transaction under the call's
        lock: nothing may be sent from there. The webhook sends it afterwards
        (:meth:`_send_queued`). Only kinds :meth:`_request_of` can rebuild may be queued.
        The transaction remembers what it queued (:meth:`_queued_in_transaction`), so the
        webhook knows what to send without searching for it after every event.
        """
        command = self.sudo().create(
            dict(
                vals,
                kind=kind,
                state="queued",
                command_id=new_command_id(),
                company_id=company.id,
                user_id=self.env.uid,
            )
        )
        self.env.cr.postcommit.data.setdefault(_QUEUED_KEY, []).append(command.id)
        return command

    @api.model
    def _queued_in_transaction(self):
        """Ids of the commands :meth:`_queue` recorded in the current transaction, not
        committed yet (read them before the commit, which forgets them). A command whose
        savepoint was rolled back may be among them: :meth:`_send_queued` sends only
        rows still ``queued``."""
        return list(self.env.cr.postcommit.data.get(_QUEUED_KEY, ()))

    @api.model
    def _send_queued(self, command_ids):
        """Send the queued commands ``command_ids`` (the fold's
        :meth:`_queued_in_transaction`); the webhook's last step.

        Called with no transaction of the caller holding anything (the fold committed,
        the call's lock released). Each command is first moved from ``queued`` to
        ``pending`` and committed (a claim: a command is sent once, whoever else holds
        its id), then sent as a user's command is.
        """
        if not command_ids:
            return
        # Read from this transaction: the claim changed nothing but the state.
        for command in self.sudo().browse(self._claim(command_ids)):
            company = command.company_id
            try:
                client = company._medpulse_pbx_client()
            except UserError as error:
                self._finish(command.id, "failed", error_text=str(error.args[0]))
                ok = False
            else:
                ok = self._send_one(
                    company, client, command.id, command.kind, command.command_id,
                    command._request_of(), "",
                )["ok"]
            command._after_sent(ok)

    @api.model
    def _claim(self, ids):
        """The ids among ``ids`` this worker moved from ``queued`` to ``pending`` (committed)."""
        if not ids:
            return []
        with self.env.registry.cursor() as cr:
            cr.execute(
                SQL(
                    "UPDATE medpulse_call_command SET state = 'pending', write_date = %s"
                    " WHERE id IN %s AND state = 'queued' RETURNING id",
                    fields.Datetime.now(), tuple(ids),
                )
            )
            return sorted(row[0] for row in cr.fetchall())

    def _request_of(self):
        """``request(client, command_id)`` of a queued command, from its stored fields."""
        self.ensure_one()
        if self.kind == "route":
            leg, destination = self.pbx_call_id, self.number
            return lambda client, command_id: client.route(leg, destination, command_id=command_id)
        raise ValueError(f"a {self.kind} command cannot be queued")

    def _after_sent(self, ok):
        """What follows the PBX's synchronous answer to a queued command, on a fresh cursor:
        the automatic routing tells its call (``medpulse.call._auto_route_sent``)."""
        self.ensure_one()
        for attempt in range(3):
            try:
                with self.env.registry.cursor() as cr:
                    command = self.with_env(self.env(cr=cr, su=True))
                    if command.kind == "route" and command.call_id:
                        command.call_id._auto_route_sent(command, ok)
                return
            except pg_errors.SerializationFailure:
                if attempt == 2:
                    raise

    @api.model
    def _create_pending(self, vals):
        with self.env.registry.cursor() as cr:
            return self.env(cr=cr, su=True)[self._name].create(vals).id

    def _lock_rows(self):
        """Lock these commands' rows for the transaction, before it writes them.

        A command's row is written by the request that sent it (the PBX's reply,
        :meth:`_finish`), by the PBX's result (:meth:`_on_result`) and by the fold of the
        call it produced (its link, its phase), each in a transaction of its own. A change
        committed by another of them since this transaction's snapshot makes the lock
        raise a concurrency error here, in a statement that does not log, and the caller
        tries again (``in_new_transaction``, :meth:`_finish`); the ORM's ``UPDATE`` at
        the flush would fail the same way, logged by Odoo as a "bad query" ERROR."""
        if self.ids:
            self.env.cr.execute(SQL(
                "SELECT 1 FROM medpulse_call_command WHERE id IN %s FOR NO KEY UPDATE",
                tuple(self.ids),
            ), log_exceptions=False)

    @api.model
    def _finish(self, record_id, state, **vals):
        """Move a command out of ``pending`` unless the webhook already did."""
        for attempt in range(3):
            try:
                with self.env.registry.cursor() as cr:
                    command = self.env(cr=cr, su=True)[self._name].browse(record_id)
                    command._lock_rows()
                    if command.state == "pending":
                        command.write(dict(vals, state=state))
                return
            except pg_errors.SerializationFailure:
                if attempt == 2:
                    raise

    # ------------------------------------------------------------ PBX feedback

    @api.model
    def _on_result(self, company, event):
        """A ``result/<command>`` notification arrived (webhook transaction, superuser)."""
        command = self.search(
            [("command_id", "=", event.command_id), ("company_id", "=", company.id)], limit=1
        )
        if not command:
            return
        vals = {"result_code": event.result}
        if event.ok:
            if command.state in ("pending", "sent"):
                vals["state"] = "accepted"
        else:
            error = mango_vpbx.errors.error_for_code(event.result)
            vals.update(
                state="failed",
                error_code=event.result,
                error_text=company._medpulse_pbx_error_text(error),
            )
        changed = vals.get("state") and vals["state"] != command.state
        command._lock_rows()
        command.write(vals)
        if changed and command.kind == "callback":
            command._notify_user()

    def _link_call(self, call, state):
        """The call produced by this command was recomputed: link it and tell the operator."""
        self.ensure_one()
        vals = {}
        if self.call_id != call:
            vals["call_id"] = call.id
        if self.state != "accepted" and not (self.state == "failed" and self.result_code):
            # Its call exists, so the PBX did it, whatever the HTTP reply said.
            vals.update(state="accepted", error_code=0, error_text=False)
        phase = self._phase(state)
        if phase != self.phase:
            vals["phase"] = phase
        if vals:
            self._lock_rows()
            self.write(vals)
        self._link_origin(call)
        if "phase" in vals or "state" in vals:
            self._notify_user(call=call)

    def _phase(self, state):
        legs = getattr(state, "legs", ()) or ()
        if state.is_final or (legs and all(leg.state == "Disconnected" for leg in legs)):
            return PHASE_ENDED
        if self.extension and self.extension in (state.connected_extensions or ()):
            return PHASE_CONNECTED
        return PHASE_RINGING

    def _link_origin(self, call):
        origin = self._origin_record()
        if origin is None:
            return
        if origin._name == "medpulse.appointment" and not origin.call_id:
            origin.call_id = call
        elif (
            origin._name == "medpulse.call"
            and origin != call
            and call.result == "answered"
            and origin.followup_state in ("new", "needs_callback")
            and origin.call_type == "missed_incoming"
        ):
            # The core closes missed calls of the same number by itself; this closes the
            # one the operator clicked even when the patient is called on another number.
            origin._close_by(call)

    def _origin_record(self):
        if not self.res_model or not self.res_id or self.res_model not in self.env:
            return None
        record = self.env[self.res_model].sudo().browse(self.res_id).exists()
        return record or None

    def _notify_user(self, call=None):
        """Push the command's state to its operator's browsers (the "Calling…" notification)."""
        self.ensure_one()
        message = False
        if self.state == "failed":
            message = self.error_text
        elif self.phase == PHASE_ENDED and call and call.result != "answered":
            message = _("The call ended without a conversation.")
        self.user_id._bus_send(
            BUS_TYPE,
            {
                "command_id": self.command_id,
                "kind": self.kind,
                "state": self.state,
                "phase": self.phase or False,
                "call_id": (call or self.call_id).id or False,
                "message": message,
            },
        )


def _answer(ok, message, command_id=False):
    return {"ok": ok, "message": message, "command_id": command_id}


def never_reached(error):
    """Whether the PBX surely did not carry out a request that raised ``error``.

    Held back by the client (the account paused or locked out, the rate limit, its turn
    taken too long), refused unread (401, 429), no connection made, or a PBX that says
    it is unavailable (502, 503, 504): sending it again sends it once. A
    timeout waiting for the answer, a connection lost during it or a 500 may follow a
    request the PBX carried out: batch work must not send those again (issue 21).
    """
    if isinstance(error, mango_vpbx.VpbxLockedOut | mango_vpbx.VpbxRateLimited):
        return True
    if isinstance(error, mango_vpbx.VpbxUnavailable) and error.code is None:
        if error.http_status in (502, 503, 504):
            return True
        cause = error.__cause__
        if isinstance(cause, requests.ConnectTimeout):
            return True
        reason = getattr(cause.args[0], "reason", None) if cause and cause.args else None
        return isinstance(cause, requests.ConnectionError) and isinstance(
            reason, urllib3.exceptions.NewConnectionError)
    return False
