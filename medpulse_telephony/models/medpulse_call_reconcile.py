import logging
from collections import defaultdict
from datetime import timedelta, timezone

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

import mango_vpbx
from mango_vpbx.assumptions import STATS_POLL_SECONDS

from .medpulse_call_stats import STATS_FIELDS

_logger = logging.getLogger(__name__)

#: Each run starts this much before the last reconciled moment: a call still going on
#: at the end of a run is only in the statistics of a later one.
OVERLAP = timedelta(hours=1)
#: How far back the very first run looks.
FIRST_WINDOW = timedelta(days=1)
#: One statistics request per chunk, so a long outage is caught up in bounded steps.
CHUNK = timedelta(days=1)
#: Chunks per cron run; the cron triggers itself again for the rest.
MAX_CHUNKS_PER_RUN = 14
#: Longest wait for one report in the background.
MAX_WAIT_SECONDS = 60


class MedpulseCallReconcile(models.Model):
    """One comparison of the journal with the PBX's statistics over a period.

    The PBX does not resend webhooks, so this is what makes the journal complete:
    every call in the statistics that the journal never saw is created, every call
    whose final notification was lost is completed, and every call the PBX
    confirms is flagged. A run is a log line (what was done, or the PBX's error),
    shown on the integration health screen.
    """

    _name = "medpulse.call.reconcile"
    _description = "Reconciliation with the PBX statistics"
    _order = "id desc"
    _rec_name = "date_from"

    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    date_from = fields.Datetime(string="From", required=True, readonly=True)
    date_to = fields.Datetime(string="To", required=True, readonly=True)
    trigger = fields.Selection(
        [("cron", "Scheduled"), ("manual", "Manual")], required=True, readonly=True, default="cron",
    )
    state = fields.Selection([("done", "Done"), ("failed", "Failed")], required=True, readonly=True)
    row_count = fields.Integer(string="PBX rows", readonly=True)
    created_count = fields.Integer(string="Recovered calls", readonly=True)
    completed_count = fields.Integer(string="Completed calls", readonly=True)
    reconciled_count = fields.Integer(string="Newly confirmed calls", readonly=True)
    error = fields.Text(readonly=True)

    # ---------------------------------------------------------------- entry points

    @api.model
    def _cron_reconcile(self):
        """Reconcile every configured company from where it stopped up to now.

        Never raises: a failure is stored on the run and on the company, and the
        next run starts again where the last successful chunk ended.
        """
        companies = self.env["res.company"].sudo().search([("medpulse_pbx_api_key", "!=", False)])
        more = False
        for company in companies:
            try:
                more |= self._reconcile_since_last(company)
            except Exception as error:  # noqa: BLE001 - one company must not stop the others
                _logger.exception("Reconciliation of company %s failed", company.id)
                company._medpulse_pbx_record_error(str(error))
        if more:
            self.env.ref("medpulse_telephony.ir_cron_medpulse_call_reconcile")._trigger()

    @api.model
    def _reconcile_since_last(self, company):
        """Catch up from the company's last reconciled moment; True if more remains."""
        now = fields.Datetime.now()
        start = company.medpulse_pbx_reconciled_until
        start = start - OVERLAP if start else now - FIRST_WINDOW
        runs = self._reconcile_period(
            company, start, now, trigger="cron", max_chunks=MAX_CHUNKS_PER_RUN
        )
        return bool(runs) and runs[-1].state == "done" and runs[-1].date_to < now

    @api.model
    def action_reconcile_period(self, company, date_from, date_to):
        """Managers' "Reconcile this period": returns the runs made."""
        if not self.env.user.has_group("medpulse_telephony.group_telephony_manager"):
            raise AccessError(_("Only telephony managers can reconcile the journal with the PBX."))
        if company not in self.env.companies:
            raise AccessError(_("This company is not one of the companies you are working in."))
        if date_to <= date_from:
            raise UserError(_("The end of the period must be after its start."))
        return self.sudo()._reconcile_period(company, date_from, date_to, trigger="manual")

    # ---------------------------------------------------------------- the work

    @api.model
    def _reconcile_period(self, company, date_from, date_to, trigger="cron", max_chunks=None):
        """Reconcile ``[date_from, date_to]`` (naive UTC) in chunks; stop at the first failure."""
        runs = self.browse()
        chunk_from = date_from
        while chunk_from < date_to and (max_chunks is None or len(runs) < max_chunks):
            chunk_to = min(chunk_from + CHUNK, date_to)
            run = self._reconcile_chunk(company, chunk_from, chunk_to, trigger)
            runs |= run
            if run.state != "done":
                break
            marker = company.medpulse_pbx_reconciled_until
            if trigger == "cron" or (marker and chunk_from <= marker):
                if not marker or chunk_to > marker:
                    company.sudo().medpulse_pbx_reconciled_until = chunk_to
            chunk_from = chunk_to
        return runs

    @api.model
    def _reconcile_chunk(self, company, date_from, date_to, trigger):
        vals = {
            "company_id": company.id,
            "date_from": date_from,
            "date_to": date_to,
            "trigger": trigger,
        }
        try:
            rows = self._fetch_stats(company, date_from, date_to)
        except mango_vpbx.VpbxError as error:
            message = company._medpulse_pbx_error_text(error)
            _logger.info("Reconciliation of company %s: the PBX failed: %s", company.id, error)
            company._medpulse_pbx_record_error(message)
            return self.create(dict(vals, state="failed", error=message))
        except UserError as error:
            company._medpulse_pbx_record_error(str(error))
            return self.create(dict(vals, state="failed", error=str(error)))
        counts = self._apply_rows(company, rows)
        return self.create(dict(vals, state="done", row_count=len(rows), **counts))

    @api.model
    def _stats_poll_interval(self):
        """Seconds between two polls of a report (the PBX allows one per 5 s)."""
        return STATS_POLL_SECONDS

    @api.model
    def _fetch_stats(self, company, date_from, date_to, call_party=None, max_wait=MAX_WAIT_SECONDS):
        """Statistics rows of ``[date_from, date_to]`` (naive UTC), ``entry_id`` included."""
        client = company._medpulse_pbx_client()
        return client.stats(
            date_from.replace(tzinfo=timezone.utc), date_to.replace(tzinfo=timezone.utc),
            fields=STATS_FIELDS, call_party=call_party,
            poll_interval=self._stats_poll_interval(), max_wait=max_wait,
        )

    @api.model
    def _apply_rows(self, company, rows):
        """Fold statistics rows into the journal; the counts of what changed."""
        by_entry = defaultdict(list)
        for row in rows:
            if row.entry_id:
                by_entry[row.entry_id].append(row)
        Call = self.env["medpulse.call"].sudo().with_company(company)
        counts = {"created_count": 0, "completed_count": 0, "reconciled_count": 0}
        for entry_id, entry_rows in by_entry.items():
            outcome = Call._apply_stats_rows(company, entry_id, entry_rows)
            if outcome:
                counts[f"{outcome}_count"] += 1
        return counts
