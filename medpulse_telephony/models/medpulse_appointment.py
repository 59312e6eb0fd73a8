from odoo import api, fields, models


class MedpulseAppointment(models.Model):
    _inherit = "medpulse.appointment"

    # The call's number and type are for those who read calls: not for doctors.
    call_id = fields.Many2one(
        "medpulse.call", string="Booked during call", index="btree_not_null", ondelete="set null",
        groups="medpulse_telephony.group_telephony_operator",
        help="The phone call in which this appointment was booked.",
    )

    @api.model
    def default_get(self, fields_list):
        """Booked from a call's card (``default_call_id``): the form says "Phone Call" at once."""
        defaults = super().default_get(fields_list)
        if defaults.get("call_id") and "origin" in fields_list:
            defaults["origin"] = "phone"
        return defaults

    @api.model_create_multi
    def create(self, vals_list):
        """An appointment booked during a call was booked by phone, whatever the form sent;
        one booked from the card turns the card of that call to "booked". A booking reaches
        the patient: their open call-backs are done."""
        for vals in vals_list:
            if vals.get("call_id"):
                vals["origin"] = "phone"
        appointments = super().create(vals_list)
        for call in appointments.call_id:
            call._notify_card_update()
        self.env["medpulse.call.callback"]._on_appointments_booked(appointments)
        return appointments
