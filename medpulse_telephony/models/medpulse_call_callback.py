from datetime import timedelta

from psycopg2 import errors as pg_errors

from odoo import Command, _, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL, format_datetime

from .medpulse_call_command import MANAGER_GROUP, OPERATOR_GROUP

OPEN_STATES = ("open", "overdue")
ACTIVITY_TYPE_XMLID = "medpulse_telephony.mail_activity_type_call_back"
#: A click-to-call claims the number's call-back this long for its call to start...
CLAIM_START_MINUTES = 2
#: ...then for as long as that call lasts, but never longer than this (a call whose end
#: never reached us must not hold the call-back for ever).
CLAIM_CALL_HOURS = 1


class MedpulseCallCallback(models.Model):
    """A caller to call back: one open call-back per company and caller number.

    Opened by the first missed incoming call of a number that needs a call-back (the
    journal's follow-up says so), later misses of the same number attach to it. It has
    an owner and an exact deadline (``due_at``, counted on the company's working
    calendar) and shows as a "Call back" activity of its owner, so it is in their "My
    activities". Every outgoing call to the number is an attempt; an answered call with
    the number (either direction) or a booking for the caller closes it, and its activity.

    The webhook reaches this model through one entry point, :meth:`_on_call_settled`,
    called once the call's outcome is final: it costs one indexed search.
    """

    _name = "medpulse.call.callback"
    _description = "Call-back"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "due_at asc, id asc"
    _rec_name = "e164"
    _mail_post_access = "read"

    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    e164 = fields.Char(string="Number", required=True, readonly=True, index=True)
    state = fields.Selection(
        [
            ("open", "Open"),
            ("overdue", "Overdue"),
            ("done", "Reached"),
            ("cancelled", "No call-back needed"),
        ],
        default="open",
        required=True,
        readonly=True,
        index=True,
        tracking=True,
    )
    is_overdue = fields.Boolean(
        string="Overdue",
        compute="_compute_is_overdue",
        help="Still open past its due time.",
    )
    user_id = fields.Many2one(
        "res.users",
        string="Owner",
        index=True,
        tracking=True,
        domain=[("share", "=", False)],
        help="Who calls this number back. Handing it over moves the activity too.",
    )
    due_at = fields.Datetime(
        string="Due",
        readonly=True,
        index=True,
        help="The first miss plus the service level, counted on the company's working hours.",
    )
    first_missed_at = fields.Datetime(string="First miss", readonly=True)
    last_missed_at = fields.Datetime(string="Last miss", readonly=True)
    miss_count = fields.Integer(string="Misses", readonly=True, default=0)
    call_ids = fields.Many2many(
        "medpulse.call",
        "medpulse_call_callback_missed_rel",
        "callback_id",
        "call_id",
        string="Missed calls",
        readonly=True,
    )
    attempt_call_ids = fields.Many2many(
        "medpulse.call",
        "medpulse_call_callback_attempt_rel",
        "callback_id",
        "call_id",
        string="Attempts",
        readonly=True,
        help="Outgoing calls to this number since it was missed: time, operator, answered or not.",
    )
    attempt_count = fields.Integer(string="Attempts made", readonly=True, default=0)
    reached_call_id = fields.Many2one(
        "medpulse.call",
        string="Reached in call",
        readonly=True,
        index="btree_not_null",
    )
    reached_at = fields.Datetime(string="Reached", readonly=True)
    patient_id = fields.Many2one(
        "medpulse.patient",
        readonly=True,
        index="btree_not_null",
        groups="medpulse_clinic.group_clinic_receptionist,medpulse_clinic.group_clinic_doctor",
        help="The best match for the number when it was missed.",
    )
    breach_notified = fields.Boolean(readonly=True, copy=False)
    escalated_at = fields.Datetime(
        string="Escalated",
        readonly=True,
        copy=False,
        help="When the company's escalation step told its supervisors (once per call-back).",
    )
    # "Being called by": an operator's click-to-call claims the call-back of the number it
    # dials, so that a colleague does not call the same caller at the same moment.
    claimed_by_id = fields.Many2one("res.users", string="Claimed by", readonly=True, copy=False)
    claim_expires_at = fields.Datetime(string="Claimed until", readonly=True, copy=False)
    # The missed call whose "No action needed" cancelled this call-back: taking that back
    # reopens it (_on_no_action_undone).
    cancelled_by_call_id = fields.Many2one(
        "medpulse.call", string="Cancelled by the call", readonly=True, copy=False,
        index="btree_not_null", ondelete="set null",
    )
    claim_command_id = fields.Many2one(
        "medpulse.call.command",
        string="Claiming command",
        readonly=True,
        copy=False,
        ondelete="set null",
        groups="base.group_system",
    )
    being_called_by_id = fields.Many2one(
        "res.users",
        string="Being called by",
        compute="_compute_being_called_by_id",
        help="The operator calling this number right now (a click-to-call that has not ended).",
    )

    def init(self):
        res = super().init()
        # One open call-back per caller, whichever worker opens it.
        self.env.cr.execute(
            """
            CREATE UNIQUE INDEX IF NOT EXISTS medpulse_call_callback_open_uniq
                ON medpulse_call_callback (company_id, e164)
             WHERE state IN ('open', 'overdue')
            """
        )
        return res

    @api.depends("state")
    def _compute_is_overdue(self):
        for callback in self:
            callback.is_overdue = callback.state == "overdue"

    @api.depends("claimed_by_id", "claim_expires_at", "state")
    def _compute_being_called_by_id(self):
        now = fields.Datetime.now()
        for callback in self:
            callback.being_called_by_id = callback.sudo()._live_claim(now)

    # ------------------------------------------------------------ the webhook

    @api.model
    def _on_call_settled(self, call):
        """React to a call of the journal whose outcome may have become final.

        Called after every event of a call (``medpulse.call._after_event``); returns at
        once until the call is settled. Then one indexed search finds the number's open
        call-back (or the one this call already belongs to), and:

        * a missed incoming call that still needs a call-back opens one or attaches to it;
        * an outgoing call to the number is an attempt;
        * an answered call with the number, either direction, closes it.
        """
        call = call.sudo()
        number = call.external_e164
        if not number or call.direction not in ("incoming", "outgoing") or not call.created_at:
            return self.browse()
        if not call._followup_settled():
            return self.browse()
        Callback = self.sudo()
        found = Callback.search(
            [
                ("company_id", "=", call.company_id.id),
                ("e164", "=", number),
                "|",
                ("state", "in", OPEN_STATES),
                "|",
                ("call_ids", "in", call.ids),
                "|",
                ("attempt_call_ids", "in", call.ids),
                # Reached by a later call: an answered one reached it first
                # (_reached_earlier).
                "&", "&",
                ("state", "=", "done"),
                ("first_missed_at", "<=", call.created_at),
                ("reached_at", ">=", call.created_at),
            ],
            order="id desc",
        )
        if any(
            call in callback.call_ids or call in callback.attempt_call_ids for callback in found
        ):
            return found
        callback = found.filtered(lambda cb: cb.state in OPEN_STATES)[:1]
        if not callback and call.result == "answered":
            return Callback._reached_earlier(call, found)
        if call.call_type == "missed_incoming":
            if call.followup_state != "needs_callback" or not self._worth_a_callback(call):
                return callback
            if callback:
                callback._attach_miss(call)
            else:
                callback = Callback._open(call)
            return callback
        if not callback or call.created_at < callback.first_missed_at:
            return callback
        if call.direction == "outgoing":
            callback._record_attempt(call)
            if callback.claim_command_id.call_id == call or (
                callback.claimed_by_id and callback.claimed_by_id == call.operator_user_id
            ):
                callback._release_claim()
        if call.result == "answered":
            callback._reached_by(call)
        return callback

    @api.model
    def _worth_a_callback(self, call):
        """Not an abandon shorter than the company's threshold (a caller who hung up in
        the voice menu at once)."""
        return (call.wait_seconds or 0) >= call.company_id.medpulse_callback_min_wait_seconds

    @api.model
    def _open(self, call):
        company = call.company_id
        due = self._due_from(company, call.created_at)
        # The owner learns of it from the "Call back" activity, which tells nobody by
        # e-mail either (_schedule_activity): no "You have been assigned" message, whose
        # e-mail Odoo would send from the webhook while the call's lock is held. Created
        # without the chatter's work (about 4 of the 14 ms of CPU an opening took in the
        # folder, bench/README section g): no "Call-back created" line, which says less
        # than the missed calls and the activity beside it, and no subscription here: the
        # activity's creation makes its owner a follower (mail.activity.create).
        callback = self.with_context(tracking_disable=True).create(
            {
                "company_id": company.id,
                "e164": call.external_e164,
                "first_missed_at": call.created_at,
                "last_missed_at": call.created_at,
                "miss_count": 1,
                "call_ids": [Command.link(call.id)],
                "patient_id": call.patient_id.id,
                "due_at": due,
                "user_id": self._owner_for(call).id,
            }
        ).with_env(self.env)
        callback._schedule_activity()
        return callback

    def _attach_miss(self, call):
        self.ensure_one()
        self.write(
            {
                "call_ids": [Command.link(call.id)],
                "miss_count": self.miss_count + 1,
                "first_missed_at": min(self.first_missed_at, call.created_at),
                "last_missed_at": max(self.last_missed_at, call.created_at),
                "patient_id": self.patient_id.id or call.patient_id.id,
            }
        )

    def _record_attempt(self, call):
        self.ensure_one()
        self.write(
            {
                "attempt_call_ids": [Command.link(call.id)],
                "attempt_count": self.attempt_count + 1,
            }
        )

    @api.model
    def _reached_earlier(self, call, found):
        """An answered ``call`` settled after a later call of the number reached its
        call-back (calls settle in any order): the caller was reached in ``call``, as the
        missed calls' closure is taken over (``medpulse.call._closed_automatically_after``).
        The call-back's reach moves to ``call``; its misses after ``call`` leave it for a
        new call-back (:meth:`_reached_by`), which the later call reaches in turn. The
        call-back, or nothing if none was reached later than ``call``. ``found``: the
        number's call-backs :meth:`_on_call_settled` read, those done among them."""
        done = found.filtered(
            lambda callback: callback.state == "done"
            and callback.reached_call_id.created_at
            and callback.first_missed_at <= call.created_at
            and (callback.reached_call_id.created_at, callback.reached_call_id.id)
            > (call.created_at, call.id)
        ).sorted(lambda callback: (callback.first_missed_at, callback.id), reverse=True)[:1]
        if not done:
            return self.browse()
        former = done.reached_call_id
        if call.direction == "outgoing":
            done._record_attempt(call)
        reopened = done._reached_by(call)
        if reopened and former.created_at >= reopened.first_missed_at:
            reopened._reached_by(former)
        return done

    def _reached_by(self, call):
        """Reached in ``call``. Misses later than ``call`` (learnt late: a delayed
        delivery, or the reconciliation recovering ``call`` from the statistics) were not
        reached by it: they leave this call-back, with the attempts made since the first
        of them, for a new call-back of the number, opened as that miss would have opened
        it. So a closed call-back never hides a caller who called again and still waits.
        The new call-back, if any.
        """
        self.ensure_one()
        later = self.call_ids.filtered(lambda miss: miss.created_at > call.created_at)
        if not later:
            self._mark_reached(call=call)
            return self.browse()
        later = later.sorted(lambda miss: (miss.created_at, miss.id))
        after_reach = self.attempt_call_ids.filtered(
            lambda attempt: attempt.created_at > call.created_at
        )
        moved = after_reach.filtered(lambda attempt: attempt.created_at >= later[0].created_at)
        kept = self.call_ids - later
        self.write(
            {
                "call_ids": [Command.unlink(miss.id) for miss in later],
                "attempt_call_ids": [Command.unlink(attempt.id) for attempt in after_reach],
                "miss_count": len(kept),
                "last_missed_at": max(kept.mapped("created_at")),
                "attempt_count": len(self.attempt_call_ids - after_reach),
            }
        )
        self._mark_reached(call=call)
        reopened = self.browse()._open(later[0])
        for miss in later[1:]:
            reopened._attach_miss(miss)
        for attempt in moved.sorted(lambda attempt: (attempt.created_at, attempt.id)):
            reopened._record_attempt(attempt)
        return reopened

    def _mark_reached(self, call=None, appointment=None):
        """Close the call-backs and mark their activities done."""
        for callback in self:
            if call:
                feedback = _("Reached in call %s.", call.display_name)
            else:
                feedback = _("The caller booked an appointment.")
            callback.write(
                {
                    "state": "done",
                    "reached_call_id": call.id if call else False,
                    "reached_at": call.created_at if call else fields.Datetime.now(),
                }
            )
            callback._release_claim()
            callback._callback_activities().action_feedback(feedback=feedback)

    # ------------------------------------------------------------ the deadline

    @api.model
    def _due_from(self, company, missed_at):
        """``missed_at`` plus the service level, counted on the company's working hours.

        The company's calendar and its time zone, its leaves (holidays) included: a miss
        on Friday at 21:00 is due on Monday at opening time plus the service level.
        Without a calendar, plain clock time.
        """
        minutes = max(company.medpulse_callback_service_minutes, 0)
        calendar = company.resource_calendar_id
        if calendar:
            due = calendar.sudo().plan_hours(minutes / 60.0, missed_at, compute_leaves=True)
            if due:
                return due
        return missed_at + timedelta(minutes=minutes)

    # ------------------------------------------------------------- the owner

    @api.model
    def _owner_for(self, call):
        """The owner by the company's rule; the rang operator and the fixed user fall
        back to the round-robin when there is none."""
        company = call.company_id
        rule = company.medpulse_callback_owner_rule
        if rule == "fixed" and company.medpulse_callback_user_id:
            return company.medpulse_callback_user_id
        if rule == "rang":
            rang = call.rang_user_ids.filtered(lambda user: user.active and not user.share)
            if rang:
                return rang.sorted("id")[:1]
        return self._round_robin_owner(company)

    @api.model
    def _on_duty_operators(self, company):
        """Operators who can take a call-back now: an extension, the operator right, not away."""
        return (
            self.env["res.users"]
            .sudo()
            .search(
                [
                    ("company_ids", "in", company.ids),
                    ("medpulse_pbx_extension", "!=", False),
                    ("medpulse_pbx_away", "=", False),
                    ("groups_id", "in", self.env.ref(OPERATOR_GROUP).ids),
                    ("share", "=", False),
                ],
                order="id",
            )
        )

    @api.model
    def _round_robin_owner(self, company):
        """The on-duty operator who got a call-back the longest ago (or never)."""
        operators = self._on_duty_operators(company)
        if len(operators) <= 1:
            return operators
        last = dict(
            self.sudo()._read_group(
                [("company_id", "=", company.id), ("user_id", "in", operators.ids)],
                ["user_id"],
                ["id:max"],
            )
        )
        return min(operators, key=lambda user: (last.get(user, 0), user.id))

    # ---------------------------------------------------------- the activity

    @api.model
    def _activity_type(self):
        return self.env.ref(ACTIVITY_TYPE_XMLID)

    def _callback_activities(self):
        """The "Call back" activities of these call-backs (not others scheduled by hand)."""
        kind = self._activity_type()
        return self.sudo().activity_ids.filtered(lambda activity: activity.activity_type_id == kind)

    def _schedule_activity(self):
        """The "Call back" activity of the owner, due on the due time's local date."""
        for callback in self.sudo():
            if not callback.user_id:
                continue
            callback.with_context(mail_activity_quick_update=True).activity_schedule(
                ACTIVITY_TYPE_XMLID,
                date_deadline=callback._due_local_date(),
                summary=_("Call back %s", callback.e164),
                user_id=callback.user_id.id,
            )

    def _due_local_date(self):
        self.ensure_one()
        tz = self.company_id.resource_calendar_id.tz or "UTC"
        return fields.Datetime.context_timestamp(self.with_context(tz=tz), self.due_at).date()

    # --------------------------------------------------------------- writes

    def write(self, vals):
        if "user_id" in vals and not self.env.su:
            self._check_can_hand_over()
        res = super().write(vals)
        if "user_id" in vals:
            for callback in self.sudo():
                activities = callback._callback_activities()
                if activities:
                    activities.with_context(mail_activity_quick_update=True).write(
                        {"user_id": callback.user_id.id}
                    )
                elif callback.state in OPEN_STATES:
                    callback._schedule_activity()
        return res

    def _check_can_hand_over(self):
        """The owner (or a telephony manager) hands a call-back over, to an operator."""
        if self.env.user.has_group(MANAGER_GROUP):
            return
        if any(callback.user_id and callback.user_id != self.env.user for callback in self):
            raise AccessError(
                _("Only the owner of a call-back or a telephony manager can hand it over.")
            )

    @api.constrains("user_id")
    def _check_owner_is_operator(self):
        for callback in self:
            if callback.user_id and not callback.user_id.has_group(OPERATOR_GROUP):
                raise UserError(
                    _(
                        "%s cannot own call-backs: give them the Telephony ▸ Operator right first.",
                        callback.user_id.name,
                    )
                )

    def action_take(self):
        """Take a call-back over: anyone's for a telephony manager; for an operator, one
        with no owner, an owner who is away or gone, or one already overdue (a colleague's
        call-back is otherwise theirs to hand over)."""
        self._check_open()
        if not self.env.user.has_group(OPERATOR_GROUP):
            raise AccessError(_("Only telephony operators take call-backs."))
        if not self.env.user.has_group(MANAGER_GROUP):
            for callback in self:
                owner = callback.user_id
                if (
                    owner
                    and owner != self.env.user
                    and owner.active
                    and not (owner.medpulse_pbx_away or callback.state == "overdue")
                ):
                    raise UserError(
                        _(
                            "%s owns this call-back and is on duty: ask them, or a telephony "
                            "manager, to hand it over.",
                            owner.name,
                        )
                    )
        self.sudo().write({"user_id": self.env.user.id})

    def action_call_back(self):
        """Call the number from the list or the form: the browser places the call (the
        desk phone bound to it), and the outgoing call is recorded as an attempt. While a
        colleague is calling the number, a warning says who, and nothing is dialled (the
        click-to-call claims it again in its own transaction, so two clicks at once still
        make one call)."""
        self.ensure_one()
        self._check_open()
        holder = self.sudo()._live_claim()
        if holder and holder != self.env.user:
            return {
                "type": "ir.actions.client",
                "tag": "display_notification",
                "params": {
                    "title": _("Being called"),
                    "message": self._being_called_message(holder),
                    "type": "warning",
                    "sticky": False,
                },
            }
        return {
            "type": "ir.actions.client",
            "tag": "medpulse_telephony.click_to_call",
            "params": {"number": self.e164, "res_model": self._name, "res_id": self.id},
        }

    # --------------------------------------------------------------- claims

    def _live_claim(self, now=None):
        """The operator whose click-to-call holds this call-back now, or no user.

        A claim lives until its call starts (``CLAIM_START_MINUTES``), then while that call
        lasts (``CLAIM_CALL_HOURS`` at most); a command the PBX refused holds nothing.
        Read as superuser: the claiming command is not every operator's to read.
        """
        self.ensure_one()
        nobody = self.env["res.users"]
        user = self.claimed_by_id
        if not user or self.state not in OPEN_STATES:
            return nobody
        now = now or fields.Datetime.now()
        command = self.claim_command_id
        if command.state == "failed":
            return nobody
        call = command.call_id
        if call:
            if call.is_final or call.ended_at:
                return nobody
            started = call.created_at or now
            return user if started > now - timedelta(hours=CLAIM_CALL_HOURS) else nobody
        return user if self.claim_expires_at and self.claim_expires_at > now else nobody

    def _being_called_message(self, holder):
        return _(
            "%(name)s is calling %(number)s back right now: wait until that call ends.",
            name=holder.name,
            number=self.e164,
        )

    @api.model
    def _claim_for_click_to_call(self, company, e164):
        """Claim the open call-back of ``e164`` for the current user, before the PBX dials.

        Called by ``medpulse.call.command.action_click_to_call`` (from the call-back, the
        journal, the patient: every click-to-call). Returns ``(callback id or False,
        refusal or False)``: a refusal when a colleague's claim is live. The claim is
        committed on its own cursor before the request leaves, so a colleague's click a
        moment later sees it; two clicks at the very same moment are serialised by the
        row lock (the second gets a serialization failure, retries, and sees the first).
        """
        if not e164:
            return False, False
        for attempt in range(3):
            try:
                with self.env.registry.cursor() as cr:
                    env = self.env(cr=cr)
                    answer = self.with_env(env)._claim_in_transaction(company, e164)
                    # Written before the commit: a cursor flushes only through the live
                    # environments of its transaction.
                    env.flush_all()
                    return answer
            except (pg_errors.SerializationFailure, pg_errors.LockNotAvailable):
                if attempt == 2:
                    raise
        return False, False

    @api.model
    def _claim_in_transaction(self, company, e164):
        """:meth:`_claim_for_click_to_call` in the current transaction (the caller commits)."""
        self.env.cr.execute(
            SQL(
                "SELECT id FROM medpulse_call_callback"
                " WHERE company_id = %s AND e164 = %s AND state IN %s FOR UPDATE",
                company.id,
                e164,
                OPEN_STATES,
            )
        )
        row = self.env.cr.fetchone()
        if not row:
            return False, False
        callback = self.sudo().browse(row[0])
        holder = callback._live_claim()
        if holder and holder.id != self.env.uid:
            return False, callback._being_called_message(holder)
        callback.write(
            {
                "claimed_by_id": self.env.uid,
                "claim_expires_at": fields.Datetime.now() + timedelta(minutes=CLAIM_START_MINUTES),
                "claim_command_id": False,
            }
        )
        return callback.id, False

    @api.model
    def _claim_sent(self, callback_id, answer):
        """After the PBX's answer to the claiming click-to-call, on a fresh cursor (never in
        the caller's transaction, like the command's own state): a sent command holds the
        claim until its call ends; a refused one releases it at once (no call, no attempt).
        """
        if not callback_id:
            return
        for attempt in range(3):
            try:
                with self.env.registry.cursor() as cr:
                    env = self.env(cr=cr, su=True)
                    callback = env[self._name].browse(callback_id).exists()
                    if not callback or callback.claimed_by_id.id != self.env.uid:
                        return
                    command = env["medpulse.call.command"].search(
                        [("command_id", "=", answer.get("command_id") or "")], limit=1
                    )
                    if answer.get("ok") and command:
                        callback.claim_command_id = command
                    else:
                        callback._release_claim()
                return
            except pg_errors.SerializationFailure:
                if attempt == 2:
                    raise

    def _release_claim(self):
        claimed = self.filtered("claimed_by_id")
        if claimed:
            claimed.write(
                {"claimed_by_id": False, "claim_expires_at": False, "claim_command_id": False}
            )

    def _check_open(self):
        if any(callback.state not in OPEN_STATES for callback in self):
            raise UserError(_("This call-back is closed already."))

    def action_cancel(self):
        """Nothing to do for this caller (a wrong number, a duplicate)."""
        self._check_open()
        self._cancel(_("Cancelled: no call-back needed."))

    def _cancel(self, note):
        """Closed as not needed: the claim is released and the "Call back" activity is
        cancelled (deleted, as Odoo's own *Cancel* of an activity does), not marked done:
        nobody called back. ``note`` goes to the call-back's chatter."""
        for callback in self:
            callback.write({"state": "cancelled"})
            callback.sudo()._release_claim()
            callback._callback_activities().action_cancel()
            callback.message_post(body=note, subtype_xmlid="mail.mt_note")

    @api.model
    def _on_no_action(self, calls):
        """Missed ``calls`` an operator marked "No action needed" (the journal's form or
        list, or the card's closing form): the caller needs no call-back, so the open
        call-back they belong to is cancelled, whoever owns it (the journal's follow-up
        is the operator's word on the caller; the call-back follows it, as it follows an
        answered call). The lost-patient ledger then counts the caller as "no call-back
        needed", never as lost. A later miss of the number opens a new call-back.
        Returns the call-backs cancelled."""
        missed = calls.sudo().filtered(lambda call: call.call_type == "missed_incoming")
        if not missed:
            return self.browse()
        callbacks = self.sudo().search(
            [("call_ids", "in", missed.ids), ("state", "in", OPEN_STATES)]
        )
        for callback in callbacks:
            call = (missed & callback.call_ids)[:1]
            callback._cancel(
                _(
                    'No call-back needed: %(user)s marked the call "%(call)s" as "No action '
                    'needed".',
                    user=self.env.user.name,
                    call=call.display_name,
                )
            )
            callback.cancelled_by_call_id = call
        return callbacks

    @api.model
    def _on_no_action_undone(self, calls):
        """``calls`` were "No action needed" and are no longer (an operator changed their
        mind): the call-backs that this cancelled are open again, with their deadline and
        their owner's activity, unless the caller was reached since (an answered call with
        the number after the last miss) or a later miss opened another call-back of the
        number (which then stands for the caller). Returns the call-backs reopened."""
        callbacks = self.sudo().search(
            [("cancelled_by_call_id", "in", calls.ids), ("state", "=", "cancelled")]
        )
        reopened = self.sudo().browse()
        for callback in callbacks:
            Call = self.env["medpulse.call"].sudo()
            reached = Call.search_count(
                [
                    ("company_id", "=", callback.company_id.id),
                    ("external_e164", "=", callback.e164),
                    ("result", "=", "answered"),
                    ("created_at", ">", callback.last_missed_at),
                ],
                limit=1,
            )
            other = self.sudo().search_count(
                [
                    ("company_id", "=", callback.company_id.id),
                    ("e164", "=", callback.e164),
                    ("state", "in", OPEN_STATES),
                ],
                limit=1,
            )
            if reached or other:
                continue
            call = callback.cancelled_by_call_id
            callback.write({"state": "open", "cancelled_by_call_id": False})
            callback._schedule_activity()
            callback.message_post(
                body=_(
                    'Open again: %(user)s took back "No action needed" of the call "%(call)s".',
                    user=self.env.user.name,
                    call=call.display_name,
                ),
                subtype_xmlid="mail.mt_note",
            )
            reopened |= callback
        # Past its deadline already: overdue (and its owner told) as the job would do.
        self._mark_breaches(fields.Datetime.now(), among=reopened)
        return reopened

    # ----------------------------------------------------------------- bookings

    @api.model
    def _on_appointments_booked(self, appointments):
        """A booking for a caller reaches them: their open call-backs are done."""
        appointments = appointments.sudo()
        for company in appointments.company_id:
            patients = appointments.filtered(lambda a, c=company: a.company_id == c).patient_id
            numbers = [number for number in patients.phone_ids.mapped("number_e164") if number]
            if not numbers and not patients:
                continue
            callbacks = self.sudo().search(
                [
                    ("company_id", "=", company.id),
                    ("state", "in", OPEN_STATES),
                    "|",
                    ("e164", "in", numbers),
                    ("patient_id", "in", patients.ids),
                ]
            )
            callbacks._mark_reached(appointment=appointments)

    # ------------------------------------------------------------------- cron

    @api.model
    def _cron_mark_overdue(self, now=None):
        """Call-backs still open past their due time: overdue, and the owner and the
        company's telephony managers are told, once per breach (step 1). Then the
        company's escalation step: overdue longer than its minutes, its group and user
        are told, once per call-back (step 2).

        One notification per person and run, naming the numbers (never a patient): after
        a long stop (or a fresh demo history) a manager gets one message, not hundreds.
        ``now``: the clock (tests construct it).
        """
        now = now or fields.Datetime.now()
        self._mark_breaches(now)
        self._escalate(now)

    @api.model
    def _mark_breaches(self, now, among=None):
        """Open call-backs past their due time (of ``among`` only, when given): overdue,
        their owner and the telephony managers told once."""
        domain = [("state", "=", "open"), ("due_at", "<", now)]
        if among is not None:
            domain.append(("id", "in", among.ids))
        breached = self.sudo().search(domain)
        if not breached:
            return
        breached.write({"state": "overdue"})
        root = self.env.ref("base.user_root")
        managers = (
            self.env.ref(MANAGER_GROUP)
            .sudo()
            .users.filtered(lambda user: user.active and not user.share and user != root)
        )
        to_tell = {}
        for callback in breached.filtered(lambda cb: not cb.breach_notified):
            recipients = callback.user_id | managers.filtered(
                lambda user, cb=callback: cb.company_id in user.company_ids
            )
            for partner in recipients.partner_id:
                to_tell.setdefault(partner, self.browse())
                to_tell[partner] |= callback
        self._notify(to_tell, _("Call-back overdue"), lambda callbacks: callbacks._breach_message())
        breached.write({"breach_notified": True})

    @api.model
    def _escalate(self, now):
        """Step 2: overdue call-backs past the company's escalation delay, told once."""
        companies = (
            self.env["res.company"]
            .sudo()
            .search([("medpulse_callback_escalation_minutes", ">", 0)])
            .filtered(
                lambda company: (
                    company.medpulse_callback_escalation_group_id
                    or company.medpulse_callback_escalation_user_id
                )
            )
        )
        root = self.env.ref("base.user_root")
        to_tell = {}
        escalated = self.sudo().browse()
        for company in companies:
            delay = timedelta(minutes=company.medpulse_callback_escalation_minutes)
            callbacks = self.sudo().search(
                [
                    ("company_id", "=", company.id),
                    ("state", "=", "overdue"),
                    ("escalated_at", "=", False),
                    ("due_at", "<", now - delay),
                ]
            )
            if not callbacks:
                continue
            recipients = (
                company.medpulse_callback_escalation_group_id.users
                | company.medpulse_callback_escalation_user_id
            ).filtered(
                lambda user, c=company: (
                    user.active and not user.share and user != root and c in user.company_ids
                )
            )
            for partner in recipients.partner_id:
                to_tell.setdefault(partner, self.browse())
                to_tell[partner] |= callbacks
            escalated |= callbacks
        self._notify(
            to_tell, _("Call-back escalated"), lambda callbacks: callbacks._escalation_message()
        )
        escalated.write({"escalated_at": now})

    @api.model
    def _notify(self, to_tell, title, message):
        """One sticky warning per partner, ``message(callbacks)`` naming their numbers."""
        for partner, callbacks in to_tell.items():
            self.env["bus.bus"]._sendone(
                partner,
                "simple_notification",
                {"title": title, "message": message(callbacks), "type": "warning", "sticky": True},
            )

    def _escalation_message(self):
        numbers = ", ".join(self[:5].mapped("e164")) + (", …" if len(self) > 5 else "")
        minutes = self.company_id[:1].medpulse_callback_escalation_minutes
        return _(
            "Nobody has reached these callers %(minutes)s minutes after the call-back was due:"
            " %(numbers)s.",
            minutes=minutes,
            numbers=numbers,
        )

    def _breach_message(self):
        if len(self) == 1:
            tz = self.company_id.resource_calendar_id.tz or "UTC"
            return _(
                "The call-back of %(number)s was due at %(due)s and nobody reached the caller.",
                number=self.e164,
                due=format_datetime(self.env, self.due_at, tz=tz, dt_format="short"),
            )
        numbers = ", ".join(self[:5].mapped("e164")) + (", …" if len(self) > 5 else "")
        return _("%(count)s call-backs are overdue: %(numbers)s.", count=len(self), numbers=numbers)
