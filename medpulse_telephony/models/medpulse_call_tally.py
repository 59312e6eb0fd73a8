"""The managers' reports at any size: the journal's counted values summed per day.

``medpulse.call.report`` reads one row per call: grouping a million calls by operator took
the ORM 300-700 ms (issue 24). These two tables hold the same sums per day of the clinic
(its time zone) and per operator, line, direction and type (``medpulse.call.tally``) or per
hour of day, line, direction and type (``medpulse.call.tally.hour``): a few rows per day
whatever the number of calls. Hours are a table of their own because operators times
hours would leave about one row per call.

The tables are ledgers: every change of what a settled call counts for (the fold, the
follow-up that closes a missed call, reconciliation, an appointment booked or cancelled)
adds, in the same transaction, the call's former contribution with a minus sign and its new
one (:meth:`MedpulseCallTally._tracking`). Rows are only ever inserted by writers, so
concurrent calls of the same day never wait for or conflict on a shared row; the sums are
what the reports read. An hourly job merges each day's rows (:meth:`_cron_compact`), and a
day can be rebuilt from the calls at any time (:meth:`_rebuild`: idempotent; the fill on
upgrade). Calls in progress count nowhere: a call is counted once it has a result.
No patient data: numbers of calls and seconds only.
"""

from contextlib import contextmanager

from odoo import api, fields, models
from odoo.tools import SQL

from .medpulse_call import CALL_TYPES
from .medpulse_call_report import HOURS, WEEKDAYS

#: Journal fields whose change can change what a call counts for.
COUNTED_FIELDS = frozenset({
    "company_id", "created_at", "direction", "result", "call_type", "operator_user_id",
    "line_id", "wait_seconds", "talk_seconds", "closed_by_call_id",
})

#: Summed columns, the SQL of a call's contribution to each (alias ``c``: the call,
#: ``closer``: the call that returned it, ``appt``: it booked an appointment).
MEASURES = {
    "call_count": "1",
    "incoming_count": "(c.direction = 'incoming' AND c.result IN ('answered', 'missed'))::int",
    "missed_count": "(c.call_type = 'missed_incoming')::int",
    "answered_count": "(c.result = 'answered')::int",
    "wait_seconds_sum": "CASE WHEN c.direction = 'incoming' AND c.result IN ('answered', 'missed')"
                        " THEN COALESCE(c.wait_seconds, 0) ELSE 0 END",
    "wait_count": "(c.direction = 'incoming' AND c.result IN ('answered', 'missed')"
                  " AND c.wait_seconds IS NOT NULL)::int",
    "talk_seconds_total": "COALESCE(c.talk_seconds, 0)",
    "talk_answered_sum": "CASE WHEN c.result = 'answered' THEN COALESCE(c.talk_seconds, 0)"
                         " ELSE 0 END",
    "talk_count": "(c.result = 'answered' AND c.talk_seconds IS NOT NULL)::int",
    "returned_count": "(c.call_type = 'missed_incoming' AND c.closed_by_call_id IS NOT NULL)::int",
    "return_minutes_sum": "CASE WHEN c.call_type = 'missed_incoming' AND closer.id IS NOT NULL"
                          " THEN GREATEST(EXTRACT(EPOCH FROM closer.created_at - c.created_at), 0)"
                          " / 60.0 ELSE 0 END",
    "return_count": "(c.call_type = 'missed_incoming' AND closer.id IS NOT NULL)::int",
    "appointment_count": "appt.booked::int",
    "conversion_base": "(c.result = 'answered' AND c.direction IN ('incoming', 'outgoing'))::int",
    "conversion_count": "(c.result = 'answered' AND c.direction IN ('incoming', 'outgoing')"
                        " AND appt.booked)::int",
}

#: Rates and averages: ``(numerator, denominator, factor)`` summed over the group.
RATIOS = {
    "missed_rate": ("missed_count", "incoming_count", 100.0),
    "wait_seconds": ("wait_seconds_sum", "wait_count", 1.0),
    "talk_seconds": ("talk_answered_sum", "talk_count", 1.0),
    "returned_rate": ("returned_count", "missed_count", 100.0),
    "return_minutes": ("return_minutes_sum", "return_count", 1.0),
    "conversion_rate": ("conversion_count", "conversion_base", 100.0),
}

#: Key columns of each table, with their SQL over a call.
KEYS = {
    "company_id": "c.company_id",
    "day": "(c.created_at AT TIME ZONE 'UTC' AT TIME ZONE tz.name)::date",
    "weekday": "to_char(c.created_at AT TIME ZONE 'UTC' AT TIME ZONE tz.name, 'ID')",
    "hour_of_day": "to_char(c.created_at AT TIME ZONE 'UTC' AT TIME ZONE tz.name, 'HH24')",
    "operator_user_id": "c.operator_user_id",
    "line_id": "c.line_id",
    "direction": "c.direction",
    "call_type": "c.call_type",
}
TABLE_KEYS = {
    "medpulse_call_tally": ("company_id", "day", "weekday", "operator_user_id", "line_id",
                            "direction", "call_type"),
    "medpulse_call_tally_hour": ("company_id", "day", "weekday", "hour_of_day", "line_id",
                                 "direction", "call_type"),
}


def _contributions(where):
    """SQL: one row per settled call matching ``where`` (an ``SQL`` over ``c``), its keys
    and what it adds to each measure. The company's time zone as everywhere else (its
    working calendar's, else its address's: ``medpulse.wallboard._company_tz``)."""
    columns = [f"{sql} AS {name}" for name, sql in KEYS.items()]
    columns += [f"{sql} AS {name}" for name, sql in MEASURES.items()]
    return SQL(
        f"""
        SELECT {", ".join(columns)}
          FROM medpulse_call c
          JOIN res_company comp ON comp.id = c.company_id
          LEFT JOIN resource_calendar cal ON cal.id = comp.resource_calendar_id
          LEFT JOIN res_partner partner ON partner.id = comp.partner_id
         CROSS JOIN LATERAL (
             SELECT COALESCE(NULLIF(cal.tz, ''), NULLIF(partner.tz, ''), 'UTC') AS name
         ) tz
          LEFT JOIN medpulse_call closer ON closer.id = c.closed_by_call_id
         CROSS JOIN LATERAL (
             SELECT EXISTS (
                 SELECT 1 FROM medpulse_appointment a
                  WHERE a.call_id = c.id AND a.state != 'cancelled'
             ) AS booked
         ) appt
         WHERE c.result IN ('answered', 'missed') AND c.created_at IS NOT NULL AND %s
        """,  # noqa: S608 - column names and expressions are this module's constants
        where,
    )


def _insert(contributions, sign, compacted):
    """SQL: add ``sign`` x ``contributions`` (an ``SQL`` of :func:`_contributions`' shape)
    to both tables, grouped by each table's keys, in one statement."""
    parts = []
    for table, keys in TABLE_KEYS.items():
        key_list = ", ".join(keys)
        sums = ", ".join(f"%s * SUM({name})" for name in MEASURES)
        parts.append(SQL(
            f"INSERT INTO {table} ({key_list}, {', '.join(MEASURES)}, compacted)"  # noqa: S608
            f" SELECT {key_list}, {sums}, %s FROM contribution GROUP BY {key_list}",
            *([sign] * len(MEASURES)), compacted,
        ))
    return SQL(
        "WITH contribution AS (%s), first AS (%s) %s",
        contributions, parts[0], parts[1],
    )


class MedpulseCallTallyMixin(models.AbstractModel):
    """What both tallies have: the day, line and type, the sums, and the rates computed
    from the sums of a group (an average of rows' averages would weigh a day of one call
    like a day of a hundred)."""

    _name = "medpulse.call.tally.mixin"
    _description = "Call tally"
    _log_access = False
    _rec_name = "day"

    company_id = fields.Many2one("res.company", readonly=True, required=True)
    day = fields.Date(readonly=True, required=True)
    weekday = fields.Selection(WEEKDAYS, readonly=True)
    line_id = fields.Many2one("medpulse.telephony.line", readonly=True)
    direction = fields.Selection(
        [("incoming", "Incoming"), ("outgoing", "Outgoing"), ("internal", "Internal")],
        readonly=True,
    )
    call_type = fields.Selection(CALL_TYPES, string="Type", readonly=True)
    compacted = fields.Boolean(readonly=True)

    call_count = fields.Integer(string="Calls", readonly=True)
    missed_count = fields.Integer(string="Missed calls", readonly=True)
    talk_seconds_total = fields.Integer(string="Talk time (s)", readonly=True)
    returned_count = fields.Integer(
        string="Missed calls returned", readonly=True,
        help="Missed incoming calls followed by an answered call with the same number "
        "(called back, or the caller got through).",
    )
    appointment_count = fields.Integer(
        string="Calls with an appointment", readonly=True,
        help="Calls during which an appointment (not cancelled) was booked.",
    )
    # The populations of the rates: summed, not offered as measures.
    incoming_count = fields.Integer(readonly=True, aggregator=None)
    answered_count = fields.Integer(readonly=True, aggregator=None)
    wait_seconds_sum = fields.Float(readonly=True, aggregator=None)
    wait_count = fields.Integer(readonly=True, aggregator=None)
    talk_answered_sum = fields.Integer(readonly=True, aggregator=None)
    talk_count = fields.Integer(readonly=True, aggregator=None)
    return_minutes_sum = fields.Float(readonly=True, aggregator=None)
    return_count = fields.Integer(readonly=True, aggregator=None)
    conversion_base = fields.Integer(readonly=True, aggregator=None)
    conversion_count = fields.Integer(readonly=True, aggregator=None)
    # Computed per group by _read_group_select; a column (always empty) so that the pivot
    # and the graph offer them as measures.
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
    returned_rate = fields.Float(
        string="Missed calls returned (%)", readonly=True, aggregator="avg",
        help="Share of missed incoming calls that were returned.",
    )
    return_minutes = fields.Float(
        string="Average time to return (min)", readonly=True, aggregator="avg",
        help="Returned missed calls: minutes from the missed call to the call that returned it.",
    )
    conversion_rate = fields.Float(
        string="Conversion (%)", readonly=True, aggregator="avg",
        help="Share of answered calls with patients that ended with a booked appointment.",
    )

    @api.model
    def _read_group_select(self, aggregate_spec, query):
        """Counts are calls, not rows; rates and averages are ratios of the group's sums."""
        if aggregate_spec == "__count":
            return SQL("COALESCE(SUM(%s), 0)", SQL.identifier(self._table, "call_count"))
        fname = aggregate_spec.split(":")[0]
        if fname in RATIOS:
            numerator, denominator, factor = RATIOS[fname]
            self.check_field_access_rights("read", [fname])
            return SQL(
                "%s * SUM(%s) / NULLIF(SUM(%s), 0)",
                factor,
                SQL.identifier(self._table, numerator),
                SQL.identifier(self._table, denominator),
            )
        return super()._read_group_select(aggregate_spec, query)


class MedpulseCallTally(models.Model):
    _name = "medpulse.call.tally"
    _inherit = ["medpulse.call.tally.mixin"]
    _description = "Calls per day, operator, line and type"
    _order = "day desc"

    operator_user_id = fields.Many2one("res.users", string="Operator", readonly=True,
                                       index="btree_not_null")

    def init(self):
        self.env.cr.execute(SQL(
            "CREATE INDEX IF NOT EXISTS medpulse_call_tally_company_day_idx"
            " ON medpulse_call_tally (company_id, day)"
        ))
        self.env.cr.execute(SQL(
            "CREATE INDEX IF NOT EXISTS medpulse_call_tally_uncompacted_idx"
            " ON medpulse_call_tally (company_id, day) WHERE NOT compacted"
        ))
        # The fill of an existing journal when the tables first appear (an upgrade), once
        # both tables exist: after every model's init.
        self.pool.post_init(self._fill_if_empty)

    @api.model
    def _fill_if_empty(self):
        self.env.cr.execute(SQL(
            "SELECT NOT EXISTS (SELECT 1 FROM medpulse_call_tally)"
            " AND NOT EXISTS (SELECT 1 FROM medpulse_call_tally_hour)"
            " AND EXISTS (SELECT 1 FROM medpulse_call WHERE result IN ('answered', 'missed'))"
        ))
        if self.env.cr.fetchone()[0]:
            self._rebuild()

    # ------------------------------------------------------------ maintenance

    @api.model
    @contextmanager
    def _tracking(self, calls, vals=None):
        """Around a change of ``calls`` (``vals``: what a ``write`` changes, if that is
        all): their former contributions leave the tallies, their new ones enter.

        Costs two statements for a settled call, one when it settles, and nothing when
        ``vals`` changes no counted field or the calls are in progress before and after
        (most events of a call)."""
        if not calls or (vals is not None and not (COUNTED_FIELDS & set(vals))):
            yield
            return
        # The result as the ORM caches it (the fold has just compared it): a call that was
        # not settled counted nowhere, one that will not be counts nowhere either.
        settled = ("answered", "missed")
        was_counted = vals is None or any(call.result in settled for call in calls)
        will_count = vals is None or vals.get("result") in settled or (
            "result" not in vals and was_counted
        )
        ids = list(calls.ids)
        if was_counted:
            self._add(ids, -1)
        yield
        if will_count:
            self._add(ids, 1)

    @api.model
    def _add(self, call_ids, sign=1):
        """Add the contributions of the calls ``call_ids`` times ``sign`` (one statement)."""
        self._flush_sources()
        self.env.cr.execute(
            _insert(_contributions(SQL("c.id = ANY(%s)", list(call_ids))), sign, False)
        )

    @api.model
    def _flush_sources(self):
        self.env["medpulse.call"].flush_model()
        self.env["medpulse.appointment"].flush_model(["call_id", "state"])

    @api.model
    def _rebuild(self, company=None, days=None):
        """Both tallies of ``company`` (all when None) on ``days`` (local dates; all when
        None) computed again from the calls: what a repair or the first fill does.

        Safe beside the webhook: a change committed after this snapshot added its own
        difference rows, which this does not delete."""
        self.env.flush_all()  # the company's time zone too
        where = SQL("TRUE")
        tally_where = SQL("TRUE")
        if company is not None:
            where = SQL("%s AND c.company_id = %s", where, company.id)
            tally_where = SQL("%s AND company_id = %s", tally_where, company.id)
        if days is not None:
            days = sorted(set(days))
            where = SQL("%s AND (%s) = ANY(%s)", where, SQL(KEYS["day"]), days)
            if days:
                # the time zone is at most a day away from UTC: let the created_at index work
                where = SQL(
                    "%s AND c.created_at >= %s::date - 1 AND c.created_at < %s::date + 2",
                    where, days[0], days[-1],
                )
            tally_where = SQL("%s AND day = ANY(%s)", tally_where, days)
        for table in TABLE_KEYS:
            self.env.cr.execute(SQL("DELETE FROM %s WHERE %s", SQL.identifier(table), tally_where))
        self.env.cr.execute(_insert(_contributions(where), 1, True))
        self.env.registry.clear_cache()
        self.env.invalidate_all()

    @api.model
    def _cron_compact(self):
        """Merge the rows of each (company, day) that received differences since the last
        run into one row per key; rows that sum to nothing go."""
        for table, keys in TABLE_KEYS.items():
            key_list = ", ".join(keys)
            moved_keys = ", ".join(f"moved.{key}" for key in keys)
            sums = ", ".join(f"SUM(moved.{name})" for name in MEASURES)
            nonzero = " OR ".join(f"SUM(moved.{name}) != 0" for name in MEASURES)
            self.env.cr.execute(SQL(
                f"""
                WITH touched AS (
                    SELECT DISTINCT company_id, day FROM {table} WHERE NOT compacted
                ), moved AS (
                    DELETE FROM {table} t USING touched
                     WHERE t.company_id = touched.company_id AND t.day = touched.day
                 RETURNING t.*
                )
                INSERT INTO {table} ({key_list}, {", ".join(MEASURES)}, compacted)
                SELECT {moved_keys}, {sums}, TRUE FROM moved
                 GROUP BY {moved_keys} HAVING {nonzero}
                """  # noqa: S608 - table and column names are this module's constants
            ))
        self.env.invalidate_all()


class MedpulseCallTallyHour(models.Model):
    _name = "medpulse.call.tally.hour"
    _inherit = ["medpulse.call.tally.mixin"]
    _description = "Calls per day, hour of day, line and type"
    _order = "day desc, hour_of_day"

    hour_of_day = fields.Selection(HOURS, string="Hour of day", readonly=True)

    def init(self):
        self.env.cr.execute(SQL(
            "CREATE INDEX IF NOT EXISTS medpulse_call_tally_hour_company_day_idx"
            " ON medpulse_call_tally_hour (company_id, day)"
        ))
        self.env.cr.execute(SQL(
            "CREATE INDEX IF NOT EXISTS medpulse_call_tally_hour_uncompacted_idx"
            " ON medpulse_call_tally_hour (company_id, day) WHERE NOT compacted"
        ))
