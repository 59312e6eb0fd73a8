from odoo import fields, models
from odoo.tools import SQL

from . import call_measures as m


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
            f"""
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
                   {m.flag(m.ANSWERED)} AS reached_count,
                   {m.flag(m.BOOKED)} AS booked_count,
                   {m.flag(f"NOT {m.BOOKED} AND c.patient_id IS NULL")}
                       AS unknown_not_booked_count
              FROM medpulse_call c
              {m.BOOKED_ALL_JOIN}
             WHERE c.direction = 'incoming' AND c.dct_number IS NOT NULL
            """  # noqa: S608 - the measures' module constants only
        )
