import re
from collections import defaultdict
from datetime import datetime, time, timedelta

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
WALLBOARD_SUBCHANNEL = "medpulse_telephony.wallboard"
#: After-call work: from the hang-up until the operator saves the card's follow-up, or
#: this long at most.
AFTER_CALL_SECONDS = 120
#: With no event, the board asks again at most this often whether the PBX went silent.
SILENCE_RECHECK_MINUTES = 5
#: Key of the calls already announced on the board's channel in this transaction.
_SENT_KEY = "medpulse_telephony.wallboard.sent"
#: Operator states, from the busiest: a user ringing and in after-call work is ringing.
OPERATOR_STATES = ("talking", "ringing", "after_call", "away", "free")


class MedpulseWallboard(models.AbstractModel):
    """The supervisors' live wallboard: calls waiting and in progress, the operators' states
    and today's figures of one company (client half: ``static/src/wallboard/``).

    Nothing is stored for it. :meth:`get_board` reads the board's whole state: today's calls
    of the company (one indexed range on ``created_at``), the events of the calls still live
    (one query, folded by ``mango_vpbx.fold`` as the journal does), the operators, today's
    aggregates and call-backs. The webhook's fold tells the company's supervisors which calls
    changed (:meth:`_notify_calls`, after each call event, ids only, on a per-company channel
    that the server alone adds to their websocket: ``ir.websocket``); their boards then read
    the state again, each with its own rights. So no name or number ever travels on the
    shared channel, and a board in TV mode never receives them either.

    Indexes it reads through, created by their models' ``init``: calls by (company, start)
    and events by (company, reception).

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
        return self._wallboard_data(self.env.company, tv_mode=bool(tv_mode))

    # ------------------------------------------------------------------ the state

    @api.model
    def _wallboard_data(self, company, tv_mode=False, now=None):
        """The board's state for the current user: a dict of plain values (times as naive
        UTC strings).

        ``now`` (naive UTC) is the moment the board is computed for (tests).
        """
        now = now or fields.Datetime.now()
        tz = self._company_tz(company)
        day_start, day_end = self._day_bounds(tz, now)
        show_names = not tv_mode and self.env["medpulse.patient"].has_access("read")
        live, recent = self._live_and_recent_calls(company, now)
        users = self._operators(company)
        parties, waiting, in_progress = self._live_rows(company, live)
        figures = self._today_figures(company, day_start, day_end, now)
        names = self._patient_names(live if show_names else live.browse())
        operators = self._operator_rows(users, parties, live | recent, figures, now)
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
    def _live_and_recent_calls(self, company, now):
        """(calls not over yet, calls over within the after-call time) of ``company``.

        One indexed range: calls of the last ACTIVE_CARD_HOURS (a call whose summary never
        came stops counting as live then, as its card does).
        """
        calls = self.env["medpulse.call"].sudo().search_fetch(
            [
                ("company_id", "=", company.id),
                ("created_at", ">=", now - timedelta(hours=ACTIVE_CARD_HOURS)),
                "|",
                ("is_final", "=", False),
                ("ended_at", ">=", now - timedelta(seconds=AFTER_CALL_SECONDS)),
            ],
            [
                "entry_id", "direction", "created_at", "answered_at", "ended_at", "is_final",
                "line_id", "external_e164", "caller_number", "callee_number",
                "answered_user_id", "operator_user_id", "card_audience", "patient_id",
            ],
            order="created_at, id",
        )
        live = calls.filtered(lambda call: not call.is_final)
        return live, calls - live

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
        with self.env["res.users"]._medpulse_pbx_operator_memo():
            for call in live:
                state = mango_vpbx.fold(
                    by_entry.get(call.entry_id, Events)._parsed(), time_base=time_base
                )
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
                live_parties = call._card_live_parties(state)
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
        """The group (queue) a waiting call went through: its short number, if the PBX gave one."""
        for leg in reversed(legs):
            for party in (leg.to, leg.from_):
                if party and party.acd_group:
                    return _("group %s", party.acd_group)
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
    def _after_call(self, recent, now):
        """{user: hang-up time} of the operators in after-call work: they talked in a call
        that ended less than AFTER_CALL_SECONDS ago and have not saved its card's follow-up
        (the card's ``card_audience`` turns "closed" for them then)."""
        work = {}
        for call in recent:
            user = call.answered_user_id if call.direction == "incoming" else call.operator_user_id
            if not user or not call.answered_at or not call.ended_at:
                continue
            if call.ended_at < now - timedelta(seconds=AFTER_CALL_SECONDS):
                continue
            if (call.card_audience or {}).get(str(user.id)) == "closed":
                continue
            work[user] = max(work.get(user, call.ended_at), call.ended_at)
        return work

    @api.model
    def _operator_rows(self, users, parties, calls, figures, now):
        after_call = self._after_call(calls, now)
        users |= users.browse([user.id for user in (*parties, *after_call) if user not in users])
        rows = []
        for user in users:
            status, since, until = "free", figures["last_end"].get(user.id), False
            if user in parties:
                status, since = parties[user]
            elif user in after_call:
                status, since = "after_call", after_call[user]
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
    def _patient_names(self, calls):
        """{call id: patient name} of ``calls``, read with the user's rights, as the card does."""
        patients = calls.sudo().patient_id
        if not patients:
            return {}
        readable = self.env["medpulse.patient"].search_fetch([("id", "in", patients.ids)], ["name"])
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
        working time (``medpulse.telephony.health._silence_threshold``), and when the
        board should ask again if no event comes."""
        minutes = company.medpulse_health_silence_minutes
        last = self.env["medpulse.call.event"].sudo().search_fetch(
            [("company_id", "=", company.id)], ["received_at"], order="received_at desc", limit=1
        )
        health = self.env["medpulse.telephony.health"].sudo().new({"company_id": company.id})
        threshold = health._silence_threshold(now)
        silent = bool(
            company.sudo().medpulse_pbx_api_key
            and threshold
            and (not last or last.received_at < threshold)
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
        """Tell the boards of the calls' companies that these calls changed: ids only, at
        most one message per call and transaction. Remembered in the post-commit data, which
        lives as long as the transaction: the pre-commit one is run and emptied by every
        savepoint, and the fold of each event runs in one."""
        sent = self.env.cr.postcommit.data.setdefault(_SENT_KEY, set())
        Bus = self.env["bus.bus"].sudo()
        for call in calls.sudo():
            if call.id in sent:
                continue
            sent.add(call.id)
            Bus._sendone(
                (call.company_id, WALLBOARD_SUBCHANNEL),
                WALLBOARD_NOTIFICATION,
                {"company_id": call.company_id.id, "call_ids": [call.id]},
            )

    @api.model
    def _notify_users(self, users):
        """Tell the boards of the users' companies that these operators changed (away)."""
        Bus = self.env["bus.bus"].sudo()
        for company in users.sudo().company_ids:
            Bus._sendone(
                (company, WALLBOARD_SUBCHANNEL),
                WALLBOARD_NOTIFICATION,
                {"company_id": company.id, "user_ids": users.ids},
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
