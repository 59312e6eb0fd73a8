from odoo import api, fields, models


class MedpulseAppointment(models.Model):
    _inherit = "medpulse.appointment"

    # The call's number and type are for those who read calls: not for doctors.
    call_id = fields.Many2one(
        "medpulse.call", string="Booked during call", index="btree_not_null", ondelete="set null",
        groups="medpulse_telephony.group_telephony_operator",
        help="The phone call in which this appointment was booked.",
    )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("call_id") and not vals.get("origin"):
                vals["origin"] = "phone"
        return super().create(vals_list)
