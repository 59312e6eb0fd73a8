import re
import time as monotonic_clock
from collections import defaultdict
from datetime import datetime, time, timedelta

import psycopg2
import pytz

from odoo import _, api, fields, models
from odoo.exceptions import AccessError
from odoo.tools import SQL

import mango_vpbx

from .medpulse_call import ACTIVE_CARD_HOURS, LIVE_STATES
from .medpulse_call_command import MANAGER_GROUP, OPERATOR_GROUP
from .medpulse_call_ledger import CLINIC_MANAGER_GROUP

#: Who opens the wallboard and whose websockets listen to its channel.
SUPERVISOR_GROUPS = (MANAGER_GROUP, CLINIC_MANAGER_GROUP)
WALLBOARD_NOTIFICATION = "medpulse_telephony.wallboard"
#: A board asks for ``<WALLBOARD_SUBCHANNEL>:<company id>:<variant>``; the server grants it as
#: the channel (company, ``<WALLBOARD_SUBCHANNEL>/<variant>``) (``ir.websocket``).
WALLBOARD_SUBCHANNEL = "medpulse_telephony.wallboard"
#: What a board is pushed: with patient names (users with a clinic role), without them,
#: and for a TV (numbers masked to their last four digits, no names).
WALLBOARD_VARIANTS = ("named", "unnamed", "tv")
#: The publisher pushes a company's board at most this often (seconds), and waits at least
#: PUBLISH_LOAD_FACTOR times as long as its last pass took: on a busy server (a pass takes
#: longer) the boards are pushed less often, so that they never take more than a quarter of
#: one worker's time from the webhook...
PUBLISH_INTERVAL = 0.75
PUBLISH_LOAD_FACTOR = 3
#: ...and the cron waits for the throttle this long at most (seconds).
PUBLISH_RUN_SECONDS = 10
PUBLISH_CRON = "medpulse_telephony.ir_cron_medpulse_wallboard_publish"
#: After-call work: from the hang-up until the operator saves the card's follow-up, or
#: this long at most.
AFTER_CALL_SECONDS = 120
#: With no event, the board asks again at most this often whether the PBX went silent.
SILENCE_RECHECK_MINUTES = 5
#: A read of the board keeps its company's pushes on this long: longer than the board's
#: longest wait between two reads (SILENCE_RECHECK_MINUTES).
WATCH_MINUTES = 2 * SILENCE_RECHECK_MINUTES + 2
#: Key of the companies whose boards this transaction already said changed, and of those
#: of them with a board open (the webhook pushes them after its answer).
_CHANGED_KEY = "medpulse_telephony.wallboard.changed"
WATCHED_KEY = "medpulse_telephony.wallboard.watched"
#: Context key of a fold whose request pushes the boards after its answer (the webhook's):
#: its changes need no cron.
PUSHED_AFTER_ANSWER = "medpulse_wallboard_pushed_after_answer"
#: Operator states, from the busiest: a user ringing and in after-call work is ringing.
OPERATOR_STATES = ("talking", "ringing", "after_call", "away", "free")


class MedpulseWallboard(models.AbstractModel):
    """The supervisors' live wallboard: calls waiting and in progress, the operators' states
    and today's figures of one company (client half: ``static/src/wallboard/``).

    :meth:`_wallboard_data` reads the board's whole state: today's calls of the company (one
    indexed range on ``created_at``), the events of the calls still live (one query, folded by
    ``mango_vpbx.fold`` as the journal does), the operators, today's aggregates and
    call-backs. A board reads it once when it opens (:meth:`get_board`, with the user's
    rights), after a reconnect and at least every SILENCE_RECHECK_MINUTES; in between, the
    server pushes it:

    - the webhook's fold, the operator's "away" switch and the card's follow-up say that a
      company's board changed (:meth:`_changed`): nothing more than an inserted row
      (``medpulse.wallboard.change``), and nothing at all while no board of the company is
      open (``medpulse.wallboard.watch``);
    - the webhook's request, once it has answered the PBX (``controllers/webhook.py``),
      pushes the boards its event changed (:meth:`_publish_due`): each company's board is
      computed once and sent on the bus in the variants (WALLBOARD_VARIANTS) open
      somewhere (``medpulse.wallboard.watch``), each on a channel of its own, unless it
      was pushed less than PUBLISH_INTERVAL ago (longer if computing it takes long:
      PUBLISH_LOAD_FACTOR), by this or another worker or instance (:meth:`_claim`);
    - what such a throttled change leaves behind, a timer of that worker pushes once the
      interval has passed (``controllers/webhook.py``); the cron (:meth:`_cron_publish`,
      triggered by :meth:`_changed`) pushes the changes made outside the webhook (the away
      switch, a saved card, events folded by a cron) and what a request could not push;
    - a board asks for the one variant it shows, and the server grants it only to the
      company's supervisors, the names only to those who may read patients
      (``ir.websocket``). A board in TV mode never receives a name or a full number.

    So 30 open boards cost one computation per burst, not 30 reads per event.

    Indexes it reads through, created by their models' ``init``: calls by (company, start),
    the calls not over yet by (company, start) (partial), calls by (company, end) and events
    by (company, reception).

    Patient names: for users who may read patients (a clinic role), as on the incoming-call
    card; never in TV mode, whoever is signed in, where numbers are masked to their last four
    digits too.
    """

    _name = "medpulse.wallboard"
    _description = "Wallboard"

    # ------------------------------------------------------------------ access

    @api.model
    def _is_supervisor(self, user=None):
        user = user or self.env.user
        return not user.share and any(user.has_group(group) for group in SUPERVISOR_GROUPS)

    @api.model
    def get_board(self, tv_mode=False):
        """The board of the user's current company, for the client: see :meth:`_wallboard_data`."""
        if not self._is_supervisor():
            raise AccessError(
                _("Only telephony managers and clinic managers can open the wallboard.")
            )
        board = self._wallboard_data(self.env.company, tv_mode=bool(tv_mode))
        self._watch(self.env.company, _variant_shown(board))
        return board

    @api.model
    def _variant_of(self, user, company, variant):
        """The channel of ``company``'s board in ``variant`` if ``user`` may listen to it
        (``ir.websocket``), else None: a supervisor of the company; the names only for a
        user who may read its patients."""
        if variant not in WALLBOARD_VARIANTS or company not in user.company_ids:
            return None
        if not user._is_internal() or not self._is_supervisor(user):
            return None
        if variant == "named" and not self.env["medpulse.patient"].with_user(user).with_company(
            company
        ).has_access("read"):
            return None
        return (company, f"{WALLBOARD_SUBCHANNEL}/{variant}")

    # ------------------------------------------------------------------ the state

    @api.model
    def _wallboard_data(self, company, tv_mode=False, now=None, show_names=None):
        """The board's state for the current user: a dict of plain values (times as naive
        UTC strings).

        ``now`` (naive UTC) is the moment the board is computed for (tests);
        ``show_names``: whether patient names are read (by default, if the user may).
        """
        now = now or fields.Datetime.now()
        tz = self._company_tz(company)
        day_start, day_end = self._day_bounds(tz, now)
        if show_names is None:
            show_names = not tv_mode and self.env["medpulse.patient"].has_access("read")
        live = self._live_calls(company, now)
        users = self._operators(company)
        parties, waiting, in_progress = self._live_rows(company, live)
        figures = self._today_figures(company, day_start, day_end, now)
        names = self._patient_names(company, live if show_names else live.browse())
        operators = self._operator_rows(
            users, parties, self._after_call(company, now), figures, now
        )
        for row in waiting + in_progress:
            call = row.pop("call")
            row["number"] = self._number(call, tv_mode)
            row["patient"] = names.get(call.id, "")
        return {
            "company_id": company.id,
            "company": company.name,
            "now": fields.Datetime.to_string(now),
            "tv_mode": tv_mode,
            "show_names": show_names,
            "tz": tz.zone,
            "day_end": fields.Datetime.to_string(day_end),
            "after_call_seconds": AFTER_CALL_SECONDS,
            "waiting": sorted(waiting, key=lambda row: row["since"] or ""),
            "in_progress": sorted(in_progress, key=lambda row: row["since"] or ""),
            "operators": operators,
            "totals": figures["totals"],
            "silence": self._silence(company, now),
        }

    @api.model
    def _company_tz(self, company):
        """The clinic's time zone: its working calendar's, else its address's, as the
        lost-patient ledger's day (``medpulse.call.ledger._company_today``)."""
        return pytz.timezone(company.resource_calendar_id.tz or company.partner_id.tz or "UTC")

    @api.model
    def _day_bounds(self, tz, now):
        """[start, end) of ``now``'s day in ``tz``, as naive UTC datetimes."""
        local = pytz.utc.localize(now).astimezone(tz).date()
        start = tz.localize(datetime.combine(local, time.min))
        end = tz.localize(datetime.combine(local + timedelta(days=1), time.min))
        return (
            start.astimezone(pytz.utc).replace(tzinfo=None),
            end.astimezone(pytz.utc).replace(tzinfo=None),
        )

    @api.model
    def _live_calls(self, company, now):
        """The calls of ``company`` not over yet: the calls not final of the last
        ACTIVE_CARD_HOURS (a call whose summary never came stops counting as live then, as
        its card does), one indexed read of a few rows through the partial index of the
        calls not over (``medpulse_call_company_live_index``), never the day's settled
        calls."""
        return self.env["medpulse.call"].sudo().search_fetch(
            [("company_id", "=", company.id),
             ("created_at", ">=", now - timedelta(hours=ACTIVE_CARD_HOURS)),
             ("is_final", "=", False)],
            [
                "entry_id", "direction", "created_at", "answered_at", "is_final", "line_id",
                "external_e164", "caller_number", "callee_number", "operator_user_id",
                "patient_id",
            ],
            order="created_at, id",
        )

    @api.model
    def _live_rows(self, company, live):
        """({user: (status, since)}, waiting rows, in-progress rows) of the live calls.

        The calls' events are read in one query and folded as the journal folds them; who
        rings and who talks is what the incoming-call card says
        (``medpulse.call._card_live_parties``).
        """
        parties, waiting, in_progress = {}, [], []
        if not live:
            return parties, waiting, in_progress
        events = self.env["medpulse.call.event"].sudo().search_fetch(
            [
                ("company_id", "=", company.id),
                ("entry_id", "in", live.mapped("entry_id")),
                ("state", "!=", "not_understood"),
            ],
            ["path", "json", "state", "entry_id"],
        )
        by_entry = events.grouped("entry_id")
        time_base = company._medpulse_pbx_time_base()
        Events = self.env["medpulse.call.event"]
        states = {
            call: mango_vpbx.fold(
                by_entry.get(call.entry_id, Events)._parsed(), time_base=time_base
            )
            for call in live
        }
        # The live legs' operators come from the company's PBX directory each worker keeps
        # (``res.users._medpulse_pbx_directory``): no search per call.
        live_parties_of = {
            call: call._card_live_parties(state)
            for call, state in states.items()
            if not state.is_final and (call.direction or state.direction) == "incoming"
        }
        # Their names in one read (each party is a record of its own: read one by one,
        # a query per operator and push).
        self.env["res.users"].browse(
            {user.id for parties_ in live_parties_of.values() for user in parties_}
            | set(live.operator_user_id.ids)
        ).mapped("name")
        for call, state in states.items():
            legs = [leg for leg in state.legs if leg.state in LIVE_STATES]
            if state.is_final or not legs:
                continue
            row = {
                "call": call,
                "call_id": call.id,
                "direction": call.direction or state.direction or "",
                "line": call.line_id.display_name or "",
            }
            if (call.direction or state.direction) != "incoming":
                user = call.operator_user_id
                if user:
                    since = call.answered_at or call.created_at
                    parties[user] = ("talking", since)
                row.update(
                    operator=user.name or "", operator_id=user.id,
                    since=_string(call.answered_at), answered=bool(call.answered_at),
                )
                in_progress.append(row)
                continue
            live_parties = live_parties_of[call]
            talking = [
                (user, leg) for user, (status, leg) in live_parties.items()
                if status == "talking"
            ]
            ringing = [
                (user, leg) for user, (status, leg) in live_parties.items()
                if status == "ringing"
            ]
            for user, leg in ringing:
                parties.setdefault(user, ("ringing", _naive(leg.started_at)))
            for user, leg in talking:
                parties[user] = ("talking", _naive(leg.answered_at) or call.answered_at)
            if talking:
                user, leg = talking[0]
                row.update(
                    operator=user.name, operator_id=user.id,
                    since=_string(_naive(leg.answered_at) or call.answered_at),
                    answered=True,
                )
                in_progress.append(row)
                continue
            last = legs[-1]
            row.update(
                since=_string(call.created_at),
                where="ringing" if ringing else (last.location or ""),
                queue=self._queue_label(legs),
                ringing=[user.name for user, _leg in ringing],
            )
            waiting.append(row)
        return parties, waiting, in_progress

    @api.model
    def _queue_label(self, legs):
        """The group (queue) a waiting call went through: its short number, if the PBX gave
        one (the client says "group 300" in the reader's language)."""
        for leg in reversed(legs):
            for party in (leg.to, leg.from_):
                if party and party.acd_group:
                    return str(party.acd_group)
        return ""

    @api.model
    def _operators(self, company):
        """The company's operators with a PBX extension, by name."""
        return self.env["res.users"].sudo().search_fetch(
            [
                ("company_ids", "in", company.ids),
                ("medpulse_pbx_extension", "!=", False),
                ("groups_id", "in", self.env.ref(OPERATOR_GROUP).ids),
                ("share", "=", False),
            ],
            ["name", "medpulse_pbx_extension", "medpulse_pbx_away", "medpulse_pbx_away_since"],
            order="name, id",
        )

    @api.model
    def _after_call(self, company, now):
        """{user id: hang-up time} of the operators in after-call work: they talked in a call
        that ended less than AFTER_CALL_SECONDS ago and have not saved its card's follow-up
        (the card's ``card_audience`` turns "closed" for them then). The operator of a call
        is who answered an incoming call, or who placed an outgoing one.

        One aggregate over the index on (company, end): at a busy hour the calls ended
        within the after-call time are hundreds, of which the board needs one moment per
        operator (read as records, they were most of a push's time)."""
        self.env["medpulse.call"].flush_model([
            "company_id", "created_at", "ended_at", "answered_at", "direction",
            "answered_user_id", "operator_user_id", "card_audience",
        ])
        self.env.cr.execute(SQL(
            """
            SELECT operator, max(ended_at)
              FROM (SELECT CASE WHEN direction = 'incoming' THEN answered_user_id
                                ELSE operator_user_id END AS operator,
                           ended_at, card_audience
                      FROM medpulse_call
                     WHERE company_id = %(company)s AND created_at >= %(since)s
                       AND ended_at >= %(ended)s AND answered_at IS NOT NULL) AS ended
             WHERE operator IS NOT NULL
               AND (card_audience ->> operator::text) IS DISTINCT FROM 'closed'
             GROUP BY operator
            """,
            company=company.id,
            since=now - timedelta(hours=ACTIVE_CARD_HOURS),
            ended=now - timedelta(seconds=AFTER_CALL_SECONDS),
        ))
        return dict(self.env.cr.fetchall())

    @api.model
    def _operator_rows(self, users, parties, after_call, figures, now):
        """The operators' rows: ``users`` and anyone else talking, ringing (``parties``) or
        in after-call work (``after_call``: {user id: hang-up time})."""
        users |= users.browse(
            [user.id for user in parties if user not in users]
            + [user_id for user_id in after_call if user_id not in users.ids]
        )
        rows = []
        for user in users:
            status, since, until = "free", figures["last_end"].get(user.id), False
            if user in parties:
                status, since = parties[user]
            elif user.id in after_call:
                status, since = "after_call", after_call[user.id]
                until = since + timedelta(seconds=AFTER_CALL_SECONDS)
            elif user.medpulse_pbx_away:
                status, since = "away", user.medpulse_pbx_away_since
            rows.append({
                "id": user.id,
                "name": user.name,
                "extension": user.medpulse_pbx_extension or "",
                "state": status,
                "since": _string(since),
                "after_call_until": _string(until),
                "figures": figures["operators"].get(user.id, _empty_figures()),
            })
        return rows

    @api.model
    def _patient_names(self, company, calls):
        """{call id: patient name} of ``calls``, read with the user's rights, as the card does,
        and of ``company``'s patients only (the publisher reads as the superuser)."""
        patients = calls.sudo().patient_id
        if not patients:
            return {}
        readable = self.env["medpulse.patient"].search_fetch(
            [("id", "in", patients.ids), ("company_id", "=", company.id)], ["name"]
        )
        names = {patient.id: patient.name for patient in readable}
        return {
            call.id: names[call.sudo().patient_id.id]
            for call in calls if call.sudo().patient_id.id in names
        }

    @api.model
    def _number(self, call, tv_mode):
        number = call.external_number_display or call.caller_number or ""
        return _mask(number) if tv_mode else number

    # ------------------------------------------------------------------ today's figures

    @api.model
    def _today_figures(self, company, start, end, now):
        """Today's figures, in total and per operator.

        The operator of a call is who answered an incoming call, or who placed an outgoing
        one. "Called back in time" is the lost-patient ledger's "reached in time" for the
        callers who missed today: their call-back was done by its due time (the service
        level on the working calendar, ``medpulse.call.callback._due_from``); one due and
        not done, or done after it, is late.
        """
        cr = self.env.cr
        self.env["medpulse.call"].flush_model()
        cr.execute(SQL(
            """
            SELECT direction, result,
                   CASE WHEN direction = 'incoming' THEN answered_user_id
                        ELSE operator_user_id END,
                   count(*), COALESCE(sum(wait_seconds), 0), COALESCE(max(wait_seconds), 0),
                   COALESCE(sum(talk_seconds), 0), max(ended_at)
              FROM medpulse_call
             WHERE company_id = %s AND created_at >= %s AND created_at < %s
             GROUP BY 1, 2, 3
            """,
            company.id, start, end,
        ))
        rows = cr.fetchall()
        self.env["medpulse.appointment"].flush_model()
        cr.execute(SQL(
            """
            SELECT CASE WHEN c.direction = 'incoming' THEN c.answered_user_id
                        ELSE c.operator_user_id END, count(*)
              FROM medpulse_appointment a
              JOIN medpulse_call c ON c.id = a.call_id
             WHERE c.company_id = %s AND c.created_at >= %s AND c.created_at < %s
               AND a.state != 'cancelled'
             GROUP BY 1
            """,
            company.id, start, end,
        ))
        bookings = dict(cr.fetchall())
        self.env["medpulse.call.callback"].flush_model()
        # due_at >= first_missed_at: the due_at index serves the day's range.
        cr.execute(SQL(
            """
            SELECT user_id,
                   count(*) FILTER (WHERE state = 'done' AND reached_at <= due_at),
                   count(*) FILTER (WHERE (state = 'done' AND reached_at > due_at)
                                       OR (state IN ('open', 'overdue') AND due_at < %s))
              FROM medpulse_call_callback
             WHERE company_id = %s AND due_at >= %s
               AND first_missed_at >= %s AND first_missed_at < %s
             GROUP BY 1
            """,
            now, company.id, start, start, end,
        ))
        callbacks = {user_id: (in_time, late) for user_id, in_time, late in cr.fetchall()}
        per_user = defaultdict(_empty_figures)
        last_end = {}
        totals = dict(_empty_figures(), incoming=0, missed=0, longest_wait=0, answered_rate=0)
        wait_sum = wait_count = 0
        for direction, result, user_id, count, waited, longest, talked, ended in rows:
            if ended and user_id:
                last_end[user_id] = max(last_end.get(user_id, ended), ended)
            if direction == "incoming":
                totals["incoming"] += count
                totals["talk_seconds"] += talked
                if result in ("answered", "missed"):
                    wait_sum += waited
                    wait_count += count
                    totals["longest_wait"] = max(totals["longest_wait"], longest)
                if result == "missed":
                    totals["missed"] += count
                elif result == "answered":
                    totals["answered"] += count
                    if user_id:
                        figures = per_user[user_id]
                        figures["answered"] += count
                        figures["talk_seconds"] += talked
                        figures["wait_sum"] += waited
                        figures["wait_count"] += count
            elif direction == "outgoing":
                totals["outgoing"] += count
                totals["talk_seconds"] += talked
                if user_id:
                    per_user[user_id]["outgoing"] += count
                    per_user[user_id]["talk_seconds"] += talked
        for user_id, count in bookings.items():
            totals["bookings"] += count
            if user_id:
                per_user[user_id]["bookings"] += count
        for user_id, (in_time, late) in callbacks.items():
            totals["callbacks_in_time"] += in_time
            totals["callbacks_late"] += late
            if user_id:
                per_user[user_id]["callbacks_in_time"] += in_time
                per_user[user_id]["callbacks_late"] += late
        settled = totals["answered"] + totals["missed"]
        totals["answered_rate"] = round(100.0 * totals["answered"] / settled) if settled else 0
        totals["average_wait"] = round(wait_sum / wait_count) if wait_count else 0
        for figures in per_user.values():
            figures["average_wait"] = (
                round(figures["wait_sum"] / figures["wait_count"]) if figures["wait_count"] else 0
            )
        for figures in (totals, *per_user.values()):
            figures.pop("wait_sum")
            figures.pop("wait_count")
        return {"totals": totals, "operators": dict(per_user), "last_end": last_end}

    # ------------------------------------------------------------------ silence

    @api.model
    def _silence(self, company, now):
        """Whether the PBX has been silent for the health screen's "no event" threshold of
        working time (``medpulse.telephony.health._silent``), and when the
        board should ask again if no event comes."""
        minutes = company.medpulse_health_silence_minutes
        last = self.env["medpulse.call.event"].sudo().search_fetch(
            [("company_id", "=", company.id)], ["received_at"], order="received_at desc", limit=1
        )
        health = self.env["medpulse.telephony.health"].sudo().new({"company_id": company.id})
        silent = bool(company.sudo().medpulse_pbx_api_key) and health._silent(
            last.received_at, now
        )
        # Working time never runs faster than the clock: silence cannot start before the
        # last event plus the threshold; outside working hours, ask again now and then.
        check_at = now + timedelta(minutes=SILENCE_RECHECK_MINUTES)
        if last and not silent:
            check_at = max(check_at, last.received_at + timedelta(minutes=minutes))
        return {
            "silent": silent,
            "minutes": minutes,
            "last_event_at": _string(last.received_at),
            "check_at": _string(check_at),
        }

    # ------------------------------------------------------------------ live updates

    @api.model
    def _notify_calls(self, calls):
        """These calls changed: their companies' boards did (:meth:`_changed`)."""
        self._changed(calls.sudo().company_id)

    @api.model
    def _notify_users(self, users):
        """These operators changed (away): their companies' boards did (:meth:`_changed`)."""
        self._changed(users.sudo().company_ids)

    @api.model
    def _changed(self, companies):
        """Say that these companies' boards changed, for the publisher (:meth:`_cron_publish`):
        once per company and transaction, and only while a board of it is open. Inserts a
        row and triggers the cron (its wake-up is sent after the commit): no row that
        another transaction writes, no bus message, nothing computed here."""
        done = self.env.cr.postcommit.data.setdefault(_CHANGED_KEY, set())
        ids = [company_id for company_id in companies.ids if company_id not in done]
        if not ids:
            return
        done.update(ids)
        cr = self.env.cr
        cr.execute(SQL(
            "SELECT company_id FROM medpulse_wallboard_watch WHERE company_id IN %s AND until > %s",
            tuple(ids), fields.Datetime.now(),
        ))
        watched = [company_id for (company_id,) in cr.fetchall()]
        if not watched:
            return
        cr.postcommit.data.setdefault(WATCHED_KEY, set()).update(watched)
        cr.execute(SQL(
            "INSERT INTO medpulse_wallboard_change (company_id) SELECT unnest(%s::int[])",
            watched,
        ))
        if not self.env.context.get(PUSHED_AFTER_ANSWER):
            self._trigger_publisher()

    @api.model
    def _trigger_publisher(self):
        """Wake the cron that pushes the boards (after the commit)."""
        cron = self.env.ref(PUBLISH_CRON, raise_if_not_found=False)
        if cron:  # deleted by hand: the boards then follow at their periodic reads only
            cron.sudo()._trigger()

    @api.model
    def _watch(self, company, variant):
        """A board of ``company`` showing ``variant`` is open: keep the pushes of that variant
        on for WATCH_MINUTES (written at most once a minute per company and variant). If a
        push or another board wrote the row since this transaction began, it is left as it
        is: the next read, within SILENCE_RECHECK_MINUTES, writes it (the watch lasts more
        than twice that)."""
        column = SQL.identifier(f"{variant}_until")
        cr = self.env.cr
        try:
            with cr.savepoint(flush=False):
                cr.execute(SQL(
                    """
                    INSERT INTO medpulse_wallboard_watch (company_id, until, %(column)s)
                    VALUES (%(company)s, %(until)s, %(until)s)
                    ON CONFLICT (company_id) DO UPDATE
                       SET until = greatest(medpulse_wallboard_watch.until, EXCLUDED.until),
                           %(column)s = EXCLUDED.until
                     WHERE medpulse_wallboard_watch.until < EXCLUDED.until - interval '1 minute'
                        OR medpulse_wallboard_watch.%(column)s IS NULL
                        OR medpulse_wallboard_watch.%(column)s
                           < EXCLUDED.until - interval '1 minute'
                    """,
                    column=column, company=company.id,
                    until=fields.Datetime.now() + timedelta(minutes=WATCH_MINUTES),
                ), log_exceptions=False)
        except psycopg2.errors.SerializationFailure:
            return

    @api.model
    def _watched_variants(self, company):
        """The variants of ``company``'s board open somewhere (in WALLBOARD_VARIANTS' order):
        those a push sends. A row that names none (written before the variants were kept)
        has all three."""
        self.env["medpulse.wallboard.watch"].flush_model()
        self.env.cr.execute(SQL(
            "SELECT named_until, unnamed_until, tv_until FROM medpulse_wallboard_watch"
            " WHERE company_id = %s",
            company.id,
        ))
        row = self.env.cr.fetchone()
        if not row or not any(row):
            return WALLBOARD_VARIANTS
        now = fields.Datetime.now()
        return tuple(
            variant for variant, until in zip(WALLBOARD_VARIANTS, row, strict=True)
            if until and until > now
        )

    @api.model
    def _cron_publish(self):
        """Push the changed boards that are due (:meth:`_publish_due`), and those the
        throttle holds back once it lets them go (every PUBLISH_INTERVAL,
        PUBLISH_RUN_SECONDS at most). Each pass has a transaction and a snapshot of its
        own, committed before the wait (the bus sends then). The webhook's changes are
        pushed by its requests: this job has the others (the away switch, a saved card,
        events folded by a cron) and what a request could not push."""
        started = monotonic_clock.monotonic()
        while True:
            left = []
            with self.env.registry.cursor() as cr:
                self.with_env(self.env(cr=cr))._publish_due(left=left)
            if not left or monotonic_clock.monotonic() - started >= PUBLISH_RUN_SECONDS:
                return
            monotonic_clock.sleep(PUBLISH_INTERVAL)

    @api.model
    def _publish_due(self, company_ids=None, now=None, left=None):
        """Push the board of each company said changed (of ``company_ids`` only, if given)
        whose last push is old enough (:meth:`_claim`); the others stay pending (their ids
        appended to the list ``left``, if given). Whether any change was pending. ``now``: as
        :meth:`_wallboard_data`'s."""
        cr = self.env.cr
        only = SQL(" WHERE company_id IN %s", tuple(company_ids)) if company_ids else SQL()
        cr.execute(SQL("SELECT DISTINCT company_id FROM medpulse_wallboard_change%s", only))
        pending = sorted(company_id for (company_id,) in cr.fetchall())
        for company in self.env["res.company"].sudo().browse(pending).exists():
            if not self._claim(company):
                if left is not None:
                    left.append(company.id)
                continue
            # The changes this snapshot sees: those committed later stay for the next push.
            cr.execute(SQL("DELETE FROM medpulse_wallboard_change WHERE company_id = %s",
                           company.id))
            begun = monotonic_clock.monotonic()
            self._publish(company, now=now, variants=self._watched_variants(company))
            cr.execute(SQL(
                "UPDATE medpulse_wallboard_watch SET publish_ms = %s WHERE company_id = %s",
                round((monotonic_clock.monotonic() - begun) * 1000), company.id,
            ))
        return bool(pending)

    @api.model
    def _claim(self, company):
        """Whether this transaction pushes ``company``'s board now: its last push is at least
        PUBLISH_INTERVAL old, and PUBLISH_LOAD_FACTOR times what computing it took, and no
        other worker is pushing it (its row is locked: skipped, never waited for). The
        row's ``published_at`` is set in this transaction, to the database's clock to the
        microsecond (Odoo's ``now()`` is whole seconds: a burst's last events would wait
        for the next second, not for the interval)."""
        cr = self.env.cr
        try:
            with cr.savepoint(flush=False):
                cr.execute(SQL(
                    """
                    UPDATE medpulse_wallboard_watch
                       SET published_at = clock_timestamp() AT TIME ZONE 'UTC'
                     WHERE company_id = (SELECT company_id FROM medpulse_wallboard_watch
                                          WHERE company_id = %(company)s
                                            FOR UPDATE SKIP LOCKED)
                       AND (published_at IS NULL
                            OR published_at <= clock_timestamp() AT TIME ZONE 'UTC' - %(wait)s)
                    RETURNING company_id
                    """,
                    company=company.id, wait=_wait_sql(),
                ), log_exceptions=False)
                return bool(cr.fetchall())
        except psycopg2.errors.SerializationFailure:
            return False  # pushed by another transaction since this one's snapshot

    @api.model
    def _due_in(self, company_ids):
        """Seconds until the first of these companies' boards may be pushed again (0 if one
        may be now): when the timer of a request whose push the throttle held back fires."""
        self.env.cr.execute(SQL(
            """
            SELECT min(greatest(0, extract(epoch FROM published_at + %(wait)s
                                           - clock_timestamp() AT TIME ZONE 'UTC')))
              FROM medpulse_wallboard_watch
             WHERE company_id IN %(companies)s AND published_at IS NOT NULL
            """,
            wait=_wait_sql(), companies=tuple(company_ids),
        ))
        due = self.env.cr.fetchone()[0]
        return float(due) if due is not None else 0.0

    @api.model
    def _publish(self, company, now=None, variants=WALLBOARD_VARIANTS):
        """Send ``company``'s board, computed once, in each of ``variants`` (those open,
        :meth:`_watched_variants`) on its own channel."""
        if not variants:
            return
        board = self.sudo().with_company(company)._wallboard_data(
            company, now=now, show_names=True
        )
        Bus = self.env["bus.bus"].sudo()
        for variant in variants:
            Bus._sendone(
                (company, f"{WALLBOARD_SUBCHANNEL}/{variant}"),
                WALLBOARD_NOTIFICATION,
                {"company_id": company.id, "variant": variant,
                 "board": _board_variant(board, variant)},
            )


def _variant_shown(board):
    """The variant a board read by :meth:`MedpulseWallboard.get_board` shows, hence asks for
    (``static/src/wallboard/wallboard.js``, ``variant``)."""
    if board["tv_mode"]:
        return "tv"
    return "named" if board["show_names"] else "unnamed"


def _wait_sql():
    """The throttle's wait after a push, as SQL over the watch row's ``publish_ms``."""
    return SQL(
        "greatest(%s * interval '1 second',"
        " %s * coalesce(publish_ms, 0) * interval '1 millisecond')",
        PUBLISH_INTERVAL, PUBLISH_LOAD_FACTOR,
    )


def _board_variant(board, variant):
    """The board as ``variant`` shows it: ``named`` as computed, ``unnamed`` without patient
    names, ``tv`` without names and with numbers masked to their last four digits."""
    if variant == "named":
        return board

    def rows(rows):
        return [
            dict(row, patient="", number=_mask(row["number"]) if variant == "tv" else row["number"])
            for row in rows
        ]

    return dict(
        board, show_names=False, tv_mode=variant == "tv",
        waiting=rows(board["waiting"]), in_progress=rows(board["in_progress"]),
    )


def _empty_figures():
    return {
        "answered": 0, "outgoing": 0, "talk_seconds": 0, "average_wait": 0, "bookings": 0,
        "callbacks_in_time": 0, "callbacks_late": 0, "wait_sum": 0, "wait_count": 0,
    }


def _naive(moment):
    """An aware datetime of the toolkit as naive UTC (None stays None)."""
    if not moment:
        return None
    return moment.astimezone(pytz.utc).replace(tzinfo=None)


def _string(moment):
    return fields.Datetime.to_string(moment) if moment else False


def _mask(number):
    """A number shown on a TV: its last four digits only."""
    digits = re.sub(r"\D", "", number or "")
    return f"•••{digits[-4:]}" if digits else ""
