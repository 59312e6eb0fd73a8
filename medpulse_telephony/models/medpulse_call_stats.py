from collections import OrderedDict
from datetime import datetime, timezone

import mango_vpbx
from mango_vpbx.codes import describe

from odoo import _, api, fields, models
from odoo.osv import expression

#: Fields asked from ``stats/request`` wherever statistics meet the journal.
STATS_FIELDS = (
    "entry_id", "records", "start", "finish", "answer", "from_extension", "from_number",
    "to_extension", "to_number", "disconnect_reason", "line_number", "location", "create",
)

#: Where a missed call ended, by the PBX's ``location`` of its last leg.
_MISSED_AT = {"abonent": "operator", "queue": "queue", "ivr": "ivr"}

#: What an incomplete call keeps from its own events when statistics complete it:
#: the events saw the parties and the ringing better than one CSV row can.
_KEPT_FROM_EVENTS = (
    "direction", "caller_number", "caller_e164", "callee_number", "callee_e164",
    "external_e164", "line_id", "patient_id", "patient_ids", "rang_user_ids", "created_at",
    "transfers", "command_id", "callback_initiator",
)


def _far_future():
    return datetime.max.replace(tzinfo=timezone.utc)


def row_direction(row):
    """Direction of a statistics row: employees have extensions, outsiders have none."""
    if row.from_extension and row.to_extension:
        return "internal"
    if row.from_extension:
        return "outgoing"
    return "incoming"


def stats_call_state(entry_id, rows):
    """A ``mango_vpbx.CallState`` from the statistics rows of one ``entry_id``.

    The PBX may report one row per call or one per leg; either way the call starts
    with its first row, ends with its last, and was answered by the first row that
    has an answer time. Building a ``CallState`` lets the journal use one mapping
    (``medpulse.call._vals_from_state``) for events and for statistics alike.
    """
    rows = sorted(rows, key=lambda r: (r.create or r.start or _far_future()))
    first, last = rows[0], rows[-1]
    direction = row_direction(first)
    answered = min((r for r in rows if r.answer), key=lambda r: r.answer, default=None)
    starts = [r.create or r.start for r in rows if r.create or r.start]
    finishes = [r.finish for r in rows if r.finish]
    created_at = min(starts) if starts else None
    ended_at = max(finishes) if finishes else None
    answered_at = answered.answer if answered else None
    caller_number = first.from_number or None
    called_number = first.to_number or None
    if direction == "incoming":
        called_number = first.line_number or first.to_number or None
    external = {"incoming": caller_number, "outgoing": called_number}.get(direction)
    rang_extensions = tuple(OrderedDict.fromkeys(
        r.to_extension for r in rows if r.to_extension and direction != "outgoing"
    ))
    answered_extension = answered.to_extension if answered and direction != "outgoing" else None
    answered_number = (
        answered.to_number if answered and direction != "outgoing" and not answered.to_extension else None
    )
    if direction == "incoming":
        operator_extension = answered_extension
    else:
        operator_extension = first.from_extension
    reason = last.disconnect_reason
    reason_code = reason if isinstance(reason, int) else None
    reason_text = reason if isinstance(reason, str) else describe(reason_code)
    records = tuple(OrderedDict.fromkeys(rec for r in rows for rec in r.records))
    # The statistics list a recording once the PBX stored it: it can be downloaded.
    recordings = tuple(mango_vpbx.Recording(recording_id=record, added=True) for record in records)
    end_of_wait = answered_at or ended_at
    # Bounded as the fold bounds them: times decades apart give no duration and the flag.
    wait_seconds = mango_vpbx.duration_seconds(created_at, end_of_wait)
    talk_seconds = mango_vpbx.duration_seconds(answered_at, ended_at) or 0
    implausible_times = any(
        mango_vpbx.implausible_span(a, b) for a, b in ((created_at, end_of_wait), (answered_at, ended_at))
    )
    missed_at = None
    if not answered and direction != "outgoing":
        missed_at = _MISSED_AT.get((last.location or "").strip().lower())
    return mango_vpbx.CallState(
        entry_id=entry_id,
        direction=direction,
        result="answered" if answered else "missed",
        missed_at=missed_at,
        caller_number=caller_number,
        caller_extension=first.from_extension,
        called_number=called_number,
        called_extension=first.to_extension,
        external_number=external,
        line_number=next((r.line_number for r in rows if r.line_number), None),
        rang_extensions=rang_extensions,
        ringing_extensions=(),
        connected_extensions=(),
        answered_extension=answered_extension,
        answered_number=answered_number,
        operator_extension=operator_extension,
        rang_numbers=(),
        created_at=created_at,
        answered_at=answered_at,
        ended_at=ended_at,
        wait_seconds=wait_seconds,
        talk_seconds=talk_seconds,
        disconnect_reason=reason_code,
        disconnect_reason_text=reason_text or "",
        transfers=(),
        recording_ids=records,
        recordings=recordings,
        command_id=None,
        callback_initiator=None,
        is_callback=False,
        is_final=False,
        legs=(),
        dtmf=(),
        implausible_times=implausible_times,
    )


class MedpulseCall(models.Model):
    """What the PBX's own statistics say about a journal call (reconciliation)."""

    _inherit = "medpulse.call"

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

    def _followup_settled(self):
        # The statistics give a call's true times even when its summary never came.
        return super()._followup_settled() or self.recovered_from_stats or self.completed_from_stats

    @api.model
    def _followup_settled_domain(self):
        return expression.OR([
            super()._followup_settled_domain(),
            [("recovered_from_stats", "=", True)],
            [("completed_from_stats", "=", True)],
        ])

    def _vals_from_fold(self, company, state):
        # The statistics settled the outcome of a call whose final events were lost: its
        # events folded again without their summary (e.g. one left unfolded by a stopped
        # worker) only add what they see better than a CSV row.
        vals = super()._vals_from_fold(company, state)
        if self.completed_from_stats and not state.is_final:
            vals = {name: value for name, value in vals.items() if name in _KEPT_FROM_EVENTS}
        return vals

    def _after_stats(self, state):
        """The statistics created or completed this call: it is over. End the cards still
        ringing or talking and fetch its recordings, as its lost final events would have."""
        self.ensure_one()
        self._card_dispatch(state)
        self.env["medpulse.call.recording"].sudo()._sync_from_state(self.sudo(), None, state)

    @api.model
    def _apply_stats_rows(self, company, entry_id, rows):
        """Bring the journal call of ``entry_id`` in line with its statistics rows.

        Returns ``'created'``, ``'completed'``, ``'reconciled'`` (only the flag was
        set) or ``False`` when nothing changed, which makes reconciliation idempotent:
        values are written only when they differ from the stored ones.
        """
        state = stats_call_state(entry_id, rows)
        call = self.search([("company_id", "=", company.id), ("entry_id", "=", entry_id)], limit=1)
        if not call:
            call = self._insert_new(company, entry_id)
            vals = call._vals_from_state(company, state)
            vals.update(recovered_from_stats=True, reconciled=True)
            call.write(vals)
            call._apply_followup()
            call.message_post(
                body=_("Recovered from the PBX statistics: none of this call's events reached the webhook."),
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
                call.write(changes)
                call._apply_followup()
                call._after_stats(state)
                outcome = "completed"
        if not call.reconciled:
            call.reconciled = True
            outcome = outcome or "reconciled"
        return outcome
