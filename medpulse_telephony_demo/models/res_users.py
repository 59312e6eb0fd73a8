""""Ring me": ask the PBX emulator to ring the current user's phone from a demo patient.

The fastest way to see the incoming-call card without a PBX account. It only works when
the company's PBX API URL points at the PBX emulator (it answers on its unsigned
``/control`` API, which a real PBX does not have), so it can never place a real call.
Like every command to the PBX, it goes through ``medpulse.call.command._send``: a
``ring_me`` record, committed before the request leaves, then its outcome.
"""

import logging
from urllib.parse import urlsplit

import requests

from odoo import _, models
from odoo.exceptions import UserError

import mango_vpbx

_logger = logging.getLogger(__name__)

RING_SECONDS = 20
TALK_SECONDS = 30


class ResUsers(models.Model):
    _inherit = "res.users"

    def _medpulse_emulator_origin(self, company):
        """``scheme://host:port`` of the company's PBX when it is the emulator, else False."""
        company = company.sudo()
        url = company.medpulse_pbx_api_url or ""
        parts = urlsplit(url)
        if not parts.scheme or not parts.netloc:
            return False
        origin = f"{parts.scheme}://{parts.netloc}"
        try:
            reply = requests.get(f"{origin}/control/status", timeout=3)
            status = reply.json() if reply.status_code == 200 else {}
            # The emulator of *this* PBX account: same key, and it lists its employees.
            is_emulator = (
                "employees" in status and status.get("api_key") == company.medpulse_pbx_api_key
            )
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
        if not self.medpulse_pbx_extension:
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
                "extension": self.medpulse_pbx_extension,
                "caller": self._medpulse_demo_caller(),
                "ivr_seconds": 1,
                "ring_seconds": RING_SECONDS,
                "talk_seconds": TALK_SECONDS,
            },
        }
        answer = self.env["medpulse.call.command"]._send(
            company,
            "ring_me",
            {"number": scenario["params"]["caller"]},
            lambda _client, _command_id: _start_scenario(origin, scenario),
            _(
                "Your phone (extension %(extension)s) rings now; it keeps ringing for "
                "%(seconds)s seconds.",
                extension=self.medpulse_pbx_extension, seconds=RING_SECONDS,
            ),
        )
        if not answer["ok"]:
            raise UserError(answer["message"])
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "info",
                "title": _("Ringing"),
                "message": answer["message"],
            },
        }


def _start_scenario(origin, scenario):
    """Ask the emulator at ``origin`` to play ``scenario`` (its ``/control`` API)."""
    try:
        reply = requests.post(f"{origin}/control/scenario", json=scenario, timeout=10)
        reply.raise_for_status()
    except requests.RequestException as exc:
        _logger.warning("The PBX emulator refused a ring-me call: %s", exc)
        raise mango_vpbx.VpbxUnavailable(str(exc)) from None
