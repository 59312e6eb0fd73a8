import logging

import mango_vpbx

from odoo import _, api, fields, models

_logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/mango"


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    mango_api_url = fields.Char(related="company_id.mango_api_url", readonly=False)
    mango_api_key = fields.Char(related="company_id.mango_api_key", readonly=False)
    mango_api_salt = fields.Char(related="company_id.mango_api_salt", readonly=False)
    mango_time_base = fields.Selection(related="company_id.mango_time_base", readonly=False)
    mango_default_region = fields.Char(
        related="company_id.mango_default_region", readonly=False
    )
    mango_webhook_url = fields.Char(
        string="Webhook URL", compute="_compute_mango_webhook_url",
        help="Paste this address into the PBX account: Integrations ▸ API connector ▸ "
        "'External system address'.",
    )

    @api.depends("company_id")
    def _compute_mango_webhook_url(self):
        base_url = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "")
        for settings in self:
            settings.mango_webhook_url = base_url.rstrip("/") + WEBHOOK_PATH

    def action_mango_test_connection(self):
        """Ask the PBX for the account balance: the cheapest signed request there is."""
        self.ensure_one()
        company = self.company_id
        try:
            answer = company._mango_client().balance()
        except mango_vpbx.VpbxError as error:
            _logger.info("PBX connection test of company %s failed: %s", company.id, error)
            return self._mango_notification(
                _("Connection failed"), company._mango_error_text(error), "danger"
            )
        message = _(
            "The PBX answered: balance %(balance)s %(currency)s.",
            balance=answer.balance,
            currency=answer.currency or "",
        )
        return self._mango_notification(_("Connection works"), message, "success")

    def action_mango_import_users(self):
        self.ensure_one()
        return self.env["medpulse.telephony.import.users"]._action_open_preview(self.company_id)

    def action_mango_import_lines(self):
        self.ensure_one()
        self.env["medpulse.telephony.line"]._import_from_pbx(self.company_id)
        return self.env["ir.actions.act_window"]._for_xml_id(
            "medpulse_telephony.medpulse_telephony_line_action"
        )

    def _mango_notification(self, title, message, kind):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"title": title, "message": message, "type": kind, "sticky": kind != "success"},
        }

