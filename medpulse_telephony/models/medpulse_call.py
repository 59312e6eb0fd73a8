import logging
import re
from datetime import datetime, time, timedelta, timezone

import mango_vpbx
import pytz
from mango_vpbx.codes import DISCONNECT_CATEGORIES, disconnect_category

from odoo import _, api, fields, models
from odoo.exceptions import AccessError
from odoo.osv import expression
from odoo.tools import SQL, format_datetime, html_escape

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

def _naive_utc(moment):
    """An aware datetime from the toolkit as the naive UTC value Odoo stores."""
    if not moment:
        return False
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


class MedpulseCall(models.Model):
    """The call journal: one record per PBX ``entry_id`` (a call with all its legs).

    Never edited from the PBX's events one by one: every new event triggers
    :meth:`_recompute`, which folds *all* stored events of the entry with
    ``mango_vpbx.fold``, so duplicates and out-of-order deliveries cannot corrupt it.
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
    callee_number = fields.Char(string="Called number", readonly=True, index="trigram", help="As the PBX sent it.")
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
    line_id = fields.Many2one("medpulse.telephony.line", string="Line", readonly=True, index=True)
    patient_id = fields.Many2one(
        "medpulse.patient", string="Patient", readonly=True, index="btree_not_null",
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
        string="Patient (name or card)", compute="_compute_patient_search", search="_search_patient",
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
        FOLLOWUP_STATES, string="Follow-up", default="new", required=True, tracking=True, index=True,
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
        "medpulse.call.event", "call_id_ref", string="Raw events", readonly=True,
        groups="medpulse_telephony.group_telephony_manager",
    )
    event_count = fields.Integer(compute="_compute_event_count", groups="medpulse_telephony.group_telephony_manager")
    legs_html = fields.Html(string="Legs", compute="_compute_legs_html", sanitize=False)

    _sql_constraints = [
        ("entry_company_uniq", "UNIQUE(company_id, entry_id)", "A call with this PBX entry id already exists."),
    ]

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
            region = call.company_id.mango_default_region or "RU"
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
        for them: 5.4 s for "Романов Андрей" at 1,000,000 calls, 29 ms with the ids.
        Patients are searched with the user's own rights, as the subquery did.
        """
        if operator not in ("ilike", "=", "like", "=ilike") or not isinstance(value, str):
            return [("patient_ids", operator, value)]
        patients = self.env["medpulse.patient"]._search(
            [("display_name", operator, value)], limit=_PATIENT_SEARCH_IDS + 1
        )
        ids = list(patients)
        if len(ids) > _PATIENT_SEARCH_IDS:
            # A fragment that matches a crowd ("а"): no list of ids to pass on.
            return [("patient_ids", operator, value)]
        return [("patient_ids", "in", ids)]

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
        if operator not in ("ilike", "=", "like", "=ilike") or not isinstance(value, str) or not value.strip():
            return expression.FALSE_DOMAIN
        domains = []
        e164 = self.env.company._mango_normalize(value)
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
            counts = dict(Appointment._read_group([("call_id", "in", self.ids)], ["call_id"], ["__count"]))
        for call in self:
            call.appointment_count = counts.get(call, 0)

    def _compute_event_count(self):
        counts = dict(
            self.env["medpulse.call.event"]._read_group(
                [("call_id_ref", "in", self.ids)], ["call_id_ref"], ["__count"]
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
        events = self.env["medpulse.call.event"].sudo().search(
            [("call_id_ref", "=", self.id), ("state", "!=", "not_understood")]
        )
        state = self._fold(self.company_id, events)
        legs = state.legs
        if not legs:
            return False
        headers = [_("Leg"), _("Where"), _("From"), _("To"), _("Appeared"), _("Answered"), _("Ended"), _("Reason")]
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
            rows.append("<tr>%s</tr>" % "".join(f"<td>{html_escape(str(cell or ''))}</td>" for cell in cells))
        head = "".join(f"<th>{html_escape(h)}</th>" for h in headers)
        return (
            '<table class="table table-sm o_medpulse_call_legs"><thead><tr>%s</tr></thead><tbody>%s</tbody></table>'
            % (head, "".join(rows))
        )

    def _format_moment(self, moment):
        if not moment:
            return ""
        return format_datetime(self.env, _naive_utc(moment), tz=self._user_tz().zone, dt_format="HH:mm:ss")

    # ---------------------------------------------------------------- access

    def write(self, vals):
        if (
            not self.env.su
            and set(vals) & self._pbx_field_names()
            and not self.env.user.has_group("medpulse_telephony.group_telephony_manager")
        ):
            raise AccessError(_("Only telephony managers can change what the PBX recorded about a call."))
        return super().write(vals)

    @api.model
    def _pbx_field_names(self):
        """Fields that state what the PBX reported: read-only for operators."""
        return {
            name for name, field in self._fields.items()
            if field.store and field.readonly and not field.automatic
        }

    # ------------------------------------------------------------ processing

    @api.model
    def _process_event(self, event_record, event):
        """Fold one newly stored PBX event into the journal; the webhook's entry point.

        ``event_record`` is the ``medpulse.call.event`` just stored, ``event`` its parsed
        ``mango_vpbx`` event. Returns the call (an empty recordset for events that
        belong to no call, e.g. command results). Modules that react to live events
        (the incoming-call card) override :meth:`_after_event`, not this.
        """
        if not event_record.entry_id:
            return self.browse()
        # The journal, the card and the recordings resolve the same operators.
        with self.env["res.users"]._pbx_operator_memo():
            call, state = self._recompute(event_record.company_id, event_record.entry_id)
            call._after_event(event_record, event, state)
        return call

    def _after_event(self, event_record, event, state):
        """Hook called once per new event, after the call was recomputed.

        ``state`` is the ``mango_vpbx.CallState`` of the whole call. The incoming-call
        card overrides it to notify the ringing operator, who is found with
        ``self.env['res.users']._find_pbx_operator(company, extension, number)``.
        """
        self.ensure_one()

    @api.model
    def _fold(self, company, events):
        return mango_vpbx.fold(events._parsed(), time_base=company._mango_time_base())

    @api.model
    def _recompute(self, company, entry_id):
        """Rebuild the call of ``entry_id`` from all of its stored events.

        Concurrency: two workers may process events of the same call at once. Under
        PostgreSQL's repeatable read (Odoo's isolation) each sees only its own event, so
        whoever comes second must start again with a fresh snapshot. Both the row lock
        taken on an existing call and the ``ON CONFLICT DO NOTHING`` insert of a new one
        raise a serialization failure in that case; the caller starts again (the
        webhook's ``medpulse.call.event._process_in_turn``, which also takes a lock per
        call first so that this is rare, or Odoo's request dispatcher for other paths):
        the retry sees both events and folds them together.

        The lock is an UPDATE of ``write_date``, not a ``SELECT ... FOR NO KEY UPDATE``:
        only the fields that changed are written below, so without it an event that
        changes nothing would leave the row unmodified and a concurrent worker would
        fold without this event instead of failing and retrying.
        """
        Event = self.env["medpulse.call.event"]
        call = self.search([("company_id", "=", company.id), ("entry_id", "=", entry_id)], limit=1)
        if call:
            self.env.cr.execute(
                SQL(
                    "UPDATE medpulse_call SET write_date = NOW() AT TIME ZONE 'UTC', write_uid = %s"
                    " WHERE id = %s",
                    self.env.uid, call.id,
                ),
                log_exceptions=False,
            )
            call.invalidate_recordset(["write_date", "write_uid"])
        else:
            call = self._insert_new(company, entry_id)
        # One query for the ids and what the fold and the links below read, instead of
        # a search and then a read of every column (the JSON of each event included once).
        events = Event.search_fetch(
            [("company_id", "=", company.id), ("entry_id", "=", entry_id), ("state", "!=", "not_understood")],
            ["path", "json", "state", "call_id_ref"],
        )
        state = self._fold(company, events)
        # Most events change a few fields only: an unchanged value is not rewritten,
        # so no UPDATE of it, no tracking and no relation rewrite of the many2many.
        vals = call._vals_differing(call._vals_from_fold(company, state))
        if vals:
            call.write(vals)
        events.filtered(lambda e: e.call_id_ref != call).write({"call_id_ref": call.id})
        events.filtered(lambda e: e.state == "error").write({"state": "processed", "error": False})
        call._apply_followup()
        return call, state

    def _vals_from_fold(self, company, state):
        """Journal values of the fold of this call's stored events (:meth:`_recompute`)."""
        return self._vals_from_state(company, state)

    @api.model
    def _insert_new(self, company, entry_id):
        now = fields.Datetime.now()
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO medpulse_call
                    (company_id, entry_id, followup_state, create_uid, create_date, write_uid, write_date)
                VALUES (%s, %s, 'new', %s, %s, %s, %s)
                ON CONFLICT (company_id, entry_id) DO NOTHING
                RETURNING id
                """,
                company.id, entry_id, self.env.uid, now, self.env.uid, now,
            ),
            log_exceptions=False,
        )
        row = self.env.cr.fetchone()
        if row:
            return self.browse(row[0])
        return self.search([("company_id", "=", company.id), ("entry_id", "=", entry_id)], limit=1)

    def _vals_from_state(self, company, state):
        """Journal values of a ``mango_vpbx.CallState``."""
        self.ensure_one()
        with self.env["res.users"]._pbx_operator_memo():
            return self._vals_from_state_memo(company, state)

    def _vals_from_state_memo(self, company, state):
        Users = self.env["res.users"]
        direction = state.direction
        call_type = _call_type(direction, state.result)
        # The external number is the caller's or the callee's: parsed once, not twice.
        normalized = {}

        def normalize(raw):
            if raw not in normalized:
                normalized[raw] = company._mango_normalize(raw)
            return normalized[raw]

        caller_e164 = normalize(state.caller_number)
        callee_e164 = normalize(state.called_number)
        external_raw = state.external_number if direction in ("incoming", "outgoing") else None
        external_e164 = normalize(external_raw)
        patients = self.env["medpulse.patient"]
        if external_raw:
            patients = patients.sudo()._lookup_by_phone(external_raw).filtered(
                lambda p: p.company_id == company
            )
        # Every extension of the call in one search; the lookups below (and the card's
        # after them) are then answered from the memo.
        Users._find_pbx_operators(
            company,
            extensions=(state.answered_extension, state.operator_extension, *(state.rang_extensions or ())),
        )
        answered = Users._find_pbx_operator(company, state.answered_extension, state.answered_number)
        rang = Users._find_pbx_operators(
            company, extensions=state.rang_extensions or (), numbers=state.rang_numbers or ()
        )
        operator = Users._find_pbx_operator(company, state.operator_extension)
        if not operator:
            # A leg without an extension: the employee is known by a device number only.
            operator = answered if direction == "incoming" else Users._find_pbx_operator(
                company, None, state.caller_number
            )
        line = self.env["medpulse.telephony.line"].sudo()._get_or_create(company, state.line_number)
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
            "patient_id": patients[:1].id or False,
            "patient_ids": [fields.Command.set(patients.ids)],
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
        # A call first seen as missed can turn out answered once late events arrive;
        # only the automatic status follows it, never one an operator chose.
        if call_type != "missed_incoming" and self.followup_state == "needs_callback" and not self.closed_by_call_id:
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
                new = field.convert_to_cache(value, record, validate=False)
                if new == field.convert_to_cache(record[name], record, validate=False):
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
        kinds = {"blind": _("blind transfer"), "consultative": _("consultative transfer")}
        return "\n".join(
            f"{t.from_extension or '?'} → {t.to_extension or t.to_number or '?'} ({kinds.get(t.kind, t.kind)})"
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
        never reopened) and the result would depend on the order of delivery.
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
                missed = self.search([
                    ("company_id", "=", call.company_id.id),
                    ("external_e164", "=", call.external_e164),
                    ("followup_state", "=", "needs_callback"),
                    ("call_type", "=", "missed_incoming"),
                    ("created_at", "<", call.created_at),
                ])
                missed._close_by(call)

    def _followup_settled(self):
        """Whether this call's times are the truth (its summary arrived), so that it may
        close a missed call."""
        self.ensure_one()
        return self.is_final

    @api.model
    def _followup_settled_domain(self):
        """:meth:`_followup_settled` as a domain."""
        return [("is_final", "=", True)]

    def init(self):
        super().init()
        # One row per (company, number) that follow-up touches: see _lock_followup_number.
        self.env.cr.execute("""
            CREATE TABLE IF NOT EXISTS medpulse_call_followup_lock (
                company_id integer NOT NULL,
                e164 varchar NOT NULL,
                touched_at timestamp NOT NULL,
                PRIMARY KEY (company_id, e164)
            )
        """)

    def _lock_followup_number(self):
        """Serialise follow-up per number across workers.

        A missed call and the answered call that closes it may be processed at the same
        time by two workers; under repeatable read neither sees the other's uncommitted
        call, and the missed call would wait for a callback forever. Both touch the same
        row here: the second one gets a serialization failure and is retried with a
        snapshot that sees the first (``medpulse.call.event._process_in_turn``).
        """
        self.ensure_one()
        self.env.cr.execute(
            SQL(
                "INSERT INTO medpulse_call_followup_lock (company_id, e164, touched_at)"
                " VALUES (%s, %s, NOW() AT TIME ZONE 'UTC')"
                " ON CONFLICT (company_id, e164) DO UPDATE SET touched_at = EXCLUDED.touched_at",
                self.company_id.id, self.external_e164,
            ),
            log_exceptions=False,
        )

    def _close_by(self, closer):
        if not self:
            return
        if closer.direction == "outgoing":
            state, body = "called_back", _("Called back (call %s).", closer.display_name)
        else:
            state, body = "resolved", _("The caller got through later (call %s).", closer.display_name)
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
        action = self.env["ir.actions.act_window"]._for_xml_id("medpulse_clinic.medpulse_appointment_action")
        action.update({
            "domain": [("call_id", "=", self.id)],
            "context": {"default_call_id": self.id},
            "view_mode": "list,form",
            "views": [(False, "list"), (False, "form")],
        })
        return action

    def action_view_events(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("medpulse_telephony.medpulse_call_event_action")
        action["domain"] = [("call_id_ref", "=", self.id)]
        action["context"] = {}
        return action

    def action_export_raw_events(self):
        """Download the raw events of the selected calls as JSON Lines (emulator replay)."""
        if not self.env.user.has_group("medpulse_telephony.group_telephony_manager"):
            raise AccessError(_("Only telephony managers can export raw PBX events."))
        events = self.env["medpulse.call.event"].search([("call_id_ref", "in", self.ids)])
        attachment = self.env["ir.attachment"].create({
            "name": "pbx-events-%s.jsonl" % fields.Datetime.now().strftime("%Y%m%d-%H%M%S"),
            "raw": events._export_jsonl().encode(),
            "mimetype": "application/x-ndjson",
        })
        return {
            "type": "ir.actions.act_url",
            "url": f"/web/content/{attachment.id}?download=true",
            "target": "self",
        }


#: Above this many matching patients, the Patient filter is left to a subquery.
_PATIENT_SEARCH_IDS = 5000
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
