from odoo import models


class IrHttp(models.AbstractModel):
    _inherit = "ir.http"

    def session_info(self):
        """Tell the web client whether to show the "call via PBX" buttons."""
        info = super().session_info()
        user = self.env.user
        info["medpulse_telephony_can_call"] = bool(
            user._is_internal()
            and user.medpulse_pbx_extension
            and user.has_group("medpulse_telephony.group_telephony_operator")
        )
        return info
