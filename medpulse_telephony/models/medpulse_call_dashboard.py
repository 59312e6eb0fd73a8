import statistics
from datetime import datetime, time, timedelta

import pytz

from odoo import _, api, fields, models

PERIODS = [
    ("yesterday", "Yesterday"),
    ("today", "Today"),
    ("last_7_days", "Last 7 days"),
    ("last_30_days", "Last 30 days"),
]


class MedpulseCallDashboard(models.TransientModel):
    """"How many calls did we miss yesterday and how fast did we call them back?"

    Figures over the incoming calls of a period (days in the user's time zone), from
    the journal; each figure opens the calls behind it.
    """

    _name = "medpulse.call.dashboard"
    _inherit = ["medpulse.company.scoped"]
    _description = "Calls dashboard"

    period = fields.Selection(PERIODS, required=True, default="yesterday")
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company
    )
    date_from = fields.Datetime(compute="_compute_figures")
    date_to = fields.Datetime(compute="_compute_figures")
    incoming_count = fields.Integer(string="Incoming calls", compute="_compute_figures")
    missed_count = fields.Integer(string="Missed calls", compute="_compute_figures")
    missed_rate = fields.Float(string="Missed rate (%)", compute="_compute_figures", digits=(16, 1))
    returned_count = fields.Integer(string="Returned", compute="_compute_figures")
    returned_rate = fields.Float(string="Returned (%)", compute="_compute_figures", digits=(16, 1))
    waiting_count = fields.Integer(
        string="Still waiting for a callback", compute="_compute_figures",
    )
    median_return_minutes = fields.Float(
        string="Median time to return (min)", compute="_compute_figures", digits=(16, 1),
    )
    average_wait_seconds = fields.Float(
        string="Average wait (s)", compute="_compute_figures", digits=(16, 1)
    )
    average_talk_seconds = fields.Float(
        string="Average talk (s)", compute="_compute_figures", digits=(16, 1)
    )
    appointment_count = fields.Integer(
        string="Calls with an appointment", compute="_compute_figures"
    )
    conversion_rate = fields.Float(
        string="Conversion (%)", compute="_compute_figures", digits=(16, 1)
    )

    def _period_bounds(self):
        """[start, end) of the period in the user's time zone, as naive UTC."""
        self.ensure_one()
        tz = pytz.timezone(self.env.context.get("tz") or self.env.user.tz or "UTC")
        today = datetime.now(pytz.utc).astimezone(tz).date()
        first, last = {
            "yesterday": (today - timedelta(days=1), today - timedelta(days=1)),
            "today": (today, today),
            "last_7_days": (today - timedelta(days=6), today),
            "last_30_days": (today - timedelta(days=29), today),
        }[self.period]
        start = (
            tz.localize(datetime.combine(first, time.min)).astimezone(pytz.utc).replace(tzinfo=None)
        )
        end = (
            tz.localize(datetime.combine(last + timedelta(days=1), time.min))
            .astimezone(pytz.utc)
            .replace(tzinfo=None)
        )
        return start, end

    def _domain(self, extra=()):
        start, end = self._period_bounds()
        return [
            ("company_id", "=", self.company_id.id),
            ("created_at", ">=", start), ("created_at", "<", end), *extra,
        ]

    @api.depends("period", "company_id")
    @api.depends_context("tz", "uid")
    def _compute_figures(self):
        Call = self.env["medpulse.call"]
        for board in self:
            board.date_from, board.date_to = board._period_bounds()
            incoming = Call.search(
                board._domain([("direction", "=", "incoming"), ("result", "!=", "in_progress")])
            )
            missed = incoming.filtered(lambda c: c.call_type == "missed_incoming")
            returned = missed.filtered("closed_by_call_id")
            answered = Call.search(board._domain([
                ("direction", "in", ("incoming", "outgoing")), ("result", "=", "answered"),
            ]))
            booked = answered & board._booked_calls(answered)
            delays = [
                max((call.closed_by_call_id.created_at - call.created_at).total_seconds(), 0) / 60.0
                for call in returned if call.closed_by_call_id.created_at and call.created_at
            ]
            answered_incoming = incoming - missed
            board.incoming_count = len(incoming)
            board.missed_count = len(missed)
            board.missed_rate = 100.0 * len(missed) / len(incoming) if incoming else 0.0
            board.returned_count = len(returned)
            board.returned_rate = 100.0 * len(returned) / len(missed) if missed else 0.0
            board.waiting_count = len(
                missed.filtered(lambda c: c.followup_state == "needs_callback")
            )
            board.median_return_minutes = statistics.median(delays) if delays else 0.0
            board.average_wait_seconds = (
                sum(incoming.mapped("wait_seconds")) / len(incoming) if incoming else 0.0
            )
            board.average_talk_seconds = (
                sum(answered_incoming.mapped("talk_seconds")) / len(answered_incoming)
                if answered_incoming else 0.0
            )
            board.appointment_count = len(booked)
            board.conversion_rate = 100.0 * len(booked) / len(answered) if answered else 0.0

    def _booked_calls(self, calls):
        """The calls among ``calls`` that booked an appointment not cancelled. A figure, no
        patient data: a telephony manager without a clinic role (who may not read the
        appointments, nor the calls' ``appointment_ids``) sees it too."""
        Appointment = self.env["medpulse.appointment"].sudo()
        groups = Appointment._read_group(
            [("call_id", "in", calls.ids), ("state", "!=", "cancelled")], ["call_id"]
        )
        return self.env["medpulse.call"].browse([call.id for (call,) in groups])

    def _open_calls(self, name, extra):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "medpulse_telephony.medpulse_call_action"
        )
        action.update({"name": name, "domain": self._domain(extra), "context": {}})
        return action

    def action_open_missed(self):
        return self._open_calls(_("Missed calls"), [("call_type", "=", "missed_incoming")])

    def action_open_waiting(self):
        return self._open_calls(
            _("Missed calls still waiting"),
            [("call_type", "=", "missed_incoming"), ("followup_state", "=", "needs_callback")],
        )

    def action_open_returned(self):
        return self._open_calls(
            _("Returned missed calls"),
            [("call_type", "=", "missed_incoming"), ("closed_by_call_id", "!=", False)],
        )

    def action_open_analysis(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "medpulse_telephony.medpulse_call_report_action"
        )
        start, end = self._period_bounds()
        action["domain"] = [("created_at", ">=", start), ("created_at", "<", end)]
        return action
