from odoo import models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    def action_medpulse_ring_me(self):
        return self.env.user.action_medpulse_ring_me()
