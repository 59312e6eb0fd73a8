"""End-to-end harness: a real Odoo server (outside test mode: websocket on, bus live),
the PBX emulator wired to it, and headless Chromium driven by Playwright.

The Odoo databases are prepared by ``scripts/demo_init.py``, the same initialisation the
demo launcher and the Docker image run. It installs the addons with demo data once, in a
template database (``demo_template``); each database of the suite is a copy of it, which
``demo_init`` then configures (it installs nothing in a database that has the addons): the
state of a fresh install, for one install instead of one per database. Everything listens
on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from odoo_instance import OdooInstance, free_port  # noqa: E402 - after the sys.path set-up above

ODOO_PYTHON = os.environ.get("MEDPULSE_ODOO_PYTHON") or sys.executable


@pytest.fixture(scope="session")
def work_dir():
    base = os.environ.get("MEDPULSE_WORK_DIR")
    path = Path(tempfile.mkdtemp(prefix="e2e-", dir=base))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pbx_credentials():
    return secrets.token_hex(12), secrets.token_hex(16)


@pytest.fixture(scope="session")
def pbx_port():
    return free_port()


def demo_init(instance: OdooInstance, *args: str, **run) -> subprocess.CompletedProcess:
    """``scripts/demo_init.py`` on ``instance``'s database (``args``: its options)."""
    instance.write_config()
    if not run.get("capture_output"):
        run.setdefault("stdout", subprocess.DEVNULL)
    return subprocess.run(
        [ODOO_PYTHON, str(ROOT / "scripts" / "demo_init.py"), "-c", str(instance.config_path),
         "-d", instance.dbname, *args],
        check=True, env=instance.env(), cwd=ROOT, **run,
    )


@pytest.fixture(scope="session")
def demo_template(work_dir):
    """A database that ``scripts/demo_init.py`` made (the addons and their demo data), never
    served: ``new_demo`` copies it for each database of the suite."""
    instance = OdooInstance(f"medpulse_e2e_template_{os.getpid()}", work_dir / "template",
                            python=ODOO_PYTHON)
    try:
        demo_init(instance, "--pbx-url", "http://127.0.0.1:9/vpbx/",
                  "--api-key", secrets.token_hex(12), "--api-salt", secrets.token_hex(16))
        yield instance
    finally:
        instance.drop()


@pytest.fixture(scope="session")
def new_demo(demo_template):
    """``new_demo(instance, *demo_init options)``: ``instance``'s database, a copy of the
    demo template configured by ``scripts/demo_init.py`` with those options; what
    ``demo_init`` returned."""

    def make(instance: OdooInstance, *args: str, **run) -> subprocess.CompletedProcess:
        instance.copy_of(demo_template)
        return demo_init(instance, *args, **run)

    return make


@pytest.fixture(scope="session")
def odoo_server(work_dir, pbx_credentials, pbx_port, new_demo):
    """A demo database initialised by scripts/demo_init.py and its running server."""
    api_key, api_salt = pbx_credentials
    instance = OdooInstance(f"medpulse_e2e_{os.getpid()}", work_dir, python=ODOO_PYTHON)
    try:
        new_demo(instance, "--pbx-url", f"http://127.0.0.1:{pbx_port}/vpbx/",
                 "--api-key", api_key, "--api-salt", api_salt, "--odoo-url", instance.url)
        instance.start()
        yield instance
    finally:
        instance.drop()


def _folder_keys() -> list[tuple[int, int]]:
    """The folders' advisory locks (``medpulse.call.event``: namespace "MC", keys "folder"
    and "folder:1", one per share of the calls; computed again here: these tests run
    outside Odoo and cannot import the addon's ``_lock_key``)."""
    keys = []
    for name in (b"folder", b"folder:1"):
        value = zlib.crc32(name)
        keys.append((0x4D43, value - (1 << 32) if value >= (1 << 31) else value))
    return keys


@contextlib.contextmanager
def folders_held(instance):
    """Hold every folder of ``instance``'s database, as a busy worker of another process
    would, for the block: its requests store their events and answer, nothing is folded.
    Yields the holding connection's cursor (autocommit). Once let go, the next request's
    worker folds what waited, a call's events together."""
    conn = instance.connect(instance.dbname)
    conn.autocommit = True
    try:
        with conn.cursor() as cr:
            for key in _folder_keys():
                cr.execute("SELECT pg_advisory_lock(%s, %s)", key)
            try:
                yield cr
            finally:
                for key in _folder_keys():
                    cr.execute("SELECT pg_advisory_unlock(%s, %s)", key)
    finally:
        conn.close()


@contextlib.contextmanager
def emulator_process(log_path: Path, port: int, webhook: str, api_key: str, api_salt: str,
                     env: dict[str, str]):
    """The PBX emulator as its own process on ``port``, posting to ``webhook``; its control
    client once it answers. Stopped, and its log closed, at the end of the block."""
    log = open(log_path, "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [ODOO_PYTHON, "-m", "mango_vpbx_emulator", "serve", "--port", str(port),
         "--webhook", webhook, "--api-key", api_key, "--api-salt", api_salt],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    client = EmulatorControl(f"http://127.0.0.1:{port}")
    try:
        client.wait_ready(proc)
        yield client
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="session")
def emulator(odoo_server, pbx_credentials, pbx_port, work_dir):
    """The PBX emulator as its own process, posting to the Odoo server's webhook."""
    api_key, api_salt = pbx_credentials
    with emulator_process(work_dir / "emulator.log", pbx_port, f"{odoo_server.url}/mango",
                          api_key, api_salt, odoo_server.env()) as client:
        yield client


class EmulatorControl:
    """The emulator's unsigned loopback control API (``/control/...``)."""

    def __init__(self, base: str):
        self.base = base

    def wait_ready(self, proc, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"emulator exited with {proc.returncode}")
            try:
                self.get("/control/calls")
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("emulator did not start")

    def get(self, path: str):
        with urllib.request.urlopen(self.base + path, timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def post(self, path: str, payload: dict | None = None):
        req = urllib.request.Request(
            self.base + path, data=json.dumps(payload or {}).encode(),
            headers={"Content-Type": "application/json"}, method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{path}: HTTP {exc.code} {exc.read()[:500]!r}") from None


def login(browser, server, login_name: str, password: str):
    """A new browser context logged in as ``login_name``; returns its page."""
    context = browser.new_context(locale="en-US", timezone_id="Asia/Yekaterinburg")
    page = context.new_page()
    page.goto(f"{server.url}/web/login")
    page.fill("input[name=login]", login_name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/odoo**")
    return page


class OdooRPC:
    """JSON-RPC to a running Odoo as one user (``/jsonrpc``, ``execute_kw``)."""

    def __init__(self, url: str, db: str, login: str, password: str, timeout: float = 60):
        self.url, self.db, self.password, self.timeout = url, db, password, timeout
        self.uid = self._call("common", "login", db, login, password)
        if not self.uid:
            raise AssertionError(f"cannot log in as {login}")

    def _call(self, service: str, method: str, *args):
        body = {"jsonrpc": "2.0", "method": "call", "id": 1,
                "params": {"service": service, "method": method, "args": list(args)}}
        req = urllib.request.Request(self.url + "/jsonrpc", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            answer = json.loads(resp.read())
        if answer.get("error"):
            raise AssertionError(answer["error"].get("data", {}).get("message") or answer["error"])
        return answer["result"]

    def __call__(self, model: str, method: str, *args, **kwargs):
        return self._call("object", "execute_kw", self.db, self.uid, self.password, model, method,
                          list(args), kwargs)

    def wait_for(self, model: str, domain: list, fields: list[str], timeout: float = 30,
                 until=lambda rows: bool(rows)):
        """Poll ``search_read`` until ``until(rows)`` holds; return the rows."""
        deadline = time.monotonic() + timeout
        rows = []
        while time.monotonic() < deadline:
            rows = self(model, "search_read", domain, fields=fields)
            if until(rows):
                return rows
            time.sleep(0.3)
        raise AssertionError(
            f"{model} {domain}: condition not met in {timeout} s; last rows {rows}"
        )


@pytest.fixture(scope="session")
def admin_rpc(odoo_server):
    return OdooRPC(odoo_server.url, odoo_server.dbname, "admin", "admin")


def run_scenario(emulator: EmulatorControl, name: str, timeout: float = 60, **params) -> str:
    """Play a scenario on the emulator to its end; return its entry_id."""
    run = emulator.post("/control/scenario", {"name": name, "params": params})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = emulator.get("/control/runs")["runs"]
        mine = [r for r in runs if r["entry_id"] == run["entry_id"]]
        if mine and mine[-1]["done"]:
            if mine[-1]["error"]:
                raise AssertionError(f"scenario {name} failed: {mine[-1]['error']}")
            return run["entry_id"]
        time.sleep(0.2)
    raise AssertionError(f"scenario {name} did not finish in {timeout} s")
