import functools
import hashlib
import json
import logging
import time

import mango_vpbx
from psycopg2 import errors as pg_errors

from odoo import api, fields, models
from odoo.tools import SQL

from .medpulse_telephony_limit import _lock_key

_logger = logging.getLogger(__name__)

# First key of the two-key advisory lock that serialises the events of one call
# (the PBX request budget uses 0x4D56): "MC".
_CALL_LOCK_NAMESPACE = 0x4D43
_PROCESS_ATTEMPTS = 5


class MedpulseCallEvent(models.Model):
    """Every signed request of the PBX, stored as received.

    The audit trail, the input of the journal (a call is recomputed from the stored
    events of its ``entry_id``) and what the emulator replays. A duplicate delivery is
    a no-op: ``identity`` is unique per company and the insert is ``ON CONFLICT DO
    NOTHING``, so two workers receiving the same event at once cannot both store it.
    """

    _name = "medpulse.call.event"
    _description = "PBX event"
    _order = "received_at desc, id desc"
    _rec_name = "path"

    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    path = fields.Char(required=True, readonly=True, help="Path after the webhook base, e.g. events/call.")
    json = fields.Text(string="JSON", readonly=True, help="The json form field exactly as received.")
    received_at = fields.Datetime(required=True, readonly=True, default=fields.Datetime.now)
    identity = fields.Char(
        required=True, readonly=True,
        help="What makes two deliveries the same event (e.g. leg, state and sequence number).",
    )
    entry_id = fields.Char(string="Entry id", readonly=True, index=True)
    pbx_call_id = fields.Char(string="Leg id", readonly=True, help="call_id of the leg")
    state = fields.Selection(
        [("processed", "Processed"), ("not_understood", "Not understood"), ("error", "Error")],
        required=True, readonly=True, default="processed", index=True,
    )
    error = fields.Text(readonly=True)
    call_id_ref = fields.Many2one("medpulse.call", string="Call", readonly=True, index="btree_not_null", ondelete="set null")

    _sql_constraints = [
        ("identity_company_uniq", "UNIQUE(company_id, identity)", "This PBX event is already stored."),
    ]

    @api.model
    def _receive(self, company, path, json_str):
        """Store one signed request and fold it into the journal, in this transaction.

        Returns the stored event, or an empty recordset for a duplicate delivery.
        Never raises on content: a request we cannot read is stored ``not_understood``
        and a failure while updating the journal leaves the event stored as ``error``
        (the PBX does not retry, so the raw event is the one thing not to lose).
        The webhook uses :meth:`_store` then :meth:`_process_in_turn` instead.
        """
        record, event = self._store(company, path, json_str)
        if record and event is not None:
            record._process(event)
        return record

    @api.model
    def _store(self, company, path, json_str):
        """Insert the request as a raw event: ``(record, parsed event or None)``.

        ``record`` is empty for a duplicate delivery; the event is ``None`` when the
        content could not be understood (the record is then flagged so).
        """
        try:
            if "\\u0000" in json_str:
                # A NUL decoded from the JSON could not be stored in PostgreSQL text.
                raise mango_vpbx.EventError("the json field contains a NUL character")
            # Through the fold's cache: the fold of this very request parses it again.
            event = _parse_stored(path, json_str)
        except mango_vpbx.EventError as error:
            digest = hashlib.sha256(f"{path}\n{json_str}".encode()).hexdigest()
            record = self._insert(
                company, path, json_str, identity=f"raw:{digest}",
                entry_id=_entry_id_of(json_str), state="not_understood", error=str(error),
            )
            return record, None
        record = self._insert(
            company, path, json_str, identity=event.identity,
            entry_id=getattr(event, "entry_id", None), pbx_call_id=getattr(event, "call_id", None),
        )
        return record, event

    def _process(self, event):
        """Apply this stored event (``event`` is its parsed form) to the journal.

        A failure is recorded on the event (``error``), never raised, except a
        concurrency error, which the caller retries with a fresh snapshot.
        """
        self.ensure_one()
        if not self.entry_id:
            return
        try:
            with self.env.cr.savepoint():
                self.env["medpulse.call"]._process_event(self, event)
        except Exception as error:  # noqa: BLE001 - the raw event must survive any bug
            if _is_concurrency_error(error):
                raise
            _logger.exception("Could not update the call journal from PBX event %s", self.id)
            self.write({"state": "error", "error": str(error)})

    def _process_in_turn(self, event):
        """:meth:`_process` for the webhook: the events of one call one after another.

        The PBX posts the events of a call at the same moment (a queue rings three
        operators: three ``Appeared``). Processed side by side under repeatable read,
        all but one would fail on the call's row and Odoo would retry them after a
        random sleep of up to 2 s, then 4 s: the other operators' cards would come
        seconds late. Instead, the stored event is committed first (it is safe
        whatever happens next), this transaction takes a lock on the call (an advisory
        lock on company and entry id), and the journal is updated in a new transaction
        whose snapshot starts once the lock is granted, so it sees the previous
        event's work. A remaining conflict (the follow-up of the same number from
        another call) is retried at once with a fresh snapshot; if it persists, the
        event is flagged ``error`` and the call's next event or the reconciliation
        folds it in (every event of a call is folded again each time).
        """
        self.ensure_one()
        self.env.cr.commit()
        if self.entry_id:
            self.env.cr.execute(
                SQL(
                    "SELECT pg_advisory_xact_lock(%s, %s)",
                    _CALL_LOCK_NAMESPACE, _lock_key(f"{self.company_id.id}:{self.entry_id}"),
                )
            )
        for attempt in range(1, _PROCESS_ATTEMPTS + 1):
            try:
                with self.env.registry.cursor() as cr:
                    self.with_env(self.env(cr=cr))._process(event)
                return
            except Exception as error:  # noqa: BLE001 - the PBX must get its 200 (it never retries)
                if _is_concurrency_error(error) and attempt < _PROCESS_ATTEMPTS:
                    time.sleep(0.01 * attempt)
                    continue
                # Still conflicting, or failing where _process cannot catch it (the
                # commit): the stored event says so, the next event of the call or
                # the reconciliation folds it in.
                _logger.warning(
                    "PBX event %s: journal not updated (attempt %s): %s", self.id, attempt, error,
                )
                self.write({"state": "error", "error": str(error)})
                return

    def _insert(self, company, path, json_str, identity, entry_id=None, pbx_call_id=None,
                state="processed", error=None):
        # Raw SQL because the ORM has no "insert unless it exists": a prior search would
        # let two concurrent deliveries both insert. Not logged on failure: a
        # serialization failure here is retried by the HTTP layer, not an error.
        now = fields.Datetime.now()
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO medpulse_call_event
                    (company_id, path, json, received_at, identity, entry_id, pbx_call_id,
                     state, error, create_uid, create_date, write_uid, write_date)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (company_id, identity) DO NOTHING
                RETURNING id
                """,
                company.id, path, json_str, now, identity, entry_id or None,
                pbx_call_id or None, state, error, self.env.uid, now, self.env.uid, now,
            ),
            log_exceptions=False,
        )
        row = self.env.cr.fetchone()
        return self.browse(row[0]) if row else self.browse()

    def _parsed(self):
        """The parsed events of these records that can be parsed, in id order."""
        result = []
        for record in self.sorted("id"):
            if record.state == "not_understood":
                continue
            try:
                result.append(_parse_stored(record.path, record.json))
            except mango_vpbx.EventError:
                _logger.warning("Stored PBX event %s no longer parses", record.id)
        return result

    def _export_jsonl(self):
        """The events as JSON Lines, the emulator's replay format."""
        lines = [
            json.dumps(
                {
                    "path": record.path,
                    "json": record.json,
                    "received_at": record.received_at.isoformat() + "Z" if record.received_at else None,
                },
                ensure_ascii=False,
            )
            for record in self.sorted(lambda r: (r.received_at, r.id))
        ]
        return "\n".join(lines) + ("\n" if lines else "")


@functools.lru_cache(maxsize=1024)
def _parse_stored(path, json_str):
    """``mango_vpbx.parse_event`` of a stored event, remembered by content.

    Every new event of a call folds all the call's stored events again; their text
    never changes, so each is parsed once per worker instead of once per later event.
    Keyed by content, not by id, so a cached result is right whatever the database.
    Parsed events are frozen dataclasses, safe to share.
    """
    return mango_vpbx.parse_event(path, json_str)


def _entry_id_of(json_str):
    """Best-effort entry id of a payload we could not parse, to show it near its call."""
    try:
        payload = json.loads(json_str)
    except (TypeError, ValueError, RecursionError):
        return None
    entry_id = payload.get("entry_id") if isinstance(payload, dict) else None
    if isinstance(entry_id, str) and "\x00" not in entry_id:
        return entry_id[:128]
    return None


def _is_concurrency_error(error):
    return isinstance(
        error,
        (pg_errors.SerializationFailure, pg_errors.DeadlockDetected, pg_errors.LockNotAvailable),
    )
