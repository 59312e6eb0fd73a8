from datetime import timedelta

from odoo import _, api, fields, models

from .medpulse_reminder import local_day


class MedpulseConfirmationProgress(models.TransientModel):
    """"How far is the reception with tomorrow's confirmation calls?"

    Figures of one day's call list (the day of the appointments, in the clinic's time
    zone), counted from its entries when shown; each opens the entries behind it.
    """

    _name = "medpulse.confirmation.progress"
    _inherit = ["medpulse.company.scoped"]
    _description = "Confirmation calls: progress"

    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company,
    )
    list_date = fields.Date(
        string="Appointments of", required=True,
        default=lambda self: local_day(self.env.company, fields.Datetime.now())
        + timedelta(days=1),
    )
    total_count = fields.Integer(string="On the list", compute="_compute_figures")
    done_count = fields.Integer(string="Done", compute="_compute_figures")
    left_count = fields.Integer(string="Left to call", compute="_compute_figures")
    confirmed_count = fields.Integer(string="Confirmed", compute="_compute_figures")
    confirmed_rate = fields.Float(
        string="Confirmed (%)", compute="_compute_figures", digits=(16, 1),
        help="Of the entries done: how many patients confirmed.",
    )
    moved_count = fields.Integer(string="Moved", compute="_compute_figures")
    cancelled_count = fields.Integer(string="Cancelled", compute="_compute_figures")
    unreachable_count = fields.Integer(
        string="Unreachable", compute="_compute_figures",
        help="No answer after every call, or a wrong number.",
    )
    retry_count = fields.Integer(
        string="Waiting to be called again", compute="_compute_figures",
        help="No answer yet: they come back to the list later.",
    )

    def _domain(self, extra=()):
        self.ensure_one()
        return [
            ("company_id", "=", self.company_id.id), ("list_date", "=", self.list_date),
            ("kind", "=", "confirmation"),  # not the no-show recall list (issue 22)
            ("state", "!=", "cancelled"), *extra,
        ]

    @api.depends("company_id", "list_date")
    def _compute_figures(self):
        Item = self.env["medpulse.confirmation.item"].sudo()
        for board in self:
            counts = {
                (state, outcome): count
                for state, outcome, count in Item._read_group(
                    board._domain(), ["state", "outcome"], ["__count"])
            }
            done = {outcome: count for (state, outcome), count in counts.items()
                    if state == "done"}
            board.total_count = sum(counts.values())
            board.done_count = sum(done.values())
            board.left_count = board.total_count - board.done_count
            board.confirmed_count = done.get("confirmed", 0)
            board.moved_count = done.get("moved", 0)
            board.cancelled_count = done.get("cancelled", 0)
            board.unreachable_count = done.get("unreachable", 0) + done.get("wrong_number", 0)
            board.confirmed_rate = (
                100.0 * board.confirmed_count / board.done_count if board.done_count else 0.0)
            board.retry_count = Item.search_count(board._domain(
                [("state", "=", "todo"), ("attempt_count", ">", 0)]))

    def _open(self, name, extra):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "medpulse_telephony.medpulse_confirmation_item_action")
        action.update({"name": name, "domain": self._domain(extra), "context": {}})
        return action

    def action_open_left(self):
        return self._open(_("Left to call"), [("state", "=", "todo")])

    def action_open_done(self):
        return self._open(_("Done"), [("state", "=", "done")])

    def action_open_unreachable(self):
        return self._open(_("Unreachable"), [
            ("state", "=", "done"), ("outcome", "in", ("unreachable", "wrong_number"))])
