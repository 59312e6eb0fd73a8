import collections
import logging
import re
import threading
from datetime import datetime, time, timedelta, timezone

import pytz
from markupsafe import Markup

from odoo import Command, _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.osv import expression
from odoo.tools import SQL, format_datetime, plaintext2html

import mango_vpbx
from mango_vpbx.codes import DISCONNECT_CATEGORIES, disconnect_category

from . import call_measures
from .medpulse_call_command import MANAGER_GROUP, OPERATOR_GROUP, _answer
from .medpulse_call_stats import _KEPT_FROM_EVENTS

_logger = logging.getLogger(__name__)

CALL_TYPES = [
    ("incoming", "Incoming"),
    ("outgoing", "Outgoing"),
    ("internal", "Internal"),
    ("missed_incoming", "Missed incoming"),
    ("unanswered_outgoing", "Unanswered outgoing"),
]

FOLLOWUP_STATES = [
    ("new", "New"),
    ("needs_callback", "Needs callback"),
    ("called_back", "Called back"),
    ("resolved", "Resolved"),
    ("no_action", "No action needed"),
]

CARD_NOTIFICATION = "medpulse_telephony.card"
LIVE_STATUSES = ("ringing", "talking")
#: Statuses a card on screen gets as an update only (``_card_update_payload``).
PARTIAL_STATUSES = ("talking", "ended")
# A call whose summary never arrived must not pop up again forever after a reload.
ACTIVE_CARD_HOURS = 12
RECENT_CALL_DAYS = 7
#: An operator who talked on a call folded whole (no card seen) gets its ended card only
#: if the talk ended this recently (seconds): a fold that late is history, not a call.
ENDED_CARD_SECONDS = 120
AUTO_ROUTE_PARAM = "medpulse_telephony.card_auto_route"
TRANSFER_GROUP_PARAM = "medpulse_telephony.card_transfer_group"
#: Leg states in which a command can act on a leg.
LIVE_STATES = ("Appeared", "Connected", "OnHold")
JOURNAL_NOTIFICATION = "medpulse_telephony.journal"
JOURNAL_SUBCHANNEL = "medpulse_telephony.journal"
#: What an open journal list asks the bus for (``ir.websocket`` grants the channels).
JOURNAL_CHANNEL = "medpulse_telephony.journal"


class _KeptFoldings:
    """The ``mango_vpbx.Folding`` of the calls this worker folded last, with the ids of
    the stored events in each (:meth:`MedpulseCall._fold_call_events`).

    A worker's memory, not the database's: it is only ever used when the caller's
    snapshot holds exactly the events it was made of (plus those being folded), so a
    stale or missing entry costs one read of the call's events, never a wrong call.
    Keyed by database, company and entry id; the least recently used go first.
    """

    SIZE = 2048

    def __init__(self):
        self._lock = threading.Lock()
        self._entries = collections.OrderedDict()

    def get(self, key, stored_ids, new_events):
        """The folding of exactly ``stored_ids``, or None; when it lacks only events of
        ``new_events`` (``{id: parsed event}``, those being folded), they are added to it
        and it is kept so."""
        stored_ids = frozenset(stored_ids)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            kept_ids, folding = entry
            if kept_ids != stored_ids:
                missing = stored_ids - kept_ids
                if not missing or kept_ids - stored_ids or not missing <= new_events.keys():
                    return None
                folding = folding.add(*(new_events[event_id] for event_id in sorted(missing)))
                self._entries[key] = (stored_ids, folding)
            self._entries.move_to_end(key)
            return folding

    def put(self, key, stored_ids, folding):
        with self._lock:
            self._entries[key] = (frozenset(stored_ids), folding)
            self._entries.move_to_end(key)
            while len(self._entries) > self.SIZE:
                self._entries.popitem(last=False)


_FOLDINGS = _KeptFoldings()

#: Events that only bring news of a call's recordings: folded into a call already settled
#: (the summary came), they change its recordings and its recordings' column, nothing
#: else (``MedpulseCall._recompute``).
_QUIET_EVENTS = (
    mango_vpbx.events.RecordingEvent,
    mango_vpbx.events.RecordAddedEvent,
    mango_vpbx.events.RecordTaggedEvent,
)
#: The journal's columns such events may change and still be quiet.
_QUIET_FIELDS = frozenset({"recording_ids_text"})
#: The steps of ``_after_event`` a quiet fold skips: they act on the call's parties and
#: outcome, which the summary's fold settled and such events do not change (the cards'
#: audience, the automatic route, the call-backs, the command's progress).
_QUIET_STEPS = frozenset({
    "_after_event_command",
    "_after_event_card",
    "_after_event_auto_route",
    "_after_event_callbacks",
})


def _naive_utc(moment):
    """An aware datetime from the toolkit as the naive UTC value Odoo stores."""
    if not moment:
        return False
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


class MedpulseCall(models.Model):
    """The call journal: one record per PBX ``entry_id`` (a call with all its legs).

    Never edited from the PBX's events one by one: every new event triggers
    :meth:`_recompute`, which folds *all* stored events of the entry with
    ``mango_vpbx.fold`` (:meth:`_fold_call_events`), so duplicates and out-of-order
    deliveries cannot corrupt it; then :meth:`_after_event` runs its ordered steps.
    """

    _name = "medpulse.call"
    _description = "Call"
    _inherit = ["mail.thread"]
    _order = "created_at desc, id desc"
    _rec_name = "entry_id"
    # Operators comment on calls they may only read.
    _mail_post_access = "read"

    entry_id = fields.Char(string="PBX entry id", required=True, readonly=True, index=True)
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    direction = fields.Selection(
        [("incoming", "Incoming"), ("outgoing", "Outgoing"), ("internal", "Internal")],
        readonly=True, index=True,
    )
    result = fields.Selection(
        [("answered", "Answered"), ("missed", "Missed"), ("in_progress", "In progress")],
        readonly=True,
    )
    call_type = fields.Selection(CALL_TYPES, string="Type", readonly=True, index=True)
    missed_at = fields.Selection(
        [("ivr", "In the voice menu"), ("queue", "In the queue"), ("operator", "At the operator")],
        string="Missed where", readonly=True,
    )
    # Trigram indexes: _search_number ORs ILIKE '%fragment%' over these four columns,
    # which otherwise scans the whole journal; a GIN trigram index also serves "=".
    caller_number = fields.Char(readonly=True, index="trigram", help="As the PBX sent it.")
    caller_e164 = fields.Char(string="Caller (E.164)", readonly=True, index="trigram")
    callee_number = fields.Char(
        string="Called number", readonly=True, index="trigram", help="As the PBX sent it."
    )
    callee_e164 = fields.Char(string="Called (E.164)", readonly=True, index="trigram")
    external_e164 = fields.Char(
        string="Patient's number", readonly=True, index="btree_not_null",
        help="The number outside the clinic: the caller of an incoming call, the called "
        "number of an outgoing one.",
    )
    external_number_display = fields.Char(
        string="Number", compute="_compute_external_number_display",
    )
    number_search = fields.Char(
        string="Number (any format)", compute="_compute_number_search", search="_search_number",
    )
    caller_search = fields.Char(
        string="Number or patient", compute="_compute_number_search", search="_search_caller",
        help="The journal's first search: a number in any format searches the numbers; a "
        "name or a card number searches the patients.",
    )
    line_id = fields.Many2one("medpulse.telephony.line", readonly=True, index=True)
    patient_id = fields.Many2one(
        "medpulse.patient", readonly=True, index="btree_not_null",
        groups="medpulse_clinic.group_clinic_receptionist,medpulse_clinic.group_clinic_doctor",
        help="The best match for the number: the patient seen most recently.",
    )
    patient_ids = fields.Many2many(
        "medpulse.patient", string="Patients with this number", readonly=True,
        groups="medpulse_clinic.group_clinic_receptionist,medpulse_clinic.group_clinic_doctor",
    )
    # The form shows the chooser only for a shared number; its client-side expressions
    # cannot count (no len()), so the count is a field.
    patient_count = fields.Integer(
        string="Number of patients", compute="_compute_patient_count",
        groups="medpulse_clinic.group_clinic_receptionist,medpulse_clinic.group_clinic_doctor",
    )
    patient_search = fields.Char(
        string="Patient (name or card)",
        compute="_compute_patient_search",
        search="_search_patient",
        groups="medpulse_clinic.group_clinic_receptionist,medpulse_clinic.group_clinic_doctor",
    )
    answered_user_id = fields.Many2one("res.users", string="Answered by", readonly=True, index=True)
    operator_user_id = fields.Many2one(
        "res.users", string="Operator", readonly=True, index=True,
        help="Who took an incoming call, or who placed an outgoing one.",
    )
    rang_user_ids = fields.Many2many(
        "res.users", "medpulse_call_rang_user_rel", "call_id", "user_id",
        string="Rang for", readonly=True,
    )
    created_at = fields.Datetime(string="Started", readonly=True, index=True)
    answered_at = fields.Datetime(string="Answered", readonly=True)
    ended_at = fields.Datetime(string="Ended", readonly=True)
    created_today = fields.Boolean(
        string="Today", compute="_compute_created_today", search="_search_created_today",
        help="Started today in the user's time zone.",
    )
    wait_seconds = fields.Integer(string="Waiting (s)", readonly=True, aggregator="avg")
    talk_seconds = fields.Integer(string="Talk (s)", readonly=True, aggregator="sum")
    disconnect_reason = fields.Integer(string="Disconnect code", readonly=True, aggregator=None)
    times_implausible = fields.Boolean(
        string="Implausible times", readonly=True,
        help="The PBX sent times of this call more than seven days apart (a zero or a "
        "far-future timestamp): the waiting and talk times between them are left at 0. "
        "The times and the raw events are kept as the PBX sent them.",
    )
    disconnect_category = fields.Selection(
        DISCONNECT_CATEGORIES, string="Disconnect reason", readonly=True,
    )
    disconnect_reason_text = fields.Char(string="PBX reason", readonly=True)
    transfers = fields.Text(readonly=True)
    recording_ids_text = fields.Char(string="Recording ids", readonly=True)
    command_id = fields.Char(string="Command id", readonly=True, index="btree_not_null")
    callback_initiator = fields.Char(readonly=True)
    is_final = fields.Boolean(string="Final", readonly=True)
    followup_state = fields.Selection(
        FOLLOWUP_STATES,
        string="Follow-up",
        default="new",
        required=True,
        tracking=True,
        index=True,
    )
    followup_note = fields.Char(string="Follow-up note")
    closed_by_call_id = fields.Many2one(
        "medpulse.call", string="Closed by call", readonly=True, index="btree_not_null",
        help="The later call that called this number back, or in which the caller got through.",
    )
    closed_call_ids = fields.One2many(
        "medpulse.call", "closed_by_call_id", string="Missed calls it closed", readonly=True,
    )
    appointment_ids = fields.One2many(
        "medpulse.appointment", "call_id", string="Appointments",
        groups="medpulse_clinic.group_clinic_receptionist,medpulse_clinic.group_clinic_doctor",
    )
    appointment_count = fields.Integer(compute="_compute_appointment_count")
    event_ids = fields.One2many(
        "medpulse.call.event", "call_id", string="Raw events", readonly=True,
        groups="medpulse_telephony.group_telephony_manager",
    )
    event_count = fields.Integer(
        compute="_compute_event_count", groups="medpulse_telephony.group_telephony_manager"
    )
    events_purged = fields.Boolean(
        string="Raw events purged", readonly=True, copy=False,
        help="The retention of raw PBX events purged this call's events: they are kept "
        "compacted (medpulse.call.event.snapshot) and folded with any later event.",
    )
    legs_html = fields.Html(string="Legs", compute="_compute_legs_html", sanitize=False)
    # Derived data: the versions of the toolkit's fold and statistics mapping this call was
    # computed with; a call of an older one is folded again (medpulse.call.refold).
    fold_version = fields.Integer(
        string="Fold version", readonly=True, index=True, aggregator=None,
        help="mango_vpbx.calls.FOLD_VERSION of the fold that computed this call from its "
        "events (0: never folded from events).",
    )
    stats_version = fields.Integer(
        string="Statistics version", readonly=True, aggregator=None,
        help="mango_vpbx.stats.STATS_VERSION of the mapping that took this call's values from "
        "the PBX statistics (0: none were).",
    )

    _sql_constraints = [
        (
            "entry_company_uniq",
            "UNIQUE(company_id, entry_id)",
            "A call with this PBX entry id already exists.",
        ),
    ]

    def init(self):
        res = super().init()
        # Today's calls of one company (the wallboard's first paint): the index on
        # created_at alone would also walk every other company's calls of the day. It also
        # holds what the journal's list grouped by operator sums (the operator, the wait,
        # the talk), so that a period's groups are read from the index alone, not from the
        # calls (30 days at 1M calls: 126 -> 21 ms); it replaces the index without them
        # (one index as before for the webhook's writes to update).
        self.env.cr.execute(
            "DROP INDEX IF EXISTS medpulse_call_company_created_at_index"
        )
        self.env.cr.execute(
            "CREATE INDEX IF NOT EXISTS medpulse_call_company_created_covering_index"
            " ON medpulse_call (company_id, created_at)"
            " INCLUDE (operator_user_id, wait_seconds, talk_seconds)"
        )
        # The calls not over yet (the wallboard's live calls): a handful of rows, so the
        # board never walks the day's settled calls to find them. The predicate is the one
        # the ORM writes for ("is_final", "=", False).
        self.env.cr.execute(
            "CREATE INDEX IF NOT EXISTS medpulse_call_company_live_index"
            " ON medpulse_call (company_id, created_at)"
            " WHERE (is_final IS NULL OR is_final = FALSE)"
        )
        # The calls the reports' tallies do not count yet (in progress, waiting for their
        # summary): the journal grouped over everything reads the tallies and these
        # (_read_group_tallied). The predicate is the one that query writes.
        self.env.cr.execute(SQL(
            "CREATE INDEX IF NOT EXISTS medpulse_call_uncounted_index"
            " ON medpulse_call (company_id)"
            " INCLUDE (operator_user_id, line_id, wait_seconds, talk_seconds)"
            f" WHERE ({_COUNTED_UNALIASED}) IS NOT TRUE"  # a constant (call_measures)
        ))
        # The calls that ended in the last minutes (the wallboard's after-call work).
        self.env.cr.execute(
            "CREATE INDEX IF NOT EXISTS medpulse_call_company_ended_at_index"
            " ON medpulse_call (company_id, ended_at)"
        )
        return res

    # ------------------------------------------------------------------ display

    @api.depends("call_type", "external_e164", "caller_number", "callee_number")
    def _compute_display_name(self):
        types = dict(self._fields["call_type"]._description_selection(self.env))
        for call in self:
            label = types.get(call.call_type) or _("Call")
            call.display_name = f"{label} {call.external_number_display or ''}".strip()

    @api.depends("external_e164", "direction", "caller_number", "callee_number")
    def _compute_external_number_display(self):
        for call in self:
            region = call.company_id._medpulse_pbx_region()
            raw = call.external_e164 or (
                call.callee_number if call.direction == "outgoing" else call.caller_number
            )
            call.external_number_display = (
                mango_vpbx.phones.format_number(raw, region) if raw else False
            )

    def _compute_number_search(self):
        for call in self:
            call.number_search = call.caller_search = call.external_e164 or call.caller_number

    @api.depends("patient_ids")
    def _compute_patient_count(self):
        for call in self:
            call.patient_count = len(call.patient_ids)

    def _compute_patient_search(self):
        for call in self:
            call.patient_search = call.patient_id.display_name or False

    def _search_patient(self, operator, value):
        """The journal's *Patient* filter: calls of the patients whose name (or card
        number, or phone) matches, found first and passed on as ids.

        As the subquery ``patient_ids ilike ...`` builds, PostgreSQL misjudges how many
        calls a common name has and walks the whole journal backwards by date looking
        for them (the figures: bench/README.md, "Journal list queries").
        Patients are searched with the user's own rights, as the subquery did.
        """
        if operator not in ("ilike", "=", "like", "=ilike") or not isinstance(value, str):
            return [("patient_ids", operator, value)]
        patients = self.env["medpulse.patient"]._search(
            self._patient_search_domain(operator, value), limit=_PATIENT_SEARCH_IDS + 1
        )
        ids = list(patients)
        if len(ids) > _PATIENT_SEARCH_IDS:
            # A fragment that matches a crowd ("а"): no list of ids to pass on.
            return [("patient_ids", operator, value)]
        calls = self._calls_linked_to_patients(ids)
        if calls is None:
            return [("patient_ids", "in", ids)]
        return [("id", "in", calls)]

    @api.model
    def _patient_search_domain(self, operator, value):
        """The patients the Patient filter looks for. A surname and a first name (words
        with a space between) can only be a name: card numbers ("MP-000123") hold no
        space and a name matches no phone, so only the names' trigram index is read,
        not the card numbers' as well."""
        if operator in ("ilike", "like") and " " in value.strip():
            return [("name", operator, value)]
        return [("display_name", operator, value)]

    @api.model
    @api.readonly
    def web_search_read(self, domain, specification, offset=0, limit=None, order=None,
                        count_limit=None):
        """The journal's list: the Patient filter and the search box's patient search
        evaluated once for the rows and for their count (the web client asks both when
        a page is full), not twice."""
        return super().web_search_read(
            self._resolve_patient_terms(domain), specification, offset=offset, limit=limit,
            order=order, count_limit=count_limit,
        )

    @api.model
    def _read_group(self, domain, groupby=(), aggregates=(), having=(), offset=0, limit=None,
                    order=None):
        """The journal grouped by one many2one (operator, line, patient, company...): the
        calls are grouped by the id, and the groups (a few dozen) ordered by the other
        model's order afterwards. The web client orders the groups by the grouped field,
        which Odoo's SQL does by joining that model to every call and grouping by its
        ordering columns too (the operator's name and login for each of a million calls,
        sorted on disk): 3-4 times slower at a million calls. Same groups, values and order
        (``TestJournalGroupBy``); anything else (several groupings, a limit, an order by an
        aggregate) goes to Odoo as it is, and so does everything with the context key
        ``medpulse_group_order_in_sql`` (the test's and the benchmark's comparison)."""
        groupby, aggregates = tuple(groupby), tuple(aggregates)
        spec = groupby[0] if len(groupby) == 1 else None
        if self.env.context.get("medpulse_group_order_in_sql"):
            spec = None
        field = self._fields.get(spec) if spec else None
        direction = _many2one_group_order(order, spec) if field else None
        if (
            not field or field.type != "many2one" or not field.store or direction is None
            or offset or limit or having
            or self.env[field.comodel_name]._order == "id"
        ):
            return super()._read_group(domain, groupby, aggregates, having, offset, limit,
                                       order)
        rows = self._read_group_tallied(domain, spec, aggregates)
        if rows is None:
            rows = super()._read_group(domain, groupby, aggregates, order=None)
        ids = [row[0].id for row in rows if row[0]]
        # Only their order is read, whoever may read them: the groups are Odoo's own.
        ranked = self.env[field.comodel_name].sudo().with_context(active_test=False).search(
            [("id", "in", ids)]
        ).ids if ids else []
        rank = {record_id: index for index, record_id in enumerate(ranked)}
        # As PostgreSQL orders: the empty group last going up, first going down.
        return sorted(
            rows,
            key=lambda row: rank.get(row[0].id, len(rank)) if row[0] else len(rank) + 1,
            reverse=direction == "DESC",
        )

    @api.model
    def _read_group_tallied(self, domain, spec, aggregates):
        """The journal's groups over all its calls (no filter: the list as a manager sees
        it grouped by operator, line or clinic), read from the monthly tally
        (``medpulse.call.tally.month``: the counted calls, a few rows per month) plus the
        calls not counted there yet (in progress or waiting for their summary: a partial
        index holds them). Same rows as Odoo's ``_read_group`` (``TestJournalGroupBy``);
        None (Odoo groups the calls) for anything else: a filter, another grouping or
        aggregate, a record rule beyond the clinics', the context key
        ``medpulse_journal_from_calls`` (the benchmark's baseline)."""
        if (
            spec not in TALLIED_GROUPINGS or not set(aggregates) <= TALLIED_AGGREGATES
            or self.env.context.get("medpulse_journal_from_calls")
        ):
            return None
        # Odoo's own checks: the model, the fields, the record rules of this user.
        self.browse().check_access("read")
        query = self._search(domain)
        company_ids = self._tallied_company_ids(query)
        if company_ids is False:
            return None
        for aggregate in aggregates:
            self._read_group_select(aggregate, query)
        self._read_group_groupby(spec, query)
        in_tally = in_calls = SQL("TRUE")
        if company_ids is not None:
            in_tally = SQL("t.company_id = ANY(%s)", company_ids)
            in_calls = SQL("c.company_id = ANY(%s)", company_ids)
        self.env["medpulse.call.tally"]._flush_sources()
        self.env["medpulse.call.tally.month"].flush_model()
        rows = self.env.execute_query(SQL(
            f"""
            WITH parts AS (
                SELECT t.{spec} AS key, SUM(t.call_count) AS n,
                       SUM(t.wait_all_sum) AS wait_sum, SUM(t.wait_all_count) AS wait_n,
                       SUM(t.talk_seconds_total) AS talk_sum, SUM(t.talk_all_count) AS talk_n
                  FROM medpulse_call_tally_month t
                 WHERE %s
                 GROUP BY t.{spec}
                 UNION ALL
                SELECT c.{spec}, COUNT(*), SUM(c.wait_seconds), COUNT(c.wait_seconds),
                       SUM(c.talk_seconds), COUNT(c.talk_seconds)
                  FROM medpulse_call c
                 WHERE ({call_measures.COUNTED}) IS NOT TRUE AND %s
                 GROUP BY c.{spec}
            )
            SELECT key, SUM(n)::bigint, SUM(wait_sum)::numeric / NULLIF(SUM(wait_n), 0),
                   CASE WHEN SUM(talk_n) > 0 THEN SUM(talk_sum)::bigint END
              FROM parts GROUP BY key HAVING SUM(n) != 0
            """,  # noqa: S608 - the grouping is one of TALLIED_GROUPINGS, the rest constants
            in_tally, in_calls,
        ))
        keys = self._read_group_postprocess_groupby(spec, [row[0] for row in rows])
        values = {
            "__count": [row[1] for row in rows],
            "wait_seconds:avg": [row[2] for row in rows],
            "talk_seconds:sum": [row[3] for row in rows],
        }
        columns = [self._read_group_postprocess_aggregate(aggregate, values[aggregate])
                   for aggregate in aggregates]
        return list(zip(keys, *columns, strict=True))

    @api.model
    def _tallied_company_ids(self, query):
        """The clinics whose calls ``query`` (of the journal) selects when it selects all
        of them and nothing else: their ids (None for all, as superuser), or False when
        it selects anything else (a filter, a record rule beyond the clinics')."""
        plain = self.sudo()._search([])
        if query.from_clause != plain.from_clause:
            return False
        if query.where_clause == plain.where_clause:
            return None if self.env.su else False
        companies = self.sudo()._search([("company_id", "in", self.env.companies.ids)])
        if query.where_clause == companies.where_clause:
            return self.env.companies.ids
        return False

    @api.model
    def _resolve_patient_terms(self, domain):
        """``domain`` with each ``patient_search`` / ``caller_search`` term replaced by the
        domain its search method gives (the calls' ids, mostly). A term on a field the
        user may not read is left for the ORM to refuse, as before."""
        methods = {"patient_search": self._search_patient, "caller_search": self._search_caller}
        if not domain or not any(
            isinstance(term, (list, tuple)) and len(term) == 3 and term[0] in methods
            for term in domain
        ):
            return domain
        resolved = []
        for term in domain:
            if isinstance(term, (list, tuple)) and len(term) == 3 and term[0] in methods:
                field = self._fields[term[0]]
                if self.env.su or not field.groups or self.env.user.has_groups(field.groups):
                    # A normalized domain is one operand of the prefix notation: it
                    # takes the place of the term whatever surrounds it ("!", "|").
                    resolved += expression.normalize_domain(methods[term[0]](term[1], term[2]))
                    continue
            resolved.append(term)
        return resolved

    @api.model
    def _calls_linked_to_patients(self, patient_ids):
        """The ids of the calls whose ``patient_ids`` hold one of ``patient_ids``, read
        from the link table by its patient index (what ``patient_ids in ids`` matches),
        or None when more than ``_PATIENT_SEARCH_CALLS``.

        Passed on as ids, the journal's list reads those calls by their primary key and
        counts them at once; as ``patient_ids in ids`` (an ``EXISTS`` per call) PostgreSQL
        walked the journal backwards by date to find 80 of them and counted over the
        whole journal (bench/README.md, "Managers' reports")."""
        if not patient_ids:
            return []
        field = self._fields["patient_ids"]
        self.flush_model(["patient_ids"])
        self.env.cr.execute(SQL(
            "SELECT DISTINCT %s FROM %s WHERE %s = ANY(%s) LIMIT %s",
            SQL.identifier(field.column1), SQL.identifier(field.relation),
            SQL.identifier(field.column2), list(patient_ids), _PATIENT_SEARCH_CALLS + 1,
        ))
        calls = [row[0] for row in self.env.cr.fetchall()]
        return None if len(calls) > _PATIENT_SEARCH_CALLS else calls

    def _search_caller(self, operator, value):
        """What the search box does with text typed and Enter: a number (digits, spaces,
        ``+()-.``) searches the numbers; anything else searches the patients, for those
        who may read them (the others search the numbers)."""
        if (
            isinstance(value, str) and not _NUMBER_TYPED.fullmatch(value.strip())
            and self.env["medpulse.patient"].has_access("read")
        ):
            return self._search_patient(operator, value)
        return self._search_number(operator, value)

    def _search_number(self, operator, value):
        """Find calls by a number typed in any format: +7 (916) 123-45-67, 8916..., 1234567."""
        if (
            operator not in ("ilike", "=", "like", "=ilike")
            or not isinstance(value, str)
            or not value.strip()
        ):
            return expression.FALSE_DOMAIN
        domains = []
        e164 = self.env.company._medpulse_pbx_normalize(value)
        if e164:
            domains += [[("caller_e164", "=", e164)], [("callee_e164", "=", e164)]]
        digits = re.sub(r"\D", "", value)
        fragment = digits if len(digits) >= 3 else value.strip()
        for field in ("caller_number", "callee_number", "caller_e164", "callee_e164"):
            domains.append([(field, "ilike", fragment)])
        return expression.OR(domains)

    def _user_tz(self):
        return pytz.timezone(self.env.context.get("tz") or self.env.user.tz or "UTC")

    def _today_bounds_utc(self):
        """[start, end) of the user's today, as naive UTC datetimes."""
        tz = self._user_tz()
        today = datetime.now(pytz.utc).astimezone(tz).date()
        start = tz.localize(datetime.combine(today, time.min))
        end = tz.localize(datetime.combine(today + timedelta(days=1), time.min))
        return (
            start.astimezone(pytz.utc).replace(tzinfo=None),
            end.astimezone(pytz.utc).replace(tzinfo=None),
        )

    @api.depends("created_at")
    @api.depends_context("tz", "uid")
    def _compute_created_today(self):
        start, end = self._today_bounds_utc()
        for call in self:
            call.created_today = bool(call.created_at and start <= call.created_at < end)

    def _search_created_today(self, operator, value):
        if operator not in ("=", "!="):
            return expression.FALSE_DOMAIN
        start, end = self._today_bounds_utc()
        inside = [("created_at", ">=", start), ("created_at", "<", end)]
        if (operator == "=") == bool(value):
            return inside
        return ["|", ("created_at", "=", False), "!", "&", *inside]

    @api.depends_context("uid")
    def _compute_appointment_count(self):
        counts = {}
        Appointment = self.env["medpulse.appointment"]
        if Appointment.has_access("read"):
            counts = dict(
                Appointment._read_group([("call_id", "in", self.ids)], ["call_id"], ["__count"])
            )
        for call in self:
            call.appointment_count = counts.get(call, 0)

    def _compute_event_count(self):
        counts = dict(
            self.env["medpulse.call.event"]._read_group(
                [("call_id", "in", self.ids)], ["call_id"], ["__count"]
            )
        )
        for call in self:
            call.event_count = counts.get(call, 0)

    def _compute_legs_html(self):
        for call in self:
            call.legs_html = call._render_legs()

    def _render_legs(self):
        """A table of the call's legs, recomputed from its events, in the user's time zone."""
        self.ensure_one()
        if not self.id:
            return False
        legs = self._folded().legs
        if not legs:
            return False
        headers = [
            _("Leg"),
            _("Where"),
            _("From"),
            _("To"),
            _("Appeared"),
            _("Answered"),
            _("Ended"),
            _("Reason"),
        ]
        rows = []
        locations = dict(self._fields["missed_at"]._description_selection(self.env))
        for leg in legs:
            cells = [
                leg.call_id,
                locations.get(leg.location, leg.location),
                _party_label(leg.from_),
                _party_label(leg.to),
                self._format_moment(leg.started_at),
                self._format_moment(leg.answered_at),
                self._format_moment(leg.ended_at),
                leg.disconnect_reason and mango_vpbx.codes.describe(leg.disconnect_reason),
            ]
            rows.append([str(cell or "") for cell in cells])
        return self.env["ir.qweb"]._render(
            "medpulse_telephony.medpulse_call_legs", {"headers": headers, "rows": rows}
        )

    def _format_moment(self, moment):
        if not moment:
            return ""
        return format_datetime(
            self.env, _naive_utc(moment), tz=self._user_tz().zone, dt_format="HH:mm:ss"
        )

    # ---------------------------------------------------------------- access

    def write(self, vals):
        if (
            not self.env.su
            and set(vals) & self._pbx_field_names()
            and not self.env.user.has_group("medpulse_telephony.group_telephony_manager")
        ):
            raise AccessError(
                _("Only telephony managers can change what the PBX recorded about a call.")
            )
        changed = self.browse()
        if vals.get("outcome_id"):
            # Only a change makes a note: saving the same outcome again adds none.
            changed = self.filtered(lambda call: call.outcome_id.id != vals["outcome_id"])
        undone = self.browse()
        if "followup_state" in vals and vals["followup_state"] != "no_action":
            undone = self.filtered(lambda call: call.followup_state == "no_action")
        with self.env["medpulse.call.tally"]._tracking(self, vals):
            result = super().write(vals)
        changed._log_outcome_on_patient()
        if vals.get("followup_state") == "no_action":
            # The operator's word on the caller: their call-back is not needed either.
            self.env["medpulse.call.callback"]._on_no_action(self)
        if undone:
            # Taken back: the call-back that word cancelled is needed again.
            self.env["medpulse.call.callback"]._on_no_action_undone(undone)
        return result

    @api.model_create_multi
    def create(self, vals_list):
        calls = super().create(vals_list)
        self.env["medpulse.call.tally"]._created(calls)
        return calls

    def unlink(self):
        with self.env["medpulse.call.tally"]._tracking(self):
            return super().unlink()

    @api.model
    def _pbx_field_names(self):
        """Fields that state what the PBX reported: read-only for operators."""
        return {
            name for name, field in self._fields.items()
            if field.store and field.readonly and not field.automatic
        }

    # ------------------------------------------------------------ processing

    # One event's path, top to bottom: ``controllers/webhook.py`` stores it and owns every
    # transaction boundary; ``medpulse.call.event._process`` folds it: :meth:`_recompute`
    # (the journal's values), then :meth:`_after_event` (everything that reacts to it).

    @api.model
    def _fold_call_events(self, company, entry_id, stored=None):
        """``(events, state)``: the stored events of ``entry_id`` (this call's) and their fold.

        The one place that searches a call's events and folds them
        (``mango_vpbx.fold``, in the company's time base): the journal
        (:meth:`_recompute`), the legs table, call control and recording start all read
        the call through it, and so may a refold of existing calls. Events that could
        not be understood are left out. Read as superuser (the raw events are for
        telephony managers only); one query for what the fold and the links need.

        The worker keeps the ``mango_vpbx.Folding`` of the calls it folded last
        (``_FOLDINGS``), with the ids of the events in it. ``stored`` is what
        :meth:`_recompute` read with the call's lock: ``(ids of the stored events, ids
        of those still to link, {id: parsed event} of those being folded)``; when the
        kept folding holds exactly those events, or all but some being folded (then
        added to it), nothing is read back and ``events`` are only those still to
        link. Anything else (a call folded by the other worker meanwhile, an
        event whose fold failed or never ran, a rolled-back transaction) reads and
        folds them all, as without a kept folding: the state is the same either way
        (``Folding`` is property-tested against ``fold``).
        """
        Event = self.env["medpulse.call.event"].sudo()
        time_base = company._medpulse_pbx_time_base()
        key = (self.env.cr.dbname, company.id, entry_id)
        if stored is not None:
            stored_ids, link_ids, new_events = stored
            folding = _FOLDINGS.get(key, stored_ids, new_events)
            if folding is None and stored_ids and set(stored_ids) <= new_events.keys() and (
                not self.events_purged
            ):
                # Every stored event is being folded (a new call, mostly): their parsed
                # forms are at hand, nothing to read back.
                folding = mango_vpbx.calls.Folding([new_events[i] for i in sorted(stored_ids)])
                _FOLDINGS.put(key, stored_ids, folding)
            if folding is not None:
                state = mango_vpbx.fold(folding.events, time_base=time_base)
                return Event.browse(link_ids), state
        events = Event.search_fetch(
            [
                ("company_id", "=", company.id),
                ("entry_id", "=", entry_id),
                ("state", "!=", "not_understood"),
            ],
            ["path", "json", "state", "call_id"],
        )
        # A purged call's snapshot holds the rest of its events: never fold a part of them.
        # Only a call flagged purged has one (the flag is on the row the fold reads anyway).
        purged = (
            self.env["medpulse.call.event.snapshot"].sudo()._parsed_of(company, entry_id)
            if self.events_purged else []
        )
        folding = mango_vpbx.calls.Folding([*purged, *events._parsed()])
        _FOLDINGS.put(key, events.ids, folding)
        return events, mango_vpbx.fold(folding.events, time_base=time_base)

    def _folded(self):
        """The ``mango_vpbx.CallState`` of this call (:meth:`_fold_call_events`)."""
        self.ensure_one()
        return self._fold_call_events(self.company_id, self.entry_id)[1]

    @api.model
    def _recompute(self, company, entry_id, new_events=None):
        """Rebuild the call of ``entry_id`` from all of its stored events:
        ``(call, state, events)``; the events are for their own model to link
        (``medpulse.call.event._link_folded``).

        Concurrency: two workers may process events of the same call at once. Under
        PostgreSQL's repeatable read (Odoo's isolation) each sees only its own event, so
        whoever comes second must start again with a fresh snapshot. Both the row lock
        taken on an existing call and the ``ON CONFLICT DO NOTHING`` insert of a new one
        raise a serialization failure in that case; the caller starts again (the
        webhook, which also takes a lock per call first so that this is rare, or Odoo's
        request dispatcher for other paths): the retry sees both events and folds them
        together.

        The lock is an UPDATE of ``write_date``, not a ``SELECT ... FOR NO KEY UPDATE``:
        only the fields that changed are written below, so without it an event that
        changes nothing would leave the row unmodified and a concurrent worker would
        fold without this event instead of failing and retrying. The same statement
        returns the ids of the call's stored events and of those not linked to it yet:
        with them :meth:`_fold_call_events` folds ``new_events`` (``{id: parsed event}``
        of the events being folded: all those of the call that waited for the folder)
        into the worker's kept folding of the call without reading the others back; and
        the call's line with its number, so that the line is not searched again while
        the call stays on it.

        The news of a settled call's recordings (``_QUIET_EVENTS`` only, folded into a call
        whose summary was folded: ``record/added`` and its tags come seconds after it) is
        folded quietly when it changes no column but ``_QUIET_FIELDS``: the caller's
        patients are not searched again, the follow-up is not looked at, and the steps of
        ``_QUIET_STEPS`` are skipped (:meth:`_after_event_steps_now`); its recordings and
        the journal lists are told as after any event.
        """
        self.flush_model(["company_id", "entry_id"])
        self.env["medpulse.call.event"].flush_model(["company_id", "entry_id", "state", "call_id"])
        self.env.cr.execute(
            SQL(
                """
                UPDATE medpulse_call call
                   SET write_date = NOW() AT TIME ZONE 'UTC', write_uid = %s
                 WHERE call.company_id = %s AND call.entry_id = %s
             RETURNING call.id,
                       ARRAY(SELECT event.id FROM medpulse_call_event event
                              WHERE event.company_id = call.company_id
                                AND event.entry_id = call.entry_id
                                AND event.state != 'not_understood'
                              ORDER BY event.id),
                       ARRAY(SELECT event.id FROM medpulse_call_event event
                              WHERE event.company_id = call.company_id
                                AND event.entry_id = call.entry_id
                                AND event.state != 'not_understood'
                                AND (event.call_id IS DISTINCT FROM call.id
                                     OR event.state = 'error')
                              ORDER BY event.id),
                       call.line_id,
                       (SELECT line.number FROM medpulse_telephony_line line
                         WHERE line.id = call.line_id AND line.company_id = call.company_id)
                """,
                self.env.uid, company.id, entry_id,
            ),
            log_exceptions=False,
        )
        row = self.env.cr.fetchone()
        if row:
            call = self.browse(row[0])
            call.invalidate_recordset(["write_date", "write_uid"])
            stored = (row[1], row[2], new_events or {})
            known_line = row[4] and (self.env["medpulse.telephony.line"].browse(row[3]), row[4])
        else:
            call, stored_ids = self._insert_new(company, entry_id)
            # A new call's events are all to link.
            stored = (stored_ids, stored_ids, new_events or {}) if stored_ids else None
            known_line = None
        # Only recordings' news of a call already settled (record/added and its tags come
        # seconds after the summary): what follows them is kept quiet (_QUIET_STEPS).
        quiet = bool(row) and call.is_final and bool(new_events) and all(
            isinstance(event, _QUIET_EVENTS) for event in new_events.values()
        )
        events, state = call._fold_call_events(company, entry_id, stored)
        # The command that produced the call, searched once per event: it gives the
        # call's patient here and is linked to the call here; its operator is told in
        # _after_event_command.
        command = self._command_of_state(company, state)
        # Most events change a few fields only: an unchanged value is not rewritten,
        # so no UPDATE of it, no tracking and no relation rewrite of the many2many.
        valued = call.with_context(medpulse_fold_quiet=True) if quiet else call
        vals = call._vals_differing(valued._vals_from_fold(company, state, command, known_line))
        if quiet and not (state.is_final and set(vals) <= _QUIET_FIELDS):
            # They change something else (an outcome the statistics settled, say): a full
            # fold, the caller's patients searched again too.
            quiet = False
            vals = call._vals_differing(call._vals_from_fold(company, state, command, known_line))
        if vals:
            call._write_untracked_unless(vals)
        if command and command.call_id != call:
            command._lock_rows()
            command.call_id = call
        followup = call.followup_state
        if not quiet:
            call._apply_followup()
        if not vals and call.followup_state == followup:
            # Nothing a journal list shows changed (a recording's progress, a leg that
            # changed no column): its lists need no reload (_after_event_journal).
            call = call.with_context(medpulse_call_unchanged=True)
        if quiet:
            call = call.with_context(medpulse_call_quiet=True)
        return call, state, events

    def _write_untracked_unless(self, vals):
        """``write(vals)``, without the chatter's tracking when no tracked field is in
        ``vals``: the fold writes on every event, and tracking reads and compares every
        tracked field at each write and again before the commit, for nothing."""
        if set(vals) & self._track_get_fields():
            self.write(vals)
        else:
            self.with_context(tracking_disable=True).write(vals)

    def _after_event_steps(self):
        """The names of :meth:`_after_event`'s steps, in the order they run.

        Each is a method ``step(event_record, event, state)`` of the call. A module adds
        its own by extending this list where it belongs, e.g.
        ``steps = super()._after_event_steps(); steps.insert(steps.index(
        "_after_event_card") + 1, "_after_event_mine"); return steps``. A step that
        reads the event itself, not only the call's state, also goes in
        :meth:`_after_event_each_steps` (the folder folds several events at once).
        """
        return [
            "_after_event_command",
            "_after_event_card",
            "_after_event_auto_route",
            "_after_event_recordings",
            "_after_event_callbacks",
            "_after_event_insight",
            "_after_event_journal",
            "_after_event_wallboard",
        ]

    def _after_event(self, event_record, event, state):
        """What follows each new event, once the call was recomputed: the one extension
        point of the webhook's path.

        ``event_record`` is the stored ``medpulse.call.event``, ``event`` its parsed
        ``mango_vpbx`` event, ``state`` the ``mango_vpbx.CallState`` of the whole call.
        Runs in the webhook's transaction, under the call's lock: a step writes, queues
        (``medpulse.call.command._queue``) or notifies the bus, and never calls the PBX.
        The steps, in order (:meth:`_after_event_steps`):

        1. ``_after_event_command``: the click-to-call that produced this call learns its
           progress and tells its operator;
        2. ``_after_event_card``: the incoming-call cards of the operators involved;
        3. ``_after_event_auto_route``: a known patient's call queued to their last
           operator (sent by the webhook after its commit);
        4. ``_after_event_recordings``: the recordings the event announces;
        5. ``_after_event_callbacks``: a settled missed call opens or joins its number's
           call-back, an answered call with the number closes it
           (``medpulse.call.callback._on_call_settled``);
        6. ``_after_event_insight``: what to ask the PBX about the call after the commit
           (speech-analytics topics, the call-tracking source: ``medpulse.call.insight``);
        7. ``_after_event_journal``: the journal lists open in the browsers;
        8. ``_after_event_wallboard``: the supervisors' wallboards
           (``medpulse.wallboard._notify_calls``).
        """
        self.ensure_one()
        for step in self._after_event_steps_now():
            getattr(self, step)(event_record, event, state)

    def _after_event_steps_now(self):
        """:meth:`_after_event_steps`, less those a quiet fold skips (``_QUIET_STEPS``:
        the news of a settled call's recordings, :meth:`_recompute`)."""
        steps = self._after_event_steps()
        if self.env.context.get("medpulse_call_quiet"):
            return [step for step in steps if step not in _QUIET_STEPS]
        return steps

    def _after_event_each_steps(self):
        """The steps of :meth:`_after_event` that read the event itself, not only the
        call's state: when several events of the call are folded together
        (:meth:`_after_events`), they run for each; the others once."""
        return {"_after_event_recordings", "_after_event_insight", "_after_event_wallboard"}

    def _after_events(self, items, state):
        """:meth:`_after_event` for several events of this call folded together
        (``items``: ``(event_record, event)`` in the order they were stored), with the
        state of all of them: the steps that read the event run for each
        (:meth:`_after_event_each_steps`), the others, which read the call's state,
        once with the last event."""
        self.ensure_one()
        if len(items) == 1:
            self._after_event(*items[0], state)
            return
        each = self._after_event_each_steps()
        for step in self._after_event_steps_now():
            for event_record, event in items if step in each else items[-1:]:
                getattr(self, step)(event_record, event, state)

    def _after_event_command(self, event_record, event, state):
        if state.command_id:
            command = self.sudo().command_ids.filtered(
                lambda command: command.command_id == state.command_id
            )
            if command:
                command._link_call(self.sudo(), state)

    def _after_event_card(self, event_record, event, state):
        self._card_dispatch(state, from_events=True)

    def _after_event_auto_route(self, event_record, event, state):
        self._auto_route(state)

    def _after_event_recordings(self, event_record, event, state):
        if isinstance(event, mango_vpbx.events.RecordingEvent | mango_vpbx.events.RecordAddedEvent):
            self.env["medpulse.call.recording"].sudo()._sync_from_state(self.sudo(), event, state)

    def _after_event_callbacks(self, event_record, event, state):
        self.env["medpulse.call.callback"]._on_call_settled(self)

    def _after_event_journal(self, event_record, event, state):
        # An event that changed no column of the call (:meth:`_recompute`) sends nothing:
        # every open list would reload for nothing, and a transaction without a bus
        # message spares Odoo's bus its new connection to send the NOTIFY.
        if not self.env.context.get("medpulse_call_unchanged"):
            self._notify_journal()

    def _after_event_wallboard(self, event_record, event, state):
        # Recordings and keys pressed change nothing the board shows.
        if isinstance(event, mango_vpbx.events.CallEvent | mango_vpbx.events.SummaryEvent):
            self.env["medpulse.wallboard"]._notify_calls(self)

    def _vals_from_fold(self, company, state, command, known_line=None):
        """Journal values of the fold of this call's stored events (:meth:`_recompute`).
        ``known_line``: :meth:`_vals_from_state`'s."""
        vals = self._vals_from_state(company, state, command, known_line)
        # The statistics settled the outcome of a call whose final events were lost: its
        # events folded again without their summary (e.g. one left unfolded by a stopped
        # worker) only add what they see better than a CSV row.
        if self.completed_from_stats and not state.is_final:
            vals = {name: value for name, value in vals.items() if name in _KEPT_FROM_EVENTS}
        # Only events tell the keys pressed and the call-tracking number: no CSV row does.
        vals.update(self._insight_vals_from_state(company, state))
        vals["fold_version"] = mango_vpbx.calls.FOLD_VERSION
        return vals

    @api.model
    def _insert_new(self, company, entry_id):
        """The new call of ``entry_id``: ``(call, ids of its stored events)`` (the ids
        as :meth:`_recompute`'s lock reads them for an existing call; None when another
        transaction inserted it first: the call is then searched)."""
        now = fields.Datetime.now()
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO medpulse_call
                    (company_id, entry_id, followup_state,
                     create_uid, create_date, write_uid, write_date)
                VALUES (%s, %s, 'new', %s, %s, %s, %s)
                ON CONFLICT (company_id, entry_id) DO NOTHING
                RETURNING id,
                          ARRAY(SELECT event.id FROM medpulse_call_event event
                                 WHERE event.company_id = %s AND event.entry_id = %s
                                   AND event.state != 'not_understood'
                                 ORDER BY event.id)
                """,
                company.id,
                entry_id,
                self.env.uid,
                now,
                self.env.uid,
                now,
                company.id,
                entry_id,
            ),
            log_exceptions=False,
        )
        row = self.env.cr.fetchone()
        if row:
            return self.browse(row[0]), row[1]
        return self.search(
            [("company_id", "=", company.id), ("entry_id", "=", entry_id)], limit=1
        ), None

    def _vals_from_state(self, company, state, command=None, known_line=None):
        """Journal values of a ``mango_vpbx.CallState``.

        A callback's patient is the one the operator called, even on a shared number.
        ``command`` is the ``medpulse.call.command`` that produced the call when the
        caller already found it (searched here otherwise). ``known_line``: ``(line,
        its number)`` as the database holds them now (the fold's lock read them): when
        the state's line number is that one, the line is not searched again.
        """
        self.ensure_one()
        vals = self._vals_from_state_parties(company, state, known_line)
        if command is None:
            command = self._command_of_state(company, state)
        patient = command.patient_id
        if patient and patient.company_id == company:
            vals["patient_id"] = patient.id
            # The patients linked now when the number's were not searched again.
            known = list(self.sudo().patient_ids.ids) if "patient_ids" not in vals else []
            for item in vals.get("patient_ids") or []:
                if item[0] == fields.Command.SET:
                    known = list(item[2])
            if patient.id not in known:
                vals["patient_ids"] = [fields.Command.set(known + [patient.id])]
        return vals

    def _vals_from_state_parties(self, company, state, known_line=None):
        Users = self.env["res.users"]
        direction = state.direction
        call_type = _call_type(direction, state.result)
        # The external number is the caller's or the callee's: parsed once, not twice.
        normalized = {}

        def normalize(raw):
            if raw not in normalized:
                normalized[raw] = company._medpulse_pbx_normalize(raw)
            return normalized[raw]

        caller_e164 = normalize(state.caller_number)
        callee_e164 = normalize(state.called_number)
        external_raw = state.external_number if direction in ("incoming", "outgoing") else None
        external_e164 = normalize(external_raw)
        patients = self.env["medpulse.patient"]
        # The patients of the number are searched at the call's first event, whenever its
        # number changes and at every event once it is over; in between (legs ringing,
        # answered, hung up) they stay as linked. A patient created during the call from
        # the card is linked by it (``action_set_patient``); one given the number anywhere
        # else meanwhile is linked when the call ends (its events and summary, not the news
        # of its recordings that come after: a quiet fold, _recompute).
        relink = not (external_e164 and external_e164 == self.external_e164 and (
            not state.is_final or self.env.context.get("medpulse_fold_quiet")
        ))
        if external_raw and relink:
            patients = patients.sudo()._lookup_by_phone(external_raw, company=company)
        answered = Users._medpulse_find_pbx_operator(
            company, state.answered_extension, state.answered_number
        )
        rang = Users._medpulse_find_pbx_operators(
            company, extensions=state.rang_extensions or (), numbers=state.rang_numbers or ()
        )
        operator = Users._medpulse_find_pbx_operator(company, state.operator_extension)
        if not operator:
            # A leg without an extension: the employee is known by a device number only.
            operator = answered if direction == "incoming" else Users._medpulse_find_pbx_operator(
                company, None, state.caller_number
            )
        if known_line and known_line[1] == state.line_number:
            line = known_line[0]
        else:
            line = self.env["medpulse.telephony.line"].sudo()._get_or_create(
                company, state.line_number
            )
        vals = {
            "direction": direction or False,
            "result": state.result or False,
            "call_type": call_type,
            "missed_at": state.missed_at or False,
            "caller_number": state.caller_number or False,
            "caller_e164": caller_e164,
            "callee_number": state.called_number or False,
            "callee_e164": callee_e164,
            "external_e164": external_e164,
            "line_id": line.id or False,
            "answered_user_id": answered.id or False,
            "operator_user_id": operator.id or False,
            "rang_user_ids": [fields.Command.set(rang.ids)],
            "created_at": _naive_utc(state.created_at),
            "answered_at": _naive_utc(state.answered_at),
            "ended_at": _naive_utc(state.ended_at),
            # Bounded where the state is built (fold, statistics): None when unknown or implausible.
            "wait_seconds": state.wait_seconds or 0,
            "talk_seconds": state.talk_seconds or 0,
            "times_implausible": state.implausible_times,
            "disconnect_reason": state.disconnect_reason or 0,
            "disconnect_category": disconnect_category(state.disconnect_reason),
            "disconnect_reason_text": state.disconnect_reason_text or False,
            "transfers": self._transfers_text(state.transfers) or False,
            "recording_ids_text": ", ".join(state.recording_ids or ()) or False,
            "command_id": state.command_id or False,
            "callback_initiator": state.callback_initiator or False,
            "is_final": bool(state.is_final),
        }
        if relink:
            vals["patient_id"] = patients[:1].id or False
            vals["patient_ids"] = [fields.Command.set(patients.ids)]
        # A call first seen as missed can turn out answered once late events arrive;
        # only the automatic status follows it, never one an operator chose.
        if (
            call_type != "missed_incoming"
            and self.followup_state == "needs_callback"
            and not self.closed_by_call_id
        ):
            vals["followup_state"] = "new"
        return vals

    def _vals_differing(self, vals):
        """The part of ``vals`` (as built by :meth:`_vals_from_state`) that would change
        the record: values compared as the ORM caches them, many2many as sets of ids."""
        self.ensure_one()
        # Read as superuser: patient fields have groups.
        record = self.sudo()
        linked = self._linked_ids([
            name for name, value in vals.items()
            if self._fields[name].type == "many2many" and _set_command_ids(value) is not None
        ])
        changed = {}
        for name, value in vals.items():
            field = self._fields[name]
            if name in linked:
                if set(_set_command_ids(value)) == linked[name]:
                    continue
            elif field.type not in ("one2many", "many2many") and field.store:
                if same_value(record, name, value):
                    continue
            changed[name] = value
        return changed

    def _linked_ids(self, names):
        """{many2many field: set of the ids its relation table links to this record}.

        One query for all the fields, straight from the relation tables: archived
        patients or users still linked count (``Command.set`` would unlink them), and
        the ORM's read would need a query per field, each joined for its order.
        """
        if not names:
            return {}
        self.flush_recordset(names)
        fields_ = [self._fields[name] for name in names]
        self.env.cr.execute(SQL(" UNION ALL ").join(
            SQL(
                "SELECT %s, %s FROM %s WHERE %s = %s",
                field.name, SQL.identifier(field.column2), SQL.identifier(field.relation),
                SQL.identifier(field.column1), self.id,
            )
            for field in fields_
        ))
        linked = {field.name: set() for field in fields_}
        for name, target_id in self.env.cr.fetchall():
            linked[name].add(target_id)
        return linked

    def _transfers_text(self, transfers):
        if not transfers:
            return ""  # most calls: no translation looked up at each event
        kinds = {"blind": _("blind transfer"), "consultative": _("consultative transfer")}
        return "\n".join(
            f"{t.from_extension or '?'} → {t.to_extension or t.to_number or '?'}"
            f" ({kinds.get(t.kind, t.kind)})"
            for t in transfers or ()
        )

    # -------------------------------------------------------------- follow-up

    def _apply_followup(self):
        """Missed incoming calls wait for a callback; a later answered call closes them.

        Works whichever call is processed first, so a missed call whose events arrive
        late (after the callback) is closed at once. Only *settled* calls take part
        (summary received, or times taken from the PBX's statistics): before that a
        call's start is the earliest event seen so far, maybe later than the truth, and
        its outcome may still change (a queue call looks missed until the answering
        leg's event arrives). Decided on unsettled data, a closure would stick (it is
        never reopened) and the result would depend on the order of delivery. Settled
        calls may still settle out of order: an answered call earlier than a missed
        call's closer takes the closure over (:meth:`_closed_automatically_after`), so
        the closer is always the earliest answered call after the miss.
        """
        for call in self:
            if not call.external_e164 or not call.created_at or not call._followup_settled():
                continue
            call._lock_followup_number()
            if call.call_type == "missed_incoming":
                if call.followup_state == "new":
                    call.followup_state = "needs_callback"
                if call.followup_state == "needs_callback":
                    closer = self.search(
                        [
                            ("company_id", "=", call.company_id.id),
                            ("external_e164", "=", call.external_e164),
                            ("result", "=", "answered"),
                            ("direction", "in", ("incoming", "outgoing")),
                            ("created_at", ">", call.created_at),
                            *self._followup_settled_domain(),
                        ],
                        order="created_at asc, id asc",
                        limit=1,
                    )
                    if closer:
                        call._close_by(closer)
            elif call.result == "answered" and call.direction in ("incoming", "outgoing"):
                earlier = self.search([
                    ("company_id", "=", call.company_id.id),
                    ("external_e164", "=", call.external_e164),
                    ("call_type", "=", "missed_incoming"),
                    ("created_at", "<", call.created_at),
                    "|",
                    ("followup_state", "=", "needs_callback"),
                    "&",
                    ("followup_state", "in", ("resolved", "called_back")),
                    ("closed_by_call_id", "!=", False),
                ])
                earlier.filtered(
                    lambda missed, closer=call: missed.followup_state == "needs_callback"
                    or missed._closed_automatically_after(closer)
                )._close_by(call)

    def _followup_settled(self):
        """Whether this call's times are the truth (its summary arrived), so that it may
        close a missed call."""
        self.ensure_one()
        # The statistics give a call's true times even when its summary never came.
        return self.is_final or self.recovered_from_stats or self.completed_from_stats

    @api.model
    def _followup_settled_domain(self):
        """:meth:`_followup_settled` as a domain."""
        return expression.OR([
            [("is_final", "=", True)],
            [("recovered_from_stats", "=", True)],
            [("completed_from_stats", "=", True)],
        ])

    def _lock_followup_number(self):
        """Serialise follow-up per number across workers
        (``medpulse.call.followup.lock``: why a row, not an advisory lock, is there)."""
        self.ensure_one()
        self.env["medpulse.call.followup.lock"]._touch(self.company_id, self.external_e164)

    def _closed_automatically_after(self, call):
        """Whether this missed call was closed by a call later than ``call`` (by
        ``(created_at, id)``, the order the closer is chosen in) and still shows the
        state that closure gave it, not one an operator chose since.

        Calls settle in any order: a later call may close a missed call before an
        earlier one settles. The earlier one then takes the closure over, so the
        outcome is the earliest answered call, whatever the order of delivery.
        """
        self.ensure_one()
        closer = self.closed_by_call_id
        if not closer or not closer.created_at:
            return False
        automatic = "called_back" if closer.direction == "outgoing" else "resolved"
        return self.followup_state == automatic and (closer.created_at, closer.id) > (
            call.created_at, call.id
        )

    def _close_by(self, closer):
        if not self:
            return
        if closer.direction == "outgoing":
            state, body = "called_back", _("Called back (call %s).", closer.display_name)
        else:
            state, body = (
                "resolved",
                _("The caller got through later (call %s).", closer.display_name),
            )
        self.write({"followup_state": state, "closed_by_call_id": closer.id})
        for call in self:
            call.message_post(body=body, subtype_xmlid="mail.mt_note")

    # ---------------------------------------------------------------- actions

    def action_set_no_action(self):
        self.write({"followup_state": "no_action"})

    def action_set_needs_callback(self):
        self.write({"followup_state": "needs_callback"})

    def action_set_resolved(self):
        self.write({"followup_state": "resolved"})

    def action_view_appointments(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "medpulse_clinic.medpulse_appointment_action"
        )
        action.update({
            "domain": [("call_id", "=", self.id)],
            "context": {"default_call_id": self.id},
            "view_mode": "list,form",
            "views": [(False, "list"), (False, "form")],
        })
        return action

    def action_view_events(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "medpulse_telephony.medpulse_call_event_action"
        )
        action["domain"] = [("call_id", "=", self.id)]
        action["context"] = {}
        return action

    def action_export_raw_events(self):
        """Download the raw events of the selected calls as JSON Lines (emulator replay)."""
        if not self.env.user.has_group("medpulse_telephony.group_telephony_manager"):
            raise AccessError(_("Only telephony managers can export raw PBX events."))
        events = self.env["medpulse.call.event"].search([("call_id", "in", self.ids)])
        # Events the retention purged come from their snapshots, marked "purged".
        purged = self.env["medpulse.call.event.snapshot"].sudo().search(
            [("call_id", "in", self.ids)]
        )
        attachment = self.env["ir.attachment"].create({
            "name": f"pbx-events-{fields.Datetime.now().strftime('%Y%m%d-%H%M%S')}.jsonl",
            "raw": events._export_jsonl(purged._export_items()).encode(),
            "mimetype": "application/x-ndjson",
        })
        return {
            "type": "ir.actions.act_url",
            "url": f"/web/content/{attachment.id}?download=true",
            "target": "self",
        }

    # ------------------------------------------------ incoming-call card

    # The incoming-call card: who sees it, what it shows, and the server half of its actions.
    #
    # Every new PBX event of a call ends in :meth:`MedpulseCall._after_event`. From the whole
    # ``mango_vpbx.CallState`` it computes, for each operator involved, the card they should
    # see now (``ringing``, ``talking``, or a closing state), compares it with what was last
    # sent (``card_audience`` on the call) and sends a bus message only to the operators whose
    # card changed, on their own partner channel (``user._bus_send``): never a broadcast or a
    # string channel, because the card carries medical data.
    #
    # The payload is built with the *recipient's* access rights (``with_user``), not the
    # webhook's superuser: an operator who may not read patients gets a card that says so.
    #
    # Desk-phone binding: two desks may share one login. The payload says which of the
    # user's devices (``medpulse.telephony.user.number``) rings; a browser bound to a device
    # (a per-browser setting) ignores cards for the user's other devices. The data goes to the
    # user's own partner channel either way, so no other user can receive it; a subchannel
    # would not be safer (every session of that user could subscribe to it) and a string
    # channel would be guessable by anyone.

    card_audience = fields.Json(
        readonly=True, copy=False, groups="base.group_system",
        help="Operator id -> the card state last sent to them (ringing, talking, ended...).",
    )
    routed_user_id = fields.Many2one(
        "res.users", string="Routed automatically to", readonly=True, copy=False,
        help="Automatic routing sent this known patient's call to the operator who last "
        "talked to them.",
    )

    # ------------------------------------------------------------ live events

    def _card_live_parties(self, state):
        """{user: (status, leg)} of the operators whose phone rings or talks now."""
        self.ensure_one()
        if state.direction != "incoming" or state.is_final:
            # The summary ends the call for everyone, even when a leg's Disconnected
            # was lost: no card may keep ringing after it.
            return {}
        parties = {}
        for leg in state.legs:
            if leg.location != "abonent" or leg.state not in ("Appeared", "Connected", "OnHold"):
                continue
            user = self._card_leg_operator(leg)
            if not user:
                continue
            status = "ringing" if leg.state == "Appeared" else "talking"
            if parties.get(user, ("",))[0] != "talking":
                parties[user] = (status, leg)
        return parties

    def _card_dispatch(self, state, from_events=False):
        """Send each involved operator the card they should see, when it changed.

        ``from_events``: the call's events were just folded (not its statistics): an
        operator whose leg of an incoming call that ended was answered gets the ended
        card, to set the follow-up, even when their card never said "talking" or they
        never had one (the events were folded together, under a load; a call that ended
        more than ENDED_CARD_SECONDS ago pops no card), as if they had seen each event."""
        self.ensure_one()
        call = self.sudo()
        previous = call.card_audience or {}
        live = self._card_live_parties(state)
        audience = {}
        to_send = []
        for user, (status, leg) in live.items():
            audience[str(user.id)] = status
            if previous.get(str(user.id)) != status:
                to_send.append((user, status, leg, previous.get(str(user.id))))
        ended = state.is_final or all(leg.state == "Disconnected" for leg in state.legs)
        answered_by = self.env["res.users"]._medpulse_find_pbx_operator(
            self.company_id, state.answered_extension, state.answered_number
        )
        Users = self.env["res.users"].sudo()
        talkers = self._card_talkers(state) if from_events else {}
        for key, before in previous.items():
            if key in audience:
                continue
            if before not in LIVE_STATUSES:
                audience[key] = before
                continue
            user = Users.browse(int(key))
            if ended:
                status = "ended"
            elif answered_by and answered_by != user:
                status = "answered_elsewhere"
            else:
                status = "closed"
            # Who talked keeps the card to set the follow-up; the others' card closes. (A
            # leg answered is a talk, even when the card never said so: its answer and
            # its end were folded together.)
            talked = before == "talking" or user in talkers
            if status == "ended" and not talked:
                status = "closed"
            audience[key] = status
            to_send.append((user, status, None, before))
        if ended:
            for user, leg in talkers.items():
                # Never had the card (the whole talk folded at once): the ended one, while
                # the call is fresh (a history's calls pop no card), for the desk phone
                # that talked (its browser sets the follow-up).
                if str(user.id) not in audience and leg.ended_at and leg.ended_at > datetime.now(
                    timezone.utc
                ) - timedelta(seconds=ENDED_CARD_SECONDS):
                    audience[str(user.id)] = "ended"
                    to_send.append((user, "ended", leg, None))
        if audience != previous:
            call.card_audience = audience
        for user, status, leg, before in to_send:
            # A card the user has on screen (it rang or talked) only changes its status.
            self._notify_card(user, status, leg, partial=before in LIVE_STATUSES)

    def _card_talkers(self, state):
        """{user: their answered leg (its ``ended_at`` aware, or None)} of the operators
        whose leg of this incoming call was answered."""
        if state.direction != "incoming":
            return {}
        talkers = {}
        for leg in state.legs:
            if leg.location == "abonent" and leg.answered_at:
                user = self._card_leg_operator(leg)
                if user:
                    talkers[user.sudo()] = leg
        return talkers

    def _card_leg_operator(self, leg):
        """The operator whose phone a leg rings (its extension or device number), or none."""
        extension = leg.extension or leg.to.extension
        if not (extension or leg.to.number):
            return self.env["res.users"]
        return self.env["res.users"]._medpulse_find_pbx_operator(
            self.company_id, extension, leg.to.number
        )

    def _notify_card(self, user, status, leg=None, partial=False):
        self.ensure_one()
        payload = (
            self._card_update_payload(user, status, leg)
            if partial and status in PARTIAL_STATUSES
            else self._card_payload(user, status, leg)
        )
        user.sudo()._bus_send(CARD_NOTIFICATION, payload)

    def _notify_card_update(self, users=None):
        """Refresh the card of ``users`` (default: every operator with a live card)."""
        self.ensure_one()
        audience = self.sudo().card_audience or {}
        if users is None:
            users = self.env["res.users"].sudo().browse(
                [int(key) for key, status in audience.items() if status in LIVE_STATUSES]
            )
        for user in users:
            status = audience.get(str(user.id))
            if status in LIVE_STATUSES or status == "ended":
                self._notify_card(user, status)

    # ---------------------------------------------------------------- payload

    def _card_payload(self, user, status, leg=None):
        """What ``user``'s card shows, read with ``user``'s access rights.

        A ``closed`` card only leaves the screen (``incoming_card_service.js``): its
        message says which and nothing else, so the many operators a queue rang cost
        the webhook no number, line, device or menu choices to read when one answers.
        """
        self.ensure_one()
        if status == "closed":
            return {"call_id": self.id, "entry_id": self.sudo().entry_id, "status": status}
        call = self.sudo().with_context(lang=self._card_lang(user))
        payload = self._card_status_data(user, status, leg)
        payload.update({
            "number": call.external_number_display or call.caller_number or "",
            "number_e164": call.external_e164 or "",
            "line": call.line_id.display_name or call.callee_number or "",
            "created_at": fields.Datetime.to_string(call.created_at) if call.created_at else False,
            "routed": bool(call.routed_user_id),
            "followup_states": [
                [value, label]
                for value, label in call._fields["followup_state"]._description_selection(call.env)
            ],
        })
        payload.update(self._card_alert_data(user))
        payload["ivr_choices"] = call._card_ivr_choices()
        if status not in LIVE_STATUSES and status != "ended":
            return payload
        payload.update(self._card_patient_data(user))
        if status == "ended":
            # Only the ended card offers the outcomes (the browser keeps them from this
            # message): a ringing card does not search them.
            payload.update(self._card_outcome_data(user))
        return payload

    def _card_lang(self, user):
        """``user``'s language, from Odoo's cached context of the user (``res.users.
        context_get``): a card's fold reads no row of the user's partner for it."""
        return self.env["res.users"].with_user(user).context_get().get("lang") or self.env.lang

    def _card_update_payload(self, user, status, leg=None):
        """What changes on a card ``user`` has on screen when the call is answered or
        ends: the status, who answered and when, the follow-up (the ended card's outcomes
        too), flagged ``partial``. The caller, the patients, their appointments and the
        line were sent when it rang (and again whenever they changed:
        :meth:`_notify_card_update`); not read again at each status. A browser without
        this card asks for it whole (``get_active_cards``, ``incoming_card_service.js``).
        """
        self.ensure_one()
        payload = {**self._card_status_data(user, status, leg), "partial": True}
        if status == "ended":
            payload.update(self._card_outcome_data(user))
        return payload

    def _card_status_data(self, user, status, leg=None):
        """What a card says of the call's progress: its status, who answered and when,
        the device it rang and the follow-up (the whole card and its updates)."""
        call = self.sudo()
        return {
            "call_id": self.id,
            "entry_id": call.entry_id,
            "status": status,
            "answered_at": fields.Datetime.to_string(call.answered_at)
            if call.answered_at
            else False,
            "answered_by": call.answered_user_id.name or "",
            "device_id": self._card_device(user, leg).id or False,
            "followup_state": call.followup_state,
            "followup_note": call.followup_note or "",
        }

    def _card_device(self, user, leg):
        if not leg or not leg.to.number:
            return self.env["medpulse.telephony.user.number"]
        Number = self.env["medpulse.telephony.user.number"].sudo()
        key = Number._number_keys(self.company_id, leg.to.number)[1]
        return Number.search([("user_id", "=", user.id), ("number_key", "=", key)], limit=1)

    def _card_patient_data(self, user):
        call = self.sudo()
        env = self.with_user(user).with_context(lang=self._card_lang(user)).env
        Patient = env["medpulse.patient"]
        data = {
            "restricted": False,
            "patients": [],
            "patient_id": False,
            "appointments": [],
            "recent_calls": 0,
            "can_sms": False,
            "can_waitlist": False,
            "can_act": False,
        }
        if not Patient.has_access("read"):
            data["restricted"] = True
            return data
        data["can_sms"] = self.env["medpulse.sms"]._may_send(user)
        data["can_waitlist"] = env["medpulse.waitlist"].has_access("create")
        data["can_act"] = user.has_group("medpulse_clinic.group_clinic_receptionist")
        try:
            patients = Patient.search([("id", "in", call.patient_ids.ids)])
            # The card shows every doctor's history, whatever the recipient's clinic role.
            data["patients"] = [
                _patient_card(patient)
                for patient in patients.sudo().sorted(
                    lambda p: p.last_visit_at or fields.Datetime.to_datetime("1900-01-01"),
                    reverse=True,
                )
            ]
        except AccessError:
            data["restricted"] = True
            data["patients"] = []
            return data
        if call.patient_id in patients:
            data["patient_id"] = call.patient_id.id
        elif len(patients) == 1:
            data["patient_id"] = patients.id
        appointments = env["medpulse.appointment"].search([("call_id", "=", self.id)])
        data["appointments"] = [
            {"id": appointment.id, "name": appointment.display_name,
             "start": fields.Datetime.to_string(appointment.start)}
            for appointment in appointments
        ]
        if call.external_e164:
            data["recent_calls"] = self._card_recent_calls()
        return data

    def _card_recent_calls(self):
        """How many other calls of this call's company and number started in the last
        ``RECENT_CALL_DAYS`` days, whoever may read them (the card says only how many).
        One statement on the index of the number, not the ORM's search: it is asked for
        each ringing card, by the fold."""
        self.ensure_one()
        call = self.sudo()
        self.flush_model(["company_id", "external_e164", "created_at"])
        self.env.cr.execute(SQL(
            """SELECT COUNT(*) FROM medpulse_call
                WHERE external_e164 = %s AND company_id = %s AND created_at >= %s AND id != %s""",
            call.external_e164, call.company_id.id,
            fields.Datetime.now() - timedelta(days=RECENT_CALL_DAYS), self.id,
        ))
        return self.env.cr.fetchone()[0]

    # ---------------------------------------------------------- client API

    @api.model
    def get_active_cards(self):
        """Cards of the current user's calls that still ring or talk: a reload brings them back."""
        user = self.env.user
        since = fields.Datetime.now() - timedelta(hours=ACTIVE_CARD_HOURS)
        calls = self.sudo().search([
            ("is_final", "=", False),
            ("created_at", ">=", since),
            "|", ("rang_user_ids", "in", user.ids), ("answered_user_id", "=", user.id),
        ])
        cards = []
        for call in calls:
            status = (call.card_audience or {}).get(str(user.id))
            if status in LIVE_STATUSES:
                cards.append(call.with_env(self.env)._card_payload(user, status))
        return cards

    def action_set_patient(self, patient_id):
        """The operator chose which patient is calling: one sharing the number, or one
        just created from the card with this number."""
        self.ensure_one()
        self.check_access("read")
        patient = self.env["medpulse.patient"].browse(patient_id).exists()
        patient.check_access("read")
        call = self.sudo()
        if patient not in call.patient_ids and patient not in patient._lookup_by_phone(
            call.external_e164 or ""
        ):
            raise UserError(_("This patient does not have the caller's number."))
        call.write({"patient_id": patient.id, "patient_ids": [Command.link(patient.id)]})
        self._notify_card_update(self.env.user)
        return True

    def action_card_followup(self, followup_state, note=False, outcome_id=False):
        """The one-step form of an ended card: follow-up status, outcome and a comment.

        The comment is logged as the user's internal note, never sent, so it does not
        depend on the user having an e-mail address. It is saved once: every tab of the
        user is told to close the card (a new login replays the bus's last minute, which
        then ends with this "closed"), and a second save changes nothing.
        """
        self.ensure_one()
        self.check_access("write")
        if followup_state not in dict(self._fields["followup_state"].selection):
            raise UserError(_("Unknown follow-up status."))
        audience = dict(self.sudo().card_audience or {})
        if audience.get(str(self.env.uid)) != "ended":
            raise UserError(_("The follow-up of this call was already saved: nothing was changed."))
        vals = {"followup_state": followup_state, "followup_note": note or False}
        if outcome_id:
            outcome = self.env["medpulse.call.outcome"].browse(outcome_id).exists()
            if outcome.company_id and outcome.company_id != self.company_id:
                outcome = outcome.browse()
            if not outcome:
                raise UserError(_("Unknown call outcome."))
            vals["outcome_id"] = outcome.id
        elif self._card_outcome_data(self.env.user)["outcome_required"] and not self.outcome_id:
            raise UserError(_("Choose the call's outcome before closing the card."))
        self.write(vals)
        if note:
            self._message_log(body=plaintext2html(note), message_type="comment")
        audience[str(self.env.uid)] = "closed"
        self.sudo().card_audience = audience
        self._notify_card(self.env.user, "closed")
        # The operator's after-call work ends on the wallboards.
        self.env["medpulse.wallboard"]._notify_calls(self)
        return True

    @api.model
    def get_transfer_targets(self):
        """Operators the card can transfer to: name, extension and whether they are on a call.

        For telephony operators (receptionists are operators) only, and only the colleagues
        of their current company: who works here and who is on the phone is not for
        everybody with a login.
        """
        if not self.env.user.has_group("medpulse_telephony.group_telephony_operator"):
            raise AccessError(_("Only telephony operators can transfer calls."))
        company = self.env.company
        users = self.env["res.users"].sudo().search([
            ("medpulse_pbx_extension", "!=", False),
            ("company_ids", "in", company.ids),
            ("share", "=", False),
        ], order="name")
        busy = self._busy_user_ids(company)
        group = self.env["ir.config_parameter"].sudo().get_param(TRANSFER_GROUP_PARAM) or ""
        return {
            "operators": [
                {"id": user.id, "name": user.name, "extension": user.medpulse_pbx_extension,
                 "busy": user.id in busy, "im_status": user.im_status, "me": user == self.env.user,
                 "away": user.medpulse_pbx_away}
                for user in users
            ],
            "group": group,
        }

    @api.model
    def _busy_user_ids(self, company):
        since = fields.Datetime.now() - timedelta(hours=ACTIVE_CARD_HOURS)
        self.env.cr.execute(SQL(
            """
            SELECT DISTINCT audience.key::int
              FROM medpulse_call, jsonb_each_text(medpulse_call.card_audience) AS audience
             WHERE medpulse_call.company_id = %s
               AND medpulse_call.is_final IS NOT TRUE
               AND medpulse_call.created_at >= %s
               AND audience.value = 'talking'
            """,
            company.id, since,
        ))
        return {row[0] for row in self.env.cr.fetchall()}

    # ------------------------------------------- appointments from the card (issue 22)

    # The caller's upcoming appointment is confirmed, moved to one of the doctor's next free
    # times, or cancelled with a reason; a known patient without one books one of the next
    # free times of their last doctor and service. Each is the reception's (checked here, not
    # only hidden on the card), in the call's company, on the caller's own appointments;
    # each sets the call's outcome and leaves a line in the appointment's history, through
    # the appointment's own methods (``models/medpulse_appointment.py``), which the call
    # lists use too. A time taken meanwhile by a colleague gets the double-booking refusal
    # with the next free time; the card then offers the new free times.

    def _card_outreach_patient(self, patient_id):
        """The caller (one of the call's patients), checked for the current user."""
        self.ensure_one()
        self.check_access("read")
        call = self.sudo()
        self.env["medpulse.appointment"]._check_reception(call.company_id)
        patient = self.env["medpulse.patient"].browse(int(patient_id)).exists()
        if not patient or patient not in call.patient_ids | call.patient_id:
            raise UserError(_("This patient is not the caller."))
        patient.check_access("read")
        return patient

    def _card_outreach_appointment(self, appointment_id):
        """One of the caller's appointments to come, checked for the current user."""
        self.ensure_one()
        Appointment = self.env["medpulse.appointment"]
        appointment = Appointment.sudo().browse(int(appointment_id)).exists()
        if not appointment:
            raise UserError(_("This appointment no longer exists."))
        if appointment.company_id != self.sudo().company_id or (
            appointment.company_id not in self.env.companies
        ):
            raise UserError(_(
                "This appointment belongs to another company: it cannot be changed from "
                "this call."))
        self._card_outreach_patient(appointment.patient_id.id)
        appointment = appointment.with_env(self.env)
        appointment.check_access("write")
        if appointment.state not in ("scheduled", "confirmed"):
            raise UserError(_("This appointment is no longer to come: nothing was changed."))
        return appointment

    def get_card_outreach(self, patient_id):
        """What the card offers about ``patient_id``'s appointments: the upcoming one and
        the doctor's next free times to move it to, or, without one, the next free times of
        the patient's last doctor and service to book."""
        patient = self._card_outreach_patient(patient_id)
        company = self.sudo().company_id
        Appointment = self.env["medpulse.appointment"]
        upcoming = Appointment.search([
            ("patient_id", "=", patient.id), ("company_id", "=", company.id),
            ("state", "in", ("scheduled", "confirmed")),
            ("start", ">", fields.Datetime.now()),
        ], order="start", limit=1)
        result = {"patient_id": patient.id, "appointment": False, "last": False, "slots": []}
        if upcoming:
            result["appointment"] = {
                "id": upcoming.id,
                "label": Appointment._slot_offers(company, [upcoming.start])[0]["label"],
                "doctor": upcoming.doctor_id.display_name,
                "service": upcoming.service_id.display_name,
                "confirmed": upcoming.state == "confirmed"
                or upcoming.confirmation_state == "confirmed",
            }
            starts = Appointment._next_free_slots(
                upcoming.doctor_id, upcoming.service_id, exclude_ids=upcoming.ids,
                company=company)
            result["slots"] = Appointment._slot_offers(company, starts)
            return result
        last = Appointment.search([
            ("patient_id", "=", patient.id), ("company_id", "=", company.id),
            ("state", "=", "done"),
        ], order="start desc", limit=1)
        if last:
            result["last"] = {
                "doctor": last.doctor_id.display_name,
                "service": last.service_id.display_name,
            }
            starts = Appointment._next_free_slots(last.doctor_id, last.service_id,
                                                  company=company)
            result["slots"] = Appointment._slot_offers(company, starts)
        return result

    def _card_outreach_done(self, code, message):
        """The action's outcome on the call, the card refreshed, the answer for the card."""
        outcome = self.env["medpulse.call.outcome"]._for_code(code, self.sudo().company_id)
        if outcome:
            self.write({"outcome_id": outcome.id})
        self._notify_card_update(self.env.user)
        return {"ok": True, "message": message}

    def _card_history(self, text):
        """The line left in the appointment's history: what, on which call."""
        moment = format_datetime(self.env, self.sudo().created_at or fields.Datetime.now(),
                                 tz=self._user_tz().zone, dt_format="short")
        return _("%(what)s (incoming call of %(moment)s).", what=text, moment=moment)

    def action_card_confirm(self, appointment_id):
        appointment = self._card_outreach_appointment(appointment_id)
        appointment._patient_confirms(self._card_history(_("Confirmed by the patient")))
        return self._card_outreach_done("confirmed", _("The appointment is confirmed."))

    def action_card_move(self, appointment_id, start):
        appointment = self._card_outreach_appointment(appointment_id)
        start = fields.Datetime.to_datetime(start)
        if not start or start <= fields.Datetime.now():
            raise UserError(_("Choose one of the free times offered."))
        Appointment = self.env["medpulse.appointment"]
        company = self.sudo().company_id
        before = Appointment._slot_offers(company, [appointment.start])[0]["label"]
        after = Appointment._slot_offers(company, [start])[0]["label"]
        try:
            with self.env.cr.savepoint():
                appointment._patient_moves(start, self._card_history(_(
                    "Moved by the patient from %(before)s to %(after)s",
                    before=before, after=after)))
        except ValidationError as error:
            self.env.invalidate_all()
            return Appointment._refusal_with_next_slot(
                error, appointment.doctor_id, appointment.service_id, company,
                exclude_ids=appointment.ids)
        return self._card_outreach_done(
            "rescheduled", _("The appointment is moved to %(moment)s.", moment=after))

    def action_card_cancel(self, appointment_id, reason):
        appointment = self._card_outreach_appointment(appointment_id)
        reason = (reason or "").strip()
        if not reason:
            raise UserError(_(
                "Write why the patient cancels, then confirm the cancellation again."))
        appointment._patient_cancels(self._card_history(_(
            "Cancelled by the patient: %(reason)s", reason=reason)))
        return self._card_outreach_done("cancelled", _("The appointment is cancelled."))

    def action_card_book(self, patient_id, start):
        """Book one of the free times of the patient's last doctor and service."""
        patient = self._card_outreach_patient(patient_id)
        offer = self.get_card_outreach(patient.id)
        if offer["appointment"] or not offer["last"]:
            raise UserError(_("This patient has an appointment to come, or no previous visit "
                              "to book again: use Book appointment."))
        company = self.sudo().company_id
        Appointment = self.env["medpulse.appointment"]
        last = Appointment.search([
            ("patient_id", "=", patient.id), ("company_id", "=", company.id),
            ("state", "=", "done"),
        ], order="start desc", limit=1)
        start = fields.Datetime.to_datetime(start)
        if not start or start <= fields.Datetime.now():
            raise UserError(_("Choose one of the free times offered."))
        try:
            with self.env.cr.savepoint():
                appointment = Appointment._book_for_patient({
                    "patient_id": patient.id, "doctor_id": last.doctor_id.id,
                    "service_id": last.service_id.id, "start": start,
                    "company_id": company.id, "call_id": self.id,
                }, self._card_history(_("Booked by the patient on the phone")))
        except ValidationError as error:
            self.env.invalidate_all()
            return Appointment._refusal_with_next_slot(
                error, last.doctor_id, last.service_id, company)
        label = Appointment._slot_offers(company, [appointment.start])[0]["label"]
        return self._card_outreach_done(
            "booked", _("Booked: %(moment)s, %(doctor)s.", moment=label,
                        doctor=appointment.doctor_id.display_name))

    # -------------------------------------------------------- automatic routing

    def _auto_route(self, state):
        """Send a known patient waiting in the voice menu or queue to their last operator.

        Only when the setting is on, once per call, and only if that operator is free;
        otherwise the PBX's own rules go on. Runs in the webhook's transaction under the
        call's lock: the route command is only queued here (``routed_user_id`` marks the
        call as taken care of, so a later event does not queue it again) and the webhook
        sends it after its commit; :meth:`_auto_route_sent` records what came of it.
        """
        self.ensure_one()
        call = self.sudo()
        if (
            state.direction != "incoming"
            or call.routed_user_id
            or not call.patient_id
            or not self.env["ir.config_parameter"].sudo().get_param(AUTO_ROUTE_PARAM)
        ):
            return
        waiting = [
            leg for leg in state.legs
            if leg.location in ("ivr", "queue") and leg.state in ("Appeared", "Connected")
        ]
        if not waiting or any(
            leg.location == "abonent" and leg.state != "Disconnected" for leg in state.legs
        ):
            return
        last = self.sudo().search([
            ("company_id", "=", call.company_id.id),
            ("patient_ids", "in", call.patient_id.ids),
            ("answered_user_id", "!=", False),
            ("id", "!=", call.id),
        ], order="created_at desc, id desc", limit=1)
        operator = last.answered_user_id
        if not operator.medpulse_pbx_extension or operator.id in self._busy_user_ids(
            call.company_id
        ):
            return
        call.routed_user_id = operator
        self.env["medpulse.call.command"]._queue(
            call.company_id,
            "route",
            {
                "call_id": call.id,
                "pbx_call_id": waiting[-1].call_id,
                "target_user_id": operator.id,
                "number": operator.medpulse_pbx_extension,
            },
        )

    def _auto_route_sent(self, command, ok):
        """The PBX answered the automatic route ``command``: note it on the call, or, when
        it was refused, let a later event of the call try again."""
        self.ensure_one()
        operator = command.target_user_id
        if not ok:
            _logger.info(
                "Automatic routing of call %s to %s failed: %s",
                self.id, operator.id, command.error_text,
            )
            if self.routed_user_id == operator:
                self.routed_user_id = False
            return
        self.message_post(
            body=_("Routed automatically to %(operator)s, who last talked to this patient.",
                   operator=operator.name),
            subtype_xmlid="mail.mt_note",
        )

    # ------------------------------------------------------ call control

    # Call control from Odoo (hang up, route, transfer) and the journal side of click-to-call.
    #
    # The incoming-call card and the click-to-call feedback call the ``action_*`` methods
    # below; each returns ``{"ok": bool, "message": str, "command_id": str or False}``
    # with a translated sentence and never raises on a user or PBX error. The PBX legs
    # to act on are found by folding the call's stored events, like the journal does.

    command_ids = fields.One2many(
        "medpulse.call.command",
        "call_id",
        string="PBX commands",
        readonly=True,
        help="The click-to-call that produced this call and the commands sent on it.",
    )

    @api.model
    def _command_of_state(self, company, state):
        command_id = getattr(state, "command_id", None)
        Command = self.env["medpulse.call.command"].sudo()
        if not command_id:
            return Command
        return Command.search(
            [("command_id", "=", command_id), ("company_id", "=", company.id)], limit=1
        )

    def action_call_back(self):
        """Call the number of this call from the journal (the "Call back" button).

        The browser places the call, so that the desk phone bound to it is used.
        """
        self.ensure_one()
        return {
            "type": "ir.actions.client",
            "tag": "medpulse_telephony.click_to_call",
            "params": {
                "number": self.external_e164 or self.external_number_display or "",
                "res_model": self._name,
                "res_id": self.id,
            },
        }

    def action_hangup(self):
        """Hang up the current user's leg of this call (``commands/call/hangup``).

        The leg is the user's connected, held or ringing leg; a manager who is not in
        the call hangs up its most recent live leg at a phone.
        """
        leg, error = self._control_leg(
            ("Connected", "OnHold", "Appeared"), any_leg_for_manager=True
        )
        if error:
            return error
        return self._send_command(
            "hangup",
            {"pbx_call_id": leg.call_id},
            lambda client, command_id: client.hangup(leg.call_id, command_id=command_id),
            _("Hanging up…"),
        )

    def action_route(self, target_user_id=None, to_number=None):
        """Send a ringing call elsewhere before anyone picks up (``commands/route``).

        ``target_user_id`` (a user with an extension) or ``to_number`` is where it goes.
        The leg routed is the user's ringing leg, else the call's leg in the voice menu
        or the queue.
        """
        target, destination, error = self._control_target(target_user_id, to_number)
        if error:
            return error
        leg, error = self._control_leg(("Appeared",), fallback_locations=("ivr", "queue"))
        if error:
            return error
        return self._send_command(
            "route",
            {
                "pbx_call_id": leg.call_id,
                "target_user_id": target.id or False,
                "number": destination,
            },
            lambda client, command_id: client.route(
                leg.call_id, destination, command_id=command_id
            ),
            _("Forwarding the call to %s…", target.name or destination),
        )

    def action_transfer(self, target_user_id=None, to_number=None, method="blind"):
        """Transfer the user's connected call (``commands/transfer``, initiator = my extension).

        ``method`` is ``'blind'`` (the call goes at once) or ``'hold'`` (consultative: the
        patient waits on hold while the user talks to the target, then
        :meth:`action_transfer_complete` or :meth:`action_transfer_cancel`).
        """
        if method not in ("blind", "hold"):
            return _answer(False, _("Unknown transfer method: %s.", method))
        target, destination, error = self._control_target(target_user_id, to_number)
        if error:
            return error
        leg, error = self._control_leg(("Connected",))
        if error:
            return error
        initiator = self.env.user.medpulse_pbx_extension
        return self._send_command(
            "transfer",
            {
                "pbx_call_id": leg.call_id,
                "target_user_id": target.id or False,
                "number": destination,
            },
            lambda client, command_id: client.transfer(
                leg.call_id,
                destination,
                initiator,
                method=method,
                command_id=command_id,
            ),
            _("Transferring the call to %s…", target.name or destination),
        )

    def action_transfer_complete(self):
        """Join the patient on hold with the colleague consulted (``commands/calls_connect``)."""
        held, consult, error = self._consultation()
        if error:
            return error
        initiator = self.env.user.medpulse_pbx_extension
        return self._send_command(
            "calls_connect",
            {"pbx_call_id": held},
            lambda client, command_id: client.calls_connect(
                held, consult, initiator, command_id=command_id
            ),
            _("Connecting the patient with your colleague…"),
        )

    def action_transfer_cancel(self):
        """Give up a consultative transfer: the colleague's leg ends, the patient is back."""
        _held, consult, error = self._consultation()
        if error:
            return error
        return self._send_command(
            "transfer_cancel",
            {"pbx_call_id": consult},
            lambda client, command_id: client.transfer_cancel(consult, command_id=command_id),
            _("Cancelling the transfer…"),
        )

    # ------------------------------------------------------------ helpers

    def _send_command(self, kind, vals, request, success_message):
        self.ensure_one()
        return self.env["medpulse.call.command"]._send(
            self.company_id,
            kind,
            dict(vals, call_id=self.id),
            request,
            success_message,
        )

    def _control_state(self):
        """The live PBX state of this call, or an error answer for the current user."""
        user = self.env.user
        if len(self) != 1:
            return None, _answer(False, _("Select exactly one call."))
        if not user.has_group(OPERATOR_GROUP):
            return None, _answer(False, _("Only telephony operators can control calls."))
        if not user.medpulse_pbx_extension:
            return None, _answer(
                False, _("Your user has no PBX extension: set it in Settings ▸ Users ▸ Telephony")
            )
        self.check_access("read")
        events, state = self._fold_call_events(self.company_id, self.entry_id)
        if not events:
            return None, _answer(False, _("The PBX has not reported anything about this call yet."))
        ext = user.medpulse_pbx_extension
        in_call = any(
            ext in (leg.to.extension, leg.from_.extension) for leg in state.legs
        ) or user in (
            self.sudo().operator_user_id | self.sudo().answered_user_id | self.sudo().rang_user_ids
        )
        if not in_call and not user.has_group(MANAGER_GROUP):
            return None, _answer(False, _("You are not part of this call."))
        return state, None

    def _control_leg(self, states, fallback_locations=(), any_leg_for_manager=False):
        state, error = self._control_state()
        if error:
            return None, error
        ext = self.env.user.medpulse_pbx_extension
        live = [leg for leg in state.legs if leg.state in LIVE_STATES]
        mine = [leg for leg in live if ext in (leg.to.extension, leg.from_.extension)]
        for wanted in states:
            for leg in reversed(mine):
                if leg.state == wanted:
                    return leg, None
        for leg in reversed(live):
            if leg.location in fallback_locations:
                return leg, None
        if any_leg_for_manager and self.env.user.has_group(MANAGER_GROUP):
            for leg in reversed(live):
                if leg.location == "abonent":
                    return leg, None
        if not live:
            return None, _answer(False, _("This call has already ended."))
        return None, _answer(False, _("You have no leg of this call in a state that allows this."))

    def _control_target(self, target_user_id, to_number):
        Users = self.env["res.users"]
        if target_user_id:
            target = Users.browse(int(target_user_id)).sudo().exists()
            if not target or not target.medpulse_pbx_extension:
                return Users, False, _answer(False, _("This colleague has no PBX extension."))
            return target, target.medpulse_pbx_extension, None
        destination = self.env["medpulse.call.command"]._dialable(self.company_id, to_number or "")
        if not destination:
            return Users, False, _answer(False, _("Choose a colleague or a number to transfer to."))
        return Users, destination, None

    def _consultation(self):
        """(held leg id, consultation leg id, error) of the user's consultative transfer."""
        state, error = self._control_state()
        if error:
            return None, None, error
        transfer = (
            self.env["medpulse.call.command"]
            .sudo()
            .search(
                [
                    ("call_id", "=", self.id),
                    ("kind", "=", "transfer"),
                    ("user_id", "=", self.env.uid),
                    ("state", "in", ("sent", "accepted")),
                ],
                limit=1,
            )
        )
        if transfer:
            legs = {leg.call_id: leg for leg in state.legs if leg.state in LIVE_STATES}
            held = legs.get(transfer.pbx_call_id)
            consult = next(
                (
                    leg
                    for leg in state.legs
                    if leg.command_id == transfer.command_id and leg.state in LIVE_STATES
                ),
                None,
            )
            if held and held.state == "OnHold" and consult:
                return held.call_id, consult.call_id, None
        return None, None, _answer(False, _("There is no transfer in progress on this call."))

    # -------------------------------------------------------- recordings

    # Recordings of a call: created from the PBX's events, started from Odoo on request.

    recording_ids = fields.One2many(
        "medpulse.call.recording",
        "call_id",
        string="Recordings",
        readonly=True,
        groups="medpulse_telephony.group_telephony_recordings",
    )
    recording_count = fields.Integer(
        string="Number of recordings",
        compute="_compute_recording_count",
        groups="medpulse_telephony.group_telephony_recordings",
    )

    recording_player_html = fields.Html(
        string="Players",
        compute="_compute_recording_player_html",
        sanitize=False,
        groups="medpulse_telephony.group_telephony_recordings",
    )

    @api.depends("recording_ids")
    def _compute_recording_count(self):
        for call in self:
            call.recording_count = len(call.recording_ids)

    @api.depends("recording_ids.state")
    @api.depends_context("uid")
    def _compute_recording_player_html(self):
        for call in self:
            players = [
                recording._render_player(caption=recording._caption())
                for recording in call.recording_ids.sorted(
                    lambda r: (r.started_at or r.create_date, r.id)
                )
            ]
            players = [player for player in players if player]
            call.recording_player_html = Markup("").join(players) if players else False

    def action_start_recording(self):
        """Ask the PBX to record the current user in this call (``commands/recording/start``).

        The PBX answers later: ``result/recording/start``, then ``events/recording``
        ``Started`` creates the recording here.
        """
        self.ensure_one()
        user = self.env.user
        if not user.has_group("medpulse_telephony.group_telephony_recordings"):
            raise AccessError(_("You are not allowed to start call recordings."))
        extension = user.medpulse_pbx_extension
        if not extension:
            raise UserError(
                _("Your user has no PBX extension: set it in Settings ▸ Users ▸ Telephony.")
            )
        leg = self._my_active_leg(extension)
        if not leg:
            raise UserError(
                _("You are not talking in this call right now: there is nothing to record.")
            )
        answer = self._send_command(
            "recording_start",
            {"pbx_call_id": leg.call_id},
            lambda client, command_id: client.recording_start(
                leg.call_id, extension, command_id=command_id
            ),
            _("The PBX will start recording your conversation."),
        )
        if not answer["ok"]:
            raise UserError(answer["message"])
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("Recording requested"),
                "message": answer["message"],
                "type": "success",
                "sticky": False,
            },
        }

    def _my_active_leg(self, extension):
        """The leg of this call in which ``extension`` is talking or on hold now."""
        for leg in reversed(getattr(self._folded(), "legs", ()) or ()):
            parties = {
                leg.to.extension if leg.to else None,
                leg.from_.extension if leg.from_ else None,
            }
            if leg.state in ("Connected", "OnHold") and extension in parties:
                return leg
        return None

    # ---------------------------------------------------- PBX statistics

    # What the PBX's own statistics say about a journal call (reconciliation).

    reconciled = fields.Boolean(
        string="Confirmed by the PBX", readonly=True, index=True, copy=False,
        help="The PBX's call statistics contain this call.",
    )
    recovered_from_stats = fields.Boolean(
        string="Recovered from PBX statistics", readonly=True, index=True, copy=False,
        help="None of this call's events reached the webhook: the call was created from the "
        "PBX's statistics by the reconciliation.",
    )
    completed_from_stats = fields.Boolean(
        string="Completed from PBX statistics", readonly=True, copy=False,
        help="The final notification of this call never arrived: its outcome comes from "
        "the PBX's statistics.",
    )

    def _after_stats(self, state):
        """The statistics created or completed this call: it is over. End the cards still
        ringing or talking and fetch its recordings, as its lost final events would have."""
        self.ensure_one()
        self._card_dispatch(state)
        self.env["medpulse.call.recording"].sudo()._sync_from_state(self.sudo(), None, state)
        # A missed call the webhook never saw still opens its call-back.
        self.env["medpulse.call.callback"]._on_call_settled(self)

    @api.model
    def _apply_stats_rows(self, company, entry_id, rows):
        """Bring the journal call of ``entry_id`` in line with its statistics rows.

        Returns ``'created'``, ``'completed'``, ``'reconciled'`` (only the flag was
        set) or ``False`` when nothing changed, which makes reconciliation idempotent:
        values are written only when they differ from the stored ones.
        """
        state = mango_vpbx.stats.call_state(entry_id, rows)
        call = self.search([("company_id", "=", company.id), ("entry_id", "=", entry_id)], limit=1)
        if not call:
            call, _event_ids = self._insert_new(company, entry_id)
            vals = call._vals_from_state(company, state)
            vals.update(recovered_from_stats=True, reconciled=True,
                        stats_version=mango_vpbx.stats.STATS_VERSION)
            call.write(vals)
            call._apply_followup()
            call.message_post(
                body=_(
                    "Recovered from the PBX statistics: none of this call's events reached the "
                    "webhook."
                ),
                subtype_xmlid="mail.mt_note",
            )
            call._after_stats(state)
            return "created"
        outcome = False
        if not call.is_final:
            vals = call._vals_from_state(company, state)
            for name in _KEPT_FROM_EVENTS:
                if call[name]:
                    vals.pop(name, None)
            changes = call._vals_differing(vals)
            if changes:
                changes["completed_from_stats"] = True
                changes["stats_version"] = mango_vpbx.stats.STATS_VERSION
                call.write(changes)
                call._apply_followup()
                call._after_stats(state)
                outcome = "completed"
            elif call.stats_version and call.stats_version != mango_vpbx.stats.STATS_VERSION:
                # Taken again from the statistics (a refold): the mapping's values stand.
                call.stats_version = mango_vpbx.stats.STATS_VERSION
        if not call.reconciled:
            call.reconciled = True
            outcome = outcome or "reconciled"
        return outcome

    # ------------------------------------------------------ live journal

    # The journal follows the calls live.
    #
    # After every PBX event of a call, its company's journal channel gets the call's id, and
    # the call lists open in the browsers of that company's operators reload themselves
    # (``static/src/journal/``), reading what each of them may read. Only ids travel: the
    # channel is a (company, subchannel) channel that the server alone adds to an operator's
    # websocket (``ir.websocket``, while a journal list is open in one of their tabs), never a
    # string channel any client could join, and no patient data or number is in it.

    def _notify_journal(self):
        """Tell the journal lists of the calls' companies that these calls changed."""
        Bus = self.env["bus.bus"].sudo()
        for company in self.company_id:
            calls = self.filtered(lambda call, company=company: call.company_id == company)
            Bus._sendone(
                (company, JOURNAL_SUBCHANNEL), JOURNAL_NOTIFICATION, {"call_ids": calls.ids}
            )

    # ------------------------------------------------ card alerts, outcomes

    # Issue 20. The card rings (one tab of the user plays Odoo's own incoming-call sound)
    # and, while Odoo is not in front, shows a desktop notification: the user's
    # preferences say whether, the company whether a patient's name may appear in it
    # (the operating system keeps notifications in its history). An answered call gets
    # an outcome (``medpulse.call.outcome``) from the card or the journal form; outcomes
    # that produced something leave one note on the patient.

    outcome_id = fields.Many2one(
        "medpulse.call.outcome", tracking=True, index="btree_not_null",
        domain="['|', ('company_id', '=', False), ('company_id', '=', company_id)]",
        help="How the call ended for the clinic: booked, information given, complaint...",
    )

    def _card_alert_data(self, user):
        """What the card's ringtone and desktop notification need for ``user``."""
        settings = self.sudo().company_id._medpulse_pbx_event_settings()
        return {
            "sound": bool(user.medpulse_pbx_sound),
            "desktop_notify": bool(user.medpulse_pbx_desktop_notify),
            "notify_name": bool(settings["medpulse_pbx_notify_patient_name"]),
        }

    def _card_outcome_data(self, user):
        """The outcomes the ended card offers, in ``user``'s language."""
        call = self.sudo()
        outcomes = self.env["medpulse.call.outcome"]._offered(
            call.company_id.id, self._card_lang(user)
        )
        return {
            "outcome_id": call.outcome_id.id or False,
            "outcomes": [list(outcome) for outcome in outcomes],
            "outcome_required": bool(
                call.company_id.medpulse_pbx_outcome_required
                and call.direction == "incoming"
                and call.answered_at
            ),
        }

    def _log_outcome_on_patient(self):
        """One note on the patient for a call whose outcome produced something."""
        for call in self.sudo():
            outcome = call.outcome_id
            if not (outcome.log_on_patient and call.patient_id):
                continue
            body = _(
                "Call of %(moment)s (%(type)s, %(operator)s): %(outcome)s.",
                moment=format_datetime(
                    call.env, call.created_at, tz=call._user_tz().zone, dt_format="short"
                ) if call.created_at else "",
                type=dict(call._fields["call_type"]._description_selection(call.env)).get(
                    call.call_type, ""
                ),
                operator=call.operator_user_id.name or call.answered_user_id.name or "-",
                outcome=outcome.name,
            )
            if call.followup_note:
                body = f"{body} {call.followup_note}"
            call.patient_id.message_post(
                body=plaintext2html(body),
                message_type="comment",
                subtype_xmlid="mail.mt_note",
                author_id=self.env.user.partner_id.id,
            )

    # ---------------------------------------------------------------- insight
    # Issue 23 part 2: what the caller chose in the voice menu (``events/dtmf``), what the
    # call was about (speech-analytics topics) and where the caller came from (call
    # tracking, ``dct``). The keys and the number come with the events and are folded;
    # topics and the visitor's channel are asked after the commit (``medpulse.call.insight``).

    dtmf_choices = fields.Char(
        string="Keys pressed", readonly=True, index="trigram",
        help="What the caller typed in the voice menu, as place:keys (ivr:2 is 2 in the "
        "main menu).",
    )
    ivr_label_ids = fields.Many2many(
        "medpulse.ivr.label", "medpulse_call_ivr_label_rel", "call_id", "label_id",
        string="Voice menu", readonly=True,
        help="The places of the voice menu the caller typed in and the items the keys led to.",
    )
    dct_number = fields.Char(
        string="Call-tracking number", readonly=True, index="btree_not_null",
        help="The call-tracking number the caller dialled (shown on the site or in an ad).",
    )
    dct_type = fields.Selection(
        [("0", "Not call-tracking"), ("1", "Dynamic"), ("2", "Static")],
        string="Call-tracking type", readonly=True,
    )
    dct_source = fields.Char(string="Source", readonly=True, index="btree_not_null")
    dct_medium = fields.Char(string="Medium", readonly=True)
    dct_campaign = fields.Char(string="Campaign", readonly=True)
    dct_bound = fields.Boolean(
        string="Visitor known", readonly=True,
        help="The PBX knew the web visitor the call-tracking number was shown to.",
    )
    dct_source_asked = fields.Boolean(
        string="Source asked", readonly=True, copy=False,
        help="The visitor's source was queued to be asked of the PBX: it is asked once per "
        "call, not again at the call's next events or when the journal is refolded.",
    )
    topic_ids = fields.Many2many(
        "medpulse.call.topic", "medpulse_call_topic_rel", "call_id", "topic_id",
        string="Topics", readonly=True,
        help="What the PBX's speech analytics recognised in the call's recordings.",
    )
    insight_ids = fields.One2many(
        "medpulse.call.insight", "call_id", string="Questions to the PBX",
        groups="medpulse_telephony.group_telephony_manager",
    )

    def _insight_vals_from_state(self, company, state):
        """Journal values of the keys pressed and of the call-tracking number."""
        choices = getattr(state, "dtmf_choices", ()) or ()
        locations = [loc for c in choices for loc in (c.location, c.next_location) if loc]
        labels = self.env["medpulse.ivr.label"].sudo()._get_or_create(company, locations)
        dct_type = getattr(state, "dct_type", None)
        return {
            "dtmf_choices": " ".join(
                f"{c.location}:{c.dtmf}" if c.location else c.dtmf for c in choices
            ) or False,
            "ivr_label_ids": [Command.set(labels.ids)],
            "dct_number": getattr(state, "dct_number", None) or False,
            "dct_type": str(dct_type) if dct_type in (0, 1, 2) else False,
        }

    def _after_event_insight(self, event_record, event, state):
        # Only queued here (the webhook's transaction); the cron asks the PBX.
        Insight = self.env["medpulse.call.insight"].sudo()
        call = self.sudo()
        if isinstance(event, mango_vpbx.events.RecordTaggedEvent):
            recording = call.recording_ids.filtered(
                lambda r: r.recording_id == event.recording_id
            )[:1]
            if recording:
                Insight._queue(call, "topics", recording)
        call._queue_dct_source()

    def _queue_dct_source(self):
        """Queue the question of the visitor's source for a call that came in on a
        call-tracking number (dynamic or static), once per call: the flag is on the call's
        row, which every event reads anyway, so no event after the first that carried the
        number searches the queue (nor does a refold, which calls this too)."""
        Insight = self.env["medpulse.call.insight"].sudo()
        for call in self.sudo():
            if call.dct_number and call.dct_type in ("1", "2") and not call.dct_source_asked:
                Insight._queue(call, "source")
                call.dct_source_asked = True

    def _card_ivr_choices(self):
        """The card's lines about the voice menu: "Pressed 2 in the main menu: Cancel..."."""
        self.ensure_one()
        labels = self.sudo().ivr_label_ids
        lines = []
        for item in (self.dtmf_choices or "").split():
            location, _sep, keys = item.rpartition(":")
            if not location:
                lines.append(_("Pressed %(keys)s", keys=keys))
                continue
            line = _("Pressed %(keys)s in %(menu)s", keys=keys, menu=labels._label_text(location))
            target = f"{location}.{keys}"
            reached = labels.filtered(lambda label, target=target: label.location == target)
            if reached.name:
                line = _("%(choice)s: %(item)s", choice=line, item=reached.name)
            lines.append(line)
        return lines

#: Above this many matching patients, the Patient filter is left to a subquery.
_PATIENT_SEARCH_IDS = 5000
#: Above this many calls of the matching patients, the journal is searched by its link table.
_PATIENT_SEARCH_CALLS = 20000
#: What a number looks like when someone types it: +7 (916) 123-45-67, 8916..., 1234.
_NUMBER_TYPED = re.compile(r"[\d\s()+\-.]+")


def _call_type(direction, result):
    if direction == "internal":
        return "internal"
    if direction == "outgoing":
        return "unanswered_outgoing" if result == "missed" else "outgoing"
    if direction == "incoming":
        return "missed_incoming" if result == "missed" else "incoming"
    return False


def same_value(record, name, value):
    """Whether ``record`` (one) holds ``value`` in the stored field ``name`` (not x2many),
    compared as the ORM caches them: a write of it would change nothing."""
    field = record._fields[name]
    return field.convert_to_cache(value, record, validate=False) == field.convert_to_cache(
        record[name], record, validate=False
    )


def _set_command_ids(commands):
    """The ids of a ``[Command.set(ids)]`` value, or None for any other form."""
    if isinstance(commands, (list, tuple)) and len(commands) == 1:
        command = commands[0]
        if isinstance(command, (list, tuple)) and len(command) == 3 and command[0] == 6:
            return list(command[2])
    return None


def _party_label(party):
    if not party:
        return ""
    extension, number = party.extension, party.number
    if extension and number:
        return f"{extension} ({number})"
    return extension or number or ""


def _patient_card(patient):
    next_appointment = patient.next_appointment_id
    return {
        "id": patient.id,
        "name": patient.name,
        "card_number": patient.card_number or "",
        "last_visit_at": fields.Datetime.to_string(patient.last_visit_at)
        if patient.last_visit_at
        else False,
        "last_service": patient.last_service_id.display_name or "",
        "next_appointment": next_appointment
        and {
            "id": next_appointment.id,
            "start": fields.Datetime.to_string(next_appointment.start),
            "doctor": next_appointment.doctor_id.display_name or "",
            "service": next_appointment.service_id.display_name or "",
        }
        or False,
        "consent_call": bool(patient.consent_call),
        "consent_sms": bool(patient.consent_sms),
        # Issue 22: "on the waiting list for ... since ...".
        "waitlist": patient.env["medpulse.waitlist"]._card_entries(patient),
    }


#: ``call_measures.COUNTED`` over the journal's own columns (an index's predicate).
_COUNTED_UNALIASED = re.sub(r"\bc\.", "", call_measures.COUNTED)
#: What the journal's grouped list asks per group and the monthly tally holds for every call.
TALLIED_AGGREGATES = frozenset({"__count", "wait_seconds:avg", "talk_seconds:sum"})
#: The journal's groupings the monthly tally keeps.
TALLIED_GROUPINGS = frozenset({"operator_user_id", "line_id", "company_id"})


def _many2one_group_order(order, spec):
    """``ASC`` or ``DESC`` if ``order`` (of ``_read_group``) orders by the grouped field
    ``spec`` alone (as ``read_group`` asks by default), else None."""
    if not order:
        return None
    words = order.split()
    if not words or words[0] != spec or len(words) > 2 or "," in order:
        return None
    direction = words[1].upper() if len(words) == 2 else "ASC"
    return direction if direction in ("ASC", "DESC") else None
