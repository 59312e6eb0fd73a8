"""One row per (company, external number) that the follow-up of missed calls touches.

The row names the number by its SHA-256 digest: a lock has no need of the patient's
number itself.

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

import hashlib

from odoo import api, fields, models
from odoo.tools import SQL


class MedpulseCallFollowupLock(models.Model):
    _name = "medpulse.call.followup.lock"
    _description = "Follow-up lock of a number"
    _log_access = False

    company_id = fields.Many2one("res.company", required=True, ondelete="cascade")
    digest = fields.Char(required=True, help="SHA-256 of the number in E.164.")
    touched_at = fields.Datetime(required=True)

    _sql_constraints = [
        (
            "digest_company_uniq",
            "UNIQUE(company_id, digest)",
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
                "INSERT INTO medpulse_call_followup_lock (company_id, digest, touched_at)"
                " VALUES (%s, %s, NOW() AT TIME ZONE 'UTC')"
                " ON CONFLICT (company_id, digest) DO UPDATE SET touched_at = EXCLUDED.touched_at",
                company.id, hashlib.sha256(e164.encode()).hexdigest(),
            ),
            log_exceptions=False,
        )
