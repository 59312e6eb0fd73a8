"""The journal follows the calls live.

After every PBX event of a call, its company's journal channel gets the call's id, and
the call lists open in the browsers of that company's operators reload themselves
(``static/src/journal/``), reading what each of them may read. Only ids travel: the
channel is a (company, subchannel) channel that the server alone adds to an operator's
websocket below, never a string channel any client could join, and no patient data or
number is in it.
"""

from odoo import models

JOURNAL_NOTIFICATION = "medpulse_telephony.journal"
JOURNAL_SUBCHANNEL = "medpulse_telephony.journal"
OPERATOR_GROUP = "medpulse_telephony.group_telephony_operator"


class MedpulseCall(models.Model):
    _inherit = "medpulse.call"

    def _after_event(self, event_record, event, state):
        super()._after_event(event_record, event, state)
        self._notify_journal()

    def _notify_journal(self):
        """Tell the journal lists of the calls' companies that these calls changed."""
        Bus = self.env["bus.bus"].sudo()
        for company in self.company_id:
            calls = self.filtered(lambda call, company=company: call.company_id == company)
            Bus._sendone(
                (company, JOURNAL_SUBCHANNEL), JOURNAL_NOTIFICATION, {"call_ids": calls.ids}
            )


class IrWebsocket(models.AbstractModel):
    _inherit = "ir.websocket"

    def _build_bus_channel_list(self, channels):
        """An operator's websocket listens to the journal of each of their companies."""
        channels = super()._build_bus_channel_list(channels)
        user = self.env.user
        if user._is_internal() and user.has_group(OPERATOR_GROUP):
            channels.extend((company, JOURNAL_SUBCHANNEL) for company in user.company_ids)
        return channels
