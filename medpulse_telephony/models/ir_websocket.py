from odoo import models

from .medpulse_call import JOURNAL_SUBCHANNEL
from .medpulse_call_command import OPERATOR_GROUP
from .medpulse_wallboard import WALLBOARD_SUBCHANNEL


class IrWebsocket(models.AbstractModel):
    _inherit = "ir.websocket"

    def _build_bus_channel_list(self, channels):
        """An operator's websocket listens to the journal of each of their companies.

        A wallboard asks for its company's board in the variant it shows
        (``medpulse_telephony.wallboard:<company id>:<variant>``): granted as that variant's
        channel to the company's supervisors, the names to those who may read its patients
        (``medpulse.wallboard._variant_of``), and dropped otherwise. The name the client
        sends is never a channel itself: Odoo would let anyone listen to a plain name.
        """
        prefix = f"{WALLBOARD_SUBCHANNEL}:"
        asked = [c for c in channels if isinstance(c, str) and c.startswith(prefix)]
        channels = super()._build_bus_channel_list(
            [c for c in channels if not (isinstance(c, str) and c.startswith(prefix))]
        )
        user = self.env.user
        if user._is_internal() and user.has_group(OPERATOR_GROUP):
            channels.extend((company, JOURNAL_SUBCHANNEL) for company in user.company_ids)
        Board = self.env["medpulse.wallboard"]
        for name in asked:
            company_id, _sep, variant = name[len(prefix):].partition(":")
            if not company_id.isdigit():
                continue
            company = self.env["res.company"].sudo().browse(int(company_id)).exists()
            channel = company and Board._variant_of(user, company, variant)
            if channel:
                channels.append(channel)
        return channels
