import logging
from datetime import timedelta, timezone

from odoo import api, fields, models
from odoo.exceptions import UserError

import mango_vpbx

from .medpulse_call_recording import BACKOFF_MINUTES
from .medpulse_telephony_limit import BATCH

_logger = logging.getLogger(__name__)

#: Fetches sent per cron run before it reports progress and runs again.
FETCH_BATCH = 10

KINDS = [
    ("topics", "Speech-analytics topics"),
    ("source", "Call-tracking source"),
]
STATES = [
    ("waiting", "Waiting"),
    ("done", "Done"),
    ("failed", "Failed"),
]


class MedpulseCallInsight(models.Model):
    """One question to ask the PBX about a call, after the webhook committed.

    ``topics``: ``events/record/tagged`` said that speech analytics tagged a recording;
    ``queries/recording_categories`` tells the topics (and ``queries/recording_transcripts``
    the transcript, where the account has one). ``source``: the call came in on a
    call-tracking number (``dct``); ``queries/user_info_by_dct_number`` tells the web
    visitor's channel.

    The webhook only queues the question (:meth:`_queue`, a write in its transaction);
    :meth:`_cron_fetch` asks, with the batch priority of the shared request budget
    (``medpulse.telephony.limit``: a person's request goes first), and retries like
    recording downloads (``BACKOFF_MINUTES``); a pause of the budget or a lockout of the
    account is waited out without spending an attempt. Each batch first asks the PBX,
    then writes: no request is made while a call's row is locked.
    """

    _name = "medpulse.call.insight"
    _description = "Call insight to fetch from the PBX"
    _order = "next_attempt_at, id"

    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    call_id = fields.Many2one(
        "medpulse.call", required=True, readonly=True, index=True, ondelete="cascade"
    )
    recording_id = fields.Many2one(
        "medpulse.call.recording", readonly=True, index="btree_not_null", ondelete="cascade"
    )
    kind = fields.Selection(KINDS, required=True, readonly=True)
    state = fields.Selection(STATES, required=True, readonly=True, default="waiting", index=True)
    attempts = fields.Integer(readonly=True)
    next_attempt_at = fields.Datetime(string="Next attempt", readonly=True, index="btree_not_null")
    last_attempt_at = fields.Datetime(string="Last attempt", readonly=True)
    last_error = fields.Text(readonly=True)

    # ------------------------------------------------------------------ queue

    @api.model
    def _queue(self, call, kind, recording=None):
        """Ask ``kind`` about ``call`` (and ``recording``) as soon as the cron runs.

        A question already asked is asked again (speech analytics may tag a recording
        twice, with new topics), never twice at once.
        """
        Insight = self.sudo()
        domain = [("call_id", "=", call.id), ("kind", "=", kind)]
        if recording:
            domain.append(("recording_id", "=", recording.id))
        now = fields.Datetime.now()
        existing = Insight.search(domain, limit=1)
        vals = {"state": "waiting", "next_attempt_at": now, "attempts": 0, "last_error": False}
        if existing:
            existing.write(vals)
        else:
            existing = Insight.create({
                "company_id": call.company_id.id,
                "call_id": call.id,
                "recording_id": recording.id if recording else False,
                "kind": kind,
                **vals,
            })
        self._wake_cron()
        return existing

    @api.model
    def _wake_cron(self, at=None):
        self.env["ir.cron"]._medpulse_trigger(
            "medpulse_telephony.ir_cron_medpulse_call_insight_fetch", at
        )

    # ------------------------------------------------------------------ fetch

    @api.model
    def _cron_fetch(self, batch_size=FETCH_BATCH):
        """Ask the PBX the questions that are due, then store the answers."""
        Insight = self.sudo()
        domain = [("state", "=", "waiting"), ("next_attempt_at", "<=", fields.Datetime.now())]
        due = Insight.search(domain, limit=batch_size)
        answers = []
        for insight in due:
            answer, paused = insight._ask()
            answers.append((insight, answer))
            if paused:
                break
        # The PBX has answered every request of the batch: only now the calls are written.
        for insight, answer in answers:
            insight._store(answer)
        remaining = Insight.search_count(domain)
        self.env["ir.cron"]._notify_progress(done=len(answers), remaining=remaining)
        upcoming = Insight.search(
            [("state", "=", "waiting"), ("next_attempt_at", "!=", False)],
            order="next_attempt_at asc", limit=1,
        )
        if upcoming and not remaining:
            Insight._wake_cron(upcoming.next_attempt_at)
        return due

    def _ask(self):
        """``(answer, paused)``: the PBX's answer (a dict of what to store) or the failure
        as ``{"error": ...}``; ``paused`` when the budget stops the batch."""
        self.ensure_one()
        now = fields.Datetime.now()
        company = self.company_id
        try:
            client = company._medpulse_pbx_client(BATCH)
            if self.kind == "topics":
                recording_id = self.recording_id.recording_id
                topics = client.recording_topics(recording_id)
                try:
                    transcript = client.recording_transcript(recording_id).text
                except (mango_vpbx.errors.VpbxCommandFailed, mango_vpbx.VpbxNotFound,
                        mango_vpbx.VpbxRequestError):
                    # An account without transcripts refuses the query (4001 and the
                    # like): the topics stand alone. A pause or an outage is not this.
                    transcript = None
                return {"topics": topics.topics, "transcript": transcript}, False
            visitor = client.dct_visitor(self.call_id.dct_number)
            return {"visitor": visitor}, False
        except (mango_vpbx.VpbxLockedOut, mango_vpbx.VpbxRateLimited, mango_vpbx.VpbxBusy) as error:
            if isinstance(error, mango_vpbx.VpbxLockedOut):
                retry_at = error.until.astimezone(timezone.utc).replace(tzinfo=None) + timedelta(
                    seconds=1
                )
            else:
                retry_at = now + timedelta(seconds=max(1, int(error.retry_after + 0.999)))
            return {"paused_until": max(retry_at, now),
                    "error": company._medpulse_pbx_error_text(error)}, True
        except (mango_vpbx.VpbxError, UserError) as error:
            reason = error.args[0] if isinstance(error, UserError) else (
                company._medpulse_pbx_error_text(error)
            )
            return {"error": reason}, False

    def _store(self, answer):
        self.ensure_one()
        now = fields.Datetime.now()
        if "paused_until" in answer:
            # Our own pause to protect the account: no attempt spent.
            self.write({"next_attempt_at": answer["paused_until"], "last_error": answer["error"]})
            return
        if "error" in answer:
            attempts = self.attempts + 1
            vals = {"attempts": attempts, "last_attempt_at": now, "last_error": answer["error"]}
            if attempts > len(BACKOFF_MINUTES):
                vals.update(state="failed", next_attempt_at=False)
                _logger.info("Call insight %s: giving up after %s attempts", self.id, attempts)
            else:
                vals["next_attempt_at"] = now + timedelta(minutes=BACKOFF_MINUTES[attempts - 1])
            self.write(vals)
            return
        call = self.call_id.sudo()
        if self.kind == "topics":
            topics = self.env["medpulse.call.topic"].sudo()._get_or_create(
                self.company_id, answer["topics"]
            )
            recording = self.recording_id.sudo()
            rec_vals = {"topic_ids": [fields.Command.set(topics.ids)]}
            if answer["transcript"] is not None:
                rec_vals["transcript"] = answer["transcript"] or False
            recording.write(rec_vals)
            all_topics = call.recording_ids.topic_ids | topics
            call.write({"topic_ids": [fields.Command.set(all_topics.ids)]})
        else:
            visitor = answer["visitor"]
            call.write({
                "dct_source": visitor.source or False,
                "dct_medium": visitor.medium or False,
                "dct_campaign": visitor.campaign or False,
                "dct_bound": visitor.bound,
            })
        self.write({
            "state": "done",
            "attempts": self.attempts + 1,
            "last_attempt_at": now,
            "next_attempt_at": False,
            "last_error": False,
        })

    def action_retry(self):
        """Ask again now (e.g. after the speech analytics was switched on)."""
        self.sudo().filtered(lambda i: i.state in ("waiting", "failed")).write(
            {"state": "waiting", "next_attempt_at": fields.Datetime.now(), "attempts": 0}
        )
        self._wake_cron()
        return True
