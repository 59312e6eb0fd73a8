from odoo import fields, models
from odoo.tools import SQL


class MedpulseCallSourceReport(models.Model):
    """The clinic's marketing funnel: calls on call-tracking numbers, by the web channel
    the number was shown in (``medpulse.call.insight`` asks the PBX), with the calls
    answered (the patient was reached) and those that ended with a booking.

    One row per incoming call that came in on a call-tracking number; a call whose
    source is not known (yet, or the PBX knew no visitor) has no source.
    """

    _name = "medpulse.call.source.report"
    _description = "Calls by source"
    _auto = False
    _order = "created_at desc"
    _rec_name = "call_id"

    call_id = fields.Many2one("medpulse.call", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    created_at = fields.Datetime(string="Started", readonly=True)
    operator_user_id = fields.Many2one("res.users", string="Operator", readonly=True)
    dct_number = fields.Char(string="Call-tracking number", readonly=True)
    source = fields.Char(readonly=True)
    medium = fields.Char(readonly=True)
    campaign = fields.Char(readonly=True)
    call_count = fields.Integer(string="Calls", readonly=True, aggregator="sum")
    reached_count = fields.Integer(
        string="Reached", readonly=True, aggregator="sum",
        help="Calls someone answered: the caller was reached.",
    )
    booked_count = fields.Integer(
        string="Bookings", readonly=True, aggregator="sum",
        help="Calls during which an appointment (not cancelled) was booked.",
    )
    unknown_not_booked_count = fields.Integer(
        string="Unknown callers to call back", readonly=True, aggregator="sum",
        help="Callers who are not patients yet and booked nothing.",
    )

    @property
    def _table_query(self):
        return SQL(
            """
            SELECT c.id AS id,
                   c.id AS call_id,
                   c.company_id,
                   c.created_at,
                   c.operator_user_id,
                   c.dct_number,
                   c.dct_source AS source,
                   c.dct_medium AS medium,
                   c.dct_campaign AS campaign,
                   1 AS call_count,
                   CASE WHEN c.result = 'answered' THEN 1 ELSE 0 END AS reached_count,
                   CASE WHEN appt.call_id IS NOT NULL THEN 1 ELSE 0 END AS booked_count,
                   CASE WHEN appt.call_id IS NULL AND c.patient_id IS NULL THEN 1 ELSE 0 END
                       AS unknown_not_booked_count
              FROM medpulse_call c
              LEFT JOIN (
                  SELECT DISTINCT call_id FROM medpulse_appointment
                   WHERE call_id IS NOT NULL AND state != 'cancelled'
              ) appt ON appt.call_id = c.id
             WHERE c.direction = 'incoming' AND c.dct_number IS NOT NULL
            """
        )
