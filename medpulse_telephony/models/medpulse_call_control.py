"""Call control from Odoo (hang up, route, transfer) and the journal side of click-to-call.

The incoming-call card and the click-to-call feedback call the ``action_*`` methods
below; each returns ``{"ok": bool, "message": str, "command_id": str or False}``
with a translated sentence and never raises on a user or PBX error. The PBX legs
to act on are found by folding the call's stored events, like the journal does.
"""

from odoo import _, api, fields, models

from .medpulse_call_command import MANAGER_GROUP, OPERATOR_GROUP, _answer

LIVE_STATES = ("Appeared", "Connected", "OnHold")


class MedpulseCall(models.Model):
    _inherit = "medpulse.call"

    command_ids = fields.One2many(
        "medpulse.call.command",
        "call_id",
        string="PBX commands",
        readonly=True,
        help="The click-to-call that produced this call and the commands sent on it.",
    )

    # ------------------------------------------------------------ journal side

    def _vals_from_state(self, company, state):
        """A callback's patient is the one the operator called, even on a shared number."""
        vals = super()._vals_from_state(company, state)
        command = self._command_of_state(company, state)
        patient = command.patient_id
        if patient and patient.company_id == company:
            vals["patient_id"] = patient.id
            known = []
            for item in vals.get("patient_ids") or []:
                if item[0] == fields.Command.SET:
                    known = list(item[2])
            if patient.id not in known:
                vals["patient_ids"] = [fields.Command.set(known + [patient.id])]
        return vals

    @api.model
    def _recompute(self, company, entry_id):
        call, state = super()._recompute(company, entry_id)
        command = self._command_of_state(company, state)
        if command:
            command._link_call(call, state)
        return call, state

    @api.model
    def _command_of_state(self, company, state):
        command_id = getattr(state, "command_id", None)
        Command = self.env["medpulse.call.command"].sudo()
        if not command_id:
            return Command
        return Command.search(
            [("command_id", "=", command_id), ("company_id", "=", company.id)], limit=1
        )

    def action_call_back(self):
        """Call the number of this call from the journal (the "Call back" button).

        The browser places the call, so that the desk phone bound to it is used.
        """
        self.ensure_one()
        return {
            "type": "ir.actions.client",
            "tag": "medpulse_telephony.click_to_call",
            "params": {
                "number": self.external_e164 or self.external_number_display or "",
                "res_model": self._name,
                "res_id": self.id,
            },
        }

    # ------------------------------------------------------------ call control

    def action_hangup(self):
        """Hang up the current user's leg of this call (``commands/call/hangup``).

        The leg is the user's connected, held or ringing leg; a manager who is not in
        the call hangs up its most recent live leg at a phone.
        """
        leg, error = self._control_leg(
            ("Connected", "OnHold", "Appeared"), any_leg_for_manager=True
        )
        if error:
            return error
        return self._send_command(
            "hangup",
            {"pbx_call_id": leg.call_id},
            lambda client, command_id: client.hangup(leg.call_id, command_id=command_id),
            _("Hanging up…"),
        )

    def action_route(self, target_user_id=None, to_number=None):
        """Send a ringing call elsewhere before anyone picks up (``commands/route``).

        ``target_user_id`` (a user with an extension) or ``to_number`` is where it goes.
        The leg routed is the user's ringing leg, else the call's leg in the voice menu
        or the queue.
        """
        target, destination, error = self._control_target(target_user_id, to_number)
        if error:
            return error
        leg, error = self._control_leg(("Appeared",), fallback_locations=("ivr", "queue"))
        if error:
            return error
        return self._send_command(
            "route",
            {
                "pbx_call_id": leg.call_id,
                "target_user_id": target.id or False,
                "number": destination,
            },
            lambda client, command_id: client.route(
                leg.call_id, destination, command_id=command_id
            ),
            _("Forwarding the call to %s…", target.name or destination),
        )

    def action_transfer(self, target_user_id=None, to_number=None, method="blind"):
        """Transfer the user's connected call (``commands/transfer``, initiator = my extension).

        ``method`` is ``'blind'`` (the call goes at once) or ``'hold'`` (consultative: the
        patient waits on hold while the user talks to the target, then
        :meth:`action_transfer_complete` or :meth:`action_transfer_cancel`).
        """
        if method not in ("blind", "hold"):
            return _answer(False, _("Unknown transfer method: %s.", method))
        target, destination, error = self._control_target(target_user_id, to_number)
        if error:
            return error
        leg, error = self._control_leg(("Connected",))
        if error:
            return error
        initiator = self.env.user.pbx_extension
        return self._send_command(
            "transfer",
            {
                "pbx_call_id": leg.call_id,
                "target_user_id": target.id or False,
                "number": destination,
            },
            lambda client, command_id: client.transfer(
                leg.call_id,
                destination,
                initiator,
                method=method,
                command_id=command_id,
            ),
            _("Transferring the call to %s…", target.name or destination),
        )

    def action_transfer_complete(self):
        """Join the patient on hold with the colleague consulted (``commands/calls_connect``)."""
        held, consult, error = self._consultation()
        if error:
            return error
        initiator = self.env.user.pbx_extension
        return self._send_command(
            "calls_connect",
            {"pbx_call_id": held},
            lambda client, command_id: client.calls_connect(
                held, consult, initiator, command_id=command_id
            ),
            _("Connecting the patient with your colleague…"),
        )

    def action_transfer_cancel(self):
        """Give up a consultative transfer: the colleague's leg ends, the patient is back."""
        _held, consult, error = self._consultation()
        if error:
            return error
        return self._send_command(
            "transfer_cancel",
            {"pbx_call_id": consult},
            lambda client, command_id: client.transfer_cancel(consult, command_id=command_id),
            _("Cancelling the transfer…"),
        )

    # ------------------------------------------------------------ helpers

    def _send_command(self, kind, vals, request, success_message):
        self.ensure_one()
        return self.env["medpulse.call.command"]._send(
            self.company_id,
            kind,
            dict(vals, call_id=self.id),
            request,
            success_message,
        )

    def _control_state(self):
        """The live PBX state of this call, or an error answer for the current user."""
        user = self.env.user
        if len(self) != 1:
            return None, _answer(False, _("Select exactly one call."))
        if not user.has_group(OPERATOR_GROUP):
            return None, _answer(False, _("Only telephony operators can control calls."))
        if not user.pbx_extension:
            return None, _answer(
                False, _("Your user has no PBX extension: set it in Settings ▸ Users ▸ Telephony")
            )
        self.check_access("read")
        events = (
            self.env["medpulse.call.event"]
            .sudo()
            .search([("call_id_ref", "=", self.id), ("state", "!=", "not_understood")])
        )
        if not events:
            return None, _answer(False, _("The PBX has not reported anything about this call yet."))
        state = self._fold(self.company_id, events)
        ext = user.pbx_extension
        in_call = any(
            ext in (leg.to.extension, leg.from_.extension) for leg in state.legs
        ) or user in (
            self.sudo().operator_user_id | self.sudo().answered_user_id | self.sudo().rang_user_ids
        )
        if not in_call and not user.has_group(MANAGER_GROUP):
            return None, _answer(False, _("You are not part of this call."))
        return state, None

    def _control_leg(self, states, fallback_locations=(), any_leg_for_manager=False):
        state, error = self._control_state()
        if error:
            return None, error
        ext = self.env.user.pbx_extension
        live = [leg for leg in state.legs if leg.state in LIVE_STATES]
        mine = [leg for leg in live if ext in (leg.to.extension, leg.from_.extension)]
        for wanted in states:
            for leg in reversed(mine):
                if leg.state == wanted:
                    return leg, None
        for leg in reversed(live):
            if leg.location in fallback_locations:
                return leg, None
        if any_leg_for_manager and self.env.user.has_group(MANAGER_GROUP):
            for leg in reversed(live):
                if leg.location == "abonent":
                    return leg, None
        if not live:
            return None, _answer(False, _("This call has already ended."))
        return None, _answer(False, _("You have no leg of this call in a state that allows this."))

    def _control_target(self, target_user_id, to_number):
        Users = self.env["res.users"]
        if target_user_id:
            target = Users.browse(int(target_user_id)).sudo().exists()
            if not target or not target.pbx_extension:
                return Users, False, _answer(False, _("This colleague has no PBX extension."))
            return target, target.pbx_extension, None
        destination = self.env["medpulse.call.command"]._dialable(self.company_id, to_number or "")
        if not destination:
            return Users, False, _answer(False, _("Choose a colleague or a number to transfer to."))
        return Users, destination, None

    def _consultation(self):
        """(held leg id, consultation leg id, error) of the user's consultative transfer."""
        state, error = self._control_state()
        if error:
            return None, None, error
        transfer = (
            self.env["medpulse.call.command"]
            .sudo()
            .search(
                [
                    ("call_id", "=", self.id),
                    ("kind", "=", "transfer"),
                    ("user_id", "=", self.env.uid),
                    ("state", "in", ("sent", "accepted")),
                ],
                limit=1,
            )
        )
        if transfer:
            legs = {leg.call_id: leg for leg in state.legs if leg.state in LIVE_STATES}
            held = legs.get(transfer.pbx_call_id)
            consult = next(
                (
                    leg
                    for leg in state.legs
                    if leg.command_id == transfer.command_id and leg.state in LIVE_STATES
                ),
                None,
            )
            if held and held.state == "OnHold" and consult:
                return held.call_id, consult.call_id, None
        return None, None, _answer(False, _("There is no transfer in progress on this call."))
