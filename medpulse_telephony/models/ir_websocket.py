from odoo import models

from .medpulse_call import JOURNAL_CHANNEL, JOURNAL_SUBCHANNEL
from .medpulse_call_command import OPERATOR_GROUP
from .medpulse_wallboard import WALLBOARD_SUBCHANNEL


class IrWebsocket(models.AbstractModel):
    _inherit = "ir.websocket"

    def _build_bus_channel_list(self, channels):
        """The journal and the wallboard, for the tabs that show them.

        An open journal list asks for ``medpulse_telephony.journal``: granted, to an
        operator, as the journal channel of each of their companies. A websocket that shows
        no journal (a wallboard on a TV, a form) is not woken by every PBX event.

        A wallboard asks for its company's board in the variant it shows
        (``medpulse_telephony.wallboard:<company id>:<variant>``): granted as that variant's
        channel to the company's supervisors, the names to those who may read its patients
        (``medpulse.wallboard._variant_of``), and dropped otherwise. The names the client
        sends are never channels themselves: Odoo would let anyone listen to a plain name.
        """
        prefix = f"{WALLBOARD_SUBCHANNEL}:"

        def ours(channel):
            return isinstance(channel, str) and (
                channel == JOURNAL_CHANNEL or channel.startswith(prefix)
            )

        asked = [c for c in channels if ours(c)]
        channels = super()._build_bus_channel_list([c for c in channels if not ours(c)])
        user = self.env.user
        if (
            JOURNAL_CHANNEL in asked
            and user._is_internal()
            and user.has_group(OPERATOR_GROUP)
        ):
            channels.extend((company, JOURNAL_SUBCHANNEL) for company in user.company_ids)
        Board = self.env["medpulse.wallboard"]
        for name in asked:
            if not name.startswith(prefix):
                continue
            company_id, _sep, variant = name[len(prefix):].partition(":")
            if not company_id.isdigit():
                continue
            company = self.env["res.company"].sudo().browse(int(company_id)).exists()
            channel = company and Board._variant_of(user, company, variant)
            if channel:
                channels.append(channel)
        return channels
