import logging

import pytz

from odoo import _, api, fields, models, tools
from odoo.exceptions import UserError, ValidationError
from odoo.tools import frozendict
from odoo.tools.misc import format_time

import mango_vpbx
from mango_vpbx.times import TimeBase

_logger = logging.getLogger(__name__)

#: Seconds a request waits for the PBX (connect, then answer) before giving up.
PBX_TIMEOUT_SECONDS = 10
#: The settings every PBX event reads, kept per worker (``_medpulse_pbx_event_settings``).
EVENT_SETTINGS = (
    "medpulse_pbx_time_base",
    "medpulse_pbx_default_region",
    "medpulse_pbx_notify_patient_name",
)
#: What the webhook's look-up of the PBX accounts reads (:meth:`ResCompany._medpulse_pbx_accounts`).
ACCOUNT_FIELDS = ("medpulse_pbx_api_key", "medpulse_pbx_api_salt", "active")


class ResCompany(models.Model):
    """One PBX account per company: the webhook finds the company by its key."""

    _inherit = "res.company"

    medpulse_pbx_api_url = fields.Char(
        string="PBX API URL",
        default=mango_vpbx.DEFAULT_BASE_URL,
        help="Base URL of the Mango Office virtual PBX API.",
    )
    # The key identifies the account (the PBX sends it in clear in every request); the
    # salt is the shared secret. Both stay readable by system administrators only.
    medpulse_pbx_api_key = fields.Char(
        string="PBX API key",
        groups="base.group_system",
        copy=False,
        help="'Unique code of your PBX' from the Mango Office account: "
        "Integrations ▸ API connector.",
    )
    medpulse_pbx_api_salt = fields.Char(
        string="PBX signing key",
        groups="base.group_system",
        copy=False,
        help="'Signing key' from the Mango Office account: Integrations ▸ API connector. "
        "It is never sent over the network.",
    )
    medpulse_pbx_time_base = fields.Selection(
        selection=[("utc", "UTC"), ("msk", "UTC+3 (Moscow time)")],
        string="PBX time base",
        default="utc",
        required=True,
        help="How the PBX's event timestamps must be read. The current PBX documentation "
        "says UTC+3, older documentation and observed traffic say plain UTC.",
    )
    medpulse_pbx_default_region = fields.Char(
        string="Default country for numbers",
        default="RU",
        required=True,
        help="Two-letter country code used to read numbers the PBX sends without a country code.",
    )
    medpulse_medpulse_pbx_callback_line_id = fields.Many2one(
        "medpulse.telephony.line",
        string="Line for click-to-call",
        domain="[('company_id', '=', id)]",
        help="The clinic number patients see when an operator calls them from Odoo. "
        "Empty: the PBX uses each employee's outgoing line.",
    )
    medpulse_pbx_recording_retention_days = fields.Integer(
        string="Keep call recordings (days)",
        default=180,
        help="The audio of older recordings is deleted, their access log is kept. "
        "Recordings marked 'Keep' are exempt. 0 keeps recordings forever.",
    )
    medpulse_event_retention_months = fields.Integer(
        string="Keep raw PBX events (months)",
        default=0,
        help="The raw events of older calls are compacted into one snapshot per call once the "
        "call is final and its period was reconciled with the PBX statistics; the journal, "
        "the recordings and their access log stay. 0 keeps raw events forever.",
    )
    # Call-backs of missed calls (medpulse.call.callback).
    medpulse_callback_min_wait_seconds = fields.Integer(
        string="Call-back after waiting at least (s)",
        default=3,
        help="A missed call shorter than this (the caller hung up in the voice menu at once) "
        "opens no call-back. Hidden numbers never do.",
    )
    medpulse_callback_service_minutes = fields.Integer(
        string="Call back within (working minutes)",
        default=30,
        help="The service level: a call-back is due this many minutes after the first miss, "
        "counted on the company's working hours and holidays (a miss at night is due after "
        "the next opening).",
    )
    medpulse_callback_owner_rule = fields.Selection(
        [
            ("rang", "The operator whose phone rang"),
            ("round_robin", "Round-robin among operators on duty"),
            ("fixed", "A fixed user"),
        ],
        string="Call-back owner",
        default="rang",
        required=True,
        help="Who owns a new call-back. Operators on duty have an extension and are not "
        "away; when nobody's phone rang, or the fixed user is not set, the round-robin "
        "chooses.",
    )
    medpulse_callback_user_id = fields.Many2one(
        "res.users",
        string="Call-back owner (fixed)",
        domain=[("share", "=", False)],
        help="Owns every new call-back when the rule is \"A fixed user\": a telephony operator.",
    )
    # Escalation of overdue call-backs: step 1 (the owner and the telephony managers at the
    # breach) is always on; step 2 is this one.
    medpulse_callback_escalation_minutes = fields.Integer(
        string="Escalate after (minutes overdue)",
        default=0,
        help="A call-back still not reached this many minutes after its due time is escalated "
        "once to the group and the user below. 0: no escalation.",
    )
    medpulse_callback_escalation_group_id = fields.Many2one(
        "res.groups",
        string="Escalate to group",
        help="Its users of this company are told, e.g. Clinic ▸ Manager.",
    )
    medpulse_callback_escalation_user_id = fields.Many2one(
        "res.users",
        string="Escalate to user",
        domain=[("share", "=", False)],
    )
    # Where the reconciliation with the PBX's statistics stands, per PBX account.
    medpulse_pbx_reconciled_until = fields.Datetime(
        string="Reconciled with the PBX until", readonly=True, copy=False,
        help="The journal was compared with the PBX's statistics up to this moment; the next "
        "reconciliation starts here, however long ago it was.",
    )
    # Issue 20: the card's desktop notification and the call's outcome.
    medpulse_pbx_notify_patient_name = fields.Boolean(
        string="Patient's name in desktop notifications",
        help="Off: a desktop notification of a ringing call shows the number and the line "
        "only, because the operating system keeps notifications in its history, where "
        "anyone at the desk can read them.",
    )
    medpulse_pbx_outcome_required = fields.Boolean(
        string="Outcome required",
        help="An answered incoming call's card does not close before its outcome is set.",
    )
    medpulse_pbx_last_error = fields.Text(string="Last PBX error", readonly=True, copy=False)
    # Issue 21: SMS through the PBX (medpulse.sms).
    medpulse_sms_extension = fields.Char(
        string="SMS extension",
        help="The PBX extension automatic SMS are sent as (and billed to). An SMS a "
        "person sends goes from that person's own extension.",
    )
    medpulse_sms_sender = fields.Char(
        string="SMS sender name",
        help="The sender name the patient sees, as allowed in the PBX account (leave empty "
        "for the account's default).",
    )
    # Issue 22: the waiting list.
    medpulse_waitlist_call_only_hours = fields.Integer(
        string="Offer by call only within (hours)", default=24,
        help="A freed time that starts sooner than this is offered to waiting patients by "
        "a call only: an SMS asking to call back would come too late.",
    )
    medpulse_pbx_last_error_at = fields.Datetime(
        string="Last PBX error at", readonly=True, copy=False
    )

    _sql_constraints = [
        (
            "medpulse_pbx_api_key_uniq",
            "UNIQUE(medpulse_pbx_api_key)",
            "This PBX API key is already used by another company.",
        ),
        (
            "medpulse_pbx_recording_retention_days_positive",
            "CHECK(medpulse_pbx_recording_retention_days >= 0)",
            "The retention period of call recordings cannot be negative.",
        ),
        (
            "medpulse_event_retention_months_positive",
            "CHECK(medpulse_event_retention_months >= 0)",
            "The retention period of raw PBX events cannot be negative.",
        ),
    ]

    @api.constrains("medpulse_pbx_default_region")
    def _check_medpulse_pbx_default_region(self):
        for company in self:
            region = company.medpulse_pbx_default_region or ""
            if len(region) != 2 or not region.isalpha() or not region.isupper():
                raise UserError(
                    _("The default country for numbers must be a two-letter code such as RU.")
                )

    @api.constrains("medpulse_callback_user_id")
    def _check_medpulse_callback_user_id(self):
        for company in self:
            user = company.medpulse_callback_user_id
            if user and not user.has_group("medpulse_telephony.group_telephony_operator"):
                raise ValidationError(
                    _(
                        "%s cannot own the call-backs: give them the Telephony ▸ Operator "
                        "right first.",
                        user.name,
                    )
                )

    def _medpulse_pbx_event_settings(self):
        """The company's settings every PBX event reads (``EVENT_SETTINGS``, by name).

        Kept per worker: the webhook folds each event in a transaction of its own, where
        reading one of them would fetch the whole company row again. A change of one of
        them clears it (:meth:`write`).
        """
        self.ensure_one()
        return self._medpulse_pbx_event_settings_of(self.id)

    @api.model
    @tools.ormcache("company_id")
    def _medpulse_pbx_event_settings_of(self, company_id):
        company = self.sudo().browse(company_id)
        return frozendict({name: company[name] for name in EVENT_SETTINGS})

    @api.model
    def _medpulse_pbx_account(self, api_key):
        """``(company, salt)`` of the active company whose PBX key is ``api_key``, or
        ``(empty company, None)``: the webhook's first look-up, on every request."""
        company_id, salt = self._medpulse_pbx_accounts().get(api_key, (None, None))
        return self.browse(company_id), salt

    @api.model
    @tools.ormcache()
    def _medpulse_pbx_accounts(self):
        """``{PBX key: (company id, salt)}`` of the active companies with a PBX key, kept
        per worker: one entry, whatever keys are asked for (a forged request's key adds
        nothing to it). A change of a key, a salt or a company's activity clears it
        (:meth:`write`, :meth:`create`, :meth:`unlink`), in every worker and instance
        (Odoo's cache signalling, checked at each request)."""
        companies = self.sudo().search_fetch(
            [("medpulse_pbx_api_key", "!=", False)],
            ["medpulse_pbx_api_key", "medpulse_pbx_api_salt"],
        )
        return frozendict({
            company.medpulse_pbx_api_key: (company.id, company.medpulse_pbx_api_salt)
            for company in companies
        })

    @api.model_create_multi
    def create(self, vals_list):
        companies = super().create(vals_list)
        if any(vals.get("medpulse_pbx_api_key") for vals in vals_list):
            self.env.registry.clear_cache()
        return companies

    def write(self, vals):
        result = super().write(vals)
        if set(vals) & {*EVENT_SETTINGS, *ACCOUNT_FIELDS}:
            self.env.registry.clear_cache()
        return result

    def unlink(self):
        result = super().unlink()
        self.env.registry.clear_cache()
        return result

    def _medpulse_pbx_time_base(self):
        """The value passed to ``mango_vpbx.fold(time_base=...)``."""
        self.ensure_one()
        time_base = self._medpulse_pbx_event_settings()["medpulse_pbx_time_base"]
        return TimeBase.MSK if time_base == "msk" else TimeBase.UTC

    def _medpulse_pbx_region(self):
        """Country code of the numbers the PBX sends without one."""
        self.ensure_one()
        return self._medpulse_pbx_event_settings()["medpulse_pbx_default_region"] or "RU"

    def _medpulse_pbx_normalize(self, raw_number):
        """E.164 of a number as the PBX or a user wrote it, or False."""
        self.ensure_one()
        if not raw_number:
            return False
        return mango_vpbx.phones.normalize_number(
            raw_number, default_region=self._medpulse_pbx_region()
        ) or False

    def _medpulse_pbx_client(self, priority="interactive"):
        """A signed API client for this company's PBX account.

        ``priority``: ``interactive`` for what a person is waiting for, ``batch`` for work
        that yields to it (reminders): see ``medpulse.telephony.limit``. Raises a
        UserError the administrator can act on when the account is not set up.
        """
        self.ensure_one()
        company = self.sudo()
        if not company.medpulse_pbx_api_key or not company.medpulse_pbx_api_salt:
            raise UserError(
                _(
                    "The PBX account of %(company)s is not configured: set the API key and "
                    "the signing key in Settings ▸ Telephony.",
                    company=self.name,
                )
            )
        return mango_vpbx.VpbxClient(
            company.medpulse_pbx_api_url or mango_vpbx.DEFAULT_BASE_URL,
            company.medpulse_pbx_api_key,
            company.medpulse_pbx_api_salt,
            timeout=PBX_TIMEOUT_SECONDS,
            time_base=company._medpulse_pbx_time_base(),
            # Workers and the cron share one budget, so none sends the request that locks the
            # account.
            limiter=self.env["medpulse.telephony.limit"]._limit_store(priority),
        )

    def _medpulse_pbx_error_text(self, error):
        """A sentence an administrator can act on, for an error of the PBX client."""
        if (
            isinstance(error, mango_vpbx.VpbxAuthError)
            or getattr(error, "http_status", None) == 401
        ):
            return _(
                "The PBX refused the API key or the signature. Check the API key and the "
                "signing key in Settings ▸ Telephony."
            )
        if isinstance(error, mango_vpbx.VpbxLockedOut):
            return _(
                "Requests to the PBX are paused until %(until)s after an invalid request, "
                "to avoid a lockout of the account. Check the settings, then try again.",
                until=format_time(self.env, error.until.astimezone(
                    pytz.timezone(self.env.user.tz or "UTC")).time()),
            )
        if isinstance(error, mango_vpbx.VpbxBusy):
            # Nothing was sent: one request of the account at a time, see medpulse.telephony.limit.
            return _("The PBX is still answering another request: try again in a few seconds.")
        if isinstance(error, mango_vpbx.VpbxRateLimited):
            return _("The PBX's request limit is exceeded: try again in a few seconds.")
        if isinstance(error, mango_vpbx.VpbxUnavailable) and error.code is None:
            return _(
                "Could not reach the PBX at %(url)s. Check the API URL and the network. "
                "(%(error)s)",
                url=self.sudo().medpulse_pbx_api_url,
                error=str(error),
            )
        # The PBX's documentation words every code in Russian; English users get its English
        # meaning.
        meaning = error.meaning or str(error)
        if error.code is not None and (self.env.lang or "").startswith("ru"):
            meaning = mango_vpbx.codes.describe_ru(error.code)
        if isinstance(error, mango_vpbx.VpbxBillingError):
            return _(
                "The PBX account is restricted by billing (code %(code)s: %(meaning)s).",
                code=error.code, meaning=meaning,
            )
        return _(
            "The PBX answered with an error (code %(code)s: %(meaning)s).",
            code=error.code, meaning=meaning,
        )

    def _medpulse_pbx_record_error(self, message):
        """Remember a failure of a background request to the PBX for the health screen."""
        self.sudo().write(
            {
                "medpulse_pbx_last_error": message,
                "medpulse_pbx_last_error_at": fields.Datetime.now(),
            }
        )

    # Issue 20: integration health alerts (medpulse.telephony.incident).
    medpulse_health_silence_minutes = fields.Integer(
        string="Red after no event for (working minutes)",
        default=60,
        help="The integration is red when this much of the company's working time passed "
        "without a single event from the PBX; events in error count within as many minutes.",
    )
    medpulse_health_silence_min_calls = fields.Integer(
        string="No events alert from (usual calls)",
        default=5,
        help="No event for the threshold is red only at a time of the day that usually has at "
        "least this many calls in as long (the same hours of the last 7 days, on average): "
        "a quiet hour of a small clinic is no incident. 0: any silence of working time is red.",
    )
    medpulse_health_close_minutes = fields.Integer(
        string="Close an incident after green for (minutes)",
        default=15,
        help="An incident closes once the integration has stayed green this long, so a "
        "flapping link makes one incident, not one per flap.",
    )
    medpulse_health_alert_email = fields.Boolean(
        string="Alert by e-mail",
        help="Besides the activity and the notification in Odoo, the administrators get an "
        "e-mail when an incident opens.",
    )

    @api.constrains("medpulse_health_silence_minutes", "medpulse_health_close_minutes",
                    "medpulse_health_silence_min_calls")
    def _check_medpulse_health_minutes(self):
        for company in self:
            if (
                company.medpulse_health_silence_minutes < 1
                or company.medpulse_health_close_minutes < 0
                or company.medpulse_health_silence_min_calls < 0
            ):
                raise ValidationError(
                    _(
                        "The integration is red after at least one minute without events, an "
                        "incident cannot close after a negative time, and the usual calls are "
                        "not negative."
                    )
                )
