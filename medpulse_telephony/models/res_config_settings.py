import logging

from odoo import _, api, fields, models

import mango_vpbx

_logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/mango"
RECONCILE_CRON_XMLID = "medpulse_telephony.ir_cron_medpulse_call_reconcile"


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    medpulse_pbx_api_url = fields.Char(related="company_id.medpulse_pbx_api_url", readonly=False)
    medpulse_pbx_api_key = fields.Char(related="company_id.medpulse_pbx_api_key", readonly=False)
    medpulse_pbx_api_salt = fields.Char(related="company_id.medpulse_pbx_api_salt", readonly=False)
    medpulse_pbx_time_base = fields.Selection(
        related="company_id.medpulse_pbx_time_base", readonly=False
    )
    medpulse_pbx_default_region = fields.Char(
        related="company_id.medpulse_pbx_default_region", readonly=False
    )
    medpulse_pbx_webhook_url = fields.Char(
        string="Webhook URL", compute="_compute_medpulse_pbx_webhook_url",
        help="Paste this address into the PBX account: Integrations ▸ API connector ▸ "
        "'External system address'.",
    )
    medpulse_medpulse_pbx_callback_line_id = fields.Many2one(
        related="company_id.medpulse_medpulse_pbx_callback_line_id",
        readonly=False,
    )
    medpulse_pbx_recording_retention_days = fields.Integer(
        related="company_id.medpulse_pbx_recording_retention_days",
        readonly=False,
    )
    medpulse_event_retention_months = fields.Integer(
        related="company_id.medpulse_event_retention_months", readonly=False
    )
    medpulse_pbx_reconcile_minutes = fields.Integer(
        string="Reconcile every (minutes)", default=15,
        help="How often the journal is compared with the PBX's call statistics.",
    )
    medpulse_callback_min_wait_seconds = fields.Integer(
        related="company_id.medpulse_callback_min_wait_seconds", readonly=False
    )
    medpulse_callback_service_minutes = fields.Integer(
        related="company_id.medpulse_callback_service_minutes", readonly=False
    )
    medpulse_callback_owner_rule = fields.Selection(
        related="company_id.medpulse_callback_owner_rule", readonly=False
    )
    medpulse_callback_user_id = fields.Many2one(
        related="company_id.medpulse_callback_user_id", readonly=False
    )
    medpulse_callback_escalation_minutes = fields.Integer(
        related="company_id.medpulse_callback_escalation_minutes", readonly=False
    )
    medpulse_callback_escalation_group_id = fields.Many2one(
        related="company_id.medpulse_callback_escalation_group_id", readonly=False
    )
    medpulse_callback_escalation_user_id = fields.Many2one(
        related="company_id.medpulse_callback_escalation_user_id", readonly=False
    )
    medpulse_card_auto_route = fields.Boolean(
        string="Route known patients to their last operator",
        config_parameter="medpulse_telephony.card_auto_route",
        help="When a known patient's call waits in the voice menu or the queue, ring the "
        "operator who last talked to this patient, if that operator is free.",
    )
    medpulse_card_transfer_group = fields.Char(
        string="Group for automatic transfer",
        config_parameter="medpulse_telephony.card_transfer_group",
        help="Extension of the PBX group or queue the card's \"Transfer automatically\" "
        "sends calls to: the PBX picks a free operator.",
    )

    medpulse_pbx_notify_patient_name = fields.Boolean(
        related="company_id.medpulse_pbx_notify_patient_name", readonly=False
    )
    medpulse_pbx_outcome_required = fields.Boolean(
        related="company_id.medpulse_pbx_outcome_required", readonly=False
    )

    # Issue 21: SMS.
    medpulse_sms_extension = fields.Char(
        related="company_id.medpulse_sms_extension", readonly=False
    )
    medpulse_sms_sender = fields.Char(related="company_id.medpulse_sms_sender", readonly=False)
    medpulse_consent_sms_default = fields.Boolean(
        related="company_id.medpulse_consent_sms_default", readonly=False
    )
    # Issue 22: the waiting list.
    medpulse_waitlist_call_only_hours = fields.Integer(
        related="company_id.medpulse_waitlist_call_only_hours", readonly=False
    )

    @api.depends("company_id")
    def _compute_medpulse_pbx_webhook_url(self):
        base_url = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "")
        for settings in self:
            settings.medpulse_pbx_webhook_url = base_url.rstrip("/") + WEBHOOK_PATH

    @api.model
    def get_values(self):
        res = super().get_values()
        cron = self.env.ref(RECONCILE_CRON_XMLID, raise_if_not_found=False)
        if cron:
            factor = {"minutes": 1, "hours": 60, "days": 1440, "weeks": 10080, "months": 43200}
            res["medpulse_pbx_reconcile_minutes"] = cron.sudo().interval_number * factor.get(
                cron.sudo().interval_type, 1
            )
        return res

    def set_values(self):
        res = super().set_values()
        cron = self.env.ref(RECONCILE_CRON_XMLID, raise_if_not_found=False)
        minutes = max(self.medpulse_pbx_reconcile_minutes, 1)
        if cron and (cron.sudo().interval_type, cron.sudo().interval_number) != (
            "minutes",
            minutes,
        ):
            cron.sudo().write({"interval_type": "minutes", "interval_number": minutes})
        return res

    def action_medpulse_pbx_test_connection(self):
        """Ask the PBX for the account balance: the cheapest signed request there is."""
        self.ensure_one()
        company = self.company_id
        try:
            answer = company._medpulse_pbx_client().balance()
        except mango_vpbx.VpbxError as error:
            _logger.info("PBX connection test of company %s failed: %s", company.id, error)
            return self._medpulse_pbx_notification(
                _("Connection failed"), company._medpulse_pbx_error_text(error), "danger"
            )
        message = _(
            "The PBX answered: balance %(balance)s %(currency)s.",
            balance=answer.balance,
            currency=answer.currency or "",
        )
        return self._medpulse_pbx_notification(_("Connection works"), message, "success")

    def action_medpulse_pbx_import_users(self):
        self.ensure_one()
        return self.env["medpulse.telephony.import.users"]._action_open_preview(self.company_id)

    def action_medpulse_pbx_import_lines(self):
        self.ensure_one()
        self.env["medpulse.telephony.line"]._import_from_pbx(self.company_id)
        return self.env["ir.actions.act_window"]._for_xml_id(
            "medpulse_telephony.medpulse_telephony_line_action"
        )

    def _medpulse_pbx_notification(self, title, message, kind):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": title,
                "message": message,
                "type": kind,
                "sticky": kind != "success",
            },
        }

    # Issue 20: integration health alerts.
    medpulse_health_silence_minutes = fields.Integer(
        related="company_id.medpulse_health_silence_minutes", readonly=False
    )
    medpulse_health_silence_min_calls = fields.Integer(
        related="company_id.medpulse_health_silence_min_calls", readonly=False
    )
    medpulse_health_close_minutes = fields.Integer(
        related="company_id.medpulse_health_close_minutes", readonly=False
    )
    medpulse_health_alert_email = fields.Boolean(
        related="company_id.medpulse_health_alert_email", readonly=False
    )
