from odoo import models

from .medpulse_call import JOURNAL_SUBCHANNEL
from .medpulse_call_command import OPERATOR_GROUP


class IrWebsocket(models.AbstractModel):
    _inherit = "ir.websocket"

    def _build_bus_channel_list(self, channels):
        """An operator's websocket listens to the journal of each of their companies."""
        channels = super()._build_bus_channel_list(channels)
        user = self.env.user
        if user._is_internal() and user.has_group(OPERATOR_GROUP):
            channels.extend((company, JOURNAL_SUBCHANNEL) for company in user.company_ids)
        return channels
