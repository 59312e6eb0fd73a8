import mango_vpbx

from odoo import _, api, fields, models
from odoo.osv import expression

#: Fields asked from ``stats/request`` wherever statistics meet the journal.
STATS_FIELDS = (
    "entry_id", "records", "start", "finish", "answer", "from_extension", "from_number",
    "to_extension", "to_number", "disconnect_reason", "line_number", "location", "create",
)

#: What an incomplete call keeps from its own events when statistics complete it:
#: the events saw the parties and the ringing better than one CSV row can.
_KEPT_FROM_EVENTS = (
    "direction", "caller_number", "caller_e164", "callee_number", "callee_e164",
    "external_e164", "line_id", "patient_id", "patient_ids", "rang_user_ids", "created_at",
    "transfers", "command_id", "callback_initiator",
)


class MedpulseCall(models.Model):
    """What the PBX's own statistics say about a journal call (reconciliation)."""

    _inherit = "medpulse.call"

    reconciled = fields.Boolean(
        string="Confirmed by the PBX", readonly=True, index=True, copy=False,
        help="The PBX's call statistics contain this call.",
    )
    recovered_from_stats = fields.Boolean(
        string="Recovered from PBX statistics", readonly=True, index=True, copy=False,
        help="None of this call's events reached the webhook: the call was created from the "
        "PBX's statistics by the reconciliation.",
    )
    completed_from_stats = fields.Boolean(
        string="Completed from PBX statistics", readonly=True, copy=False,
        help="The final notification of this call never arrived: its outcome comes from "
        "the PBX's statistics.",
    )

    def _followup_settled(self):
        # The statistics give a call's true times even when its summary never came.
        return super()._followup_settled() or self.recovered_from_stats or self.completed_from_stats

    @api.model
    def _followup_settled_domain(self):
        return expression.OR([
            super()._followup_settled_domain(),
            [("recovered_from_stats", "=", True)],
            [("completed_from_stats", "=", True)],
        ])

    def _vals_from_fold(self, company, state):
        # The statistics settled the outcome of a call whose final events were lost: its
        # events folded again without their summary (e.g. one left unfolded by a stopped
        # worker) only add what they see better than a CSV row.
        vals = super()._vals_from_fold(company, state)
        if self.completed_from_stats and not state.is_final:
            vals = {name: value for name, value in vals.items() if name in _KEPT_FROM_EVENTS}
        return vals

    def _after_stats(self, state):
        """The statistics created or completed this call: it is over. End the cards still
        ringing or talking and fetch its recordings, as its lost final events would have."""
        self.ensure_one()
        self._card_dispatch(state)
        self.env["medpulse.call.recording"].sudo()._sync_from_state(self.sudo(), None, state)

    @api.model
    def _apply_stats_rows(self, company, entry_id, rows):
        """Bring the journal call of ``entry_id`` in line with its statistics rows.

        Returns ``'created'``, ``'completed'``, ``'reconciled'`` (only the flag was
        set) or ``False`` when nothing changed, which makes reconciliation idempotent:
        values are written only when they differ from the stored ones.
        """
        state = mango_vpbx.stats.call_state(entry_id, rows)
        call = self.search([("company_id", "=", company.id), ("entry_id", "=", entry_id)], limit=1)
        if not call:
            call = self._insert_new(company, entry_id)
            vals = call._vals_from_state(company, state)
            vals.update(recovered_from_stats=True, reconciled=True)
            call.write(vals)
            call._apply_followup()
            call.message_post(
                body=_("Recovered from the PBX statistics: none of this call's events reached the webhook."),
                subtype_xmlid="mail.mt_note",
            )
            call._after_stats(state)
            return "created"
        outcome = False
        if not call.is_final:
            vals = call._vals_from_state(company, state)
            for name in _KEPT_FROM_EVENTS:
                if call[name]:
                    vals.pop(name, None)
            changes = call._vals_differing(vals)
            if changes:
                changes["completed_from_stats"] = True
                call.write(changes)
                call._apply_followup()
                call._after_stats(state)
                outcome = "completed"
        if not call.reconciled:
            call.reconciled = True
            outcome = outcome or "reconciled"
        return outcome
