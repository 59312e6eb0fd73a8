import logging
from datetime import timedelta

import pytz
from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.tools import format_datetime, html_escape

_logger = logging.getLogger(__name__)

ACTIVITY_TYPE_XMLID = "medpulse_telephony.mail_activity_type_integration_incident"
CRON_XMLID = "medpulse_telephony.ir_cron_medpulse_telephony_incident"
#: Who is alerted: those who can fix what makes the integration red (the PBX keys, the
#: webhook URL, the reconciliation's settings are in Settings, which only they change;
#: workers and network are theirs too). Telephony managers read incidents, alert-free.
ADMIN_GROUP = "base.group_system"
#: The incident's flag for each kind of red of ``MedpulseTelephonyHealth._red``.
KIND_FIELDS = {
    "silent": "silent",
    "reconcile": "reconcile_failed",
    "errors": "events_in_error",
    "lockout": "locked_out",
}


class MedpulseTelephonyIncident(models.Model):
    """One spell of a red integration, from the first red check to a lasting green.

    The cron (:meth:`_cron_evaluate`, every minute) asks the integration health of each
    configured company what is red (:meth:`MedpulseTelephonyHealth._red`): no event
    during working hours, a failed reconciliation, events in error, requests to the PBX
    locked out. When something is red during the company's working hours and no
    incident is open, one opens and the administrators are alerted once: an activity
    each, a bus notification, an e-mail if the company wants one. Red again while it is
    open (a flapping link) only extends it; it closes once the integration has stayed
    green for the company's delay, so a flapping link makes one incident, not twenty.

    Red outside working hours opens nothing: the first check in working hours that
    still finds it red opens the incident then (at opening time).
    """

    _name = "medpulse.telephony.incident"
    _description = "Telephony integration incident"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "opened_at desc, id desc"
    # Those who read an incident may mark their activity done and comment on it.
    _mail_post_access = "read"

    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    state = fields.Selection(
        [("open", "Open"), ("closed", "Closed")],
        default="open", required=True, readonly=True, index=True, tracking=True,
    )
    opened_at = fields.Datetime(string="Opened", required=True, readonly=True)
    closed_at = fields.Datetime(string="Closed", readonly=True)
    last_red_at = fields.Datetime(
        string="Last seen red", required=True, readonly=True,
        help="The incident closes once the integration has stayed green this long after it: "
        "Settings ▸ Telephony ▸ Integration health alerts.",
    )
    is_red = fields.Boolean(string="Red now", readonly=True, default=True)
    red_count = fields.Integer(
        string="Turned red", readonly=True, default=1,
        help="How many times the integration turned red during this incident: more than once "
        "is a flapping link.",
    )
    silent = fields.Boolean(string="No events", readonly=True)
    reconcile_failed = fields.Boolean(string="Reconciliation failed", readonly=True)
    events_in_error = fields.Boolean(string="Events in error", readonly=True)
    locked_out = fields.Boolean(string="PBX locked out", readonly=True)
    kinds_label = fields.Char(string="What was red", compute="_compute_kinds_label")
    details = fields.Text(
        readonly=True,
        help="What the health check said of each thing that was red, the first time it was.",
    )

    def init(self):
        res = super().init()
        # One open incident per company, whichever cron worker opens it.
        self.env.cr.execute(
            """
            CREATE UNIQUE INDEX IF NOT EXISTS medpulse_telephony_incident_open_uniq
                ON medpulse_telephony_incident (company_id) WHERE state = 'open'
            """
        )
        return res

    @api.depends(*KIND_FIELDS.values())
    def _compute_kinds_label(self):
        for incident in self:
            incident.kinds_label = ", ".join(
                incident._fields[name].get_description(self.env)["string"]
                for name in KIND_FIELDS.values()
                if incident[name]
            )

    @api.depends("opened_at")
    def _compute_display_name(self):
        for incident in self:
            incident.display_name = _(
                "Incident of %s", format_datetime(self.env, incident.opened_at, dt_format="short")
            ) if incident.opened_at else _("Incident")

    # ------------------------------------------------------------------- the check

    @api.model
    def _cron_evaluate(self):
        """Every configured company, and every company with an open incident, checked now."""
        now = fields.Datetime.now()
        companies = self.env["res.company"].sudo().search(
            [("medpulse_pbx_api_key", "!=", False)]
        ) | self.sudo().search([("state", "=", "open")]).company_id
        for company in companies:
            try:
                with self.env.cr.savepoint():
                    self._evaluate(company, now)
            except Exception:  # noqa: BLE001 - one company must not stop the others' alerts
                _logger.exception("Integration health check of company %s failed", company.id)

    @api.model
    def _evaluate(self, company, now):
        """Open, extend or close ``company``'s incident by what is red at ``now`` (naive UTC).

        Returns the incident concerned (an empty recordset when none is open and nothing
        is to open).
        """
        Incident = self.sudo()
        health = self.env["medpulse.telephony.health"].sudo().new({"company_id": company.id})
        lang = company.partner_id.lang or self.env.lang
        red = health.with_context(lang=lang)._red(now)
        incident = Incident.search([("company_id", "=", company.id), ("state", "=", "open")])
        if red:
            if incident:
                incident._still_red(red, now)
            elif Incident._is_working_time(company, now):
                incident = Incident._open(company, red, now)
                incident._alert(health, now)
            return incident
        if incident:
            if incident.is_red:
                incident.is_red = False
            close_after = timedelta(minutes=max(company.medpulse_health_close_minutes, 0))
            if now - incident.last_red_at >= close_after:
                incident._close(now)
        return incident

    @api.model
    def _is_working_time(self, company, now):
        """Is ``now`` within the company's working hours (its calendar, time zone and
        holidays)? Without a calendar, any time is."""
        calendar = company.resource_calendar_id
        if not calendar:
            return True
        start = pytz.utc.localize(now)
        intervals = calendar.sudo()._work_intervals_batch(start, start + timedelta(minutes=1))
        return bool(list(intervals[False]))

    @api.model
    def _open(self, company, red, now):
        return self.create({
            "company_id": company.id,
            "opened_at": now,
            "last_red_at": now,
            **{KIND_FIELDS[kind]: True for kind in red},
            "details": "\n".join(red.values()),
        })

    def _still_red(self, red, now):
        """Red again while open: one incident longer, no new alert."""
        self.ensure_one()
        vals = {"last_red_at": now, "is_red": True}
        if not self.is_red:
            vals["red_count"] = self.red_count + 1
        new = [kind for kind in red if not self[KIND_FIELDS[kind]]]
        if new:
            vals.update({KIND_FIELDS[kind]: True for kind in new})
            vals["details"] = "\n".join(filter(None, [self.details, *(red[k] for k in new)]))
        self.write(vals)

    def _close(self, now):
        """Green long enough: closed, and the administrators' activities are done."""
        self.ensure_one()
        self.write({"state": "closed", "closed_at": now, "is_red": False})
        tz = self.company_id.resource_calendar_id.tz or "UTC"
        feedback = _(
            "The integration works again (last seen red at %s).",
            format_datetime(self.env, self.last_red_at, tz=tz, dt_format="short"),
        )
        self._incident_activities().action_feedback(feedback=feedback)

    # ------------------------------------------------------------------ the alert

    @api.model
    def _administrators(self, company):
        """Who is alerted: the company's Settings administrators (people, not OdooBot)."""
        root = self.env.ref("base.user_root")
        return self.env.ref(ADMIN_GROUP).sudo().users.filtered(
            lambda user: user.active and not user.share and user != root
            and company in user.company_ids
        )

    def _incident_activities(self):
        kind = self.env.ref(ACTIVITY_TYPE_XMLID)
        return self.sudo().activity_ids.filtered(lambda activity: activity.activity_type_id == kind)

    def _alert(self, health, now):
        """One alert for this new incident: an activity and a bus notification for each
        administrator, in their language, and an e-mail if the company asked for it."""
        self.ensure_one()
        company = self.company_id
        admins = self._administrators(company)
        tz = company.resource_calendar_id.tz or "UTC"
        today = fields.Datetime.context_timestamp(self.with_context(tz=tz), now).date()
        for admin in admins:
            lang = admin.lang or self.env.lang
            red = health.with_context(lang=lang)._red(now)
            title = self.with_context(lang=lang)._alert_title()
            self.with_context(mail_activity_quick_update=True).activity_schedule(
                ACTIVITY_TYPE_XMLID,
                date_deadline=today,
                summary=title,
                note=Markup("<br/>").join(html_escape(line) for line in red.values()),
                user_id=admin.id,
            )
            admin._bus_send("simple_notification", {
                "title": title,
                "message": " ".join(red.values()),
                "type": "danger",
                "sticky": True,
            })
        if company.medpulse_health_alert_email:
            self._send_alert_email(admins)

    def _alert_title(self):
        return _("Telephony of %s is not working", self.company_id.name)

    def _send_alert_email(self, admins):
        """An e-mail to the administrators who have an address, queued (sent by Odoo's
        mail queue), whatever their own notification preference: it is an alarm."""
        recipients = admins.partner_id.filtered("email")
        if not recipients:
            return self.env["mail.mail"]
        body = Markup("<p>%s</p><p>%s</p>") % (
            self._alert_title(),
            Markup("<br/>").join(html_escape(line) for line in (self.details or "").splitlines()),
        )
        return self.env["mail.mail"].sudo().create({
            "subject": self._alert_title(),
            "body_html": body,
            "model": self._name,
            "res_id": self.id,
            "recipient_ids": [(6, 0, recipients.ids)],
            "email_from": self.company_id.email_formatted or self.env.user.email_formatted,
            "auto_delete": False,
        })
