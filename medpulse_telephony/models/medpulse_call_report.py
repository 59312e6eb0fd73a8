from odoo import fields, models
from odoo.tools import SQL

from .medpulse_call import CALL_TYPES

HOURS = [(f"{hour:02d}", f"{hour:02d}:00") for hour in range(24)]
WEEKDAYS = [
    ("1", "Monday"), ("2", "Tuesday"), ("3", "Wednesday"), ("4", "Thursday"),
    ("5", "Friday"), ("6", "Saturday"), ("7", "Sunday"),
]


class MedpulseCallReport(models.Model):
    """Call analysis: one row per journal call, with the measures managers average.

    A database view rather than stored fields on the journal because a rate only
    means something over the calls it is about: the missed rate over incoming calls,
    the talk time over answered calls, the callback share over missed calls. Rows
    outside a measure's population hold NULL, which SQL averages skip, so the
    pivot's averages are right in every cell. Hours and weekdays are in the clinic's
    time zone (its working-time calendar, else its address).
    """

    _name = "medpulse.call.report"
    _description = "Call analysis"
    _auto = False
    _order = "created_at desc"
    _rec_name = "call_id"

    call_id = fields.Many2one("medpulse.call", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    created_at = fields.Datetime(string="Started", readonly=True)
    direction = fields.Selection(
        [("incoming", "Incoming"), ("outgoing", "Outgoing"), ("internal", "Internal")],
        readonly=True,
    )
    call_type = fields.Selection(CALL_TYPES, string="Type", readonly=True)
    operator_user_id = fields.Many2one("res.users", string="Operator", readonly=True)
    line_id = fields.Many2one("medpulse.telephony.line", readonly=True)
    hour_of_day = fields.Selection(HOURS, string="Hour of day", readonly=True)
    weekday = fields.Selection(WEEKDAYS, readonly=True)
    missed_count = fields.Integer(string="Missed calls", readonly=True, aggregator="sum")
    missed_rate = fields.Float(
        string="Missed rate (%)", readonly=True, aggregator="avg",
        help="Share of incoming calls nobody answered.",
    )
    wait_seconds = fields.Float(
        string="Average wait (s)", readonly=True, aggregator="avg",
        help="Incoming calls: from the call to the answer, or to the hang-up of a missed call.",
    )
    talk_seconds = fields.Float(
        string="Average talk (s)", readonly=True, aggregator="avg", help="Answered calls only.",
    )
    talk_seconds_total = fields.Integer(string="Talk time (s)", readonly=True, aggregator="sum")
    returned_count = fields.Integer(
        string="Missed calls returned", readonly=True, aggregator="sum",
        help="Missed incoming calls followed by an answered call with the same number "
        "(called back, or the caller got through).",
    )
    returned_rate = fields.Float(
        string="Missed calls returned (%)", readonly=True, aggregator="avg",
        help="Share of missed incoming calls that were returned.",
    )
    return_minutes = fields.Float(
        string="Average time to return (min)", readonly=True, aggregator="avg",
        help="Returned missed calls: minutes from the missed call to the call that returned it.",
    )
    appointment_count = fields.Integer(
        string="Calls with an appointment", readonly=True, aggregator="sum",
        help="Calls during which an appointment (not cancelled) was booked.",
    )
    conversion_rate = fields.Float(
        string="Conversion (%)", readonly=True, aggregator="avg",
        help="Share of answered calls with patients that ended with a booked appointment.",
    )

    @property
    def _table_query(self):
        return SQL(
            """
            SELECT c.id AS id,
                   c.id AS call_id,
                   c.company_id,
                   c.created_at,
                   c.direction,
                   c.call_type,
                   c.operator_user_id,
                   c.line_id,
                   to_char(c.created_at AT TIME ZONE 'UTC' AT TIME ZONE tz.name, 'HH24')
                       AS hour_of_day,
                   to_char(c.created_at AT TIME ZONE 'UTC' AT TIME ZONE tz.name, 'ID') AS weekday,
                   CASE WHEN c.call_type = 'missed_incoming' THEN 1 ELSE 0 END AS missed_count,
                   CASE WHEN c.direction = 'incoming' AND c.result IN ('answered', 'missed')
                        THEN CASE WHEN c.result = 'missed' THEN 100.0 ELSE 0.0 END
                   END AS missed_rate,
                   CASE WHEN c.direction = 'incoming' AND c.result IN ('answered', 'missed')
                        THEN c.wait_seconds END AS wait_seconds,
                   CASE WHEN c.result = 'answered' THEN c.talk_seconds END AS talk_seconds,
                   COALESCE(c.talk_seconds, 0) AS talk_seconds_total,
                   CASE WHEN c.call_type = 'missed_incoming' AND c.closed_by_call_id IS NOT NULL
                        THEN 1 ELSE 0 END AS returned_count,
                   CASE WHEN c.call_type = 'missed_incoming'
                        THEN CASE WHEN c.closed_by_call_id IS NOT NULL THEN 100.0 ELSE 0.0 END
                   END AS returned_rate,
                   CASE WHEN c.call_type = 'missed_incoming' AND closer.id IS NOT NULL
                        THEN GREATEST(EXTRACT(EPOCH FROM closer.created_at - c.created_at), 0)
                             / 60.0
                   END AS return_minutes,
                   CASE WHEN appt.call_id IS NOT NULL THEN 1 ELSE 0 END AS appointment_count,
                   CASE WHEN c.result = 'answered' AND c.direction IN ('incoming', 'outgoing')
                        THEN CASE WHEN appt.call_id IS NOT NULL THEN 100.0 ELSE 0.0 END
                   END AS conversion_rate
              FROM medpulse_call c
              JOIN res_company comp ON comp.id = c.company_id
              LEFT JOIN resource_calendar cal ON cal.id = comp.resource_calendar_id
              LEFT JOIN res_partner partner ON partner.id = comp.partner_id
              CROSS JOIN LATERAL (
                  SELECT COALESCE(NULLIF(cal.tz, ''), NULLIF(partner.tz, ''), 'UTC') AS name
              ) tz
              LEFT JOIN medpulse_call closer ON closer.id = c.closed_by_call_id
              LEFT JOIN (
                  SELECT DISTINCT call_id FROM medpulse_appointment
                   WHERE call_id IS NOT NULL AND state != 'cancelled'
              ) appt ON appt.call_id = c.id
            """
        )
