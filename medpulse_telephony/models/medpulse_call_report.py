from odoo import fields, models
from odoo.tools import SQL

from . import call_measures as m
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
        columns = {
            "id": "c.id",
            "call_id": "c.id",
            "company_id": "c.company_id",
            "created_at": "c.created_at",
            "direction": "c.direction",
            "call_type": "c.call_type",
            "operator_user_id": "c.operator_user_id",
            "line_id": "c.line_id",
            "hour_of_day": m.LOCAL_HOUR,
            "weekday": m.LOCAL_WEEKDAY,
            "missed_count": m.flag(m.MISSED),
            "missed_rate": m.percent(m.INCOMING, m.MISSED),
            "wait_seconds": m.when(m.INCOMING, m.WAIT_SECONDS),
            "talk_seconds": m.when(m.ANSWERED, m.TALK_SECONDS),
            "talk_seconds_total": f"COALESCE({m.TALK_SECONDS}, 0)",
            "returned_count": m.flag(m.RETURNED),
            "returned_rate": m.percent(m.MISSED, "c.closed_by_call_id IS NOT NULL"),
            "return_minutes": m.when(m.RETURN_TIMED, m.RETURN_MINUTES),
            "appointment_count": m.flag(m.BOOKED),
            "conversion_rate": m.percent(m.CONVERSION_BASE, m.BOOKED),
        }
        select = ",\n".join(f"{sql} AS {name}" for name, sql in columns.items())
        return SQL(
            f"SELECT {select} FROM medpulse_call c {m.TZ_JOINS} {m.CLOSER_JOIN}"  # noqa: S608
            f" {m.BOOKED_ALL_JOIN}"  # - the measures' module constants only
        )
