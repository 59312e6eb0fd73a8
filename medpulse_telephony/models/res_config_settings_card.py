from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

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
