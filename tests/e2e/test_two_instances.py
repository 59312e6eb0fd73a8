"""Two Odoo instances on one database (issue 25, part 3), end to end.

Instance A and its sibling B (``OdooInstance.sibling``): separate processes and ports, one
database, one filestore, each ``--workers=2`` with its gevent (websocket) process; only A runs
the crons (B has ``--max-cron-threads=0``). The PBX emulator posts its webhook to a
round-robin ``Balancer`` in front of both, so the events of every call are taken by both
instances. Operators' browsers (Chromium) are signed in on A or on B, each through the
``/websocket`` router production puts in front of an instance.

* Every incoming card reaches its operator whichever instance took the ring event: the bus
  notifications ride PostgreSQL's NOTIFY, which both instances' gevent processes listen to.
* The journal of calls delivered concurrently through the balancer equals the journal of
  the same calls delivered to one instance, one event at a time.
* The PBX request budget and the lockout are shared (``medpulse.telephony.limit`` is in
  the database): a 3xxx answer seen by A stops B's requests; A and B together never exceed
  one rate-limit bucket.
* The crons run on A only, each job one at a time, a job triggered through both instances
  once: a recording whose download two workers attempt at once (A's cron, "Run manually" on
  B) is fetched from the PBX once, and no download run fails. (Before the download's outcome
  had a transaction of its own, an event of the call committed by either instance while the
  file came made the cron's write fail, and the file was fetched again.)

Figures are printed with a ``FIGURES`` prefix (``pytest -s``).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import psycopg2
import pytest
from card_helpers import Call, SignedPbx, login
from conftest import (
    ODOO_PYTHON,
    ROOT,
    OdooInstance,
    OdooRPC,
    emulator_process,
    folders_held,
    free_port,
)
from odoo_instance import Balancer
from playwright.sync_api import expect
from reliability_helpers import Deliverer, renamed, scenario_events
from test_reliability import (
    COMPARED,
    SCENARIOS,
    _set_pbx_url,
    _test_connection,
    entry_ids,
    journal,
    wait_final,
)
from test_scenarios import FAST

from mango_vpbx_emulator.testing import PbxDouble

sys.path.insert(0, str(ROOT / "bench"))
from server import PathRouter, make_instance  # noqa: E402 - bench's production-shaped OdooInstance

CARD = ".o_medpulse_incoming_card"
expect.set_options(timeout=20000)


def figures(label, **values):
    print(f"\nFIGURES {label}: " + ", ".join(f"{k}={v}" for k, v in values.items()))


@pytest.fixture(scope="module")
def pair(work_dir, new_demo):
    """Instances A (crons) and B (no cron) on one database, the balancer, the emulator."""
    api_key, api_salt = secrets.token_hex(12), secrets.token_hex(16)
    pbx_port = free_port()
    a = make_instance(
        OdooInstance, f"medpulse_two_{os.getpid()}", work_dir / "a", python=ODOO_PYTHON,
        workers=2, extra_options={"max_cron_threads": "1", "limit_time_real": "120"},
    )
    b = a.sibling(work_dir / "b")
    balancer = Balancer([a.url, b.url], record=True).start()
    routers = []
    try:
        new_demo(a, "--pbx-url", f"http://127.0.0.1:{pbx_port}/vpbx/", "--api-key", api_key,
                 "--api-salt", api_salt, "--odoo-url", balancer.url)
        a.start()
        b.start()
        routers = [PathRouter(i.http_port, i.gevent_port()).start_and_wait() for i in (a, b)]
        with emulator_process(work_dir / "two-emulator.log", pbx_port, f"{balancer.url}/mango",
                              api_key, api_salt, a.env()) as emulator:
            yield SimpleNamespace(
                a=a, b=b, balancer=balancer, emulator=emulator, api_key=api_key,
                api_salt=api_salt, pbx_url=f"http://127.0.0.1:{pbx_port}/vpbx/",
                web=[SimpleNamespace(url=r.url) for r in routers],
                rpc_a=OdooRPC(a.url, a.dbname, "admin", "admin"),
                rpc_b=OdooRPC(b.url, b.dbname, "admin", "admin"),
            )
    finally:
        for router in routers:
            router.stop()
        balancer.stop()
        b.stop()
        a.drop()


def _form_json(body: bytes) -> dict:
    values = urllib.parse.parse_qs(body.decode())
    return json.loads(values["json"][0]) if "json" in values else {}


def _quiet(balancer, seconds=1.0, timeout=30):
    """Wait until the balancer has forwarded nothing for ``seconds``."""
    deadline = time.monotonic() + timeout
    seen, since = sum(balancer.taken), time.monotonic()
    while time.monotonic() - since < seconds and time.monotonic() < deadline:
        time.sleep(0.1)
        if sum(balancer.taken) != seen:
            seen, since = sum(balancer.taken), time.monotonic()


def _play(pair, scenario, **params):
    run = pair.emulator.post("/control/scenario", {"name": scenario, "params": {**FAST, **params}})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        mine = [r for r in pair.emulator.get("/control/runs")["runs"]
                if r["entry_id"] == run["entry_id"]]
        if mine and mine[-1]["done"]:
            assert not mine[-1]["error"], mine[-1]["error"]
            _quiet(pair.balancer)
            return run["entry_id"]
        time.sleep(0.2)
    raise AssertionError(f"{scenario} did not finish")


def _ring_taken_by(balancer, entry_id, extension):
    """The instance (0: A, 1: B) that took the event of ``extension``'s phone ringing, and
    the event's position in the balancer's log."""
    for position, (index, _method, path, body) in enumerate(balancer.log):
        if not path.endswith("/events/call"):
            continue
        event = _form_json(body)
        if (event.get("entry_id") == entry_id and event.get("call_state") == "Appeared"
                and (event.get("to") or {}).get("extension") == extension):
            return index, position
    raise AssertionError(f"no ring event of {extension} in call {entry_id}")


def test_cards_reach_their_operator_whichever_instance_took_the_event(pair, browser):
    """admin (101) signed in on A, demo (102) on B. Calls to each until one ring event of
    each operator was taken by A and one by B: before a call the balancer's turn is
    shifted by a request when the ring would go where the operator's last one went."""
    pages = {"101": login(browser, pair.web[0], "admin", "admin"),
             "102": login(browser, pair.web[1], "demo", "demo")}
    rings: dict[str, list[int]] = {"101": [], "102": []}
    offsets: dict[str, int] = {}  # requests of a call before its ring event
    try:
        for attempt in range(4):
            for extension, page in pages.items():
                if len(set(rings[extension])) == 2:
                    continue
                other = pages["102" if extension == "101" else "101"]
                if rings[extension] and extension in offsets:
                    expected = (pair.balancer.turn + offsets[extension]) % 2
                    if expected == rings[extension][-1]:
                        urllib.request.urlopen(pair.balancer.url + "/web/health", timeout=10)
                start = len(pair.balancer.log)
                entry = _play(pair, "incoming_answered", extension=extension,
                              caller=f"79995550{attempt}{extension}")
                ring, position = _ring_taken_by(pair.balancer, entry, extension)
                rings[extension].append(ring)
                offsets[extension] = position - start
                [call_id] = pair.rpc_b("medpulse.call", "search", [("entry_id", "=", entry)])
                card = page.locator(f"{CARD}[data-call-id='{call_id}']")
                expect(card.locator(".o_medpulse_card_followup")).to_be_visible()
                expect(other.locator(f"{CARD}[data-call-id='{call_id}']")).to_have_count(0)
    finally:
        for page in pages.values():
            page.context.close()
    figures("cards over two instances",
            rings_taken_by={k: "".join("AB"[i] for i in v) for k, v in rings.items()},
            webhook_requests_a=pair.balancer.taken[0], webhook_requests_b=pair.balancer.taken[1])
    assert set(rings["101"]) == {0, 1}, "admin's cards: one ring taken by A, one by B"
    assert set(rings["102"]) == {0, 1}, "demo's cards: one ring taken by A, one by B"
    assert min(pair.balancer.taken) > 0 and pair.balancer.failed == 0


def test_boards_on_either_instance_are_pushed_the_calls(pair, browser):
    """Two wallboards open, one on each instance, one of them in TV mode; a call comes in
    through the balancer. Whichever instance took an event pushes the board once it has
    answered (a timer of its worker what the throttle held back): both boards show the call
    and its ringing operator, without reading the board again; the TV shows the number
    masked. (What each variant carries and who may listen to it: TestWallboard,
    TestWallboardChannel; how soon: bench/bench_wallboard.py.)"""
    boards = {}
    reads = {"a": 0, "b": 0}
    try:
        for name, web in (("a", pair.web[0]), ("b", pair.web[1])):
            page = login(browser, web, "admin", "admin")
            if name == "b":
                page.evaluate("localStorage.setItem('medpulse_telephony.wallboard_tv', '1')")
            page.on("request", lambda request, name=name: reads.__setitem__(
                name, reads[name] + ("medpulse.wallboard/get_board" in request.url)))
            page.goto(f"{web.url}/odoo/action-medpulse_telephony.medpulse_wallboard_action")
            expect(page.locator(".o_medpulse_wallboard_operators")).to_be_visible()
            boards[name] = page
        for page in boards.values():
            page.wait_for_timeout(2000)  # the board's channel subscribed
        opened = dict(reads)
        pbx = SignedPbx(pair.balancer.url, pair.api_key, pair.api_salt)
        call = Call(pbx, "79990007071").ivr().ring("101")
        started = time.monotonic()
        named = boards["a"].locator(".o_medpulse_wallboard_waiting tr[data-call-id]",
                                    has_text="70-71")
        masked = boards["b"].locator(".o_medpulse_wallboard_waiting tr[data-call-id]",
                                     has_text="•••7071")
        # The instance's single cron worker may be busy with a job due since the start.
        expect(named).to_be_visible(timeout=30000)
        expect(masked).to_be_visible(timeout=30000)
        shown_after = time.monotonic() - started
        assert not boards["b"].locator(".o_medpulse_wallboard", has_text="70-71").count()
        call.answer("101")
        expect(boards["a"].locator(".o_medpulse_wallboard_in_progress tr",
                                   has_text="70-71")).to_be_visible(timeout=30000)
        call.drop("101")
        expect(named).to_have_count(0, timeout=30000)
        assert reads == opened, "the boards were pushed the calls, they did not read them"
    finally:
        for page in boards.values():
            page.context.close()
    figures("wallboards over two instances", call_on_both_boards_s=round(shown_after, 2),
            board_reads=reads)


def test_journal_over_two_instances_equals_a_single_instance_run(pair):
    """The events of the reliability suite's scenarios, delivered twice as two copies of
    the same calls: once to A alone, one at a time; once through the balancer from 8
    threads (A and B at once). Both journals are equal record by record."""
    generated = [scenario_events(name, **params) for name, params in SCENARIOS]
    single = [e for events in generated for e in renamed(events, "-one")]
    spread = [e for events in generated for e in renamed(events, "-two")]
    before = list(pair.balancer.taken)
    Deliverer(pair.a.url, pair.api_key, pair.api_salt).send_all(single)
    deliverer = Deliverer(pair.balancer.url, pair.api_key, pair.api_salt)
    started = time.monotonic()
    deliverer.send_all(spread, threads=8)
    seconds = time.monotonic() - started
    taken = [now - then for now, then in zip(pair.balancer.taken, before, strict=True)]
    single_ids, spread_ids = entry_ids(single), entry_ids(spread)
    wait_final(pair.rpc_a, single_ids | spread_ids, timeout=60)
    one, two = journal(pair.rpc_a, single_ids), journal(pair.rpc_b, spread_ids)
    figures("journal over two instances", calls=len(SCENARIOS), events=len(spread),
            taken_by_a=taken[0], taken_by_b=taken[1], threads=8, seconds=round(seconds, 1))
    assert deliverer.statuses == {200: len(spread)}, deliverer.statuses
    assert min(taken) >= len(spread) // 2 - 1, "the balancer spread the events over both"
    assert len(one) == len(two) == len(SCENARIOS), "a call is lost or doubled"
    by_single = {entry.removesuffix("-one"): row for entry, row in one.items()}
    for entry, row in two.items():
        reference = by_single[entry.removesuffix("-two")]
        assert {f: row[f] for f in COMPARED} == {f: reference[f] for f in COMPARED}, entry



def _click_to_call(rpc):
    return rpc("medpulse.call.command", "action_click_to_call", "+79177654321")


def _forget_pbx_pauses(pair, hold_jobs=False):
    """End the pause a 3xxx left in the shared request budget (the emulator's own
    lockout is reset too). ``hold_jobs``: also put off, by an hour, the recordings and call
    questions the earlier tests' calls left waiting, so that A's cron asks no PBX meanwhile
    (a made-up recording asked of a test's PBX double would pause the budget again)."""
    conn = pair.a.connect(pair.a.dbname)
    if hold_jobs:
        with conn, conn.cursor() as cr:
            for table in ("medpulse_call_recording", "medpulse_call_insight"):
                cr.execute(f"UPDATE {table} SET next_attempt_at = now() AT TIME ZONE 'UTC'"  # noqa: S608 - fixed names
                           " + interval '1 hour' WHERE next_attempt_at IS NOT NULL")
        # A job the cron had already started asks its PBX on: once it ends, its answer
        # (a 3xxx for a call the reset emulator forgot) would pause the budget again.
        _wait_for_running_crons(conn)
    with conn, conn.cursor() as cr:
        cr.execute("DELETE FROM medpulse_telephony_limit WHERE kind = 'block'")
    conn.close()
    pair.emulator.post("/control/reset")


def _wait_for_running_crons(conn, timeout=60):
    """Until no cron job runs: a running job holds its ``ir_cron`` row locked."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with conn, conn.cursor() as cr:
                cr.execute("SELECT id FROM ir_cron FOR NO KEY UPDATE NOWAIT")
            return
        except psycopg2.errors.LockNotAvailable:
            assert time.monotonic() < deadline, "a cron job ran for a minute"
            time.sleep(0.2)


def test_request_budget_is_shared_by_both_instances(pair):
    """Ten connection tests at once, five through A and five through B: the PBX allows two
    balance requests a second per account (``account/balance``, 2 per 1 s); together the
    two instances never send more, as one would."""
    _forget_pbx_pauses(pair, hold_jobs=True)  # what earlier tests' calls may cause
    with PbxDouble(pair.api_key, pair.api_salt) as pbx:
        _set_pbx_url(pair.rpc_a, pbx.url)
        try:
            jobs = [pair.rpc_a, pair.rpc_b] * 5
            with ThreadPoolExecutor(len(jobs)) as pool:
                answers = list(pool.map(_test_connection, jobs))
        finally:
            _set_pbx_url(pair.rpc_a, pair.pbx_url)
        times = sorted(r.at for r in pbx.requests if r.path == "account/balance")
    assert len(times) >= 2, (answers, [r.path for r in pbx.requests])
    busiest = max(sum(1 for t in times if start <= t < start + 0.9) for start in times)
    figures("shared request budget", requests=len(times), answered=len(answers),
            busiest_0_9_s=busiest, span_s=round(times[-1] - times[0], 2))
    assert busiest <= 2, f"more than the account's 2 requests a second: {times}"


def test_lockout_seen_by_one_instance_is_respected_by_the_other(pair):
    """The PBX answers 3102 to A's connection test: for two minutes no request of B
    reaches it (a second 3xxx would lock the account), and B says why."""
    _forget_pbx_pauses(pair)
    demo_b = OdooRPC(pair.b.url, pair.b.dbname, "demo", "demo")
    with PbxDouble() as pbx:
        pbx.fail("*", 3102)
        _set_pbx_url(pair.rpc_a, pbx.url)
        try:
            first = _test_connection(pair.rpc_a)
            sent = len(pbx.requests)
            jobs = [(_click_to_call, demo_b), (_click_to_call, pair.rpc_b),
                    (_test_connection, pair.rpc_b), (_test_connection, pair.rpc_a)]
            with ThreadPoolExecutor(len(jobs)) as pool:
                answers = list(pool.map(lambda job: job[0](job[1]), jobs))
            after = len(pbx.requests) - sent
        finally:
            _set_pbx_url(pair.rpc_a, pair.pbx_url)
            _forget_pbx_pauses(pair)
    held = [a for a in answers if "paused until" in (a.get("message") or "")]
    figures("shared lockout", first=first["type"], requests_after_3xxx=after,
            held_back_with_reason=len(held), attempts=len(jobs))
    assert first["type"] == "danger" and sent >= 1, first
    assert after == 0, "a request reached the PBX during the pause another instance set"
    assert len(held) == len(jobs), answers


def _xmlid(rpc, name):
    [row] = rpc("ir.model.data", "search_read",
                [("module", "=", "medpulse_telephony"), ("name", "=", name)], fields=["res_id"])
    return row["res_id"]


def _log_since(instance, offset):
    return instance.log_path.read_text(errors="replace")[offset:]


def test_crons_run_on_one_instance_and_a_recording_is_fetched_once(pair):
    """The record/added webhook (taken by A or B) triggers the download job; A's cron
    runs it. While it waits for a slow PBX, "Run manually" through B (a second worker
    fetching the same recording) is refused: the job runs once at a time across both
    instances, and the PBX is asked for the file once. B's log shows no cron job at all;
    A's shows every run of a job ended before its next one started."""
    download = _xmlid(pair.rpc_a, "ir_cron_medpulse_call_recording_download")
    marks = [len(i.log_path.read_text(errors="replace")) for i in (pair.a, pair.b)]
    pair.emulator.post("/control/faults", {"api_delay": 3})
    try:
        run = pair.emulator.post("/control/scenario", {"name": "incoming_answered", "params": {
            **FAST, "caller": "79995551111"}})
        deadline = time.monotonic() + 60
        pending = []
        while not pending and time.monotonic() < deadline:
            pending = [r for r in pair.emulator.get("/control/requests?path=queries/recording/post")
                       ["requests"] if r["status"] is None]
            time.sleep(0.1)
        assert pending, "A's cron did not start downloading the recording"
        with pytest.raises(AssertionError, match="currently being executed"):
            pair.rpc_b("ir.cron", "method_direct_trigger", [download])
        [recording] = pair.rpc_a.wait_for(
            "medpulse.call.recording", [("entry_id", "=", run["entry_id"]),
                                        ("state", "=", "available")],
            ["recording_id", "download_attempts"], timeout=60)
    finally:
        pair.emulator.post("/control/faults", {})
    asked = [r for r in pair.emulator.get("/control/requests?path=queries/recording/post")
             ["requests"] if recording["recording_id"] in json.dumps(r)]
    log_a, log_b = (_log_since(i, m) for i, m in zip((pair.a, pair.b), marks, strict=True))
    runs = [what if what == "starting" else "done" for what in re.findall(
        rf"Job '[^']*' \({download}\) (starting|done|server action #\d+ failed)", log_a)]
    conflicts = re.findall(r"could not serialize access[^\n]*", log_a)
    # over the whole module: the journal's test delivered calls with recordings from 8
    # threads over both instances while A's cron was downloading theirs
    failed = re.findall(rf"Job '[^']*' \({download}\) server action #\d+ failed",
                        pair.a.log_path.read_text(errors="replace"))
    figures("crons on one instance", download_runs_on_a=runs.count("starting"),
            job_lines_on_b=len(re.findall(r"Job '", log_b)), pbx_file_requests=len(asked),
            attempts=recording["download_attempts"], serialization_failures_on_a=len(conflicts),
            failed_download_runs_in_module=len(failed))
    assert len(asked) == 1, f"the PBX was asked for the recording {len(asked)} times: {conflicts}"
    assert recording["download_attempts"] == 1
    assert not failed, "a download run failed (and its downloads were rolled back)"
    assert runs and runs[0] == "starting" and runs.count("starting") >= 1
    assert runs == ["starting", "done"] * (len(runs) // 2), "a run began before the last ended"


def test_a_job_triggered_through_both_instances_runs_once(pair):
    """The daily purge of raw events is triggered twice at the same moment, through A and
    through B (``ir.cron.trigger``, as ``ir.cron._trigger`` makes them): A's cron worker runs
    it once, at its next poll (a minute at most); B runs no job at all, ever. Every job's
    runs in A's log alternate starting/done: no job ran twice at once."""
    purge = _xmlid(pair.rpc_a, "ir_cron_medpulse_call_event_purge")
    pattern = re.compile(rf"Job '[^']*' \({purge}\) (starting|done)")
    before = pattern.findall(pair.a.log_path.read_text(errors="replace"))
    now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda rpc: rpc("ir.cron.trigger", "create",
                                      {"cron_id": purge, "call_at": now}),
                      (pair.rpc_a, pair.rpc_b)))
    deadline = time.monotonic() + 90
    runs = []
    while time.monotonic() < deadline:
        runs = pattern.findall(pair.a.log_path.read_text(errors="replace"))[len(before):]
        if "done" in runs:
            break
        time.sleep(2)
    time.sleep(10)  # a second run, if any, would start now
    runs = pattern.findall(pair.a.log_path.read_text(errors="replace"))[len(before):]
    left = pair.rpc_a("ir.cron.trigger", "search_count", [("cron_id", "=", purge)])
    log_a = pair.a.log_path.read_text(errors="replace")
    log_b = pair.b.log_path.read_text(errors="replace")
    per_job: dict[str, list[str]] = {}
    for job, what in re.findall(
        r"Job '[^']*' \((\d+)\) (starting|done|server action #\d+ failed)", log_a
    ):
        per_job.setdefault(job, []).append("starting" if what == "starting" else "done")
    figures("cron runs", triggers=2, runs_of_the_triggered_job=runs.count("starting"),
            triggers_left=left, jobs_run_on_a=len(per_job),
            job_lines_on_b=len(re.findall(r"Job '", log_b)))
    assert runs == ["starting", "done"], f"the job triggered twice at once ran {runs}"
    assert left == 0
    assert not re.findall(r"Job '", log_b), "instance B ran a cron job"
    for job, what in per_job.items():
        ends = what if what[-1] == "done" else what[:-1]  # the last may be running now
        assert ends == ["starting", "done"] * (len(ends) // 2), f"job {job} overlapped itself"


def test_events_left_to_the_folder_are_folded_by_its_next_holder(pair):
    """While another session holds the folders, A's requests store their events and answer:
    nothing is folded. Once the folders are free, the next request (through B, which runs no
    cron) takes it after its answer and folds them all with its own, a call's events
    together: the journal equals the one A folded event by event."""
    name, params = SCENARIOS[0]
    generated = scenario_events(name, **params)
    single, left = renamed(generated, "-inline"), renamed(generated, "-folder")
    Deliverer(pair.a.url, pair.api_key, pair.api_salt).send_all(single)
    with folders_held(pair.a) as cr:
        deliverer = Deliverer(pair.a.url, pair.api_key, pair.api_salt)
        started = time.monotonic()
        deliverer.send_all(left[:-1])
        answered = time.monotonic() - started
        cr.execute("SELECT state, count(*) FROM medpulse_call_event WHERE entry_id IN %s"
                   " GROUP BY state", (tuple(entry_ids(left)),))
        waiting = dict(cr.fetchall())
        cr.execute("SELECT count(*) FROM medpulse_call WHERE entry_id IN %s",
                   (tuple(entry_ids(left)),))
        calls_while_held = cr.fetchone()[0]
    released = time.monotonic()
    last = Deliverer(pair.b.url, pair.api_key, pair.api_salt)
    last.send_all(left[-1:])
    wait_final(pair.rpc_a, entry_ids(left), timeout=30)
    folded_after = time.monotonic() - released
    figures("folder", events=len(left), answered_s=round(answered, 2),
            folded_after_release_s=round(folded_after, 2))
    assert deliverer.statuses == {200: len(left) - 1}, deliverer.statuses
    assert last.statuses == {200: 1}, last.statuses
    assert waiting == {"received": len(left) - 1}, waiting
    assert calls_while_held == 0
    assert folded_after < 10
    one = journal(pair.rpc_a, entry_ids(single))
    two = journal(pair.rpc_a, entry_ids(left))
    [(_entry, reference)] = one.items()
    [(_entry, row)] = two.items()
    assert {f: row[f] for f in COMPARED} == {f: reference[f] for f in COMPARED}
