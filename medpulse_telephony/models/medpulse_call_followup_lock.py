"""One row per (company, external number) that the follow-up of missed calls touches.

A missed call and the answered call that closes it may be processed at the same time by
two workers, each in its own transaction under PostgreSQL's repeatable read (Odoo's
isolation). Neither sees the other's uncommitted call, so the missed call would wait for
a callback forever. Both upsert the same row here before deciding
(``medpulse.call._apply_followup``): the second one gets a serialization failure and
the webhook folds its event again with a fresh snapshot, which sees the first call.

Why a row and not an advisory lock: an advisory lock makes the second worker *wait*,
but its snapshot was taken before it waited, so it would still decide without the first
call. A write-write conflict on a row is what makes PostgreSQL hand the second
transaction a serialization failure, i.e. a retry with a snapshot that sees the first.
The rows carry nothing else and may be deleted at any time.
"""

from odoo import api, fields, models
from odoo.tools import SQL


class MedpulseCallFollowupLock(models.Model):
    _name = "medpulse.call.followup.lock"
    _description = "Follow-up lock of a number"
    _log_access = False

    company_id = fields.Many2one("res.company", required=True, ondelete="cascade")
    e164 = fields.Char(string="Number (E.164)", required=True)
    touched_at = fields.Datetime(required=True)

    _sql_constraints = [
        (
            "number_company_uniq",
            "UNIQUE(company_id, e164)",
            "One follow-up lock per number and company.",
        ),
    ]

    @api.model
    def _touch(self, company, e164):
        """Write this number's row in the current transaction (see the module)."""
        # Raw SQL: the ORM has no upsert, and a search then a write would not conflict
        # when neither transaction sees the other's new row. Not logged on failure: the
        # serialization failure it raises is the point.
        self.env.cr.execute(
            SQL(
                "INSERT INTO medpulse_call_followup_lock (company_id, e164, touched_at)"
                " VALUES (%s, %s, NOW() AT TIME ZONE 'UTC')"
                " ON CONFLICT (company_id, e164) DO UPDATE SET touched_at = EXCLUDED.touched_at",
                company.id, e164,
            ),
            log_exceptions=False,
        )
