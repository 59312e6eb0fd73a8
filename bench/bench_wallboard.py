"""The wallboard's first load at scale: ``medpulse.wallboard.get_board`` as a supervisor.

What the board's first paint (and every refresh after a bus message) costs the server: the
whole state of the company (live calls folded from their events, operators, today's
aggregates and call-backs, the last event) through the ORM entry point the web client
calls, as a telephony and clinic manager of the bench company, with fresh caches each
time. ``--live N`` first puts N calls in progress (their events posted through
``medpulse.call.event._receive``, as the webhook stores and folds them, rolled back at the
end) so that the fold of live calls is in the figure too. p50/p95/p99 in milliseconds.

Measured twice in one run: as the addon ships, and without the indexes it creates for the
board (calls by company and start, the calls not over yet by company and start, calls by
company and end, events by company and reception; dropped, measured, created again): the
difference is what they buy. Goal p95 < 300 ms at 1,000,000 calls. Then every statement of
one first load with its time and ``EXPLAIN (ANALYZE, BUFFERS)`` (``statements``).

With the server running (``run_all.py`` calls :func:`run_live`), issue 23's two other
figures, in the same run:

- *event to board*: a board open in headless Chromium (Playwright) as the supervisor; the
  emulator rings extension 101 from a patient's number; the clock starts when the webhook
  answered the ``Appeared`` event of the operator's leg and stops at the first animation
  frame after the call's row (``tr[data-call-id]`` showing its number) entered the board,
  read from the page's own clock (one machine, one wall clock). Idle, then with the load
  generator ringing the other operators in the background. Goal p95 < 1 s.
- *webhook with 30 boards*: the webhook's throughput at saturation (the ingest benchmark's
  load, ``bench_ingest.load``) with no board open and with 30 open: 30 boards without a
  browser that do what the board's client does (``BusBoard``): read the board once
  (``get_board`` through ``/web/dataset/call_kw``, which also keeps the company's pushes
  on), then listen on a websocket signed in as the supervisor (through the path router to
  the gevent port) to the channel of the variant they show, to which the server pushes the
  board (the webhook's requests after their answer, their timers what the throttle holds
  back). Alternately 0,
  30, 0, 30 boards so that the machine's load weighs on both alike. Goal: with 30 boards,
  at least 0.9 of the throughput with none.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import odoo_env, summarize_ms  # noqa: E402 - after the sys.path set-up above

SUPERVISOR_LOGIN = "bench_supervisor"
#: The bus type of the boards' pushes, and a push's id in a frame as Odoo's bus writes it
#: (``json.dumps`` of ``{"id": ..., "message": {"type": ..., "payload": ...}}``).
WALLBOARD_TYPE = "medpulse_telephony.wallboard"
PUSH_ID = re.compile(r'\{"id": (\d+), "message": \{"type": "medpulse_telephony\.wallboard"')
BOARD_INDEXES = {
    "medpulse_call_company_created_covering_index":
        "CREATE INDEX IF NOT EXISTS medpulse_call_company_created_covering_index "
        "ON medpulse_call (company_id, created_at) "
        "INCLUDE (operator_user_id, wait_seconds, talk_seconds)",
    "medpulse_call_company_live_index":
        "CREATE INDEX IF NOT EXISTS medpulse_call_company_live_index "
        "ON medpulse_call (company_id, created_at) WHERE (is_final IS NULL OR is_final = FALSE)",
    "medpulse_call_company_ended_at_index":
        "CREATE INDEX IF NOT EXISTS medpulse_call_company_ended_at_index "
        "ON medpulse_call (company_id, ended_at)",
    "medpulse_call_event_company_received_at_index":
        "CREATE INDEX IF NOT EXISTS medpulse_call_event_company_received_at_index "
        "ON medpulse_call_event (company_id, received_at)",
}


def supervisor(env):
    """The bench's telephony and clinic manager (created once, kept; its password is its
    login, for the boards signed in over HTTP)."""
    Users = env["res.users"].with_context(active_test=False)
    user = Users.search([("login", "=", SUPERVISOR_LOGIN)], limit=1)
    if not user:
        user = Users.create({
            "name": "Bench supervisor", "login": SUPERVISOR_LOGIN,
            "password": SUPERVISOR_LOGIN,
            "groups_id": [(6, 0, [
                env.ref("medpulse_telephony.group_telephony_manager").id,
                env.ref("medpulse_clinic.group_clinic_manager").id,
            ])],
        })
        env.cr.commit()
    return user


def put_calls_in_progress(env, count: int) -> None:
    """``count`` calls ringing or talking now, as the webhook folds their events."""
    from mango_vpbx.signing import dumps  # noqa: PLC0415 - the checkout under test

    company = env.company
    extensions = env["res.users"].search(
        [("medpulse_pbx_extension", "!=", False)], limit=max(count, 1)
    ).mapped("medpulse_pbx_extension") or ["101"]
    env.cr.execute("SELECT number_e164 FROM medpulse_patient_phone "
                   "WHERE number_e164 IS NOT NULL ORDER BY id LIMIT %s", (count,))
    numbers = [row[0].lstrip("+") for row in env.cr.fetchall()] or ["79161234567"]
    now = int(time.time())
    Event = env["medpulse.call.event"].sudo()
    for i in range(count):
        entry, caller = f"BENCH-WB-{now}-{i}", numbers[i % len(numbers)]
        extension = extensions[i % len(extensions)]
        operator = {"extension": extension, "number": f"sip:{extension}@bench",
                    "line_number": "74950000000"}
        states = ["Appeared"] if i % 2 else ["Appeared", "Connected"]
        for seq, state in enumerate(states, 1):
            Event._receive(company, "events/call", dumps({
                "entry_id": entry, "call_id": f"{entry}:op", "timestamp": now - 30 + seq,
                "seq": seq, "call_state": state, "location": "abonent",
                "from": {"number": caller}, "to": operator,
            }))


def measure(env, user, repeat: int) -> dict:
    Board = env["medpulse.wallboard"].with_user(user)
    samples, board = [], {}
    for i in range(repeat + 2):
        env.invalidate_all()
        start = time.perf_counter()
        board = Board.get_board()
        if i >= 2:  # the first two warm the worker's caches, as a board open all day has
            samples.append((time.perf_counter() - start) * 1000)
    return {
        "waiting": len(board["waiting"]), "in_progress": len(board["in_progress"]),
        "operators": len(board["operators"]), "incoming_today": board["totals"]["incoming"],
        **summarize_ms(samples),
    }


def statements(env, user) -> list[dict]:
    """Every statement one first load sends (fresh caches), its time, and for each SELECT
    its ``EXPLAIN (ANALYZE, BUFFERS)``: where the first paint's time goes in SQL."""
    captured = []
    cr = env.cr
    execute = type(cr).execute

    def capture(self, query, params=None, log_exceptions=True):
        code, args = (query.code, query.params) if hasattr(query, "code") else (query, params)
        start = time.perf_counter()
        try:
            return execute(self, query, params, log_exceptions)
        finally:
            captured.append({"ms": round((time.perf_counter() - start) * 1000, 2),
                             "sql": self._obj.mogrify(code, args).decode()})

    env.invalidate_all()
    type(cr).execute = capture
    try:
        env["medpulse.wallboard"].with_user(user).get_board()
    finally:
        type(cr).execute = execute
    for row in captured:
        if row["sql"].lstrip().upper().startswith("SELECT"):
            cr.execute("EXPLAIN (ANALYZE, BUFFERS) " + row["sql"])
            row["plan"] = "\n".join(line[0] for line in cr.fetchall())
    return captured


def run(env, repeat: int, live: int) -> dict:
    user = supervisor(env)
    env.cr.execute("SELECT COUNT(*) FROM medpulse_call")
    calls = env.cr.fetchone()[0]
    env.cr.execute("SELECT COUNT(*) FROM medpulse_call_event")
    events = env.cr.fetchone()[0]
    savepoint = env.cr.savepoint(flush=False)
    try:
        put_calls_in_progress(env, live)
        env.flush_all()
        shipped = measure(env, user, repeat)
        plans = statements(env, user)
        for index in BOARD_INDEXES:
            env.cr.execute(f"DROP INDEX IF EXISTS {index}")
        without = measure(env, user, repeat)
    finally:
        savepoint.close(rollback=True)  # the live calls and the dropped indexes: as before
    for sql in BOARD_INDEXES.values():
        env.cr.execute(sql)
    return {"calls": calls, "events": events, "live_calls": live, "shipped": shipped,
            "without_board_indexes": without, "goal_ms_p95": 300, "statements": plans}


# --------------------------------------------------------------------------- live figures

BOARD_URL = "/odoo/action-medpulse_telephony.medpulse_wallboard_action"
ROW = "tr[data-call-id]"
#: Every board row that enters the page, with the wall-clock time of the next frame.
ROW_OBSERVER = """
window.__medpulseRows = [];
new MutationObserver((mutations) => {
    for (const m of mutations) {
        for (const node of m.addedNodes) {
            if (node.nodeType !== 1) continue;
            const rows = node.matches('__ROW__') ? [node] : node.querySelectorAll('__ROW__');
            for (const row of rows) {
                requestAnimationFrame(() => window.__medpulseRows.push({
                    id: row.dataset.callId,
                    digits: row.textContent.replace(/\\D/g, ''),
                    t: performance.timeOrigin + performance.now(),
                }));
            }
        }
    }
}).observe(document, {childList: true, subtree: true});
""".replace("__ROW__", ROW)


def sign_in(web_url: str, dbname: str, login: str = SUPERVISOR_LOGIN):
    """A ``requests`` session signed in as ``login`` (JSON-RPC ``/web/session/authenticate``)."""
    import requests  # noqa: PLC0415 - imported where it is needed

    session = requests.Session()
    response = session.post(web_url + "/web/session/authenticate", json={
        "jsonrpc": "2.0", "method": "call",
        "params": {"db": dbname, "login": login, "password": login},
    }, timeout=60)
    response.raise_for_status()
    if not (response.json().get("result") or {}).get("uid"):
        raise RuntimeError(f"could not sign in as {login}: {response.text[:300]}")
    return session


class BusBoard:
    """One open board without a browser, as the board's client does it: one read of the board
    (``get_board``), then the pushes of its variant on its websocket, counted (and their
    size); no read after that.
    """

    def __init__(self, web_url: str, session) -> None:
        import threading  # noqa: PLC0415 - imported where it is needed

        self.web_url, self.session = web_url, session
        self.notifications = self.reads = self.read_errors = self.pushed_bytes = 0
        self.ids: set[int] = set()
        self.read_ms: list[float] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._listen, daemon=True)
        self.ws = None

    def start(self) -> BusBoard:
        import websocket  # noqa: PLC0415 - websocket-client, installed with the bench

        board = self._read()
        variant = "named" if board.get("show_names") else "unnamed"
        channel = f"medpulse_telephony.wallboard:{board['company_id']}:{variant}"
        ws_url = self.web_url.replace("http://", "ws://") + "/websocket"
        cookie = "; ".join(f"{k}={v}" for k, v in self.session.cookies.items())
        # websocket-client checks every text frame's UTF-8 in pure Python without ``wsaccel``
        # (~most of a board's CPU here, on the server's cores); decoding it checks it anyway.
        self.ws = websocket.create_connection(ws_url, cookie=cookie, origin=self.web_url,
                                              timeout=5, skip_utf8_validation=True)
        self.ws.send(json.dumps({"event_name": "subscribe",
                                 "data": {"channels": [channel], "last": 0}}))
        self.ws.settimeout(0.5)
        self.thread.start()
        return self

    def _read(self) -> dict:
        payload = {"jsonrpc": "2.0", "method": "call", "params": {
            "model": "medpulse.wallboard", "method": "get_board", "args": [],
            "kwargs": {"tv_mode": False, "context": {"lang": "en_US", "tz": "Europe/Moscow"}}}}
        url = self.web_url + "/web/dataset/call_kw/medpulse.wallboard/get_board"
        start = time.perf_counter()
        response = self.session.post(url, json=payload, timeout=60)
        self.read_ms.append((time.perf_counter() - start) * 1000)
        self.reads += 1
        result = response.json().get("result") if response.status_code == 200 else None
        if not result:
            self.read_errors += 1
            raise RuntimeError(f"get_board failed: {response.text[:300]}")
        return result

    def _listen(self) -> None:
        import websocket  # noqa: PLC0415 - imported where it is needed

        while not self.stopped.is_set():
            try:
                data = self.ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except Exception:  # noqa: BLE001 - the socket closed: the board stops
                break
            self._count(data)

    def _count(self, data) -> None:
        """Count the board's pushes in a frame the server sent (a JSON list of notifications)
        as cheaply as a client can: by their ids, without decoding the ~20 KB boards. A real
        board is a browser on another machine; these 30 share the server's cores, and
        decoding (and re-encoding, to size) every push cost the bench ~0.4 of a core, which
        the webhook's throughput "with boards" paid for."""
        if isinstance(data, bytes):
            data = data.decode()
        if WALLBOARD_TYPE not in data:
            return
        ids = [int(found) for found in PUSH_ID.findall(data)]
        if not ids:  # another layout than Odoo's ``json.dumps``: decode it
            ids = [item.get("id") for item in json.loads(data)
                   if (item.get("message") or {}).get("type") == WALLBOARD_TYPE]
        self.notifications += len(ids)
        self.ids.update(ids)
        self.pushed_bytes += len(data)

    def stop(self) -> dict:
        self.stopped.set()
        self.thread.join(5)
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001, S110 - closing a socket already gone
            pass
        return {"notifications": self.notifications, "distinct": len(self.ids),
                "reads": self.reads, "read_errors": self.read_errors,
                "pushed_bytes": self.pushed_bytes}


def boards_open(web_url: str, dbname: str, count: int) -> list[BusBoard]:
    sessions = [sign_in(web_url, dbname) for _ in range(count)]
    boards = [BusBoard(web_url, session).start() for session in sessions]
    time.sleep(2)  # the subscriptions registered before the load starts
    return boards


def webhook_with_boards(instance, web_url: str, python: str, employees: str, rate: float,
                        duration: float, callers: str | None, boards: int = 30,
                        rounds: int = 2) -> dict:
    """The webhook's throughput at saturation with no board and with ``boards`` open,
    alternately (0, N, 0, N...), at the rate and thread pool that saturated it first."""
    import bench_ingest  # noqa: PLC0415 - after sys.path holds bench/

    env, pid, url = instance.env(), instance.process.pid, instance.url + "/mango"
    first = bench_ingest.saturate(python, env, url, employees, rate, duration, pid,
                                  callers=callers)
    runs = {0: [], boards: []}
    plan = [boards] + [n for _ in range(rounds - 1) for n in (0, boards)]
    runs[0].append(_ingest_row(first, 0, None))
    for count in plan:
        if not count:
            _close_boards(instance)
        opened = boards_open(web_url, instance.dbname, count) if count else []
        since = _bus_last_id(instance)
        run = bench_ingest.load(python, env, url, employees, first["offered_calls_per_s"],
                                duration, first.get("workers", bench_ingest.POOL), pid, callers)
        stats = [board.stop() for board in opened]
        read_ms = [ms for board in opened for ms in board.read_ms]
        row = _ingest_row(run, count, stats, read_ms)
        row["bus_rows"] = _bus_rows_since(instance, since)
        runs[count].append(row)
    mean = {n: statistics.mean(r["ok_events_per_s"] or 0 for r in rows)
            for n, rows in runs.items()}
    result = {
        "boards": boards, "duration_s": duration,
        "offered_calls_per_s": first["offered_calls_per_s"],
        "first_saturation": first.get("verdict"), "runs": runs[0] + runs[boards],
        "events_per_s_without": round(mean[0], 2), "events_per_s_with": round(mean[boards], 2),
        "ratio": round(mean[boards] / mean[0], 3) if mean[0] else None,
        "goal_ratio_ge": 0.9,
    }
    result["goal_met"] = bool(result["ratio"] and result["ratio"] >= 0.9)
    return result


def _close_boards(instance) -> None:
    """No board open any more: the server stops pushing now, not when the last board's
    watch runs out (12 minutes later), so that a run without boards pays for none."""
    conn = instance.connect(instance.dbname)
    try:
        with conn, conn.cursor() as cr:
            cr.execute("DELETE FROM medpulse_wallboard_watch")
    finally:
        conn.close()


def _bus_last_id(instance) -> int:
    conn = instance.connect(instance.dbname)
    try:
        with conn.cursor() as cr:
            cr.execute("SELECT coalesce(max(id), 0) FROM bus_bus")
            return cr.fetchone()[0]
    finally:
        conn.close()


def _bus_rows_since(instance, since: int) -> dict:
    """What the server wrote on the bus during a run, by message type: what the websockets
    were offered (a board counts what reached it)."""
    conn = instance.connect(instance.dbname)
    try:
        with conn.cursor() as cr:
            cr.execute("SELECT message::json->>'type', count(*), sum(length(message))"
                       "  FROM bus_bus WHERE id > %s GROUP BY 1 ORDER BY 2 DESC", (since,))
            kinds = {kind: {"rows": n, "kb": round(size / 1024)}
                     for kind, n, size in cr.fetchall()}
            # The pushes of the boards: how many a second (by their transactions' time).
            cr.execute("SELECT count(*), count(DISTINCT create_date),"
                       "       extract(epoch FROM max(create_date) - min(create_date))"
                       "  FROM bus_bus WHERE id > %s"
                       "   AND message::json->>'type' = 'medpulse_telephony.wallboard'", (since,))
            rows, transactions, span = cr.fetchone()
            if rows:
                kinds["medpulse_telephony.wallboard"].update(
                    pushes=transactions, span_s=round(float(span or 0), 1))
            return kinds
    finally:
        conn.close()


def _ingest_row(run: dict, boards: int, stats, read_ms=None) -> dict:
    row = {"boards": boards, "ok_events_per_s": run.get("ok_events_per_s"),
           "errors": run.get("errors"), "verdict": run.get("verdict"),
           "in_flight_mean": run.get("in_flight_mean"),
           "latency_ms": run.get("latency_ms"), "server_cores": run.get("server_cpu_cores"),
           "machine_cpu_busy": run.get("machine_cpu_busy")}
    if stats is not None:
        row["notifications"] = sum(s["notifications"] for s in stats)
        row["board_reads"] = sum(s["reads"] for s in stats)
        row["board_read_errors"] = sum(s["read_errors"] for s in stats)
        row["board_read_ms"] = summarize_ms(read_ms) if read_ms else None
        row["pushed_kb"] = round(sum(s.get("pushed_bytes", 0) for s in stats) / 1024)
        # Bus messages a board got, and how many distinct ones (the same message twice is
        # the bus delivering it again).
        row["distinct_notifications"] = sum(s.get("distinct", 0) for s in stats)
    return row


def event_to_board(instance, web_url: str, python: str, employees: str, calls: int,
                   background_rate: float, callers: str | None = None) -> dict:
    """Webhook's answer to the ``Appeared`` of the operator's leg -> the call's row on a board
    in Chromium; idle, then with the load generator ringing the other operators."""
    import subprocess  # noqa: PLC0415 - imported where it is needed

    import bench_card  # noqa: PLC0415 - after sys.path holds bench/
    import bench_ingest  # noqa: PLC0415 - after sys.path holds bench/
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only this step needs it

    numbers = bench_card._numbers(instance, calls * 2 + 3)
    result: dict = {"calls": calls, "background_calls_per_s": background_rate}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=bench_card.CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.add_init_script(ROW_OBSERVER)
        page.goto(web_url + "/web/login")
        page.fill("input[name=login]", SUPERVISOR_LOGIN)
        page.fill("input[name=password]", SUPERVISOR_LOGIN)
        page.click("button[type=submit]")
        page.wait_for_selector(".o_main_navbar", timeout=60_000)
        page.goto(web_url + BOARD_URL)
        page.wait_for_selector(".o_medpulse_wallboard_tile", timeout=60_000)
        page.wait_for_timeout(3000)  # the bus websocket up before the first call
        _board_samples(page, instance, numbers[-3:])  # warm-up
        result["idle"] = _board_samples(page, instance, numbers[:calls])
        background = subprocess.Popen(
            bench_ingest.loadgen_command(python, instance.url + "/mango",
                                         bench_card.without_receptionist(employees),
                                         background_rate, max(30.0, calls * 2.0),
                                         callers=callers),
            env=instance.env(), stdout=subprocess.PIPE, text=True,
        )
        time.sleep(2)
        result["loaded"] = _board_samples(page, instance, numbers[calls:2 * calls])
        background.terminate()
        background.wait(30)
        browser.close()
    result["goals"] = {
        "idle_p95_lt_1000ms": (result["idle"].get("p95") or 1e9) < 1000,
        "loaded_p95_lt_1000ms": (result["loaded"].get("p95") or 1e9) < 1000,
    }
    return result


def _board_samples(page, instance, numbers: list[str], timeout: float = 5.0) -> dict:
    import bench_card  # noqa: PLC0415 - after sys.path holds bench/

    pbx, sender = bench_card._pbx(instance)
    samples, missing = [], 0
    for number in numbers:
        seen = page.evaluate("window.__medpulseRows.length")
        call, ivr = pbx.incoming(number)
        before = len(sender.log())
        pbx.ring(call, ivr, [bench_card.EXTENSION])
        ring = [d for d in sender.log()[before:] if d.latency is not None]
        answered = max(d.emitted_at + d.latency for d in ring) * 1000 if ring else None
        mine = (f"window.__medpulseRows.slice({seen})"
                f".find(r => r.digits.includes('{number[-10:]}'))")
        try:
            page.wait_for_function(f"!!({mine})", timeout=timeout * 1000)
            if answered:
                samples.append(page.evaluate(f"({mine}).t") - answered)
        except Exception:  # noqa: BLE001 - a row that never came is counted, not fatal
            missing += 1
        pbx.caller_hangup(call.entry_id)
        time.sleep(0.5)
    pbx.join()
    errors = sum(1 for d in sender.log() if d.status != 200)
    return {**(summarize_ms(samples) if samples else {"n": 0}), "missing": missing,
            "webhook_errors": errors}


def board_over_http(instance, web_url: str, python: str, employees: str, repeat: int,
                    background_rate: float, callers: str | None = None) -> dict:
    """The first load as the board's client waits for it: ``get_board`` through
    ``/web/dataset/call_kw`` (a signed-in session, HTTP, the worker, JSON), ``repeat``
    times idle, then as many times with the load generator ringing the operators."""
    import subprocess  # noqa: PLC0415 - imported where it is needed

    import bench_ingest  # noqa: PLC0415 - after sys.path holds bench/

    session = sign_in(web_url, instance.dbname)
    url = web_url + "/web/dataset/call_kw/medpulse.wallboard/get_board"
    payload = {"jsonrpc": "2.0", "method": "call", "params": {
        "model": "medpulse.wallboard", "method": "get_board", "args": [],
        "kwargs": {"tv_mode": False, "context": {"lang": "en_US", "tz": "Europe/Moscow"}}}}

    def samples(count):
        out = []
        for _ in range(count):
            start = time.perf_counter()
            response = session.post(url, json=payload, timeout=60)
            response.raise_for_status()
            if "result" not in response.json():
                raise RuntimeError(response.text[:300])
            out.append((time.perf_counter() - start) * 1000)
        return out

    samples(2)  # warm-up
    result = {"repeat": repeat, "idle": summarize_ms(samples(repeat)),
              "background_calls_per_s": background_rate}
    background = subprocess.Popen(
        bench_ingest.loadgen_command(python, instance.url + "/mango", employees,
                                     background_rate, max(20.0, repeat * 0.5), callers=callers),
        env=instance.env(), stdout=subprocess.PIPE, text=True,
    )
    time.sleep(2)
    result["loaded"] = summarize_ms(samples(repeat))
    background.terminate()
    background.wait(30)
    return result


def run_live(instance, web_url: str, python: str, employees: str, duration: float,
             rate: float, calls: int, background_rate: float,
             callers: str | None = None) -> dict:
    """Issue 23's two live figures (the module's docstring), the server running."""
    import os  # noqa: PLC0415 - imported where it is needed

    with odoo_env(str(instance.config_path), instance.dbname) as env:
        user = supervisor(env)
        user.password = SUPERVISOR_LOGIN
    result = {"load_avg_at_start": os.getloadavg()}
    # Each part kept as soon as measured (a long run stopped keeps what it measured).
    partial = Path(instance.config_path).with_name("wallboard_live.json")
    for name, part in (
        ("first_load_http", lambda: board_over_http(instance, web_url, python, employees,
                                                    calls, background_rate, callers)),
        ("event_to_board", lambda: event_to_board(instance, web_url, python, employees, calls,
                                                  background_rate, callers)),
        ("webhook_with_boards", lambda: webhook_with_boards(instance, web_url, python,
                                                            employees, rate, duration,
                                                            callers)),
    ):
        result[name] = part()
        result[f"load_avg_after_{name}"] = os.getloadavg()
        partial.write_text(json.dumps(result, indent=2))
    result["load_avg_at_end"] = os.getloadavg()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("-d", "--database", required=True)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--live", type=int, default=10, help="calls in progress while measured")
    args = parser.parse_args(argv)
    with odoo_env(args.config, args.database) as env:
        result = run(env, args.repeat, args.live)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
