"""How a company reminds its patients of their appointments: one rule per set of services.

A rule without services is the company's default; a rule with services applies to their
appointments instead. Clinic managers and administrators set them (*Clinic ▸
Configuration ▸ Reminders*); ``medpulse.reminder`` builds and sends what they say.
"""

from datetime import datetime, time, timedelta

import pytz

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

CHANNELS = [
    ("sms", "SMS"),
    ("call", "Call"),
    ("sms_call", "SMS, then a call if not confirmed"),
    ("none", "No reminder"),
]


class MedpulseReminderRule(models.Model):
    _name = "medpulse.reminder.rule"
    _description = "Reminder rule"
    _order = "company_id, sequence, id"

    name = fields.Char(required=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company,
    )
    service_ids = fields.Many2many(
        "medpulse.service", string="Services",
        domain="['|', ('company_id', '=', False), ('company_id', '=', company_id)]",
        help="The services this rule is for. Empty: the company's default, for every service "
        "no other rule names.",
    )
    channel = fields.Selection(
        CHANNELS, required=True, default="sms",
        help="SMS: an SMS at the lead time. Call: the appointment joins the confirmation call "
        "list at the lead time. SMS then a call: the SMS, and a call if the appointment is "
        "still not confirmed at the call time.",
    )
    lead_hours = fields.Integer(
        string="Remind (hours before)", default=24, required=True,
        help="How long before the appointment the reminder goes out.",
    )
    call_hours = fields.Integer(
        string="Call if not confirmed (hours before)", default=20,
        help="With \"SMS, then a call\": when the appointment joins the call list if it is not "
        "confirmed by then.",
    )
    quiet_start = fields.Float(
        string="Quiet hours from", default=21.0,
        help="No SMS from this time (the clinic's time zone)...",
    )
    quiet_end = fields.Float(
        string="Quiet hours until", default=9.0,
        help="...until this time. An SMS due at night goes at this time, or just before the "
        "quiet hours when that would be after the appointment. Equal times: no quiet hours.",
    )
    template_id = fields.Many2one(
        "medpulse.sms.template", string="SMS template",
        default=lambda self: self.env.ref(
            "medpulse_telephony.medpulse_sms_template_reminder", raise_if_not_found=False),
        domain="['|', ('company_id', '=', False), ('company_id', '=', company_id)]",
        help="The text of the reminder SMS, in the clinic's language.",
    )
    retry_minutes = fields.Integer(
        string="Call again after (minutes)", default=60, required=True,
        help="A patient who did not answer comes back to the call list this much later.",
    )
    max_attempts = fields.Integer(
        string="Calls at most", default=3, required=True,
        help="After this many unanswered calls the patient is unreachable.",
    )

    @api.constrains("lead_hours", "call_hours", "channel", "quiet_start", "quiet_end",
                    "retry_minutes", "max_attempts")
    def _check_times(self):
        for rule in self:
            if rule.lead_hours < 1 or rule.retry_minutes < 1 or rule.max_attempts < 1:
                raise ValidationError(_(
                    "A reminder goes at least an hour before, a patient is called at least "
                    "once, and again no sooner than a minute later."))
            if rule.channel == "sms_call" and not 0 < rule.call_hours < rule.lead_hours:
                raise ValidationError(_(
                    "The call comes after the SMS: call fewer hours before the appointment "
                    "than the SMS is sent (and more than none)."))
            if not (0 <= rule.quiet_start < 24 and 0 <= rule.quiet_end < 24):
                raise ValidationError(_("Quiet hours are times of the day, from 00:00 to 23:59."))

    @api.constrains("company_id", "service_ids", "active")
    def _check_one_rule_per_service(self):
        for rule in self.filtered("active"):
            others = self.search([
                ("company_id", "=", rule.company_id.id), ("id", "!=", rule.id),
            ])
            if not rule.service_ids and others.filtered(lambda r: not r.service_ids):
                raise ValidationError(_(
                    "%(company)s has a default reminder rule already: give this one services, "
                    "or change that one.", company=rule.company_id.name))
            shared = rule.service_ids & others.service_ids
            if shared:
                raise ValidationError(_(
                    "%(services)s already have a reminder rule: a service follows one rule.",
                    services=", ".join(shared.mapped("display_name"))))

    # ------------------------------------------------------------ used by the reminders

    @api.model
    def _rules_by_service(self, company):
        """``(rule of each service id, the default rule)`` of ``company``."""
        rules = self.sudo().search([("company_id", "=", company.id)])
        by_service = {service.id: rule for rule in rules for service in rule.service_ids}
        default = rules.filtered(lambda rule: not rule.service_ids)[:1]
        return by_service, default

    def _steps(self, start):
        """``[(step, when)]`` this rule plans for an appointment starting at ``start``
        (naive UTC): an SMS and/or a call, before the quiet hours are applied."""
        self.ensure_one()
        lead = start - timedelta(hours=self.lead_hours)
        if self.channel == "sms":
            return [("sms", lead)]
        if self.channel == "call":
            return [("call", lead)]
        if self.channel == "sms_call":
            return [("sms", lead), ("call", start - timedelta(hours=self.call_hours))]
        return []

    def _is_quiet(self, moment, tz):
        """Whether ``moment`` (naive UTC) falls in the quiet hours, in ``tz``."""
        self.ensure_one()
        if self.quiet_start == self.quiet_end:
            return False
        local = pytz.utc.localize(moment).astimezone(tz)
        hour = local.hour + local.minute / 60.0
        if self.quiet_start < self.quiet_end:
            return self.quiet_start <= hour < self.quiet_end
        return hour >= self.quiet_start or hour < self.quiet_end

    def _outside_quiet(self, moment, start, tz):
        """When an SMS due at ``moment`` may go for an appointment at ``start`` (naive UTC):
        ``moment`` itself, else the end of the quiet hours, else (that end being too late)
        the minute before they began."""
        self.ensure_one()
        if not self._is_quiet(moment, tz):
            return moment
        local = pytz.utc.localize(moment).astimezone(tz)
        end = _at_hour(local, self.quiet_end, tz)
        if end <= local:
            end = _at_hour(local + timedelta(days=1), self.quiet_end, tz)
        if end.astimezone(pytz.utc).replace(tzinfo=None) < start:
            return end.astimezone(pytz.utc).replace(tzinfo=None)
        began = _at_hour(local, self.quiet_start, tz)
        if began > local:
            began = _at_hour(local - timedelta(days=1), self.quiet_start, tz)
        return (began - timedelta(minutes=1)).astimezone(pytz.utc).replace(tzinfo=None)


def _at_hour(local, hours, tz):
    """``local``'s day at ``hours`` (a float of the day: 9.5 is 09:30), in ``tz``."""
    minutes = round(hours * 60)
    naive = datetime.combine(local.date(), time(minutes // 60, minutes % 60))
    return tz.localize(naive)
