import functools
import hashlib
import json
import logging
import time
import traceback
from datetime import timedelta

from psycopg2 import errors as pg_errors

from odoo import api, fields, models
from odoo.tools import SQL

import mango_vpbx

from .medpulse_telephony_limit import _lock_key

_logger = logging.getLogger(__name__)

# First key of the two-key advisory lock that serialises the events of one call
# (the PBX request budget uses 0x4D56): "MC".
_CALL_LOCK_NAMESPACE = 0x4D43
#: Folders side by side: each folds the calls of its share (a hash of the entry id), so
#: that under a load two workers fold at once, each in its own process. A call's events
#: are always in the same share, and folded in their order by one folder at a time.
FOLDERS = 2
#: The second keys of the folders' locks (first: the namespace above), one per share (no
#: call's key: those hash "company:entry").
_FOLDER_LOCK_KEYS = tuple(_lock_key("folder" if share == 0 else f"folder:{share}")
                          for share in range(FOLDERS))


def _share_sql(shares):
    """The folder's share of an event (``medpulse_call_event``'s row): its entry id's hash
    (the event's id for an event of no call) modulo ``shares``."""
    return SQL(
        "mod(hashtext(coalesce(entry_id, id::text)) & 2147483647, %s)", shares
    )


#: Attempts at folding one call under its lock (a conflict with another call's follow-up
#: is retried at once) before giving up: the webhook flags the event ``error``, the
#: refold counts the call failed.
FOLD_ATTEMPTS = 5
#: An event still ``received`` this long after it was stored lost its worker (killed or
#: restarted between storing and folding it): the cron folds it.
STALE_MINUTES = 1
#: Events folded per run of that cron; it triggers itself again for the rest.
STALE_BATCH = 200
#: A worker holding the folder folds for at most this long after its answer (seconds;
#: well within Odoo's ``limit_time_real``), then leaves the rest to the next holder.
FOLDER_SECONDS = 20
#: Events the folder reads at a time (oldest first), then folds per call.
FOLDER_BATCH = 500
#: Calls the folder folds in one transaction (``controllers/webhook.py``,
#: :func:`fold_together`): their locks are held, and their cards sent, until it commits.
FOLDER_CALLS_TOGETHER = 20
#: After a batch of several events (a load), the folder waits this long (seconds) before
#: it looks again, so that more events of the same calls are folded together.
FOLDER_PAUSE = 0.05
#: The folder's look for waiting events walks the partial index of the ``received`` ones
#: in id order, and an event folded leaves a dead entry there until the table's next
#: vacuum: on a table of millions of events autovacuum comes every fifth of it, so the
#: look would read more and more pages of entries folded long ago, and at every event. So
#: each look starts at the first id the previous one found waiting (per process, database
#: and share), less this margin for a request that stored an event with a lower id and
#: committed it after that look...
WAITING_MARGIN = 1000
#: ... and once in this many seconds, a look from the first id catches anything older
#: still (its call's next event folds it too, and the cron of stale events after
#: STALE_MINUTES).
WAITING_FULL_LOOK_SECONDS = 60
#: {(database, share): (first id a look starts at, time.monotonic() of the last full look)}
_WAITING_FROM = {}
#: Identities longer than this (bytes) are stored as their hash: a btree index entry
#: holds at most about 2,700 bytes, and the toolkit's strings are bounded in characters.
_IDENTITY_MAX_BYTES = 512


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
    path = fields.Char(
        required=True, readonly=True, help="Path after the webhook base, e.g. events/call."
    )
    json = fields.Text(
        string="JSON", readonly=True, help="The json form field exactly as received."
    )
    received_at = fields.Datetime(required=True, readonly=True, default=fields.Datetime.now)
    identity = fields.Char(
        required=True, readonly=True,
        help="What makes two deliveries the same event (e.g. leg, state and sequence number).",
    )
    entry_id = fields.Char(string="Entry id", readonly=True, index=True)
    pbx_call_id = fields.Char(string="Leg id", readonly=True, help="call_id of the leg")
    state = fields.Selection(
        [
            ("received", "Waiting to be folded"),
            ("processed", "Processed"),
            ("not_understood", "Not understood"),
            ("error", "Error"),
        ],
        required=True, readonly=True, default="received", index=True,
    )
    error = fields.Text(readonly=True)
    call_id = fields.Many2one(
        "medpulse.call", readonly=True, index="btree_not_null", ondelete="set null"
    )
    body_sha256 = fields.Char(
        string="Body digest", readonly=True,
        help="SHA-256 of the json form field: one stored row per signed body.",
    )
    other_path_count = fields.Integer(
        string="Also posted to other paths", readonly=True,
        help="How many times this very body was posted again to another path (a replay): "
        "counted here, never stored or folded again.",
    )

    _sql_constraints = [
        (
            "identity_company_uniq",
            "UNIQUE(company_id, identity)",
            "This PBX event is already stored.",
        ),
        (
            "body_company_uniq",
            "UNIQUE(company_id, body_sha256)",
            "This signed body is already stored.",
        ),
    ]

    def init(self):
        res = super().init()
        # The company's last event (the wallboard's and the health check's "silent"): a
        # per-company range the single-column indexes serve only by scanning every event.
        self.env.cr.execute(
            "CREATE INDEX IF NOT EXISTS medpulse_call_event_company_received_at_index"
            " ON medpulse_call_event (company_id, received_at)"
        )
        # The events waiting to be folded, oldest first (the folder's look, after every
        # webhook answer): a few rows among millions.
        self.env.cr.execute(
            "CREATE INDEX IF NOT EXISTS medpulse_call_event_received_index"
            " ON medpulse_call_event (id) WHERE state = 'received'"
        )
        # Rows stored before the digest existed: the first row of each body gets it.
        self.env.cr.execute("""
            UPDATE medpulse_call_event event SET body_sha256 = digests.digest
              FROM (SELECT id, digest,
                           row_number() OVER (PARTITION BY company_id, digest ORDER BY id) AS n
                      FROM (SELECT id, company_id,
                                   encode(sha256(convert_to(coalesce(json, ''), 'UTF8')), 'hex')
                                       AS digest
                              FROM medpulse_call_event WHERE body_sha256 IS NULL) bodies) digests
             WHERE event.id = digests.id AND digests.n = 1
               AND NOT EXISTS (SELECT 1 FROM medpulse_call_event other
                                WHERE other.company_id = event.company_id
                                  AND other.body_sha256 = digests.digest)
        """)
        return res

    @api.model
    def _receive(self, company, path, json_str):
        """Store one signed request and fold it into the journal, in this transaction.

        Returns the stored event, or an empty recordset for a duplicate delivery.
        Never raises on content: a request we cannot read is stored ``not_understood``
        and a failure while updating the journal leaves the event stored as ``error``.
        For tests, tools and benchmarks: the webhook instead commits the stored event
        first and folds it under its call's lock (``controllers/webhook.py``), then sends
        the commands the fold queued; here they stay ``queued``.
        """
        record, event = self._store(company, path, json_str)
        if record and event is not None:
            record._process_guarded(event)
        return record

    @api.model
    def _store(self, company, path, json_str, state="received"):
        """Insert the request as a raw event: ``(record, parsed event or None)``.

        ``record`` is empty for a duplicate delivery; the event is ``None`` when the
        content could not be understood (the record is then flagged so). ``state``: what
        an understood event is stored as, ``received`` (waiting for the folder); the
        bench's store route stores them ``processed``, never to be folded.
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
            state=state,
            # events/record/tagged has the very fields of events/record/added: the PBX may
            # send one body to both paths, and then they are two events, not a replay.
            body_key=f"{event.path}\n{json_str}"
            if isinstance(event, mango_vpbx.events.RecordTaggedEvent) else None,
        )
        return record, event

    def _process(self, event):
        """Fold this stored event (``event`` is its parsed form) into the journal.

        Runs in the caller's transaction and never commits it: the webhook and the cron
        choose the transaction (a new one, under the call's lock). The event becomes
        ``processed`` in it, so an event whose folding never committed stays
        ``received``. An event already folded (by the cron, or by another process's fold
        of its call) is left alone. Raises whatever the fold raises: the webhook's fold
        has a transaction of its own, rolled back whole on failure, and flags the event
        in the transaction that holds the call's lock (``controllers/webhook.py``,
        :func:`fold_in_turn`), so it needs no savepoint (two statements per event); a
        caller folding in a transaction it keeps uses :meth:`_process_guarded`.
        """
        self.ensure_one()
        self._process_many([event])

    def _process_many(self, parsed):
        """:meth:`_process` for these stored events of one call at once (``parsed``: their
        parsed forms, in the same order): the call is recomputed once and each step of
        its ``_after_event`` runs once, or once per event for the steps that read the
        event itself (``medpulse.call._after_events``). The folder's way
        (``controllers/webhook.py``, :func:`fold_waiting`): under a load the events of
        a call pile up while it folds others, and folding them together is what it
        saves."""
        # What the fold reads of its own rows, not their JSON: they are parsed already.
        self.fetch(["state", "company_id", "entry_id", "call_id"])
        todo = [(record, event) for record, event in zip(self, parsed, strict=True)
                if record.state == "received"]
        if not todo:
            return
        records = self.browse([record.id for record, _event in todo])
        records._apply([event for _record, event in todo])
        records.write({"state": "processed"})

    def _process_guarded(self, event):
        """:meth:`_process` in a savepoint of the caller's transaction: a failure is
        recorded on the event (``error``), never raised, except a concurrency error,
        which the caller retries with a fresh snapshot (``_receive``: tests, tools)."""
        self.ensure_one()
        try:
            with self.env.cr.savepoint():
                self._process(event)
        except Exception as error:  # noqa: BLE001 - the raw event must survive any bug
            if is_concurrency_error(error):
                raise
            self._log_fold_error(error)
            self._fold_failed(error)

    def _log_fold_error(self, error):
        """Log a failed fold of these events: its type and traceback, never its message
        (kept on the events: it may quote the call's data)."""
        _logger.error(
            "Could not update the call journal from PBX event %s (%s, its message is on "
            "the event: it may quote the call's data):\n%s",
            ", ".join(map(str, self.ids)), type(error).__name__,
            "".join(traceback.format_tb(error.__traceback__)),
        )

    def _apply(self, parsed):
        """What these events change (``parsed``: their parsed forms, in the same order;
        several only when they are of one call).

        Events of a call: the call is recomputed from all its stored events
        (``medpulse.call._recompute``), those events are linked to it, then the call's
        :meth:`~odoo.addons.medpulse_telephony.models.medpulse_call.MedpulseCall._after_event`
        steps run. A ``result/<command>`` notification (no call) goes to the command it
        answers, an ``events/sms`` delivery report to its SMS (``medpulse.sms``).
        """
        first = self[:1]
        if first.entry_id:
            call, state, events = self.env["medpulse.call"]._recompute(
                first.company_id, first.entry_id, dict(zip(self.ids, parsed, strict=True))
            )
            events._link_folded(call)
            call._after_events(list(zip(self, parsed, strict=True)), state)
            return
        for record, event in zip(self, parsed, strict=True):
            if isinstance(event, mango_vpbx.events.CommandResult):
                self.env["medpulse.call.command"].sudo()._on_result(record.company_id, event)
            elif isinstance(event, mango_vpbx.events.SmsEvent):
                # A delivery report: the SMS it is about, never a call.
                self.env["medpulse.sms"].sudo()._on_delivery(record.company_id, event)

    def _link_folded(self, call):
        """These events were just folded into ``call``: linked to it, and those a failed
        fold had flagged ``error`` are ``processed`` now (the event being folded becomes
        ``processed`` in :meth:`_process`; others still ``received`` are their own
        worker's)."""
        self.filtered(lambda e: e.call_id != call).write({"call_id": call.id})
        self.filtered(lambda e: e.state == "error").write({"state": "processed", "error": False})

    def _fold_failed(self, error):
        """Flag this event: its fold failed with ``error`` (its message is kept)."""
        self.write({"state": "error", "error": str(error)})

    def _lock_call(self, known=None):
        """Wait for the lock of this event's call (company and entry id), held until the
        current transaction ends.

        The webhook and the cron take it in a transaction of their own, then fold in
        another one whose snapshot starts once the lock is granted, so that it sees the
        previous event's work (``controllers/webhook.py``, :func:`fold_together`).
        ``known``: ``(company, entry_id)`` of this event when the caller has them (the
        webhook just stored it), which spares reading the event's row back.
        """
        self.ensure_one()
        self._lock_calls(
            [(known[0].id, known[1]) if known else (self.company_id.id, self.entry_id)]
        )

    @api.model
    def _lock_calls(self, calls):
        """:meth:`_lock_call` for several calls at once (``calls``: ``(company id, entry
        id)`` pairs; an entry id that is empty, an event of no call, needs no lock), in
        one statement. The locks are taken in the order of their keys: two transactions
        that each wait for several of them cannot wait for each other (every other taker
        waits for one lock at a time, or takes only those that are free)."""
        keys = sorted({
            _lock_key(f"{company_id}:{entry_id}") for company_id, entry_id in calls if entry_id
        })
        if keys:
            # unnest() yields the array's elements in their order, one lock after another.
            self.env.cr.execute(SQL(
                "SELECT count(pg_advisory_xact_lock(%s, key)) FROM unnest(%s::int[]) AS key",
                _CALL_LOCK_NAMESPACE, keys,
            ))

    # ------------------------------------------------------------ the folder
    #
    # Whoever holds the folder folds the events waiting to be folded, a call's together
    # (``controllers/webhook.py``, :func:`fold_waiting`): a session advisory lock, taken
    # by a worker once it has answered the PBX.

    def _folder_lock_sql(self, function, share):
        return SQL(
            "SELECT %s(%s, %s)", SQL(function), _CALL_LOCK_NAMESPACE, _FOLDER_LOCK_KEYS[share]
        )

    @api.model
    def _try_folder(self, share):
        """Take the folder of ``share`` if no other session holds it: whether it is held
        now, in this cursor's session (across its commits) until :meth:`_release_folder`."""
        self.env.cr.execute(self._folder_lock_sql("pg_try_advisory_lock", share))
        return self.env.cr.fetchone()[0]

    @api.model
    def _release_folder(self, share):
        self.env.cr.execute(self._folder_lock_sql("pg_advisory_unlock", share))

    @api.model
    def _waiting_sql(self, share=None, start=0):
        """The condition of an event waiting to be folded (of ``share`` when given; from
        the id ``start`` on, see WAITING_MARGIN): the partial index of the waiting events,
        then their share. Flushes the events' pending state and entry id first, so that
        the statement it goes into sees them."""
        self.flush_model(["state", "entry_id"])
        return SQL(
            "state = 'received' AND %s AND %s",
            SQL("TRUE") if share is None else SQL("%s = %s", _share_sql(FOLDERS), share),
            SQL("id >= %s", start) if start else SQL("TRUE"),
        )

    @api.model
    def _waiting_start(self, share):
        """The first id the next look of ``share`` reads: where the previous look found the
        first waiting event (less WAITING_MARGIN), or 0 for a full look (the first one of
        this process, then once per WAITING_FULL_LOOK_SECONDS)."""
        start, looked_all_at = _WAITING_FROM.get((self.env.cr.dbname, share), (0, None))
        if looked_all_at is None or time.monotonic() - looked_all_at > WAITING_FULL_LOOK_SECONDS:
            return 0
        return start

    @api.model
    def _waiting_seen(self, share, start, first_id, batch=False):
        """After a look of ``share`` from ``start`` that found ``first_id`` first (None:
        nothing waits): where the next one starts. Never lower than before: a full look
        that finds an event committed late folds it, and the next look starts where it
        would have. A full look counts as done once the folder read its batch (``batch``):
        a quick look that found the late event only opens the folder to it."""
        key = (self.env.cr.dbname, share)
        mark, looked_all_at = _WAITING_FROM.get(key, (0, None))
        if batch and not start:
            looked_all_at = time.monotonic()
        if first_id is not None:
            mark = max(mark, first_id - WAITING_MARGIN)
        _WAITING_FROM[key] = (mark, looked_all_at)

    @api.model
    def _any_waiting(self, share):
        """Whether an event of ``share`` waits to be folded (one look, nothing parsed)."""
        start = self._waiting_start(share)
        self.env.cr.execute(SQL(
            "SELECT id FROM medpulse_call_event WHERE %s ORDER BY id LIMIT 1",
            self._waiting_sql(share, start),
        ))
        row = self.env.cr.fetchone()
        self._waiting_seen(share, start, row and row[0])
        return bool(row)

    @api.model
    def _waiting_for_fold(self, limit=FOLDER_BATCH, flagged=None, share=None):
        """The oldest events still ``received`` (at most ``limit``; of the calls of
        ``share`` when given, see FOLDERS), per call: ``[(events of one call, their parsed
        forms)]`` in the order their first event was stored; an event of no call (a
        command's result, an SMS report) alone. An event that no longer parses is flagged
        ``not_understood`` and left out (its id added to the list ``flagged``: the caller
        commits the flags before the folds' transactions read the calls' events)."""
        start = 0 if share is None else self._waiting_start(share)
        self.env.cr.execute(SQL(
            "SELECT id FROM medpulse_call_event WHERE %s ORDER BY id LIMIT %s",
            self._waiting_sql(share, start), limit,
        ))
        events = self.sudo().browse([row[0] for row in self.env.cr.fetchall()])
        if share is not None:
            self._waiting_seen(share, start, events[:1].id or None, batch=True)
        events.fetch(["path", "json", "company_id", "entry_id"])
        groups = {}
        for event in events:
            try:
                parsed = _parse_stored(event.path, event.json)
            except mango_vpbx.EventError as error:
                event.write({"state": "not_understood", "error": str(error)})
                if flagged is not None:
                    flagged.append(event.id)
                continue
            key = (event.company_id.id, event.entry_id) if event.entry_id else event.id
            company, ids, items = groups.setdefault(key, (event.company_id, [], []))
            ids.append(event.id)
            items.append(parsed)
        return [
            (events.browse(ids).with_company(company), items)
            for company, ids, items in groups.values()
        ]

    @api.model
    def _cron_fold_received(self):
        """Fold the events still ``received`` STALE_MINUTES after they were stored.

        Their worker stopped (killed, restarted, out of memory) after committing the raw
        event and before its fold committed: without this the call would never be
        final, its card would keep ringing, the operator would look busy and its
        recording would never be downloaded. Each is folded as the webhook does
        (``controllers/webhook.py``, :func:`fold_in_turn`), under its call's lock, and
        the commands its fold queues are sent after.
        """
        stale = fields.Datetime.now() - timedelta(minutes=STALE_MINUTES)
        domain = [("state", "=", "received"), ("received_at", "<", stale)]
        events = self.sudo().search(domain, order="id", limit=STALE_BATCH)
        for event_id in events.ids:
            # A transaction per event, as the webhook's: committed by the with block.
            with self.env.registry.cursor() as cr:
                event = self.sudo().with_env(self.env(cr=cr, su=True)).browse(event_id)
                try:
                    parsed = _parse_stored(event.path, event.json)
                except mango_vpbx.EventError as error:
                    event.write({"state": "not_understood", "error": str(error)})
                    continue
                # Imported here: the controller imports this module.
                from ..controllers.webhook import fold_in_turn

                fold_in_turn(event.with_company(event.company_id), parsed)
        if len(events) == STALE_BATCH:
            self.env.ref("medpulse_telephony.ir_cron_medpulse_call_event_fold")._trigger()
        return events

    def _insert(self, company, path, json_str, identity, entry_id=None, pbx_call_id=None,
                state="received", error=None, body_key=None):
        # Raw SQL because the ORM has no "insert unless it exists": a prior search would
        # let two concurrent deliveries both insert. ON CONFLICT without a target covers
        # both the identity and the body. Not logged on failure: a serialization
        # failure here is retried by the HTTP layer, not an error. ``body_key``: what is
        # digested instead of the body alone, for an event whose body another path's
        # event may share (events/record/tagged: its path and its body).
        now = fields.Datetime.now()
        body_sha256 = hashlib.sha256((body_key or json_str).encode()).hexdigest()
        if len(identity.encode()) > _IDENTITY_MAX_BYTES:
            identity = "sha256:" + hashlib.sha256(identity.encode()).hexdigest()
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO medpulse_call_event
                    (company_id, path, json, received_at, identity, entry_id, pbx_call_id,
                     state, error, body_sha256, other_path_count,
                     create_uid, create_date, write_uid, write_date)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0, %s, %s, %s, %s)
                ON CONFLICT DO NOTHING
                RETURNING id
                """,
                company.id, path, json_str, now, identity, entry_id or None,
                pbx_call_id or None, state, error, body_sha256,
                self.env.uid, now, self.env.uid, now,
            ),
            log_exceptions=False,
        )
        row = self.env.cr.fetchone()
        if row:
            return self.browse(row[0])
        # A duplicate. The same body posted to another path is counted on its row.
        self.env.cr.execute(
            SQL(
                "UPDATE medpulse_call_event SET other_path_count = other_path_count + 1"
                " WHERE company_id = %s AND body_sha256 = %s AND path != %s",
                company.id, body_sha256, path,
            ),
            log_exceptions=False,
        )
        return self.browse()

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

    def _export_jsonl(self, purged_items=()):
        """The events as JSON Lines, the emulator's replay format, in reception order.

        ``purged_items``: events the retention purged, from their snapshots
        (``medpulse.call.event.snapshot._export_items``): the same keys, plus ``purged``
        (when), which the replay ignores.
        """
        items = [
            {
                "path": record.path,
                "json": record.json,
                "received_at": record.received_at.isoformat() + "Z"
                if record.received_at
                else None,
            }
            for record in self.sorted(lambda r: (r.received_at, r.id))
        ]
        items = sorted([*purged_items, *items], key=lambda item: item["received_at"] or "")
        lines = [json.dumps(item, ensure_ascii=False) for item in items]
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
    if (
        isinstance(entry_id, str)
        and "\x00" not in entry_id
        and len(entry_id) <= mango_vpbx.assumptions.MAX_STRING_LENGTH
    ):
        return entry_id
    return None


def is_concurrency_error(error):
    """Whether ``error`` means "start again with a fresh snapshot"."""
    return isinstance(
        error,
        (pg_errors.SerializationFailure, pg_errors.DeadlockDetected, pg_errors.LockNotAvailable),
    )


def in_new_transaction(env, work, on_failure):
    """Run ``work(env)`` with ``env`` on a new cursor, committed at the end; the callers
    hold the call's lock meanwhile (the webhook's ``fold_in_turn`` and the refold).

    A concurrency error starts the work again at once with a fresh snapshot, up to
    ``FOLD_ATTEMPTS`` times; any other error, or a conflict on the last attempt, is given
    to ``on_failure(error, attempt)``. Never raises; returns whether the work committed.
    """
    for attempt in range(1, FOLD_ATTEMPTS + 1):
        try:
            with env.registry.cursor() as cr:
                work_env = env(cr=cr)
                work(work_env)
                # The commit flushes only the environments still referenced: the last
                # writes of ``work`` (a failure flagged after its rollback) would be lost.
                work_env.flush_all()
            return True
        except Exception as error:  # noqa: BLE001 - the callers must go on (the PBX gets its 200)
            if is_concurrency_error(error) and attempt < FOLD_ATTEMPTS:
                time.sleep(0.01 * attempt)
                continue
            on_failure(error, attempt)
            return False
    return False
