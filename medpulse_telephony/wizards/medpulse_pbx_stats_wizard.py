import json
import logging
import time
from datetime import timedelta, timezone

from odoo import _, api, fields, models
from odoo.exceptions import UserError

import mango_vpbx
from mango_vpbx.times import TimeBase, to_pbx

from ..models.medpulse_call_stats import STATS_FIELDS
from .medpulse_pbx_stats_line import PATIENT_GROUPS

_logger = logging.getLogger(__name__)

#: How long one click may wait for the PBX to prepare a report before the wizard
#: shows its "waiting" state with a Refresh button.
UI_MAX_WAIT_SECONDS = 30


class MedpulsePbxStatsWizard(models.TransientModel):
    """The PBX's own call statistics for a period, with people instead of numbers.

    ``stats/request`` is asked once per span the PBX accepts (the period is split
    automatically); the reports are then polled with ``stats/result`` no more than
    once per 5 seconds. A report not ready within a click's bounded wait leaves the
    wizard "waiting for the PBX" with a Refresh button. Only for a company the user
    works in (``medpulse.company.scoped``), checked again by every action.
    """

    _name = "medpulse.pbx.stats.wizard"
    _inherit = ["medpulse.company.scoped"]
    _description = "PBX call statistics"
    _check_company_auto = True

    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, readonly=True,
    )
    date_from = fields.Datetime(
        string="From", required=True,
        default=lambda self: fields.Datetime.now() - timedelta(days=1),
    )
    date_to = fields.Datetime(string="To", required=True, default=fields.Datetime.now)
    user_id = fields.Many2one(
        "res.users", string="Operator", domain="[('medpulse_pbx_extension', '!=', False)]",
        check_company=True, help="Only calls of this operator's extension.",
    )
    number = fields.Char(help="Only calls with this number (any format).")
    state = fields.Selection(
        [("draft", "Draft"), ("waiting", "Waiting for the PBX"), ("done", "Done")],
        default="draft", required=True, readonly=True,
    )
    pending_keys = fields.Text(readonly=True, help="Keys of the reports not fetched yet (JSON).")
    span_count = fields.Integer(string="Requests", readonly=True)
    last_poll_at = fields.Float(readonly=True, help="time.time() of the last stats/result request.")
    message = fields.Char(readonly=True)
    line_ids = fields.One2many(
        "medpulse.pbx.stats.line", "wizard_id", string="Calls", readonly=True
    )
    line_count = fields.Integer(compute="_compute_line_count")
    missing_count = fields.Integer(
        string="Not in the journal", compute="_compute_line_count",
        help="Calls in the PBX's statistics that the journal does not have.",
    )

    @api.depends("line_ids.call_id")
    def _compute_line_count(self):
        for wizard in self:
            wizard.line_count = len(wizard.line_ids)
            wizard.missing_count = len(wizard.line_ids.filtered(lambda line: not line.call_id))

    @api.constrains("date_from", "date_to")
    def _check_period(self):
        for wizard in self:
            if wizard.date_to <= wizard.date_from:
                raise UserError(_("The end of the period must be after its start."))

    # ------------------------------------------------------------------ actions

    def action_request(self):
        self.ensure_one()
        self._check_allowed_company()
        company = self.company_id
        client = self._client()
        start = to_pbx(self.date_from.replace(tzinfo=timezone.utc), TimeBase.UTC)
        end = to_pbx(self.date_to.replace(tzinfo=timezone.utc), TimeBase.UTC)
        keys = []
        try:
            for span_from, span_to in mango_vpbx.stats.split_period(start, end):
                keys.append(
                    client.stats_request(
                        span_from, span_to, STATS_FIELDS, call_party=self._call_party()
                    )
                )
        except mango_vpbx.VpbxError as error:
            raise UserError(company._medpulse_pbx_error_text(error)) from error
        self.line_ids.unlink()
        self.write({
            "state": "waiting", "pending_keys": json.dumps(keys), "span_count": len(keys),
            "last_poll_at": 0.0, "message": False,
        })
        self._poll(client)
        return self._reopen()

    def action_refresh(self):
        self.ensure_one()
        self._check_allowed_company()
        if self.state == "waiting":
            self._poll(self._client())
        return self._reopen()

    def action_reconcile(self):
        """Managers' "Reconcile this period": the journal is brought in line with the PBX."""
        self.ensure_one()
        self._check_allowed_company()
        runs = self.env["medpulse.call.reconcile"].action_reconcile_period(
            self.company_id, self.date_from, self.date_to
        )
        failed = runs.filtered(lambda run: run.state == "failed")
        if failed:
            self.message = failed[0].error
        else:
            self.message = _(
                "Reconciled: %(created)s calls recovered, %(completed)s completed, "
                "%(reconciled)s newly confirmed.",
                created=sum(runs.mapped("created_count")),
                completed=sum(runs.mapped("completed_count")),
                reconciled=sum(runs.mapped("reconciled_count")),
            )
            self.line_ids._compute_call_id()
        return self._reopen()

    # ------------------------------------------------------------------ helpers

    def _client(self):
        try:
            return self.company_id._medpulse_pbx_client()
        except mango_vpbx.VpbxError as error:
            raise UserError(self.company_id._medpulse_pbx_error_text(error)) from error

    def _call_party(self):
        if self.user_id:
            if not self.user_id.medpulse_pbx_extension:
                raise UserError(_("%s has no PBX extension.", self.user_id.name))
            return {"extension": self.user_id.medpulse_pbx_extension}
        e164 = self.company_id._medpulse_pbx_normalize(self.number) if self.number else False
        if self.number and not e164:
            raise UserError(_("%s is not a phone number.", self.number))
        return {"number": e164.lstrip("+")} if e164 else None

    def _poll(self, client):
        """Fetch the pending reports, waiting at most UI_MAX_WAIT_SECONDS in all."""
        keys = json.loads(self.pending_keys or "[]")
        poll_interval = self.env["medpulse.call.reconcile"]._stats_poll_interval()
        # The PBX allows one stats/result per 5 s: a quick Refresh waits for its turn.
        since_last = time.time() - self.last_poll_at
        if since_last < poll_interval:
            time.sleep(poll_interval - since_last)
        deadline = time.monotonic() + UI_MAX_WAIT_SECONDS
        rows = []
        while keys:
            try:
                rows += client.stats_result(
                    keys[0], STATS_FIELDS, poll_interval=poll_interval,
                    max_wait=max(deadline - time.monotonic(), 0),
                )
            except mango_vpbx.VpbxNotFound:
                self.write({
                    "state": "draft", "pending_keys": False, "last_poll_at": time.time(),
                    "message": _("The PBX no longer has this report: request it again."),
                })
                return
            except mango_vpbx.VpbxUnavailable as error:
                _logger.info("PBX statistics not ready yet: %s", error)
                break
            except mango_vpbx.VpbxError as error:
                self.write({
                    "state": "draft", "pending_keys": False, "last_poll_at": time.time(),
                    "message": self.company_id._medpulse_pbx_error_text(error),
                })
                return
            keys.pop(0)
        self.env["medpulse.pbx.stats.line"].create(self._line_vals(rows))
        ready = self.span_count - len(keys)
        self.write({
            "pending_keys": json.dumps(keys) if keys else False,
            "last_poll_at": time.time(),
            "state": "waiting" if keys else "done",
            "message": _(
                "The PBX is preparing the report (%(ready)s of %(total)s parts ready). "
                "Press Refresh in a few seconds.",
                ready=ready, total=self.span_count,
            ) if keys else False,
        })

    def _line_vals(self, rows):
        number_e164 = self.company_id._medpulse_pbx_normalize(self.number) if self.number else False
        show_patients = self.env.user.has_groups(PATIENT_GROUPS)
        vals_list = []
        for row in rows:
            vals = self.env["medpulse.pbx.stats.line"]._vals_from_row(self.company_id, row)
            if not show_patients:
                vals.pop("patient_id", None)
            if number_e164 and number_e164 not in (vals["from_e164"], vals["to_e164"]):
                continue
            vals["wizard_id"] = self.id
            vals_list.append(vals)
        return vals_list

    def _reopen(self):
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "current",
            "name": _("PBX call statistics"),
        }
