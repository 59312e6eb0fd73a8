from datetime import datetime, timedelta

import pytz
from markupsafe import escape

from odoo import _, api, fields, models
from odoo.tools import SQL, format_date

from .medpulse_call_command import MANAGER_GROUP

CLINIC_MANAGER_GROUP = "medpulse_clinic.group_clinic_manager"
SUMMARY_ACTIVITY_TYPE = "medpulse_telephony.mail_activity_type_ledger_summary"

OUTCOMES = [
    ("in_time", "Reached in time"),
    ("late", "Reached late"),
    ("never", "Never reached"),
    ("waiting", "Not due yet"),
    ("not_needed", "No call-back needed"),
]


class MedpulseCallLedger(models.Model):
    """The lost-patient ledger: every caller who did not get through, and whether the
    clinic reached them within the service level of their call-back.

    One row per caller (a distinct number, patient or not) and period, a day or a week
    (Monday to Sunday) in the clinic's time zone: ``period`` says which, so that a caller
    who missed on Monday and on Tuesday is one caller of the week and one of each day.
    Figures sum and average correctly within one kind of period; the search view never
    mixes the two.

    A database view, not stored rows or a computed model: every figure is a function of
    the journal, the call-backs and the reconciliation as they are now (a call-back closed
    this morning moves yesterday's caller from "never" to "late" at once), the pivot and
    graph views need a real table to group on, and nothing has to be kept in step. What
    needs Python (the call-back's deadline on the working calendar) is already stored on
    the call-back (``due_at``).

    What counts, and why:

    * a missed incoming call with a number, settled (summary received, or its times from
      the PBX's statistics), not an abandon shorter than the company's threshold (it opens
      no call-back either);
    * only on days the reconciliation has covered (the company's "reconciled until" mark,
      or finished runs covering the whole day): before that the journal may still miss
      calls. Each day that is not reconciled yet and has missed calls is one row of its
      own (``reconciled`` unset, no caller), so every screen says which days are left out;
    * reached: the call-back is done (an answered call with the number, either direction,
      or a booking), or the miss was closed by an answered call before a call-back was
      opened; in time when that happened by the call-back's due time (without a
      call-back: the first miss plus the service level, on the clock);
    * "no call-back needed": the call-back was cancelled, or an operator marked the miss
      "No action needed" and nobody reached the caller. Marking a miss "No action needed"
      cancels its open call-back (``medpulse.call.callback._on_no_action``), so every miss
      of that call-back, the ones not marked included, is settled with it: the caller is
      not lost. A miss after the cancellation opens a new call-back and is judged on its
      own; "not due yet": not reached and its due time is ahead.
      Neither is in the shares, which are over the callers the clinic owed a call-back;
    * a caller with several misses in the period is judged by the worst of them.
    """

    _name = "medpulse.call.ledger"
    _description = "Lost-patient ledger"
    _auto = False
    _order = "date desc, reconciled asc, outcome_rank asc, first_missed_at asc, id"
    _rec_name = "e164"

    period = fields.Selection(
        [("day", "Day"), ("week", "Week")], readonly=True, required=True,
    )
    date = fields.Date(
        readonly=True, help="The day, or the Monday of the week, in the clinic's time zone.",
    )
    company_id = fields.Many2one("res.company", readonly=True)
    reconciled = fields.Boolean(
        readonly=True,
        help="Unset: a day the reconciliation with the PBX has not covered yet; its missed "
        "calls are not counted until it has.",
    )
    unreconciled_day = fields.Date(string="Day not reconciled yet", readonly=True)
    pending_miss_count = fields.Integer(
        string="Missed calls not counted yet", readonly=True, aggregator="sum",
    )
    e164 = fields.Char(string="Number", readonly=True)
    patient_id = fields.Many2one(
        "medpulse.patient", readonly=True,
        groups="medpulse_clinic.group_clinic_receptionist,medpulse_clinic.group_clinic_doctor",
    )
    callback_id = fields.Many2one("medpulse.call.callback", string="Call-back", readonly=True)
    first_missed_at = fields.Datetime(string="First miss", readonly=True)
    last_missed_at = fields.Datetime(string="Last miss", readonly=True)
    due_at = fields.Datetime(string="Due", readonly=True)
    reached_at = fields.Datetime(string="Reached", readonly=True)
    outcome = fields.Selection(OUTCOMES, readonly=True)
    outcome_rank = fields.Integer(readonly=True, aggregator=None)
    booked = fields.Boolean(
        readonly=True, help="The caller booked an appointment when reached (or the booking "
        "reached them).",
    )
    caller_count = fields.Integer(string="Callers", readonly=True, aggregator="sum")
    miss_count = fields.Integer(string="Missed calls", readonly=True, aggregator="sum")
    wait_seconds = fields.Integer(
        string="Waited (s)", readonly=True, aggregator="avg",
        help="How long the caller waited in all in the period's missed calls (averaged over "
        "callers in totals).",
    )
    attempt_count = fields.Integer(
        string="Attempts", readonly=True, aggregator="sum",
        help="Outgoing calls to the number after its first miss, up to the one that reached "
        "the caller.",
    )
    in_time_count = fields.Integer(string="Reached in time", readonly=True, aggregator="sum")
    late_count = fields.Integer(string="Reached late", readonly=True, aggregator="sum")
    never_count = fields.Integer(string="Never reached", readonly=True, aggregator="sum")
    booked_count = fields.Integer(string="Callers who booked", readonly=True, aggregator="sum")
    in_time_rate = fields.Float(
        string="Reached in time (%)", readonly=True, aggregator="avg",
        help="Share of the callers owed a call-back who were reached in time.",
    )
    late_rate = fields.Float(string="Reached late (%)", readonly=True, aggregator="avg")
    never_rate = fields.Float(string="Never reached (%)", readonly=True, aggregator="avg")

    @api.depends("e164", "reconciled", "unreconciled_day")
    def _compute_display_name(self):
        for row in self:
            if row.reconciled:
                row.display_name = row.e164
            else:
                row.display_name = _(
                    "%s: not reconciled yet", format_date(self.env, row.unreconciled_day)
                )

    @property
    def _table_query(self):
        return SQL(
            """
            WITH comp AS (
                SELECT c.id AS company_id,
                       COALESCE(NULLIF(cal.tz, ''), NULLIF(p.tz, ''), 'UTC') AS tz,
                       c.medpulse_pbx_reconciled_until AS reconciled_until,
                       COALESCE(c.medpulse_callback_min_wait_seconds, 0) AS min_wait,
                       GREATEST(COALESCE(c.medpulse_callback_service_minutes, 0), 0)
                           AS service_minutes
                  FROM res_company c
                  LEFT JOIN resource_calendar cal ON cal.id = c.resource_calendar_id
                  LEFT JOIN res_partner p ON p.id = c.partner_id
            ),
            missed AS (
                SELECT c.id, c.company_id, c.external_e164 AS e164, c.created_at,
                       c.wait_seconds, c.patient_id, c.followup_state, c.closed_by_call_id,
                       (c.is_final OR c.recovered_from_stats OR c.completed_from_stats)
                           AS settled,
                       COALESCE(c.wait_seconds, 0) >= comp.min_wait AS worth,
                       (c.created_at AT TIME ZONE 'UTC' AT TIME ZONE comp.tz)::date AS day,
                       comp.tz, comp.reconciled_until, comp.service_minutes
                  FROM medpulse_call c
                  JOIN comp ON comp.company_id = c.company_id
                 WHERE c.call_type = 'missed_incoming'
                   AND c.external_e164 IS NOT NULL
                   AND c.created_at IS NOT NULL
            ),
            days AS (
                SELECT company_id, day, reconciled_until,
                       (day::timestamp AT TIME ZONE tz) AT TIME ZONE 'UTC' AS day_start,
                       ((day + 1)::timestamp AT TIME ZONE tz) AT TIME ZONE 'UTC' AS day_end
                  FROM missed
                 GROUP BY company_id, day, tz, reconciled_until
            ),
            day_state AS (
                -- Reconciled: up to the company's mark, or covered by finished runs
                -- without a gap (the start is covered, and so is every end of a run
                -- inside the day).
                SELECT d.company_id, d.day,
                       d.day_end <= COALESCE(d.reconciled_until, '1970-01-01')
                       OR (
                           EXISTS (
                               SELECT 1 FROM medpulse_call_reconcile r
                                WHERE r.company_id = d.company_id AND r.state = 'done'
                                  AND r.date_from <= d.day_start AND r.date_to > d.day_start
                           )
                           AND NOT EXISTS (
                               SELECT 1 FROM medpulse_call_reconcile r
                                WHERE r.company_id = d.company_id AND r.state = 'done'
                                  AND r.date_to > d.day_start AND r.date_to < d.day_end
                                  AND NOT EXISTS (
                                      SELECT 1 FROM medpulse_call_reconcile r2
                                       WHERE r2.company_id = d.company_id
                                         AND r2.state = 'done'
                                         AND r2.date_from <= r.date_to
                                         AND r2.date_to > r.date_to
                                  )
                           )
                       ) AS reconciled
                  FROM days d
            ),
            judged AS (
                SELECT m.*, cb.id AS callback_id, ds.reconciled,
                       COALESCE(cb.due_at,
                                m.created_at + m.service_minutes * interval '1 minute') AS due,
                       CASE WHEN cb.state = 'done' THEN cb.reached_at
                            ELSE closer.created_at END AS reached,
                       COALESCE(cb.patient_id, m.patient_id) AS the_patient,
                       COALESCE(cb.state = 'cancelled', FALSE)
                       OR (m.followup_state = 'no_action' AND cb.state IS DISTINCT FROM 'done')
                           AS not_needed,
                       COALESCE(cb.state = 'done' AND cb.reached_call_id IS NULL, FALSE)
                       OR EXISTS (
                           SELECT 1 FROM medpulse_appointment a
                            WHERE a.state != 'cancelled'
                              AND a.call_id = COALESCE(cb.reached_call_id, m.closed_by_call_id)
                       ) AS booked
                  FROM missed m
                  JOIN day_state ds ON ds.company_id = m.company_id AND ds.day = m.day
                  LEFT JOIN medpulse_call_callback_missed_rel rel ON rel.call_id = m.id
                  LEFT JOIN medpulse_call_callback cb ON cb.id = rel.callback_id
                  LEFT JOIN medpulse_call closer ON closer.id = m.closed_by_call_id
                 WHERE ds.reconciled AND m.settled AND m.worth
            ),
            outcomes AS (
                SELECT j.*,
                       CASE WHEN j.not_needed THEN 'not_needed'
                            WHEN j.reached IS NOT NULL AND j.reached <= j.due THEN 'in_time'
                            WHEN j.reached IS NOT NULL THEN 'late'
                            WHEN j.due > (now() AT TIME ZONE 'UTC') THEN 'waiting'
                            ELSE 'never' END AS outcome
                  FROM judged j
            ),
            ranked AS (
                -- The worst first: never, late, not due yet, in time, not needed.
                SELECT o.*,
                       CASE o.outcome WHEN 'never' THEN 1 WHEN 'late' THEN 2
                            WHEN 'waiting' THEN 3 WHEN 'in_time' THEN 4 ELSE 5 END AS rank
                  FROM outcomes o
            ),
            periods AS (
                SELECT 'day' AS period, 0 AS period_key, r.day AS date, r.* FROM ranked r
                UNION ALL
                SELECT 'week', 1, (r.day - (EXTRACT(ISODOW FROM r.day)::int - 1)), r.*
                  FROM ranked r
            ),
            callers AS (
                SELECT min(p.id) * 4 + min(p.period_key) AS id,
                       p.period, p.date, p.company_id, p.e164,
                       min(p.rank) AS outcome_rank,
                       max(p.the_patient) AS patient_id,
                       max(p.callback_id) AS callback_id,
                       min(p.created_at) AS first_missed_at,
                       max(p.created_at) AS last_missed_at,
                       min(p.due) FILTER (WHERE NOT p.not_needed) AS due_at,
                       max(p.reached) FILTER (WHERE NOT p.not_needed) AS reached_any,
                       count(*) AS miss_count,
                       COALESCE(sum(p.wait_seconds), 0) AS wait_seconds,
                       COALESCE(bool_or(p.booked), FALSE) AS booked
                  FROM periods p
                 GROUP BY p.period, p.date, p.company_id, p.e164
            ),
            caller_rows AS (
                SELECT c.id, c.period, c.date, c.company_id, TRUE AS reconciled,
                       NULL::date AS unreconciled_day, 0 AS pending_miss_count,
                       c.e164, c.patient_id, c.callback_id, c.first_missed_at,
                       c.last_missed_at, c.due_at,
                       CASE WHEN c.outcome_rank IN (2, 4) THEN c.reached_any END AS reached_at,
                       CASE c.outcome_rank WHEN 1 THEN 'never' WHEN 2 THEN 'late'
                            WHEN 3 THEN 'waiting' WHEN 4 THEN 'in_time'
                            ELSE 'not_needed' END AS outcome,
                       c.outcome_rank, c.booked, 1 AS caller_count, c.miss_count,
                       c.wait_seconds,
                       (SELECT count(*) FROM medpulse_call o
                         WHERE o.company_id = c.company_id AND o.external_e164 = c.e164
                           AND o.direction = 'outgoing'
                           AND (o.is_final OR o.recovered_from_stats OR o.completed_from_stats)
                           AND o.created_at >= c.first_missed_at
                           AND (c.outcome_rank NOT IN (2, 4)
                                OR o.created_at <= c.reached_any)) AS attempt_count,
                       (c.outcome_rank = 4)::int AS in_time_count,
                       (c.outcome_rank = 2)::int AS late_count,
                       (c.outcome_rank = 1)::int AS never_count,
                       c.booked::int AS booked_count,
                       CASE WHEN c.outcome_rank IN (1, 2, 4)
                            THEN CASE WHEN c.outcome_rank = 4 THEN 100.0 ELSE 0.0 END
                       END AS in_time_rate,
                       CASE WHEN c.outcome_rank IN (1, 2, 4)
                            THEN CASE WHEN c.outcome_rank = 2 THEN 100.0 ELSE 0.0 END
                       END AS late_rate,
                       CASE WHEN c.outcome_rank IN (1, 2, 4)
                            THEN CASE WHEN c.outcome_rank = 1 THEN 100.0 ELSE 0.0 END
                       END AS never_rate
                  FROM callers c
            ),
            pending_rows AS (
                SELECT min(m.id) * 4 + 2 + kind.period_key AS id,
                       kind.period,
                       CASE WHEN kind.period = 'day' THEN m.day
                            ELSE m.day - (EXTRACT(ISODOW FROM m.day)::int - 1) END AS date,
                       m.company_id, FALSE AS reconciled, m.day AS unreconciled_day,
                       count(*) AS pending_miss_count
                  FROM missed m
                  JOIN day_state ds ON ds.company_id = m.company_id AND ds.day = m.day
                 CROSS JOIN (VALUES ('day', 0), ('week', 1)) AS kind(period, period_key)
                 WHERE NOT ds.reconciled
                 GROUP BY kind.period, kind.period_key, m.company_id, m.day
            )
            SELECT id, period, date, company_id, reconciled, unreconciled_day,
                   pending_miss_count, e164, patient_id, callback_id, first_missed_at,
                   last_missed_at, due_at, reached_at, outcome, outcome_rank, booked,
                   caller_count, miss_count, wait_seconds, attempt_count, in_time_count,
                   late_count, never_count, booked_count, in_time_rate, late_rate,
                   never_rate
              FROM caller_rows
            UNION ALL
            SELECT id, period, date, company_id, reconciled, unreconciled_day,
                   pending_miss_count, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0,
                   FALSE, 0, 0, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL
              FROM pending_rows
            """
        )

    # ------------------------------------------------------------ the morning summary

    @api.model
    def _totals(self, company, day):
        """The figures of ``company``'s ``day`` (a date in its time zone): a dict."""
        rows = self.sudo().search(
            [("company_id", "=", company.id), ("period", "=", "day"), ("date", "=", day)]
        )
        callers = rows.filtered("reconciled")
        owed = callers.filtered(lambda row: row.outcome in ("in_time", "late", "never"))

        def share(count):
            return round(100.0 * count / len(owed)) if owed else 0

        counts = {
            outcome: len(callers.filtered(lambda row, o=outcome: row.outcome == o))
            for outcome, _label in OUTCOMES
        }
        return {
            "callers": len(callers),
            "misses": sum(callers.mapped("miss_count")),
            "booked": len(callers.filtered("booked")),
            "pending_misses": sum(rows.mapped("pending_miss_count")),
            **counts,
            "in_time_share": share(counts["in_time"]),
            "late_share": share(counts["late"]),
            "never_share": share(counts["never"]),
        }

    @api.model
    def _managers(self, company):
        """Who gets the morning summary: the company's telephony and clinic managers."""
        groups = self.env.ref(MANAGER_GROUP) | self.env.ref(CLINIC_MANAGER_GROUP)
        root = self.env.ref("base.user_root")
        return (
            groups.sudo()
            .users.filtered(
                lambda user: user.active
                and not user.share
                and user != root
                and company in user.company_ids
            )
            .sorted("id")
        )

    @api.model
    def _company_today(self, company):
        tz = pytz.timezone(company.resource_calendar_id.tz or company.partner_id.tz or "UTC")
        return datetime.now(pytz.utc).astimezone(tz).date()

    @api.model
    def _cron_morning_summary(self):
        """Yesterday's ledger (in each company's time zone) to its managers: one activity
        each, in their "My activities", with the totals and a link to the ledger. The
        previous summary of a manager still open is replaced, and a second run the same
        day changes nothing."""
        kind = self.env.ref(SUMMARY_ACTIVITY_TYPE)
        Activity = self.env["mail.activity"].sudo()
        model = self.env["ir.model"]._get_id("res.partner")
        companies = self.env["res.company"].sudo().search([("medpulse_pbx_api_key", "!=", False)])
        for company in companies:
            today = self._company_today(company)
            day = today - timedelta(days=1)
            managers = self._managers(company)
            if not managers:
                continue
            totals = self._totals(company, day)
            existing = Activity.search(
                [
                    ("activity_type_id", "=", kind.id),
                    ("res_model", "=", "res.partner"),
                    ("res_id", "=", company.partner_id.id),
                    ("user_id", "in", managers.ids),
                ]
            )
            done = existing.filtered(lambda activity, d=day: activity.date_deadline > d)
            (existing - done).unlink()
            for manager in managers - done.user_id:
                lang = manager.lang or self.env.lang
                Activity.with_context(lang=lang, mail_activity_quick_update=True).create(
                    {
                        "activity_type_id": kind.id,
                        "res_model_id": model,
                        "res_id": company.partner_id.id,
                        "user_id": manager.id,
                        "date_deadline": today,
                        "summary": self.with_context(lang=lang)._summary_title(day),
                        "note": self.with_context(lang=lang)._summary_note(company, day, totals),
                    }
                )

    @api.model
    def _summary_title(self, day):
        return _("Lost-patient ledger of %s", format_date(self.env, day))

    @api.model
    def _summary_note(self, company, day, totals):
        """The activity's note: the totals and a link to the day in the ledger."""
        action = self.env.ref("medpulse_telephony.medpulse_call_ledger_action")
        url = f"/odoo/action-{action.id}"
        lines = [
            _("%(company)s, %(day)s:", company=company.name, day=format_date(self.env, day)),
        ]
        if totals["callers"]:
            lines += [
                _(
                    "%(callers)s callers did not get through (%(misses)s missed calls).",
                    callers=totals["callers"],
                    misses=totals["misses"],
                ),
                _(
                    "Reached in time: %(count)s (%(share)s %%); reached late: %(late)s "
                    "(%(late_share)s %%); never reached: %(never)s (%(never_share)s %%).",
                    count=totals["in_time"],
                    share=totals["in_time_share"],
                    late=totals["late"],
                    late_share=totals["late_share"],
                    never=totals["never"],
                    never_share=totals["never_share"],
                ),
                _(
                    "Booked: %(booked)s; not due yet: %(waiting)s; no call-back needed: "
                    "%(not_needed)s.",
                    booked=totals["booked"],
                    waiting=totals["waiting"],
                    not_needed=totals["not_needed"],
                ),
            ]
        elif totals["pending_misses"]:
            lines.append(
                _(
                    "Not reconciled with the PBX yet: %s missed calls are not counted.",
                    totals["pending_misses"],
                )
            )
        else:
            lines.append(_("Every caller got through."))
        body = "".join(f"<p>{escape(line)}</p>" for line in lines)
        return (
            f'{body}<p><a href="{url}">{escape(_("Open the lost-patient ledger"))}</a></p>'
        )

