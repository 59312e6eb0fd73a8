import json
import logging
import time
import zlib

from dateutil.relativedelta import relativedelta

from odoo import api, fields, models
from odoo.tools import SQL

from .medpulse_call_event import _CALL_LOCK_NAMESPACE, _parse_stored
from .medpulse_call_reconcile import OVERLAP
from .medpulse_telephony_limit import _lock_key

_logger = logging.getLogger(__name__)

#: Raw events looked at per batch (one transaction): a few thousand, so a batch holds its
#: calls' locks for well under a second.
PURGE_SCAN = 2000
#: Seconds one run of the cron may work; it triggers itself again for the rest.
PURGE_SECONDS = 60
#: Event states that say the call's fold is not settled: its events stay.
_UNSETTLED_STATES = ("received", "error")


class MedpulseCallEventSnapshot(models.Model):
    """The raw events of one call that the retention purged, compacted into one row.

    A company keeping raw events ``medpulse_event_retention_months`` months (Settings ▸
    Telephony) has the rows of older calls purged by the cron (:meth:`_cron_purge`), but
    only of calls that are final and whose period was reconciled with the PBX statistics:
    a call still in progress or never checked against the PBX keeps every event.

    The fold is a function of the *set* of a call's events, so a late event of a purged
    call must still be folded with all the others: folding it alone, or with the few rows
    left, would give a wrong call. Before the rows go, the path, body and reception time
    of every event the fold reads are kept here, zlib-compressed in one ``bytea``
    (``data``, read and written in SQL only: an ORM binary would store it as base64, a
    third larger), and the call is flagged ``events_purged``. The fold of the call
    (``medpulse.call._fold_call_events``) then reads these events as well as the rows
    left, so a late event, a refold by a newer toolkit and the legs table give exactly
    the call the events never purged would give. What goes for good: the rows' indexes
    and bookkeeping, and the events the fold never reads (``not_understood``), counted
    in ``dropped_count``.
    """

    _name = "medpulse.call.event.snapshot"
    _description = "Purged raw PBX events of a call"
    _order = "id desc"
    _rec_name = "entry_id"

    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    call_id = fields.Many2one(
        "medpulse.call", required=True, readonly=True, index=True, ondelete="cascade"
    )
    entry_id = fields.Char(string="Entry id", required=True, readonly=True)
    event_count = fields.Integer(string="Events kept", readonly=True)
    dropped_count = fields.Integer(
        string="Events dropped", readonly=True,
        help="Purged events the fold never reads (not understood): not kept.",
    )
    first_received_at = fields.Datetime(string="First event", readonly=True)
    last_received_at = fields.Datetime(string="Last event", readonly=True)
    date_purged = fields.Datetime(string="Purged on", readonly=True)

    _sql_constraints = [
        ("entry_company_uniq", "UNIQUE(company_id, entry_id)",
         "The purged events of this call are already kept."),
    ]

    def init(self):
        res = super().init()
        self.env.cr.execute(
            "ALTER TABLE medpulse_call_event_snapshot ADD COLUMN IF NOT EXISTS data bytea"
        )
        return res

    # ------------------------------------------------------------------ reading

    @api.model
    def _items_of(self, company, entry_ids):
        """``{entry_id: {identity: [path, json, received_at ISO]}}`` of the kept snapshots."""
        self.env.cr.execute(SQL(
            "SELECT entry_id, data FROM medpulse_call_event_snapshot"
            " WHERE company_id = %s AND entry_id = ANY(%s)",
            company.id, list(entry_ids),
        ))
        return {entry_id: _decode(data) for entry_id, data in self.env.cr.fetchall()}

    @api.model
    def _parsed_of(self, company, entry_id):
        """The parsed events of ``entry_id`` that were purged (none for a call never purged).

        :meth:`medpulse.call._fold_call_events` folds them with the stored rows.
        """
        items = self._items_of(company, [entry_id]).get(entry_id, {})
        return [_parse_stored(path, body) for path, body, _at in items.values()]

    # ------------------------------------------------------------------ purging

    @api.model
    def _cron_purge(self, seconds=PURGE_SECONDS, scan=PURGE_SCAN):
        """Purge the old raw events of every company that keeps them for a limited time.

        Batch after batch, each a short transaction of its own (committed before the
        next), until ``seconds`` have passed; then the cron triggers itself again for the
        rest. Returns the number of calls purged.
        """
        deadline = time.monotonic() + seconds
        purged = 0
        more = False
        companies = self.env["res.company"].sudo().search(
            [("medpulse_event_retention_months", ">", 0)], order="id"
        )
        for company_id in companies.ids:
            after = None
            while True:
                if time.monotonic() >= deadline:
                    more = True
                    break
                with self.env.registry.cursor() as cr:
                    env = self.env(cr=cr, su=True)
                    count, after = env[self._name]._purge_batch(
                        env["res.company"].browse(company_id), after, scan
                    )
                purged += count
                if after is None:
                    break
            if more:
                break
        # The work was committed by cursors of its own: what this one cached is stale.
        self.env.invalidate_all()
        if more:
            self.env.ref("medpulse_telephony.ir_cron_medpulse_call_event_purge")._trigger()
        return purged

    @api.model
    def _purge_cutoffs(self, company):
        """``(events before, calls started before)``, or None when nothing may be purged:
        the retention is off, or the company's journal was never reconciled."""
        months = company.medpulse_event_retention_months
        reconciled = company.medpulse_pbx_reconciled_until
        if months <= 0 or not reconciled:
            return None
        return fields.Datetime.now() - relativedelta(months=months), reconciled - OVERLAP

    @api.model
    def _purge_batch(self, company, after, scan):
        """Purge the calls among the next ``scan`` old events after ``after`` (the
        ``(received_at, id)`` key of the last event looked at, or None to start).

        Returns ``(calls purged, key to go on from)``, the key None once every old event
        was looked at.
        """
        cutoffs = self._purge_cutoffs(company)
        if not cutoffs:
            return 0, None
        cutoff, reconciled_before = cutoffs
        after_at, after_id = after or (fields.Datetime.to_datetime("1970-01-01"), 0)
        cr = self.env.cr
        cr.execute(SQL(
            """SELECT received_at, id, entry_id FROM medpulse_call_event
                WHERE company_id = %s AND received_at < %s AND entry_id IS NOT NULL
                  AND (received_at, id) > (%s, %s)
                ORDER BY received_at, id LIMIT %s""",
            company.id, cutoff, after_at, after_id, scan,
        ))
        scanned = cr.fetchall()
        if not scanned:
            return 0, None
        next_key = scanned[-1][:2] if len(scanned) == scan else None
        calls = self._purgeable_calls(company, {row[2] for row in scanned}, cutoff,
                                      reconciled_before)
        if calls:
            self._purge_calls(company, calls)
        return len(calls), next_key

    @api.model
    def _purgeable_calls(self, company, entry_ids, cutoff, reconciled_before):
        """``{entry_id: call id}`` of these calls whose events may go now, locked.

        A call qualifies when it is final (or its outcome came from the statistics), it
        started before the reconciled moment (less the reconciliation's overlap), none of
        its events is recent or waiting for (or failed) its fold, and its lock (the
        webhook's, ``medpulse.call.event._lock_call``) is free: a call being folded right
        now is left for the next run rather than waited for.
        """
        cr = self.env.cr
        cr.execute(SQL(
            """SELECT call.id, call.entry_id FROM medpulse_call call
                WHERE call.company_id = %(company)s AND call.entry_id = ANY(%(entries)s)
                  AND (call.is_final OR call.completed_from_stats)
                  AND COALESCE(call.created_at, call.create_date) < %(reconciled)s
                  AND NOT EXISTS (
                      SELECT 1 FROM medpulse_call_event event
                       WHERE event.company_id = call.company_id
                         AND event.entry_id = call.entry_id
                         AND (event.received_at >= %(cutoff)s
                              OR event.state IN %(unsettled)s))""",
            company=company.id, entries=list(entry_ids), reconciled=reconciled_before,
            cutoff=cutoff, unsettled=_UNSETTLED_STATES,
        ))
        candidates = dict((entry_id, call_id) for call_id, entry_id in cr.fetchall())
        if not candidates:
            return {}
        keys = {_lock_key(f"{company.id}:{entry_id}"): entry_id for entry_id in candidates}
        cr.execute(SQL(
            "SELECT key FROM unnest(%s::int[]) AS key WHERE pg_try_advisory_xact_lock(%s, key)",
            list(keys), _CALL_LOCK_NAMESPACE,
        ))
        locked = {keys[key] for (key,) in cr.fetchall()}
        return {entry_id: candidates[entry_id] for entry_id in locked}

    @api.model
    def _purge_calls(self, company, calls):
        """Move the raw events of ``calls`` (``{entry_id: call id}``, locked) into their
        snapshots, delete the rows and flag the calls ``events_purged``."""
        cr = self.env.cr
        entry_ids = list(calls)
        cr.execute(SQL(
            """SELECT id, entry_id, identity, path, json, received_at, state
                 FROM medpulse_call_event WHERE company_id = %s AND entry_id = ANY(%s)
                ORDER BY id""",
            company.id, entry_ids,
        ))
        rows = cr.fetchall()
        kept = self._items_of(company, entry_ids)
        purged = {entry_id: {"items": kept.get(entry_id, {}), "dropped": 0}
                  for entry_id in entry_ids}
        for _id, entry_id, identity, path, body, received_at, state in rows:
            snapshot = purged[entry_id]
            if state == "not_understood":
                snapshot["dropped"] += 1
            else:
                # A snapshot's event stays as it was: the unique identity kept the first
                # delivery out of the table too.
                snapshot["items"].setdefault(identity, [path, body, received_at.isoformat()])
        now = fields.Datetime.now()
        for entry_id, snapshot in purged.items():
            items = snapshot["items"]
            moments = sorted(at for _path, _body, at in items.values()) or [None]
            cr.execute(SQL(
                """INSERT INTO medpulse_call_event_snapshot
                       (company_id, call_id, entry_id, data, event_count, dropped_count,
                        first_received_at, last_received_at, date_purged,
                        create_uid, create_date, write_uid, write_date)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (company_id, entry_id) DO UPDATE SET
                       data = EXCLUDED.data, event_count = EXCLUDED.event_count,
                       dropped_count = medpulse_call_event_snapshot.dropped_count
                                       + EXCLUDED.dropped_count,
                       first_received_at = EXCLUDED.first_received_at,
                       last_received_at = EXCLUDED.last_received_at,
                       date_purged = EXCLUDED.date_purged,
                       write_uid = EXCLUDED.write_uid, write_date = EXCLUDED.write_date""",
                company.id, calls[entry_id], entry_id, _encode(items), len(items),
                snapshot["dropped"], moments[0], moments[-1], now,
                self.env.uid, now, self.env.uid, now,
            ))
        cr.execute(SQL("DELETE FROM medpulse_call_event WHERE id = ANY(%s)",
                       [row[0] for row in rows]))
        cr.execute(SQL(
            "UPDATE medpulse_call SET events_purged = TRUE WHERE id = ANY(%s)"
            " AND events_purged IS NOT TRUE",
            list(calls.values()),
        ))
        self.env.invalidate_all()
        _logger.info("Raw events of company %s: %s events of %s calls purged",
                     company.id, len(rows), len(calls))

    # ------------------------------------------------------------------ export

    def _export_items(self):
        """The kept events of these snapshots as the raw-event export's items
        (``medpulse.call.event._export_jsonl``), each marked with the day of its purge."""
        items = []
        for snapshot in self:
            entries = self._items_of(snapshot.company_id, [snapshot.entry_id])
            purged = snapshot.date_purged.isoformat() + "Z" if snapshot.date_purged else True
            items += [
                {"path": path, "json": body, "received_at": at + "Z", "purged": purged}
                for path, body, at in entries.get(snapshot.entry_id, {}).values()
            ]
        return items


def _encode(items):
    """The snapshot's ``{identity: [path, json, received_at]}``, compressed."""
    return zlib.compress(
        json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode(), 9
    )


def _decode(data):
    return json.loads(zlib.decompress(bytes(data))) if data else {}
