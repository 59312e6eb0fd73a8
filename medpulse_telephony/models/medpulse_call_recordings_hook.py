import logging

from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

import mango_vpbx

_logger = logging.getLogger(__name__)


class MedpulseCall(models.Model):
    """Recordings of a call: created from the PBX's events, started from Odoo on request."""

    _inherit = "medpulse.call"

    recording_ids = fields.One2many(
        "medpulse.call.recording",
        "call_id",
        string="Recordings",
        readonly=True,
        groups="medpulse_telephony.group_telephony_recordings",
    )
    recording_count = fields.Integer(
        string="Number of recordings",
        compute="_compute_recording_count",
        groups="medpulse_telephony.group_telephony_recordings",
    )

    recording_player_html = fields.Html(
        string="Players",
        compute="_compute_recording_player_html",
        sanitize=False,
        groups="medpulse_telephony.group_telephony_recordings",
    )

    @api.depends("recording_ids")
    def _compute_recording_count(self):
        for call in self:
            call.recording_count = len(call.recording_ids)

    @api.depends("recording_ids.state")
    @api.depends_context("uid")
    def _compute_recording_player_html(self):
        for call in self:
            players = [
                recording._render_player(caption=recording._caption())
                for recording in call.recording_ids.sorted(
                    lambda r: (r.started_at or r.create_date, r.id)
                )
            ]
            players = [player for player in players if player]
            call.recording_player_html = Markup("").join(players) if players else False

    def _after_event(self, event_record, event, state):
        result = super()._after_event(event_record, event, state)
        if isinstance(event, mango_vpbx.events.RecordingEvent | mango_vpbx.events.RecordAddedEvent):
            self.env["medpulse.call.recording"].sudo()._sync_from_state(self.sudo(), event, state)
        return result

    def action_start_recording(self):
        """Ask the PBX to record the current user in this call (``commands/recording/start``).

        The PBX answers later: ``result/recording/start``, then ``events/recording``
        ``Started`` creates the recording here.
        """
        self.ensure_one()
        user = self.env.user
        if not user.has_group("medpulse_telephony.group_telephony_recordings"):
            raise AccessError(_("You are not allowed to start call recordings."))
        extension = user.pbx_extension
        if not extension:
            raise UserError(
                _("Your user has no PBX extension: set it in Settings ▸ Users ▸ Telephony.")
            )
        leg = self._my_active_leg(extension)
        if not leg:
            raise UserError(
                _("You are not talking in this call right now: there is nothing to record.")
            )
        company = self.company_id
        try:
            company._mango_client().recording_start(leg.call_id, extension)
        except mango_vpbx.VpbxError as error:
            _logger.info("Recording start in call %s failed: %s", self.id, error)
            raise UserError(company._mango_error_text(error)) from error
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("Recording requested"),
                "message": _("The PBX will start recording your conversation."),
                "type": "success",
                "sticky": False,
            },
        }

    def _my_active_leg(self, extension):
        """The leg of this call in which ``extension`` is talking or on hold now."""
        events = (
            self.env["medpulse.call.event"]
            .sudo()
            .search([("call_id_ref", "=", self.id), ("state", "!=", "not_understood")])
        )
        state = self._fold(self.company_id, events)
        for leg in reversed(getattr(state, "legs", ()) or ()):
            parties = {
                leg.to.extension if leg.to else None,
                leg.from_.extension if leg.from_ else None,
            }
            if leg.state in ("Connected", "OnHold") and extension in parties:
                return leg
        return None
