"""What the wallboard's publisher reads: which companies' boards changed, and which are open.

Rows of ``medpulse.wallboard.change`` are only ever inserted (by the webhook's fold and the
other writes that change a board, ``medpulse.wallboard._changed``) and deleted (by the
publishers, ``medpulse.wallboard._publish_due``): two webhook transactions of one
company never write the same row, so a board costs the fold no lock and no serialization
failure (the push after the webhook's answer claims the company's watch row without ever
waiting for it).

``medpulse.wallboard.watch`` says until when a company's board is open somewhere: each
read of the board (``get_board``: on opening it, after a reconnect, at least every
``SILENCE_RECHECK_MINUTES``) pushes that moment on. With no board open, the fold writes
nothing for the boards and nothing is pushed. It also says until when a board of each
variant (``WALLBOARD_VARIANTS``: with names, without, TV) is open: a push sends only those,
typically one variant instead of three. Its ``published_at`` is the publishers'
throttle: whoever pushes a board (the webhook's request after its answer, or the cron)
first claims the row (``medpulse.wallboard._claim``).
"""

from odoo import fields, models


class MedpulseWallboardChange(models.Model):
    _name = "medpulse.wallboard.change"
    _description = "Wallboard change"
    _log_access = False

    company_id = fields.Many2one("res.company", required=True, ondelete="cascade")


class MedpulseWallboardWatch(models.Model):
    _name = "medpulse.wallboard.watch"
    _description = "Open wallboards of a company"
    _log_access = False

    company_id = fields.Many2one("res.company", required=True, ondelete="cascade")
    until = fields.Datetime(required=True)
    named_until = fields.Datetime(string="Board with names open until")
    unnamed_until = fields.Datetime(string="Board without names open until")
    tv_until = fields.Datetime(string="Board in TV mode open until")
    published_at = fields.Datetime(
        string="Last pushed at", help="When its board was last pushed: the throttle."
    )
    publish_ms = fields.Integer(
        string="Push time (ms)", help="How long computing its board took the last time."
    )

    _sql_constraints = [
        ("company_uniq", "UNIQUE(company_id)", "One row per company."),
    ]
