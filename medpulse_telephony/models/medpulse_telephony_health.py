from datetime import timedelta

import pytz

from odoo import _, api, fields, models
from odoo.tools import format_datetime

#: Working time without a single PBX event after which the integration is red.
SILENCE_MINUTES = 60


class MedpulseTelephonyHealth(models.TransientModel):
    """Is the PBX integration working? One screen for managers and administrators.

    Red when a whole hour of the clinic's working time (its working-time calendar, in
    the calendar's time zone) passed without a single event from the PBX: calls are
    surely happening, so the webhook is not reached.

    Opened by :meth:`action_open` as a saved record of the user's current company, so
    that its figures are computed when the form reads them (a new, unsaved record would
    show the figures of no company). The company is checked (``medpulse.company.scoped``)
    and the figures of that one company are counted as superuser: administrators who
    are not telephony managers see them too.
    """

    _name = "medpulse.telephony.health"
    _inherit = ["medpulse.company.scoped"]
    _description = "Telephony integration health"

    company_id = fields.Many2one(
        "res.company", required=True, readonly=True, default=lambda self: self.env.company,
    )
    status = fields.Selection(
        [
            ("ok", "Working"),
            ("silent", "No events during working hours"),
            ("not_configured", "Not configured"),
        ],
        compute="_compute_health",
    )
    status_message = fields.Char(compute="_compute_health")
    last_event_at = fields.Datetime(string="Last event received", compute="_compute_health")
    events_24h = fields.Integer(string="Events in the last 24 hours", compute="_compute_health")
    events_per_hour = fields.Float(
        string="Events per hour (24 h average)", compute="_compute_health", digits=(16, 1)
    )
    events_by_hour_html = fields.Html(
        string="Events per hour", compute="_compute_health", sanitize=False
    )
    not_understood_count = fields.Integer(string="Events not understood", compute="_compute_health")
    error_event_count = fields.Integer(string="Events in error", compute="_compute_health")
    waiting_event_count = fields.Integer(
        string="Events waiting to be folded", compute="_compute_health",
        help="Stored but not folded into their call yet. More than a few for more than a "
        "minute means that workers stop while processing events: they are folded by a "
        "scheduled action every minute.",
    )
    recovered_count = fields.Integer(
        string="Calls recovered by reconciliation", compute="_compute_health"
    )
    completed_count = fields.Integer(
        string="Calls completed by reconciliation", compute="_compute_health"
    )
    reconciled_until = fields.Datetime(
        related="company_id.medpulse_pbx_reconciled_until", string="Reconciled with the PBX until",
    )
    last_reconcile_state = fields.Char(string="Last reconciliation", compute="_compute_health")
    failed_command_count = fields.Integer(string="Failed commands", compute="_compute_health")
    failed_download_count = fields.Integer(
        string="Failed recording downloads", compute="_compute_health"
    )
    refold_id = fields.Many2one(
        "medpulse.call.refold", string="Latest refold", compute="_compute_refold",
        help="The latest refold of the journal: its calls computed again after an upgrade "
        "changed how calls are computed from the PBX's events.",
    )
    refold_state = fields.Selection(related="refold_id.state", string="Refold")
    refold_done_count = fields.Integer(string="Calls refolded", compute="_compute_refold")
    refold_remaining_count = fields.Integer(
        string="Calls left to refold", compute="_compute_refold"
    )
    refold_changed_count = fields.Integer(
        string="Calls changed by the refold", compute="_compute_refold"
    )
    refold_changes_html = fields.Html(
        string="What the refold changed", compute="_compute_refold", sanitize=False
    )
    last_error = fields.Text(related="company_id.medpulse_pbx_last_error", string="Last PBX error")
    last_error_at = fields.Datetime(
        related="company_id.medpulse_pbx_last_error_at", string="Last PBX error at"
    )

    @api.depends("company_id")
    def _compute_health(self):
        now = fields.Datetime.now()
        self._check_allowed_company()
        Event = self.env["medpulse.call.event"].sudo()
        for health in self.sudo():
            company = health.company_id
            events = [("company_id", "=", company.id)]
            last = Event.search(events, order="received_at desc", limit=1)
            health.last_event_at = last.received_at
            day_events = Event.search(events + [("received_at", ">=", now - timedelta(hours=24))])
            health.events_24h = len(day_events)
            health.events_per_hour = len(day_events) / 24.0
            health.events_by_hour_html = health._events_by_hour(day_events, now)
            health.not_understood_count = Event.search_count(
                events + [("state", "=", "not_understood")]
            )
            health.error_event_count = Event.search_count(events + [("state", "=", "error")])
            health.waiting_event_count = Event.search_count(events + [("state", "=", "received")])
            Call = self.env["medpulse.call"].sudo()
            health.recovered_count = Call.search_count(
                [("company_id", "=", company.id), ("recovered_from_stats", "=", True)]
            )
            health.completed_count = Call.search_count(
                [("company_id", "=", company.id), ("completed_from_stats", "=", True)]
            )
            run = self.env["medpulse.call.reconcile"].sudo().search(
                [("company_id", "=", company.id)], limit=1
            )
            if run:
                health.last_reconcile_state = _(
                    "%(state)s at %(when)s",
                    state=dict(run._fields["state"]._description_selection(self.env))[run.state],
                    when=format_datetime(self.env, run.create_date),
                )
            else:
                health.last_reconcile_state = _("Never")
            health.failed_command_count = health._count_failed("medpulse.call.command")
            health.failed_download_count = health._count_failed("medpulse.call.recording")
            health.status, health.status_message = health._status(now, last.received_at)

    @api.depends("company_id")
    def _compute_refold(self):
        self._check_allowed_company()
        Refold = self.env["medpulse.call.refold"].sudo()
        for health in self:
            run = Refold._latest(health.company_id)
            health.refold_id = run
            health.refold_done_count = run.done_count
            health.refold_remaining_count = run.remaining_count
            health.refold_changed_count = run.changed_count
            health.refold_changes_html = run.changes_html

    def _count_failed(self, model_name):
        """Failed records of an optional part of the integration (0 when it is absent)."""
        if model_name not in self.env:
            return 0
        Model = self.env[model_name].sudo()
        if "state" not in Model._fields or "failed" not in dict(
            Model._fields["state"]._description_selection(self.env)
        ):
            return 0
        domain = [("state", "=", "failed")]
        if "company_id" in Model._fields:
            domain.append(("company_id", "=", self.company_id.id))
        return Model.search_count(domain)

    def _silence_threshold(self, now):
        """The moment since which SILENCE_MINUTES of working time passed, or None.

        None when the last 24 hours held less working time than that (night, weekend):
        silence then is normal.
        """
        calendar = self.company_id.resource_calendar_id
        if not calendar:
            return None
        end = pytz.utc.localize(now)
        intervals = calendar._work_intervals_batch(end - timedelta(hours=24), end)[False]
        needed = timedelta(minutes=SILENCE_MINUTES)
        for start, stop, _meta in reversed(list(intervals)):
            span = stop - start
            if span >= needed:
                return (stop - needed).astimezone(pytz.utc).replace(tzinfo=None)
            needed -= span
        return None

    def _status(self, now, last_event_at):
        if not self.company_id.sudo().medpulse_pbx_api_key:
            return "not_configured", _("The PBX account is not configured (Settings ▸ Telephony).")
        threshold = self._silence_threshold(now)
        if threshold and (not last_event_at or last_event_at < threshold):
            return "silent", _(
                "No event from the PBX during the last %(minutes)s minutes of working time: check "
                "that the PBX can reach the webhook (Settings ▸ Telephony ▸ Webhook URL).",
                minutes=SILENCE_MINUTES,
            )
        return "ok", _("Events from the PBX arrive.")

    def _events_by_hour(self, events, now):
        tz = pytz.timezone(self.env.context.get("tz") or self.env.user.tz or "UTC")
        counts = {}
        for event in events:
            hours_ago = int((now - event.received_at).total_seconds() // 3600)
            counts[hours_ago] = counts.get(hours_ago, 0) + 1
        peak = max(counts.values(), default=0) or 1
        rows = []
        for hours_ago in range(23, -1, -1):
            start = pytz.utc.localize(now - timedelta(hours=hours_ago + 1)).astimezone(tz)
            count = counts.get(hours_ago, 0)
            width = int(100 * count / peak)
            rows.append({"hour": start.strftime("%H:%M"), "count": count, "width": width})
        return self.env["ir.qweb"]._render(
            "medpulse_telephony.medpulse_telephony_health_hours", {"rows": rows}
        )

    @api.model
    def action_open(self):
        """The health of the user's current company (the menu's server action)."""
        health = self.create({"company_id": self.env.company.id})
        return {
            "type": "ir.actions.act_window",
            "name": _("Integration health"),
            "res_model": self._name,
            "res_id": health.id,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "current",
        }

    def _events_action(self, states):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "medpulse_telephony.medpulse_call_event_action"
        )
        action.update({
            "domain": [("company_id", "=", self.company_id.id), ("state", "in", states)],
            "context": {},
        })
        return action

    def action_open_not_understood(self):
        return self._events_action(("not_understood", "error"))

    def action_open_waiting(self):
        return self._events_action(("received",))

    def action_open_recovered(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "medpulse_telephony.medpulse_call_action"
        )
        action.update({
            "name": _("Calls recovered from PBX statistics"),
            "domain": [("company_id", "=", self.company_id.id), "|",
                       ("recovered_from_stats", "=", True), ("completed_from_stats", "=", True)],
            "context": {},
        })
        return action

    def action_open_runs(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "medpulse_telephony.medpulse_call_reconcile_action"
        )
        action["domain"] = [("company_id", "=", self.company_id.id)]
        return action

    def action_open_refolds(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "medpulse_telephony.medpulse_call_refold_action"
        )
        action["domain"] = [("company_id", "=", self.company_id.id)]
        return action

    def action_refresh(self):
        # The figures are computed on every read: reading the record again refreshes them.
        return {"type": "ir.actions.client", "tag": "soft_reload"}
