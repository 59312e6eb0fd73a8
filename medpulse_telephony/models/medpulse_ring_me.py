""""Ring me": ask the PBX emulator to ring the current user's phone from a demo patient.

The fastest way to see the incoming-call card without a PBX account. It only works when
the company's PBX API URL points at ``mango_vpbx_emulator`` (it answers on its unsigned
``/control`` API, which a real PBX does not have), so it can never place a real call.
"""

import logging
from urllib.parse import urlsplit

import requests

from odoo import _, models
from odoo.exceptions import UserError

_logger = logging.getLogger(__name__)

RING_SECONDS = 20
TALK_SECONDS = 30


class ResUsers(models.Model):
    _inherit = "res.users"

    def _medpulse_emulator_origin(self, company):
        """``scheme://host:port`` of the company's PBX when it is the emulator, else False."""
        company = company.sudo()
        url = company.mango_api_url or ""
        parts = urlsplit(url)
        if not parts.scheme or not parts.netloc:
            return False
        origin = f"{parts.scheme}://{parts.netloc}"
        try:
            reply = requests.get(f"{origin}/control/status", timeout=3)
            status = reply.json() if reply.status_code == 200 else {}
            # The emulator of *this* PBX account: same key, and it lists its employees.
            is_emulator = "employees" in status and status.get("api_key") == company.mango_api_key
        except (requests.RequestException, ValueError):
            is_emulator = False
        return origin if is_emulator else False

    def _medpulse_demo_caller(self):
        """A number to call from: a patient's (the demo's), else a fixed demo mobile."""
        phone = self.env["medpulse.patient.phone"].sudo().search(
            [("number_e164", "!=", False), ("patient_id.active", "=", True)],
            order="id", limit=1,
        )
        return (phone.number_e164 or "+79177654321").lstrip("+")

    def action_medpulse_ring_me(self):
        """Start an incoming call to my extension on the emulator; my card should pop up."""
        self.ensure_one()
        if self != self.env.user:
            raise UserError(_("You can only ring your own phone."))
        if not self.pbx_extension:
            raise UserError(
                _("Your user has no PBX extension: set it in Settings ▸ Users ▸ Telephony.")
            )
        company = self.env.company
        origin = self._medpulse_emulator_origin(company)
        if not origin:
            raise UserError(
                _(
                    "“Ring me” works only with the PBX emulator: the PBX API URL of "
                    "%(company)s does not point at one.",
                    company=company.name,
                )
            )
        scenario = {
            "name": "incoming_answered",
            "params": {
                "extension": self.pbx_extension,
                "caller": self._medpulse_demo_caller(),
                "ivr_seconds": 1,
                "ring_seconds": RING_SECONDS,
                "talk_seconds": TALK_SECONDS,
            },
        }
        try:
            reply = requests.post(f"{origin}/control/scenario", json=scenario, timeout=10)
            reply.raise_for_status()
        except requests.RequestException as exc:
            _logger.warning("The PBX emulator refused a ring-me call: %s", exc)
            raise UserError(_("The PBX emulator did not start the call: %s", exc)) from None
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "info",
                "title": _("Ringing"),
                "message": _(
                    "Your phone (extension %(extension)s) rings now; it keeps ringing for "
                    "%(seconds)s seconds.",
                    extension=self.pbx_extension, seconds=RING_SECONDS,
                ),
            },
        }


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    def action_medpulse_ring_me(self):
        return self.env.user.action_medpulse_ring_me()
