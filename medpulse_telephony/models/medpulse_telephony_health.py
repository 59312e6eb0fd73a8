from datetime import datetime, timedelta

import pytz

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import format_datetime

#: Incidents listed on the screen, the open one first.
RECENT_INCIDENTS = 5
#: The usual traffic of a span of time: the same span on this many days before.
USUAL_DAYS = 7


class MedpulseTelephonyHealth(models.TransientModel):
    """Is the PBX integration working? One screen for managers and administrators.

    Red (:meth:`_red`) when the company's "no event" threshold of the clinic's working
    time (its working-time calendar, in the calendar's time zone, 60 minutes by default)
    passed without a single event from the PBX at a time of the day that usually has calls
    (so the webhook is not reached: :meth:`_silence_is_usual`), when the last
    reconciliation with the PBX failed, when events received within that many minutes
    could not be folded, or when requests to the PBX are locked out. The same check opens
    and closes the incidents that alert the administrators (``medpulse.telephony.incident``).

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
            ("red", "Not working"),
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
    incident_id = fields.Many2one(
        "medpulse.telephony.incident", string="Open incident", compute="_compute_incidents",
        help="The administrators were alerted when the integration turned red during working "
        "hours; it closes once the integration has stayed green for a while.",
    )
    incident_ids = fields.Many2many(
        "medpulse.telephony.incident", string="Last incidents", compute="_compute_incidents"
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
            health.status, health.status_message = health._status(now)

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

    @api.depends("company_id")
    def _compute_incidents(self):
        self._check_allowed_company()
        Incident = self.env["medpulse.telephony.incident"]
        for health in self:
            recent = Incident.search(
                [("company_id", "=", health.company_id.id)], limit=RECENT_INCIDENTS
            )
            health.incident_ids = recent
            health.incident_id = recent.filtered(lambda incident: incident.state == "open")[:1]

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
        """The moment since which the company's "no event" threshold of working time passed,
        or None.

        None when the last 24 hours held less working time than that (night, weekend):
        silence then is normal. None too when calls are too rare at that time of the day
        for their absence to mean anything (:meth:`_silence_is_usual`).
        """
        calendar = self.company_id.resource_calendar_id
        if not calendar:
            return None
        end = pytz.utc.localize(now)
        intervals = calendar._work_intervals_batch(end - timedelta(hours=24), end)[False]
        needed = timedelta(minutes=self.company_id.medpulse_health_silence_minutes)
        for start, stop, _meta in reversed(list(intervals)):
            span = stop - start
            if span >= needed:
                threshold = (stop - needed).astimezone(pytz.utc).replace(tzinfo=None)
                return None if self._silence_is_usual(threshold, now) else threshold
            needed -= span
        return None

    def _silent(self, last_received_at, now):
        """Whether the PBX is silent: no event (the last one received at
        ``last_received_at``, None for none) since the threshold of working time
        (:meth:`_silence_threshold`). An event newer than the threshold's minutes is after
        the threshold whatever the calendar says (working time never runs faster than the
        clock): the calendar is then not read (the wallboard asks after every event)."""
        minutes = self.company_id.medpulse_health_silence_minutes
        if last_received_at and last_received_at >= now - timedelta(minutes=minutes):
            return False
        threshold = self._silence_threshold(now)
        return bool(threshold and (not last_received_at or last_received_at < threshold))

    def _silence_is_usual(self, start, end):
        """Whether no call from ``start`` to ``end`` (naive UTC) is nothing unusual: the
        same span of each of the last :data:`USUAL_DAYS` days had fewer calls, on average,
        than the company's minimum (``medpulse_health_silence_min_calls``; 0: never usual).

        A quiet afternoon of a small clinic is not an incident; an hour without a call at
        a time that usually has five or more is one (by chance, five calls expected and
        none coming happens less than once in a hundred such hours). A company without a
        single call in those days (a new one, or a webhook that never worked) has no usual
        traffic: its silence is never usual. Nor has a company whose calls all came today:
        the usual traffic is that of the days before.
        """
        minimum = self.company_id.medpulse_health_silence_min_calls
        if minimum <= 0:
            return False
        Call = self.env["medpulse.call"].sudo()
        company = [("company_id", "=", self.company_id.id)]
        if not Call.search_count(company + [
            ("created_at", ">=", start - timedelta(days=USUAL_DAYS)),
            ("created_at", "<", end - timedelta(days=1)),
        ], limit=1):
            return False
        total = sum(
            Call.search_count(company + [
                ("created_at", ">=", start - timedelta(days=days)),
                ("created_at", "<", end - timedelta(days=days)),
            ])
            for days in range(1, USUAL_DAYS + 1)
        )
        return total < minimum * USUAL_DAYS

    def _status(self, now):
        if not self.company_id.sudo().medpulse_pbx_api_key:
            return "not_configured", _("The PBX account is not configured (Settings ▸ Telephony).")
        red = self._red(now)
        if red:
            return "red", " ".join(red.values())
        return "ok", _("Events from the PBX arrive.")

    def _red(self, now):
        """What is red at ``now`` (naive UTC): {kind: what to tell an administrator}.

        Kinds, in this order: ``silent`` (no event for the threshold of working time),
        ``reconcile`` (the last reconciliation failed), ``errors`` (events received within
        the threshold, in clock minutes, could not be folded), ``lockout`` (requests to the
        PBX are paused after the PBX refused one). Empty: green. Counted as superuser,
        for this one company.
        """
        self.ensure_one()
        company = self.company_id.sudo()
        minutes = company.medpulse_health_silence_minutes
        Event = self.env["medpulse.call.event"].sudo()
        red = {}
        last = Event.search_fetch(
            [("company_id", "=", company.id)], ["received_at"], order="received_at desc", limit=1
        )
        if self._silent(last.received_at, now):
            red["silent"] = _(
                "No event from the PBX during the last %(minutes)s minutes of working time: check "
                "that the PBX can reach the webhook (Settings ▸ Telephony ▸ Webhook URL).",
                minutes=minutes,
            )
        run = self.env["medpulse.call.reconcile"].sudo().search(
            [("company_id", "=", company.id)], limit=1
        )
        if run.state == "failed":
            red["reconcile"] = _(
                "The last reconciliation with the PBX failed: %(error)s", error=run.error or ""
            )
        errors = Event.search_count([
            ("company_id", "=", company.id), ("state", "=", "error"),
            ("received_at", ">=", now - timedelta(minutes=minutes)),
        ])
        if errors:
            red["errors"] = _(
                "%(count)s events received in the last %(minutes)s minutes could not be put in "
                "the journal (Telephony ▸ Configuration ▸ PBX events).",
                count=errors, minutes=minutes,
            )
        until = self._locked_out_until(now)
        if until:
            tz = company.resource_calendar_id.tz or self.env.user.tz or "UTC"
            red["lockout"] = _(
                "Requests to the PBX are locked out until %(until)s: the PBX refused a request. "
                "Check the API key and the signing key in Settings ▸ Telephony.",
                until=format_datetime(self.env, until, tz=tz, dt_format="short"),
            )
        return red

    def _locked_out_until(self, now):
        """Until when requests to the company's PBX account are paused (naive UTC), or None.

        The PBX client's shared store (``medpulse.telephony.limit``) blocks the account
        after a 401 (the PBX locked it) or a 3xxx answer (paused before the PBX would).
        """
        try:
            account = self.company_id._medpulse_pbx_client().account
        except UserError:  # no PBX account: nothing to lock out
            return None
        epoch = now.replace(tzinfo=pytz.utc).timestamp()
        block = self.env["medpulse.telephony.limit"].sudo().search(
            [
                ("kind", "=", "block"),
                ("key", "in", [f"{account}:locked", f"{account}:invalid"]),
                ("at", ">", epoch),
            ],
            order="at desc",
            limit=1,
        )
        if not block:
            return None
        return datetime.fromtimestamp(block.at, tz=pytz.utc).replace(tzinfo=None)

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

    def action_open_incidents(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "medpulse_telephony.medpulse_telephony_incident_action"
        )
        action["domain"] = [("company_id", "=", self.company_id.id)]
        return action

    def action_refresh(self):
        # The figures are computed on every read: reading the record again refreshes them.
        return {"type": "ir.actions.client", "tag": "soft_reload"}
