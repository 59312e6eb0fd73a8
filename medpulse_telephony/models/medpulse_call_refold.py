import functools
import logging

from odoo import _, api, fields, models
from odoo.tools import SQL

import mango_vpbx

from .medpulse_call_event import _CALL_LOCK_NAMESPACE, in_new_transaction
from .medpulse_telephony_limit import _lock_key

_logger = logging.getLogger(__name__)

#: Calls folded again per run of the cron; it triggers itself again for the rest.
REFOLD_BATCH = 200
#: Stored fields of a call that say which versions computed it: not counted as changes.
_VERSION_FIELDS = ("fold_version", "stats_version")


class MedpulseCallRefold(models.Model):
    """One refold of a company's journal: its calls computed again by a newer toolkit.

    The journal is derived data. Each call records the version of the fold
    (``mango_vpbx.calls.FOLD_VERSION``) that computed it from its stored events, and the
    version of the statistics mapping (``mango_vpbx.stats.STATS_VERSION``) when the PBX's
    statistics gave its values. A release whose fold or mapping returns something else for
    the same input raises the version; then the cron (:meth:`_cron_refold`) folds every
    call of an older fold version again from its stored events, in batches, each call in
    a short transaction of its own under the same per-call lock the webhook takes: the
    webhook keeps working meanwhile, and a run interrupted anywhere resumes where its last
    committed call left it (``last_call_id``). The calls whose values came from the
    statistics of an older mapping are asked of the PBX again: the reconciliation is moved
    back to the oldest of them (``stats_from``), and takes their rows again.

    What changed is counted per field (``field_counts``) and shown, with the progress, on
    the integration health screen.
    """

    _name = "medpulse.call.refold"
    _description = "Refold of the call journal"
    _order = "id desc"
    _rec_name = "fold_version"

    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    fold_version = fields.Integer(
        string="Fold version", required=True, readonly=True, aggregator=None,
        help="The toolkit's fold version the calls are brought to.",
    )
    stats_version = fields.Integer(
        string="Statistics version", required=True, readonly=True, aggregator=None,
        help="The toolkit's statistics mapping version the calls are brought to.",
    )
    state = fields.Selection(
        [("running", "In progress"), ("done", "Done")],
        required=True, readonly=True, default="running",
    )
    call_count = fields.Integer(
        string="Calls to refold", readonly=True,
        help="Calls of an older fold version when the refold started.",
    )
    done_count = fields.Integer(string="Calls refolded", readonly=True)
    changed_count = fields.Integer(string="Calls changed", readonly=True)
    failed_count = fields.Integer(
        string="Calls failed", readonly=True,
        help="Calls whose refold failed (the server log says why, by call id): left as they "
        "were; their next event folds them again.",
    )
    remaining_count = fields.Integer(string="Calls left", compute="_compute_remaining")
    field_counts = fields.Json(
        string="Changes per field", readonly=True,
        help="For each field of the journal, how many calls the refold changed it in.",
    )
    changes_html = fields.Html(
        string="What changed", compute="_compute_changes_html", sanitize=False,
    )
    last_call_id = fields.Integer(
        string="Last call refolded", readonly=True, aggregator=None,
        help="Where an interrupted refold resumes: the calls are taken in id order.",
    )
    stats_call_count = fields.Integer(
        string="Calls from older statistics", readonly=True,
        help="Calls whose values came from the PBX statistics under an older mapping.",
    )
    stats_remaining_count = fields.Integer(
        string="Calls from older statistics left", compute="_compute_remaining"
    )
    stats_from = fields.Datetime(
        string="Statistics asked again from", readonly=True,
        help="The reconciliation was moved back to this moment to take those calls' rows again.",
    )
    date_done = fields.Datetime(string="Finished", readonly=True)

    # ------------------------------------------------------------------ figures

    @api.depends("state", "last_call_id", "company_id")
    def _compute_remaining(self):
        Call = self.env["medpulse.call"].sudo()
        for run in self:
            company = run.company_id
            run.remaining_count = 0 if run.state == "done" or not company else Call.search_count(
                self._outdated_domain(company, run.fold_version, after_id=run.last_call_id)
            )
            run.stats_remaining_count = Call.search_count(
                self._stats_outdated_domain(company, run.stats_version)
            ) if company and run.stats_call_count else 0

    @api.depends("field_counts")
    def _compute_changes_html(self):
        fields_ = self.env["medpulse.call"]._fields
        for run in self:
            rows = [
                {"field": fields_[name]._description_string(self.env) if name in fields_ else name,
                 "count": count}
                for name, count in sorted((run.field_counts or {}).items(),
                                          key=lambda item: (-item[1], item[0]))
            ]
            run.changes_html = self.env["ir.qweb"]._render(
                "medpulse_telephony.medpulse_call_refold_changes", {"rows": rows}
            )

    # ------------------------------------------------------------------ which calls

    @api.model
    def _outdated_domain(self, company, version, after_id=0):
        """Calls of ``company`` folded by an older fold than ``version`` (and folded at all:
        a call the statistics recovered has no event to fold). A call whose raw events the
        retention purged is folded again from their snapshot
        (``medpulse.call.event.snapshot``) and the rows left, as any other."""
        return [
            ("company_id", "=", company.id),
            "|", ("fold_version", "=", False), ("fold_version", "<", version),
            "|", ("event_ids", "!=", False), ("events_purged", "=", True),
            ("id", ">", after_id or 0),
        ]

    @api.model
    def _stats_outdated_domain(self, company, version):
        return [
            ("company_id", "=", company.id),
            ("stats_version", ">", 0),
            ("stats_version", "<", version),
        ]

    # ------------------------------------------------------------------ the cron

    @api.model
    def _cron_refold(self, batch=REFOLD_BATCH):
        """Fold again up to ``batch`` calls of an older fold version, company by company.

        Every step is a short transaction of its own (a fresh cursor, so a fresh snapshot):
        the run's creation, then each call with the run's progress, so a run stopped
        anywhere (a worker killed, the cron's time limit) resumes after its last committed
        call. Triggers itself again while calls are left. Returns the calls taken.
        """
        taken = 0
        for company_id in self.env["res.company"].sudo().search([], order="id").ids:
            if taken >= batch:
                break
            with self.env.registry.cursor() as cr:
                env = self.env(cr=cr, su=True)
                run = env[self._name]._run_for(env["res.company"].browse(company_id))
                if not run:
                    continue
                run_id = run.id
                calls = env["medpulse.call"].search(
                    self._outdated_domain(run.company_id, run.fold_version,
                                          after_id=run.last_call_id),
                    order="id", limit=batch - taken,
                )
                rows = [(call.id, call.entry_id) for call in calls]
            for call_id, entry_id in rows:
                self._refold_call(run_id, company_id, call_id, entry_id)
            taken += len(rows)
            with self.env.registry.cursor() as cr:
                run = self.with_env(self.env(cr=cr, su=True)).browse(run_id)
                if not run.remaining_count:
                    run.write({"state": "done", "date_done": fields.Datetime.now()})
                    _logger.info("Refold %s of company %s done: %s calls, %s changed, %s failed",
                                 run.id, company_id, run.done_count, run.changed_count,
                                 run.failed_count)
        # The work was done in transactions of their own: what this one cached is stale.
        self.env.invalidate_all()
        if taken >= batch:
            cron = self.env.ref("medpulse_telephony.ir_cron_medpulse_call_refold",
                                raise_if_not_found=False)
            if cron:
                cron._trigger()
        return taken

    @api.model
    def _run_for(self, company):
        """The refold run of ``company`` under way, or a new one when calls are outdated."""
        fold_version = mango_vpbx.calls.FOLD_VERSION
        stats_version = mango_vpbx.stats.STATS_VERSION
        Run = self.sudo()
        run = Run.search([("company_id", "=", company.id), ("fold_version", "=", fold_version),
                          ("stats_version", "=", stats_version)], limit=1)
        if run:
            return run if run.state == "running" else Run
        Call = self.env["medpulse.call"].sudo()
        count = Call.search_count(self._outdated_domain(company, fold_version))
        stats_calls = Call.search(self._stats_outdated_domain(company, stats_version),
                                  order="created_at", limit=1)
        if not count and not stats_calls:
            return Run
        vals = {
            "company_id": company.id, "fold_version": fold_version,
            "stats_version": stats_version, "call_count": count, "field_counts": {},
        }
        if stats_calls:
            vals["stats_call_count"] = Call.search_count(
                self._stats_outdated_domain(company, stats_version)
            )
            vals["stats_from"] = stats_calls.created_at or fields.Datetime.now()
            marker = company.medpulse_pbx_reconciled_until
            if not marker or vals["stats_from"] < marker:
                company.sudo().medpulse_pbx_reconciled_until = vals["stats_from"]
        _logger.info(
            "Refold of company %s to fold version %s, statistics version %s: %s calls",
            company.id, fold_version, stats_version, count,
        )
        return Run.create(vals)

    @api.model
    def _refold_call(self, run_id, company_id, call_id, entry_id):
        """Fold one call again, under its lock, and count what changed on the run.

        The lock is the webhook's (``medpulse.call.event._lock_call``), held by one
        transaction while another, started once it is granted, does the work: that one's
        snapshot then sees whatever the webhook committed for this call before.
        """
        with self.env.registry.cursor() as lock_cr:
            lock_cr.execute(SQL("SELECT pg_advisory_xact_lock(%s, %s)", _CALL_LOCK_NAMESPACE,
                                _lock_key(f"{company_id}:{entry_id}")))
            in_new_transaction(
                self.env(su=True),
                lambda env: self.with_env(env)._refold_locked(run_id, call_id),
                functools.partial(self._refold_failed, run_id, call_id),
            )

    def _refold_failed(self, run_id, call_id, error, attempt):
        # No call data in the log: its id and the kind of failure only.
        _logger.warning("Refold of call %s failed (attempt %s, %s)", call_id, attempt,
                        type(error).__name__)
        with self.env.registry.cursor() as cr:
            run = self.with_env(self.env(cr=cr, su=True)).browse(run_id)
            run.write({"failed_count": run.failed_count + 1,
                       "last_call_id": max(run.last_call_id, call_id)})

    def _refold_locked(self, run_id, call_id):
        run = self.browse(run_id)
        call = self.env["medpulse.call"].browse(call_id).exists()
        if call and call.fold_version < run.fold_version:
            names = _counted_fields(call)
            before = {name: call[name] for name in names}
            company = call.company_id
            _call, _state, events = call.with_company(company)._recompute(company, call.entry_id)
            events._link_folded(call)
            changed = [name for name in names if call[name] != before[name]]
            # The refold is no event: the webhook's steps do not run. A call it finds to
            # have come in on a call-tracking number (folded before the number was) has
            # its visitor's source asked, once (after the count: a question is no change).
            call._queue_dct_source()
            counts = dict(run.field_counts or {})
            for name in changed:
                counts[name] = counts.get(name, 0) + 1
            run.write({
                "done_count": run.done_count + 1,
                "changed_count": run.changed_count + bool(changed),
                "field_counts": counts,
            })
        run.last_call_id = max(run.last_call_id, call_id)

    # ------------------------------------------------------------------ upgrades

    def init(self):
        res = super().init()
        # Run after every install and upgrade of the addon: if the toolkit now folds
        # differently, start the refold at once instead of at the cron's next hour.
        cron = self.env.ref("medpulse_telephony.ir_cron_medpulse_call_refold",
                            raise_if_not_found=False)
        if cron:
            self.env.cr.execute(SQL(
                """SELECT 1 FROM medpulse_call call WHERE COALESCE(call.fold_version, 0) < %s
                   AND (call.events_purged OR EXISTS (
                        SELECT 1 FROM medpulse_call_event e WHERE e.call_id = call.id))
                   LIMIT 1""",
                mango_vpbx.calls.FOLD_VERSION,
            ))
            if self.env.cr.fetchone():
                cron._trigger()
        return res

    # ------------------------------------------------------------------ actions

    @api.model
    def _latest(self, company):
        """The company's latest refold (empty when its journal was never refolded)."""
        return self.search([("company_id", "=", company.id)], limit=1)

    def action_open_calls(self):
        """The calls this refold has still to fold."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "medpulse_telephony.medpulse_call_action"
        )
        action.update({
            "name": _("Calls left to refold"),
            "domain": self._outdated_domain(self.company_id, self.fold_version,
                                            after_id=self.last_call_id),
            "context": {},
        })
        return action


def _counted_fields(call):
    """The stored fields of a call that the fold (and what follows it) may change."""
    return [
        name for name, field in call._fields.items()
        if field.store and not field.automatic and field.type != "one2many"
        and name not in _VERSION_FIELDS and not name.startswith("message_")
    ]
