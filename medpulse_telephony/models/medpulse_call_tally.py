"""The managers' reports at any size: the journal's counted values summed per day.

``medpulse.call.report`` reads one row per call: grouping a million calls by operator took
the ORM 300-700 ms (issue 24). These tables hold the same sums per day of the clinic
(its time zone) and per operator, line, direction and type (``medpulse.call.tally``), per
hour of day, line, direction and type (``medpulse.call.tally.hour``), and per month,
operator, line, direction and type (``medpulse.call.tally.month``): a few rows per day or
month whatever the number of calls. Hours are a table of their own because operators times
hours would leave about one row per call. A report that needs no day finer than a month
(by operator over everything) is answered from the months: about 30 times fewer rows.

The tables are ledgers: every change of what a counted call counts for (the fold, the
follow-up that closes a missed call, reconciliation, an appointment booked or cancelled)
adds, in the same transaction and one statement for all four tables, the call's former
contribution with a minus sign and its new one (:meth:`MedpulseCallTally._tracking`; the
folder's transaction of several calls adds the new ones of all its calls in one statement at
its end, :meth:`MedpulseCallTally._added_at_end`). Rows
are only ever inserted by writers, so concurrent calls of the same day never wait for or
conflict on a shared row; the sums are what the reports read. An hourly job merges each
day's (month's) rows (:meth:`_cron_compact`), and a day can be rebuilt from the calls at any
time (:meth:`_rebuild`: idempotent; the fill on upgrade). A call counts from its final
state on (``call_measures.COUNTED``: its summary arrived or the PBX's statistics settled
it): calls in progress, answered ones still talking included, count nowhere.
The SQL of what a call counts for is ``call_measures``' (shared with the per-call reports).
No patient data: numbers of calls and seconds only.
"""

import weakref
from contextlib import contextmanager

from odoo import api, fields, models
from odoo.tools import SQL

from . import call_measures as m
from .medpulse_call import CALL_TYPES
from .medpulse_call_report import HOURS, WEEKDAYS

#: The transaction's precommit data key of :meth:`MedpulseCallTally._added_at_end`'s calls.
PENDING_KEY = "medpulse.call.tally.pending"
#: The cursors within :meth:`MedpulseCallTally._added_at_end`.
_ADDING_AT_END = weakref.WeakSet()


#: Journal fields whose change can change what a call counts for, or whether it counts.
COUNTED_FIELDS = frozenset({
    "company_id", "created_at", "direction", "result", "call_type", "operator_user_id",
    "line_id", "wait_seconds", "talk_seconds", "closed_by_call_id",
    "is_final", "recovered_from_stats", "completed_from_stats",
})

#: Summed columns, the SQL of a call's contribution to each (``call_measures``' aliases).
MEASURES = {
    "call_count": "1",
    "incoming_count": m.flag(m.INCOMING),
    "missed_count": m.flag(m.MISSED),
    "answered_count": m.flag(m.ANSWERED),
    "wait_seconds_sum": m.when(m.INCOMING, f"COALESCE({m.WAIT_SECONDS}, 0)", "0"),
    "wait_count": m.flag(f"{m.INCOMING} AND {m.WAIT_SECONDS} IS NOT NULL"),
    "talk_seconds_total": f"COALESCE({m.TALK_SECONDS}, 0)",
    "talk_answered_sum": m.when(m.ANSWERED, f"COALESCE({m.TALK_SECONDS}, 0)", "0"),
    "talk_count": m.flag(f"{m.ANSWERED} AND {m.TALK_SECONDS} IS NOT NULL"),
    "returned_count": m.flag(m.RETURNED),
    "return_minutes_sum": m.when(m.RETURN_TIMED, m.RETURN_MINUTES, "0"),
    "return_count": m.flag(m.RETURN_TIMED),
    "appointment_count": m.flag(m.BOOKED),
    "conversion_base": m.flag(m.CONVERSION_BASE),
    "conversion_count": m.flag(f"{m.CONVERSION_BASE} AND {m.BOOKED}"),
    # What the journal's list sums per group, over every direction (its average wait
    # and total talk: ``medpulse.call._read_group_tallied``).
    "wait_all_sum": f"COALESCE({m.WAIT_SECONDS}, 0)",
    "wait_all_count": m.flag(f"{m.WAIT_SECONDS} IS NOT NULL"),
    "talk_all_count": m.flag(f"{m.TALK_SECONDS} IS NOT NULL"),
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

#: Key columns of a call's contribution, with their SQL over the call.
KEYS = {
    "company_id": "c.company_id",
    "day": m.LOCAL_DAY,
    "month": m.LOCAL_MONTH,
    "weekday": m.LOCAL_WEEKDAY,
    "hour_of_day": m.LOCAL_HOUR,
    "operator_user_id": "c.operator_user_id",
    "line_id": "c.line_id",
    "direction": "c.direction",
    "call_type": "c.call_type",
}
#: Each table's key columns -> the contribution's column that fills it.
TABLE_KEYS = {
    "medpulse_call_tally": {key: key for key in (
        "company_id", "day", "weekday", "operator_user_id", "line_id", "direction", "call_type",
    )},
    "medpulse_call_tally_hour": {key: key for key in (
        "company_id", "day", "weekday", "hour_of_day", "line_id", "direction", "call_type",
    )},
    # A month's row holds its first day.
    "medpulse_call_tally_month": {
        "company_id": "company_id", "day": "month", "operator_user_id": "operator_user_id",
        "line_id": "line_id", "direction": "direction", "call_type": "call_type",
    },
    "medpulse_call_tally_hour_month": {
        "company_id": "company_id", "day": "month", "hour_of_day": "hour_of_day",
        "line_id": "line_id", "direction": "direction", "call_type": "call_type",
    },
}
#: Each monthly tally -> the daily one it sums.
MONTH_SOURCES = {
    "medpulse_call_tally_month": "medpulse_call_tally",
    "medpulse_call_tally_hour_month": "medpulse_call_tally_hour",
}
#: The per-day tallies, what a rebuild of some days computes from the calls.
DAY_TABLES = ("medpulse_call_tally", "medpulse_call_tally_hour")
#: The tally model's fields a question may use and still be answered per month.
_DAY_GRANULARITIES = ("month", "quarter", "year")


def _contributions(where):
    """SQL: one row per counted call matching ``where`` (an ``SQL`` over ``c``), its keys
    and what it adds to each measure."""
    columns = [f"{sql} AS {name}" for name, sql in KEYS.items()]
    columns += [f"{sql} AS {name}" for name, sql in MEASURES.items()]
    return SQL(
        f"""
        SELECT {", ".join(columns)}
          FROM medpulse_call c
          {m.TZ_JOINS}
          {m.CLOSER_JOIN}
          {m.BOOKED_FEW_JOIN}
         WHERE {m.COUNTED} AND %s
        """,  # noqa: S608 - column names and expressions are constants (call_measures)
        where,
    )


def _insert(contributions, sign, compacted, tables=tuple(TABLE_KEYS)):
    """SQL: add ``sign`` x ``contributions`` (an ``SQL`` of :func:`_contributions`' shape)
    to ``tables``, grouped by each table's keys, in one statement."""
    parts = []
    for table in tables:
        columns = ", ".join(TABLE_KEYS[table])
        sources = ", ".join(TABLE_KEYS[table].values())
        sums = ", ".join(f"%s * SUM({name})" for name in MEASURES)
        parts.append(SQL(
            f"INSERT INTO {table} ({columns}, {', '.join(MEASURES)}, compacted)"  # noqa: S608
            f" SELECT {sources}, {sums}, %s FROM contribution GROUP BY {sources}",
            *([sign] * len(MEASURES)), compacted,
        ))
    ctes = [SQL("contribution AS (%s)", contributions)]
    ctes += [SQL("%s AS (%s)", SQL.identifier(f"ins{i}"), part)
             for i, part in enumerate(parts[:-1])]
    return SQL("WITH %s %s", SQL(", ").join(ctes), parts[-1])


class MedpulseCallTallyMixin(models.AbstractModel):
    """What both tallies have: the day, line and type, the sums, and the rates computed
    from the sums of a group (an average of rows' averages would weigh a day of one call
    like a day of a hundred)."""

    _name = "medpulse.call.tally.mixin"
    _description = "Call tally"
    _log_access = False
    _rec_name = "day"
    #: The same sums per month, which answers what needs no finer day (None: none).
    _month_model = None

    company_id = fields.Many2one("res.company", readonly=True, required=True)
    day = fields.Date(readonly=True, required=True)
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
    wait_all_sum = fields.Integer(string="Wait of all calls (s)", readonly=True, aggregator=None)
    wait_all_count = fields.Integer(string="Calls with a wait", readonly=True, aggregator=None)
    talk_all_count = fields.Integer(
        string="Calls with a talk time", readonly=True, aggregator=None,
    )
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

    # ------------------------------------------------------------ reading

    @api.model
    def _read_group(self, domain, groupby=(), aggregates=(), having=(), offset=0, limit=None,
                    order=None):
        """A question that needs no day finer than a month (e.g. calls by operator over
        everything) is asked of the monthly tally (``_month_model``): the same sums, from
        ~30 times fewer rows. The context key ``medpulse_tally_by_day`` keeps it on the
        daily rows (the benchmark's baseline, the test's comparison)."""
        if self._month_answers(domain, groupby, aggregates, having, order):
            Month = self.env[self._month_model]
            return Month._read_group(domain, groupby, aggregates, having, offset, limit, order)
        return super()._read_group(domain, groupby, aggregates, having, offset, limit, order)

    @api.model
    def _month_answers(self, domain, groupby=(), aggregates=(), having=(), order=None):
        """Whether the monthly tally holds all ``_read_group`` needs: no ``weekday``, and
        ``day`` only grouped by month, quarter or year (never in the domain)."""
        if not self._month_model or self.env.context.get("medpulse_tally_by_day"):
            return False
        monthly = set(self.env[self._month_model]._fields) - {"day", "id"}
        for spec in groupby:
            name, _sep, granularity = spec.partition(":")
            if name == "day" and granularity in _DAY_GRANULARITIES:
                continue
            if name not in monthly:
                return False
        names = [spec.split(":")[0] for spec in aggregates if spec != "__count"]
        names += [leaf[0].split(".")[0] for leaf in list(domain or []) + list(having or [])
                  if isinstance(leaf, list | tuple) and isinstance(leaf[0], str)]
        names += [term.split()[0].split(":")[0] for term in (order or "").split(",")
                  if term.strip()]
        return all(name in monthly or name == "__count" for name in names)

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
    _month_model = "medpulse.call.tally.month"

    weekday = fields.Selection(WEEKDAYS, readonly=True)
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
        # every table exists: after every model's init.
        self.pool.post_init(self._fill_if_empty)

    @api.model
    def _fill_if_empty(self):
        """Fill the tallies from the journal when one of them is empty, or a measure of
        theirs is empty on some row (a column an upgrade added: writers always write every
        measure), and the journal has counted calls: an upgrade that adds them (the
        monthly one included) or adds a measure."""
        empty = " OR ".join(
            f"NOT EXISTS (SELECT 1 FROM {table})"
            f" OR EXISTS (SELECT 1 FROM {table} WHERE {' IS NULL OR '.join(MEASURES)} IS NULL)"
            for table in TABLE_KEYS
        )
        self.env.cr.execute(SQL(
            f"SELECT ({empty}) AND EXISTS (SELECT 1 FROM medpulse_call c WHERE {m.COUNTED})"  # noqa: S608
        ))
        if self.env.cr.fetchone()[0]:
            self._rebuild()

    # ------------------------------------------------------------ maintenance

    @api.model
    @contextmanager
    def _tracking(self, calls, vals=None):
        """Around a change of ``calls`` (``vals``: what a ``write`` changes, if that is
        all): their former contributions leave the tallies, their new ones enter.

        A call counts from its final state on (:data:`call_measures.COUNTED`): the events
        of a call in progress, answered and talking included, cost nothing; its summary
        one statement; a later counted change (a follow-up, an appointment, a refold) two."""
        if not calls or (vals is not None and not (COUNTED_FIELDS & set(vals))):
            yield
            return
        # As the ORM caches the calls (the fold has just compared them): a call that did
        # not count contributed nothing, one that will not count adds nothing either.
        was_counted = vals is None or any(self._counts(call) for call in calls)
        will_count = vals is None or any(self._counts(call, vals) for call in calls)
        ids = list(calls.ids)
        pending = self._pending()
        if pending is not None:
            # A pending call's contribution is not in the tallies yet: nothing to remove.
            ids = [call_id for call_id in ids if call_id not in pending]
        if was_counted and ids:
            self._add(ids, -1)
        yield
        if will_count:
            pending = self._pending()  # a new set if a flush added the former one
            if pending is not None:
                pending.update(calls.ids)
            else:
                self._add(ids, 1)

    @api.model
    def _counts(self, call, vals=None):
        """Whether ``call`` (with ``vals`` written, if given) counts in the reports: in
        Python, :data:`call_measures.COUNTED`."""
        def value(name):
            return vals[name] if vals and name in vals else call[name]

        return bool(
            value("result") in ("answered", "missed") and value("created_at") and (
                value("is_final") or value("recovered_from_stats")
                or value("completed_from_stats")
            )
        )

    @api.model
    def _created(self, calls):
        """New ``calls`` enter the tallies, if they count already (a call the statistics
        recovered; the webhook's calls start in progress and cost nothing here)."""
        counted = calls.filtered(self._counts)
        pending = self._pending()
        if counted and pending is not None:
            pending.update(counted.ids)
        elif counted:
            self._add(counted.ids)

    @api.model
    @contextmanager
    def _added_at_end(self):
        """Within: the calls whose change makes them count add their contribution once,
        all together, at the end (one statement, :meth:`_add`), not one statement each.
        The folder's transaction of several calls (``controllers/webhook.py``,
        ``_fold_in_transaction``): most of its calls settle in it.

        A call waiting to be added (pending) has no contribution in the tallies: a later
        change within removes nothing, and it is added once, from its last state. The
        pending calls are the transaction's precommit data, added by a precommit hook: a
        flush of the cursor (a savepoint's start or end, a commit) adds them, and a
        rollback to a savepoint forgets those changed since it began, as it undoes their
        changes. A savepoint that does not flush (``savepoint(flush=False)``) must not
        undo a change of a call within. Re-entering adds nothing more."""
        cr = self.env.cr
        if cr in _ADDING_AT_END:
            yield
            return
        _ADDING_AT_END.add(cr)
        try:
            yield
        finally:
            _ADDING_AT_END.discard(cr)
        self._add_pending()

    @api.model
    def _pending(self):
        """The calls whose contribution waits for the end of :meth:`_added_at_end` (or the
        next flush of the cursor), or None outside one."""
        cr = self.env.cr
        if cr not in _ADDING_AT_END:
            return None
        if PENDING_KEY not in cr.precommit.data:
            cr.precommit.data[PENDING_KEY] = set()
            cr.precommit.add(self._add_pending)
        return cr.precommit.data[PENDING_KEY]

    @api.model
    def _add_pending(self):
        """Add the pending calls' contributions (one statement), and forget them."""
        pending = self.env.cr.precommit.data.pop(PENDING_KEY, None)
        if pending:
            self._add(sorted(pending))

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
        """The tallies of ``company`` (all when None) on ``days`` (local dates; all when
        None) computed again from the calls: what a repair or the first fill does. The
        months of ``days`` are summed again from their days.

        Safe beside the webhook: a change committed after this snapshot added its own
        difference rows, which this does not delete."""
        self.env.flush_all()  # the company's time zone too
        where = SQL("TRUE")
        tally_where = SQL("TRUE")
        if company is not None:
            where = SQL("%s AND c.company_id = %s", where, company.id)
            tally_where = SQL("%s AND company_id = %s", tally_where, company.id)
        if days is None:
            for table in TABLE_KEYS:
                self.env.cr.execute(
                    SQL("DELETE FROM %s WHERE %s", SQL.identifier(table), tally_where)
                )
            self.env.cr.execute(_insert(_contributions(where), 1, True))
        else:
            days = sorted(set(days))
            where = SQL("%s AND (%s) = ANY(%s)", where, SQL(KEYS["day"]), days)
            if days:
                # the time zone is at most a day away from UTC: let the created_at index work
                where = SQL(
                    "%s AND c.created_at >= %s::date - 1 AND c.created_at < %s::date + 2",
                    where, days[0], days[-1],
                )
            for table in DAY_TABLES:
                self.env.cr.execute(SQL(
                    "DELETE FROM %s WHERE %s AND day = ANY(%s)",
                    SQL.identifier(table), tally_where, days,
                ))
            self.env.cr.execute(_insert(_contributions(where), 1, True, DAY_TABLES))
            months = sorted({day.replace(day=1) for day in days})
            for table, source in MONTH_SOURCES.items():
                self._sum_months(table, source, tally_where, months)
        self.env.registry.clear_cache()
        self.env.invalidate_all()

    @api.model
    def _sum_months(self, table, source, tally_where, months):
        """The monthly tally ``table`` of ``months`` (first days) summed again from the
        daily one ``source``."""
        keys = [key for key in TABLE_KEYS[table] if key != "day"]
        key_list = ", ".join(keys)
        sums = ", ".join(f"SUM({name})" for name in MEASURES)
        self.env.cr.execute(SQL(
            "DELETE FROM %s WHERE %s AND day = ANY(%s)",
            SQL.identifier(table), tally_where, months,
        ))
        self.env.cr.execute(SQL(
            f"""
            INSERT INTO {table}
                   (day, {key_list}, {", ".join(MEASURES)}, compacted)
            SELECT date_trunc('month', day)::date, {key_list}, {sums}, TRUE
              FROM {source}
             WHERE %s AND date_trunc('month', day)::date = ANY(%s)
             GROUP BY date_trunc('month', day)::date, {key_list}
            """,  # noqa: S608 - table and column names are this module's constants
            tally_where, months,
        ))

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
    _month_model = "medpulse.call.tally.hour.month"

    weekday = fields.Selection(WEEKDAYS, readonly=True)
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


class MedpulseCallTallyMonth(models.Model):
    """The daily tally summed per month (``day`` is the month's first day): what the
    reports over everything read (:meth:`MedpulseCallTally._read_group`). Kept by the same
    statement as the daily tallies, merged by the same job."""

    _name = "medpulse.call.tally.month"
    _inherit = ["medpulse.call.tally.mixin"]
    _description = "Calls per month, operator, line and type"
    _order = "day desc"

    operator_user_id = fields.Many2one("res.users", string="Operator", readonly=True)

    def init(self):
        self.env.cr.execute(SQL(
            "CREATE INDEX IF NOT EXISTS medpulse_call_tally_month_uncompacted_idx"
            " ON medpulse_call_tally_month (company_id, day) WHERE NOT compacted"
        ))


class MedpulseCallTallyHourMonth(models.Model):
    """The hourly tally summed per month (``day`` is the month's first day): what calls by
    hour of day over everything read. Kept and merged as the daily tallies."""

    _name = "medpulse.call.tally.hour.month"
    _inherit = ["medpulse.call.tally.mixin"]
    _description = "Calls per month, hour of day, line and type"
    _order = "day desc, hour_of_day"

    hour_of_day = fields.Selection(HOURS, string="Hour of day", readonly=True)

    def init(self):
        self.env.cr.execute(SQL(
            "CREATE INDEX IF NOT EXISTS medpulse_call_tally_hour_month_uncompacted_idx"
            " ON medpulse_call_tally_hour_month (company_id, day) WHERE NOT compacted"
        ))
