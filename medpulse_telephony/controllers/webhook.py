"""The door the PBX knocks on: every PBX -> Odoo request lands here.

The PBX is given ``<web.base.url>/mango`` and appends its own paths to it
(``/mango/events/call``, ``/mango/events/summary``, ``/mango/result/callback``,
``/mango/ping``...). Order of checks, before anything is written or any ``sudo``
search depends on the payload:

1. body size (route ``max_content_length``: 413) and form content type (415);
2. the three form fields present (400);
3. the company owning ``vpbx_api_key`` and a constant-time check of ``sign`` with
   that company's salt (403 for an unknown key or a bad signature).

A correctly signed request is always answered 200, even when it cannot be
understood: the PBX does not retry, so a 4xx would lose a real call. It is stored
flagged ``not_understood`` instead.

Transactions: this module owns them, models never commit. The path of one event:

1. ``medpulse.call.event._store`` inserts the raw event in the request's transaction,
   which is committed at once: the event is safe whatever happens next, and the PBX
   gets its answer;
2. then (the response's close, :func:`fold_in_background`) a thread of the worker folds
   the events waiting to be folded if it can take the folder of their share (the calls
   fall into ``FOLDERS`` shares by their entry id; one advisory lock per share and
   database, :func:`fold_waiting`), while the worker takes the next request; a thread
   that finds a folder taken leaves that share's committed events to the holder, which
   looks again before it lets go. Under a load the two workers' threads fold a share
   each while the workers answer, and the events of a call that piled up meanwhile are
   folded together; a quiet clinic's event is folded at once after its answer;
3. the calls of a batch, up to ``FOLDER_CALLS_TOGETHER`` at a time, :func:`fold_together`:
   the folder's transaction takes their locks (``_lock_calls``), then their waiting
   events are folded (``medpulse.call.event._process_many``: the journal, then
   ``medpulse.call._after_event``'s steps) in one new transaction whose snapshot starts
   once the locks are granted, so it sees the previous folds' work (the calls that
   settle in it enter the reports' tallies in one statement at its end:
   ``medpulse.call.tally._added_at_end``); a serialization
   failure is retried at once with a fresh snapshot; any other failure rolls that
   transaction back whole (no savepoint needed) and the calls are folded again one by
   one, a call that fails then flagging its events in the next transaction on the same
   cursor;
4. the folder's transaction is committed, which releases the calls' locks, and only then
   are the PBX commands the folds queued sent (``medpulse.call.command._send_queued``,
   the ids the folds' transaction recorded: no search when they queued none): no request
   to the PBX ever leaves while a webhook transaction or a call's lock is held;
5. the open wallboards the folds changed are pushed by a thread of the worker
   (:func:`push_after_answer`, :func:`push_boards`, in a transaction of its own;
   ``medpulse.wallboard``).

The cron that folds events a stopped worker left (``_cron_fold_received``) runs the
same :func:`fold_in_turn`, a call at a time.

Logs: never a body, a number or a name, at any level. Rejected requests are counted
and reported at most once per ``REJECT_LOG_SECONDS``; a request's path appears, here
and in the HTTP access log, only as the event path it stands for (a hostile request
line can be 64 KB of anything); other over-long access log lines are cut.
"""

import functools
import logging
import re
import threading
import time
from contextlib import nullcontext

from odoo import SUPERUSER_ID, api, http
from odoo.http import request
from odoo.modules.registry import Registry

import mango_vpbx
from mango_vpbx.assumptions import PING_SEGMENT

from ..models import medpulse_wallboard
from ..models.medpulse_call_event import (
    FOLDER_BATCH,
    FOLDER_CALLS_TOGETHER,
    FOLDER_PAUSE,
    FOLDER_SECONDS,
    FOLDERS,
    in_new_transaction,
    is_concurrency_error,
)
from ..models.medpulse_wallboard import PUSHED_AFTER_ANSWER, WATCHED_KEY

_logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
FORM_MIMETYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
#: At most one log line per this many seconds (and worker) about rejected requests.
REJECT_LOG_SECONDS = 60
#: Longest line of the HTTP access log; the rest of a longer request line is cut.
ACCESS_LOG_MAX_CHARS = 512


class _RejectionLog:
    """Count rejected requests; report the count at most once per REJECT_LOG_SECONDS.

    A flood of forged requests must not flood the log: each line is short and says
    nothing the sender chose (its path or body).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._count = 0
        self._last = None

    def add(self):
        with self._lock:
            self._count += 1
            now = time.monotonic()
            if self._last is not None and now - self._last < REJECT_LOG_SECONDS:
                return
            count, self._count, self._last = self._count, 0, now
        _logger.info(
            "Rejected %s PBX request(s) with an unknown key or a bad signature "
            "(reported at most once per %s s)", count, REJECT_LOG_SECONDS,
        )


class _BoundedAccessLog(logging.Filter):
    """Lines of the HTTP access log (the ``werkzeug`` logger): the webhook's path as the
    event path it stands for (the rest is the sender's text), any line cut to
    ACCESS_LOG_MAX_CHARS."""

    def filter(self, record):
        message = record.getMessage()
        bounded = _WEBHOOK_REQUEST_LINE.sub(
            lambda match: f"{match[1]}/mango/{_path_label(match[2])} ", message
        )
        if len(bounded) > ACCESS_LOG_MAX_CHARS:
            bounded = f"{bounded[:ACCESS_LOG_MAX_CHARS]}… ({len(bounded)} characters)"
        if bounded != message:
            record.msg, record.args = bounded, ()
        return True


_WEBHOOK_REQUEST_LINE = re.compile(r"(\b[A-Z]+ )/mango(?:/(\S*))? ")


_rejections = _RejectionLog()
_werkzeug_logger = logging.getLogger("werkzeug")
if not any(isinstance(f, _BoundedAccessLog) for f in _werkzeug_logger.filters):
    _werkzeug_logger.addFilter(_BoundedAccessLog())


class MangoWebhook(http.Controller):
    @http.route(
        ["/mango", "/mango/<path:subpath>"],
        type="http", auth="public", methods=["POST"], csrf=False, save_session=False,
        max_content_length=MAX_BODY_BYTES,
    )
    def mango_webhook(self, subpath="", **_params):
        path = subpath.strip("/")
        if path.rsplit("/", 1)[-1] == PING_SEGMENT:
            # The account page's "check connection": undocumented payload, maybe unsigned.
            # Answering proves the URL is right and writes nothing.
            return _reply(200, "OK")
        company, json_str, refusal = verified_request(path)
        if refusal:
            return refusal
        env = request.env(
            user=SUPERUSER_ID, context=dict(request.env.context, allowed_company_ids=company.ids)
        )
        Event = env["medpulse.call.event"].with_company(company)
        record, event = Event._store(company, path, json_str)
        _logger.debug(
            "PBX request to %s for company %s: %s", _path_label(path), company.id,
            f"stored as event {record.id}" if record else "a duplicate",
        )
        # The stored event must outlive whatever follows: the PBX never sends it again.
        request.env.cr.commit()  # pylint: disable=invalid-commit  # the webhook owns its transactions
        response = _reply(200, "OK")
        if record and event is not None:
            # Folded by whoever holds the folder: maybe a thread of this worker, once the
            # PBX has its answer. In the test mode, one connection serves every thread:
            # the fold would run beside the test's own queries, so it runs before.
            if request.registry.in_test_mode():
                fold_waiting(request.env.cr.dbname)
            else:
                response.call_on_close(functools.partial(fold_in_background, request.env.cr.dbname))
        return response


def verified_request(path):
    """The checks of a PBX request to ``path``, in the order of this module's docstring:
    ``(company, its json field, None)`` for a request signed with a company's key, or
    ``(None, None, the refusal to answer)``. Nothing is written; a bad key or signature is
    counted for the log (``_rejections``)."""
    httprequest = request.httprequest
    if httprequest.mimetype not in FORM_MIMETYPES:
        return None, None, _reply(415, "Unsupported content type")
    form = {key: httprequest.form.get(key) for key in ("vpbx_api_key", "sign", "json")}
    if not all(form.values()):
        return None, None, _reply(400, "Missing vpbx_api_key, sign or json")
    if any("\x00" in value for value in (path, *form.values())):
        # PostgreSQL text cannot hold NUL and no valid PBX request contains one.
        return None, None, _reply(400, "NUL character in the request")
    # The accounts are kept per worker: no query for the key and the salt.
    company, salt = request.env["res.company"].sudo()._medpulse_pbx_account(
        form["vpbx_api_key"]
    )
    if not company or not mango_vpbx.verify(form, form["vpbx_api_key"], salt):
        _rejections.add()
        return None, None, _reply(403, "Forbidden")
    return company, form["json"], None


def fold_in_turn(record, event, known=None):
    """Fold the stored, committed events ``record`` of one call (``event``: the parsed
    form, or the list of them): :func:`fold_together` with this one call. ``known``: the
    event's ``(company, entry_id)`` when the caller just stored it (no read of its row
    back to take the lock)."""
    return fold_together([(record, event if isinstance(event, list) else [event])], known)


def fold_together(groups, known=None):
    """Fold the stored, committed events of several calls (``groups``: ``[(events of one
    call, their parsed forms)]``, the folder's batch, :func:`fold_waiting`), then send
    the PBX commands the folds queued; returns the ids of the companies whose open
    wallboards the folds changed (:func:`push_boards`). Never raises: the folder goes on
    with the next calls.

    The first group's transaction takes the locks of all the calls (``medpulse.call.event.
    _lock_calls``), then they are folded (``medpulse.call.event._process_many``: the
    journal, then ``medpulse.call._after_event``'s steps) in one new transaction whose
    snapshot starts once the locks are granted, so it sees the previous folds' work; it
    is committed, then the first one, which releases the locks; only then are the
    commands sent: no request to the PBX ever leaves while a webhook transaction or a
    call's lock is held. That first transaction must have nothing else to commit.

    Why under a lock: the PBX posts the events of a call at the same moment (a queue
    rings three operators: three ``Appeared``), and anything else that folds a call (the
    cron of stale events, a refold) takes its lock too. Folded side by side under
    repeatable read, all but one would fail on the call's row. Why together: under a
    load the folder finds the events of a few calls waiting; one transaction for them
    all costs a lock, a cursor, a commit and a bus notification instead of one per call.

    A conflict (the follow-up of the same number, changed meanwhile) is retried at once
    with a fresh snapshot. If the calls' transaction fails otherwise, it is rolled back
    whole and each call is folded again in a transaction of its own (still under the
    locks), so that a call that cannot be folded does not hold the others back: its
    events are flagged ``error`` (the message is kept on them) and the call's next event,
    or the reconciliation, folds it again (every event of a call is folded again each
    time).
    """
    first = groups[0][0]
    first.env["medpulse.call.event"]._lock_calls(
        [(known[0].id, known[1])] if known else [
            (records[:1].company_id.id, records[:1].entry_id) for records, _parsed in groups
        ]
    )
    boards, queued = set(), []
    if len(groups) == 1 or not _fold_in_transaction(groups, boards, queued):
        for group in groups:
            _fold_in_transaction([group], boards, queued)
    # Releases the calls' locks (and keeps the failures flagged in it).
    first.env.cr.commit()  # pylint: disable=invalid-commit  # the webhook owns its transactions
    if not queued:
        return sorted(boards)
    try:
        first.env["medpulse.call.command"]._send_queued(queued)
    except Exception as error:  # noqa: BLE001 - the events are folded: the PBX must get its 200
        first.env.cr.rollback()  # nothing of ours is left in it since the commit above
        _logger.warning(
            "PBX events %s: the commands they queued were not all sent (%s; their records "
            "say which)", ", ".join(str(records.ids[0]) for records, _parsed in groups),
            type(error).__name__,
        )
    return sorted(boards)


def _fold_in_transaction(groups, boards, queued):
    """Fold these calls' events in one new transaction (:func:`fold_together`); once it
    committed, add the wallboards it changed to ``boards`` and the commands it queued to
    ``queued``. Several calls: whether it committed (a failure is left to the caller,
    which folds them one by one). One call: a failure rolls its transaction back whole (no
    savepoint needed) and flags its events in the next one on the same cursor (a snapshot
    taken under the lock, as the fold's), or, when the conflicts persist, in the
    caller's transaction."""
    alone = len(groups) == 1
    done = {}

    def failed(error, attempt):
        if not alone:
            return  # folded one by one next
        records = groups[0][0]
        if not is_concurrency_error(error):
            records._log_fold_error(error)
        _logger.warning(
            "PBX event %s: journal not updated (attempt %s, %s; the message is on the event)",
            ", ".join(map(str, records.ids)), attempt, type(error).__name__,
        )
        records._fold_failed(error)

    def fold(env):
        done.clear()
        try:
            # Several calls: those that settle enter the reports' tallies in one statement
            # at the end, not one each (most of a batch's calls settle in it).
            with (nullcontext() if alone else env["medpulse.call.tally"]._added_at_end()):
                for records, parsed in groups:
                    records.with_env(env(context=records.env.context))._process_many(parsed)
        except Exception as error:
            if alone and not is_concurrency_error(error):
                env.cr.rollback()
                records = groups[0][0]
                records._log_fold_error(error)
                records.with_env(env)._fold_failed(error)
                return
            raise  # a conflict: retried with a fresh snapshot; several calls: one by one
        # What this fold queued, read before its commit forgets it (a retry starts afresh).
        done["queued"] = env["medpulse.call.command"]._queued_in_transaction()
        done["boards"] = set(env.cr.postcommit.data.get(WATCHED_KEY, ()))

    committed = in_new_transaction(groups[0][0].env, fold, failed)
    if committed:
        queued.extend(done.get("queued", ()))
        boards.update(done.get("boards", ()))
    return committed


_folder_threads = {}
_folder_wanted = set()
_folder_lock = threading.Lock()


def fold_in_background(dbname):
    """Once the webhook has answered (its response's close): have a thread of this worker
    fold the waiting events (:func:`fold_waiting`), so that the worker takes the next
    request at once. One such thread per database and process: a request while it runs
    leaves it a wish, which it honours before it ends (the request's event was committed
    before the wish, so the thread's next look sees it). A thread that found the folder
    taken by another process waits ``FOLDER_PAUSE`` before it honours the wishes left
    meanwhile, all at once: under a load the workers that do not fold try for the folder
    a few times a second, not once per request, and start no thread per request."""
    with _folder_lock:
        _folder_wanted.add(dbname)
        if dbname in _folder_threads:
            return
        # Not a daemon: a worker that exits (recycled, stopped) lets it finish (at most
        # FOLDER_SECONDS per look; no request comes to wish for more meanwhile).
        thread = threading.Thread(
            target=_fold_while_wanted, args=(dbname,), name="medpulse-folder", daemon=False
        )
        _folder_threads[dbname] = thread
    thread.start()


def _fold_while_wanted(dbname):
    while True:
        with _folder_lock:
            if dbname not in _folder_wanted:
                del _folder_threads[dbname]
                return
            _folder_wanted.discard(dbname)
        taken, _folded = _fold_waiting(dbname, FOLDER_SECONDS)
        if not taken:
            # Another process holds the folder: it folds what this one's requests
            # committed before it lets go (it looks again after). What they commit from
            # now on is tried for after a pause, once, not once per request; the thread
            # lives on meanwhile, so that the requests start none.
            time.sleep(FOLDER_PAUSE)


def fold_waiting(dbname, seconds=FOLDER_SECONDS):
    """Fold the events waiting to be folded, the request's own among them, if this
    process can take the folder; returns how many it folded (0: another process holds
    the folder, or nothing waited). Run by a thread of the worker after the webhook's
    answer (:func:`fold_in_background`).

    A folder (``medpulse.call.event._try_folder``) is one advisory lock per share of the
    calls (``FOLDERS``, by a hash of the entry id) and database: whoever holds it folds
    every event of its share still ``received``, those of one call together and several
    calls in one transaction (:func:`fold_together`, under the calls' locks, the PBX
    commands sent after the commit), batch after batch, until none is left; then this
    process tries the next share. A request that finds a folder taken does nothing
    more: its event was committed before it tried, so the holder sees it, at the latest
    when it looks again after letting go. Under a load, the two workers' threads fold a
    share each while the workers answer (one folder was the journal's limit: a thread,
    mostly waiting for PostgreSQL), and the events of a call pile up meanwhile: a call is
    folded once for several of its events instead of once per event, in a transaction
    shared with other calls. A quiet clinic's event is folded at once after its answer,
    as before.

    Bounded by ``seconds`` (the worker's ``limit_time_real`` must not kill it): the events
    left then go to the next request that takes the folder, or the cron of stale events
    (``_cron_fold_received``). The open wallboards the folds changed are pushed after each
    batch (:func:`push_after_answer`). Never raises.
    """
    return _fold_waiting(dbname, seconds)[1]


def _fold_waiting(dbname, seconds):
    """:func:`fold_waiting`: ``(whether this process took a folder, events folded)``.

    The folders' shares in turn (``FOLDERS``): this process folds those whose folder it can
    take; another process holding one folds that share, so that under a load two workers
    fold at once."""
    deadline = time.monotonic() + seconds
    taken = False
    folded = 0
    try:
        with Registry(dbname).cursor() as cr:
            for share in range(FOLDERS):
                env = api.Environment(cr, SUPERUSER_ID, {PUSHED_AFTER_ANSWER: True})
                # A look before each take: a share where nothing waits costs it, not its
                # folder's lock and commits (a quiet clinic's event is in one share; one
                # committed after the look was wished for after its commit: the next turn
                # sees it). After a take, the look sees an event committed by a request
                # that found the folder taken just before it was let go.
                while (
                    env["medpulse.call.event"]._any_waiting(share)
                    and env["medpulse.call.event"]._try_folder(share)
                ):
                    taken = True
                    try:
                        # What a request does first: another process's change of the
                        # registry or of a cache (the PBX directory) is seen here, and this
                        # one's are told to the others (only by a holder: the others asked
                        # one lock).
                        registry = env.registry.check_signaling(cr)
                        env = api.Environment(cr, SUPERUSER_ID, {PUSHED_AFTER_ANSWER: True})
                        with registry.manage_changes():
                            done, in_time = _fold_share(env, share, deadline)
                            folded += done
                    except BaseException:
                        cr.rollback()
                        raise
                    finally:
                        # The flags of events that no longer parse (_waiting_for_fold) too.
                        cr.commit()  # pylint: disable=invalid-commit  # the webhook owns its transactions
                        env["medpulse.call.event"]._release_folder(share)
                        cr.commit()  # pylint: disable=invalid-commit
                    if not in_time:
                        return taken, folded
    except Exception as error:  # noqa: BLE001 - the PBX has its answer; the cron folds the rest
        _logger.warning(
            "PBX events not folded after the answer (%s): the cron of stale events folds "
            "them", type(error).__name__,
        )
    return taken, folded


def _fold_share(env, share, deadline):
    """Fold the events waiting in ``share``, batch after batch, while this cursor holds its
    folder (:func:`_fold_waiting`): ``(events folded, whether it ended before the
    deadline)``."""
    cr = env.cr
    dbname = cr.dbname
    Event = env["medpulse.call.event"]
    folded = 0
    while batch := Event._waiting_for_fold(flagged=(flagged := []), share=share):
        if flagged:
            # Not to be read as waiting by the folds' transactions.
            cr.commit()  # pylint: disable=invalid-commit  # the webhook owns its transactions
        boards = set()
        for start in range(0, len(batch), FOLDER_CALLS_TOGETHER):
            groups = batch[start:start + FOLDER_CALLS_TOGETHER]
            boards.update(fold_together(groups))
            folded += sum(len(records) for records, _parsed in groups)
        if boards:
            push_after_answer(dbname, sorted(boards), inline=env.registry.in_test_mode())
        if time.monotonic() > deadline:
            return folded, False
        size = sum(len(parsed) for _records, parsed in batch)
        if size == 1:
            break  # quiet: what came meanwhile, the look after letting go
        if size < FOLDER_BATCH:
            # A load: the next events of these calls come within tens of milliseconds;
            # folded with them, each costs less.
            time.sleep(FOLDER_PAUSE)
    return folded, True


def push_after_answer(dbname, company_ids, inline=False):
    """Once the webhook has answered (its response's close): have the open wallboards of
    these companies pushed (:func:`push_boards`) by a thread of this worker, which is then
    free for the next request at once (``inline``: here, in the test mode).

    While a timer of this worker is set for a company's board (a push under way, or one
    the throttle holds back), the request leaves that board to it and asks the database
    nothing: the event's change was committed before the answer, and the timer, set
    before this check, reads the changes after it fires (:func:`_push_later`). Under a
    steady load, the throttle's claim, its failure and the wait are then a few queries
    per interval instead of per event."""
    with _push_timers_lock:
        company_ids = [
            company_id for company_id in company_ids
            if (dbname, company_id) not in _push_timers
        ]
    if not company_ids:
        return
    if inline:
        push_boards(dbname, company_ids)
    else:
        _push_later(dbname, company_ids, 0, 0.0)


def push_boards(dbname, company_ids, attempt=1):
    """After the webhook's answer (its response's close): push the open wallboards of these
    companies that are due (``medpulse.wallboard._publish_due``), in a transaction of its
    own. A board the throttle holds back is pushed by a timer of this process once the
    interval has passed (:func:`_push_later`), or, after PUSH_LATER_ATTEMPTS, by the
    publisher's cron (woken here). Never raises."""
    left = []
    delay = 0.0
    try:
        with Registry(dbname).cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            Board = env["medpulse.wallboard"]
            Board._publish_due(company_ids, left=left)
            # The test mode's one connection is not for threads of their own: the cron's
            # part there (the tests run it).
            if left and (env.registry.in_test_mode() or attempt > PUSH_LATER_ATTEMPTS):
                Board._trigger_publisher()
                left = []
            elif left:
                delay = Board._due_in(left)
    except Exception as error:  # noqa: BLE001 - the boards catch up at the next change
        _logger.warning(
            "Wallboards not pushed after a PBX event (%s): they catch up at the next change",
            type(error).__name__,
        )
        return
    if left:
        _push_later(dbname, left, attempt, delay)


#: A board held back by the throttle is tried again this many times by this process's timer.
PUSH_LATER_ATTEMPTS = 4
#: A timer fires this long after the board is due (seconds): the clocks of the database
#: and of this process are not compared to the millisecond.
PUSH_LATER_MARGIN = 0.02
_push_timers = {}
_push_timers_lock = threading.Lock()


def _push_later(dbname, company_ids, attempt, delay):
    """Once the throttle lets them go (in ``delay`` seconds), push these boards
    (:func:`push_boards`, its ``attempt + 1``-th try): one timer per database and company
    in this process at a time; whichever worker's timer comes first pushes, the others find
    nothing left. ``attempt`` 0: the first push after an answer, at once."""
    delay = min(max(delay, 0.0), medpulse_wallboard.PUBLISH_RUN_SECONDS)
    if attempt:
        delay += PUSH_LATER_MARGIN
    for company_id in company_ids:
        key = (dbname, company_id)
        with _push_timers_lock:
            if key in _push_timers:
                continue

            def fire(key=key):
                with _push_timers_lock:
                    _push_timers.pop(key, None)
                push_boards(key[0], [key[1]], attempt + 1)

            timer = threading.Timer(delay, fire)
            # The push right after an answer is waited for if the worker exits (recycled
            # after its requests or stopped): it takes a few hundredths of a second, and
            # the change it carries would otherwise wait for the next event. A push the
            # throttle holds back may wait seconds: the exit does not wait for it.
            timer.daemon = bool(attempt)
            _push_timers[key] = timer
        timer.start()


def _path_label(path):
    """The event path a request path stands for, never the path itself (the sender's text)."""
    try:
        return mango_vpbx.events.normalize_path(path or "")
    except mango_vpbx.EventError:
        return "<unknown path>"


def _reply(status, text):
    return request.make_response(
        text, headers=[("Content-Type", "text/plain; charset=utf-8")], status=status
    )
