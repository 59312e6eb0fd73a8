from odoo import api, models


class MedpulseAppointment(models.Model):
    _inherit = "medpulse.appointment"

    @api.model_create_multi
    def create(self, vals_list):
        """An appointment booked from the card turns the card of that call to "booked"."""
        appointments = super().create(vals_list)
        for call in appointments.call_id:
            call._notify_card_update()
        return appointments
