from odoo import models

from .medpulse_call import JOURNAL_SUBCHANNEL
from .medpulse_call_command import OPERATOR_GROUP
from .medpulse_wallboard import WALLBOARD_SUBCHANNEL


class IrWebsocket(models.AbstractModel):
    _inherit = "ir.websocket"

    def _build_bus_channel_list(self, channels):
        """An operator's websocket listens to the journal of each of their companies; a
        supervisor's (telephony or clinic manager) to the wallboard of each of them too."""
        channels = super()._build_bus_channel_list(channels)
        user = self.env.user
        if user._is_internal() and user.has_group(OPERATOR_GROUP):
            channels.extend((company, JOURNAL_SUBCHANNEL) for company in user.company_ids)
        if user._is_internal() and self.env["medpulse.wallboard"]._is_supervisor(user):
            channels.extend((company, WALLBOARD_SUBCHANNEL) for company in user.company_ids)
        return channels
