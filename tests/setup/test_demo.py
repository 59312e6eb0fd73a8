"""scripts/demo as a person runs it: a taken port stops it before anything starts; with no
PostgreSQL reachable it starts a private cluster, serves the demo from it, and SIGTERM or
SIGHUP stop Odoo, the emulator and the cluster."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from setup_helpers import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
from odoo_instance import free_port  # noqa: E402 - after the sys.path set-up above

DEMO = ROOT / "scripts" / "demo"


def demo_env(**extra: str) -> dict[str, str]:
    # MEDPULSE_PYTHON: the Odoo this run tests (the set-up itself is tested in test_setup).
    env = dict(os.environ, MEDPULSE_PYTHON=sys.executable, PYTHONUNBUFFERED="1")
    env.pop("MEDPULSE_ODOO_SOURCE", None)
    env.update(extra)
    return env


def closed_port() -> int:
    """A port where no PostgreSQL answers: the demo must bring its own."""
    return free_port()


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def processes_mentioning(*needles: str) -> list[str]:
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(n in cmdline for n in needles) and str(os.getpid()) != proc.name:
            found.append(f"{proc.name}: {cmdline[:200]}")
    return found


@pytest.mark.parametrize("which", ["odoo", "pbx"])
def test_demo_refuses_a_taken_port(tmp_path, which):
    port, pbx_port = free_port(), free_port()
    taken = port if which == "odoo" else pbx_port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        out = subprocess.run(
            [
                "bash",
                str(DEMO),
                "--port",
                str(port),
                "--pbx-port",
                str(pbx_port),
                "--state-dir",
                str(tmp_path / "state"),
            ],
            capture_output=True,
            text=True,
            env=demo_env(PGPORT=str(closed_port())),
            timeout=120,
        )
    assert out.returncode == 3, out.stdout + out.stderr
    assert f"port {taken} already in use" in out.stderr
    assert "MedPulse is running" not in out.stdout
    assert not (tmp_path / "state").exists(), "nothing may start before the ports are checked"


def _start_demo(state: Path, db: str, port: int, pbx_port: int, pg_port: int, log: Path):
    out = log.open("a")
    proc = subprocess.Popen(
        [
            "bash",
            str(DEMO),
            "--db",
            db,
            "--port",
            str(port),
            "--pbx-port",
            str(pbx_port),
            "--state-dir",
            str(state),
            "--history",  # the calls' history has its own tests; here: start and stop
            "0",
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        env=demo_env(PGPORT=str(pg_port)),
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        text = log.read_text()
        if "MedPulse is running" in text:
            return proc
        if proc.poll() is not None:
            pytest.fail(f"scripts/demo exited with {proc.returncode}:\n{text[-3000:]}")
        time.sleep(1)
    proc.kill()
    pytest.fail(f"scripts/demo did not start within 10 minutes:\n{log.read_text()[-3000:]}")


def _pg_data_dir(log: Path) -> Path:
    match = re.findall(r"PostgreSQL: private cluster in (\S+)", log.read_text())
    assert match, f"the demo did not start a private cluster:\n{log.read_text()[-2000:]}"
    return Path(match[-1])


def _cluster_running(data_dir: Path) -> bool:
    return (data_dir / "postmaster.pid").exists() or bool(processes_mentioning(str(data_dir)))


def test_demo_runs_on_a_private_cluster_and_stops_on_sigterm_and_sighup(tmp_path):
    state = tmp_path / "state"
    db = f"medpulse_demo_test_{os.getpid()}"
    pg_port = closed_port()
    data_dir = None
    pbx_ports: list[int] = []
    try:
        for signum in (signal.SIGTERM, signal.SIGHUP):
            port, pbx_port = free_port(), free_port()
            pbx_ports.append(pbx_port)
            log = tmp_path / f"demo-{signum.name}.log"
            proc = _start_demo(state, db, port, pbx_port, pg_port, log)
            data_dir = _pg_data_dir(log)
            assert _cluster_running(data_dir)
            config = (state / "demo" / f"{db}.conf").read_text()
            assert "db_host = 127.0.0.1" in config and f"db_port = {pg_port}" not in config
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/web/login", timeout=30) as resp:
                assert resp.status == 200 and b"oe_login_form" in resp.read()
            with urllib.request.urlopen(f"http://127.0.0.1:{pbx_port}/", timeout=10) as resp:
                assert resp.status == 200
            children = processes_mentioning(str(state), f"--port {pbx_port}")
            assert children, "Odoo and the emulator should be running"

            proc.send_signal(signum)
            assert proc.wait(timeout=90) == 0, log.read_text()[-2000:]
            assert f"stopping ({signal.Signals(signum).name})" in log.read_text()
            for _ in range(20):
                if not (listening(port) or listening(pbx_port) or _cluster_running(data_dir)):
                    break
                time.sleep(0.5)
            assert not listening(port), f"Odoo still answers after {signum.name}"
            assert not listening(pbx_port), f"the emulator still answers after {signum.name}"
            assert not _cluster_running(data_dir), f"the private cluster survived {signum.name}"
            assert not processes_mentioning(str(state), f"--port {pbx_port}"), processes_mentioning(
                str(state), f"--port {pbx_port}"
            )
        print(f"FIGURES demo on a private cluster, second start:\n{log.read_text()}")
    finally:  # whatever a failed stop left behind: Odoo, the emulator, the cluster
        leftovers = [str(state), *(f"--port {p}" for p in pbx_ports)]
        if data_dir:
            leftovers.append(str(data_dir))
        for pid_line in processes_mentioning(*leftovers):
            os.kill(int(pid_line.split(":")[0]), signal.SIGKILL)
        if data_dir and not str(data_dir).startswith(str(tmp_path)):
            # relocated out of tmp (run by root, below folders only root may enter)
            shutil.rmtree(data_dir, ignore_errors=True)
            data_dir.with_name(data_dir.name + ".log").unlink(missing_ok=True)


def test_private_cluster_in_a_folder_only_its_owner_may_enter():
    """Like the test command's run folder (mkdtemp: mode 0700). Run by root, the cluster's
    user cannot enter it, so the data folder moves to /var/lib/medpulse; it serves
    connections, and a throw-away cluster leaves nothing behind."""
    import psycopg2  # noqa: PLC0415 - Odoo's dependency
    from odoo_instance import PrivateCluster  # noqa: PLC0415 - imported where it is needed

    state = Path(tempfile.mkdtemp(prefix="medpulse-test-"))  # as run_tests.py makes it
    cluster = PrivateCluster(state, durable=False)
    try:
        cluster.start()
        if os.geteuid() == 0:
            assert not str(cluster.data_dir).startswith(str(state)), cluster.data_dir
        pg = cluster.params
        conn = psycopg2.connect(dbname="postgres", host=pg.host, port=pg.port, user=pg.user,
                                password=pg.password)
        with conn.cursor() as cr:
            cr.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            assert cr.fetchone() == (True,)
        conn.close()
    finally:
        cluster.discard()
        shutil.rmtree(state, ignore_errors=True)
    assert not cluster.data_dir.exists() and not cluster.log_path.exists()
    assert not listening(int(pg.port))
