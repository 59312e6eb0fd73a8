"""``scripts/demo``: Odoo with the addons on a demo database, wired to the PBX emulator.

The database (default ``medpulse_demo``) is kept between runs; ``--reset`` starts afresh.
PostgreSQL is the server PGHOST/PGPORT/PGUSER point to when it answers, else a private
cluster in ``.medpulse/pgdata`` that stops with the demo. Ctrl-C, SIGTERM or SIGHUP stop
Odoo, the emulator and that cluster. A port already in use stops it before anything starts
(exit code 3).
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from odoo_instance import ROOT, OdooInstance, PostgresUnavailable, resolve_postgres  # noqa: E402 - after the sys.path set-up above

EXIT_PORT_TAKEN = 3


class Stop(Exception):
    """A signal asked the demo to stop."""


def _stop(signum, _frame):
    raise Stop(signal.Signals(signum).name)


def port_taken(port: int) -> bool:
    """Whether something already listens on 127.0.0.1:port (or on every address)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def step(msg: str, started: float) -> None:
    print(f"[demo {time.monotonic() - started:5.1f}s] {msg}", flush=True)


def run_stoppable(cmd: list[str], log: Path, **kwargs) -> None:
    """Run a command (and its children) to the end, or kill them all if we are stopped."""
    with log.open("a") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                **kwargs)
        try:
            rc = proc.wait()
        except BaseException:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
            raise
    if rc:
        raise RuntimeError(f"{Path(cmd[1]).name} exited with {rc}; see {log}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="medpulse_demo")
    parser.add_argument("--port", type=int, default=8069, help="Odoo's HTTP port")
    parser.add_argument("--pbx-port", type=int, default=8180, help="the emulator's port")
    parser.add_argument("--state-dir", type=Path, default=ROOT / ".medpulse",
                        help="config, logs, filestore and the private PostgreSQL cluster")
    parser.add_argument("--reset", action="store_true", help="drop the demo database first")
    parser.add_argument("--history", type=int, default=60, metavar="DAYS",
                        help="days of calls a new demo database gets (0: none)")
    opts = parser.parse_args()
    started = time.monotonic()

    taken = [p for p in (opts.port, opts.pbx_port) if port_taken(p)]
    if taken:
        ports = " and ".join(map(str, taken))
        print(f"FAIL: {'ports' if len(taken) > 1 else 'port'} {ports} already in use on 127.0.0.1 "
              "(another server listens there): stop it, or choose other ports, e.g. "
              f"scripts/demo --port {opts.port + 10} --pbx-port {opts.pbx_port + 10}",
              file=sys.stderr)
        return EXIT_PORT_TAKEN
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop)

    cluster = odoo = emulator = None
    try:
        try:
            pg, cluster = resolve_postgres(opts.state_dir)
        except PostgresUnavailable as exc:
            print(f"FAIL: {exc}", file=sys.stderr)
            return 2
        if cluster:
            step(f"PostgreSQL: private cluster in {cluster.data_dir}", started)
        else:
            step(f"PostgreSQL: {pg.user}@{pg.host}:{pg.port}", started)
        work_dir = opts.state_dir / ("demo" if cluster else f"demo-{pg.host}-{pg.port}")
        # Crons on, as in production: recordings download, reconciliation runs.
        odoo = OdooInstance(opts.db, work_dir, pg=pg, http_port=opts.port,
                            extra_options={"max_cron_threads": "2"})
        if opts.reset:
            odoo.drop()
        odoo.write_config()
        key_file = work_dir / "pbx-credentials"
        if not key_file.exists():
            key_file.write_text(f"{secrets.token_hex(12)} {secrets.token_hex(16)}\n")
            key_file.chmod(0o600)
        api_key, api_salt = key_file.read_text().split()
        pbx_url = f"http://127.0.0.1:{opts.pbx_port}/vpbx/"
        pbx_files = work_dir / f"{opts.db}-emulator"

        init_log = work_dir / "demo-init.log"
        step(f"preparing the database {opts.db} (the first time a minute or two; log: {init_log})",
             started)
        run_stoppable(
            [odoo.python, str(ROOT / "scripts" / "demo_init.py"), "-c", str(odoo.config_path),
             "-d", opts.db, "--pbx-url", pbx_url, "--api-key", api_key, "--api-salt", api_salt,
             "--odoo-url", odoo.url, "--emulator-dir", str(pbx_files),
             *(["--history", str(opts.history)] if opts.history else [])],
            init_log, env=odoo.env(), cwd=ROOT,
        )
        emulator_log = work_dir / "emulator.log"
        with emulator_log.open("a") as out:
            emulator = subprocess.Popen(
                [odoo.python, "-m", "mango_vpbx_emulator", "serve", "--port", str(opts.pbx_port),
                 "--webhook", f"{odoo.url}/mango", "--api-key", api_key, "--api-salt", api_salt,
                 "--directory", str(pbx_files / "directory.json"),
                 *(["--history", str(pbx_files / "history.json")] if opts.history else [])],
                env=odoo.env(), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        step("starting Odoo and the PBX emulator", started)
        odoo.start()
        print(
            f"\nMedPulse is running: {odoo.url}/odoo\n"
            "  logins: admin / admin (extension 101, manager), demo / demo (102), "
            "anna / anna (103)\n"
            f"  PBX emulator console: http://127.0.0.1:{opts.pbx_port}/"
            f"  (webhook {odoo.url}/mango)\n"
            f"  logs: {odoo.log_path}, {emulator_log}\n"
            "Ctrl-C stops it all.",
            flush=True,
        )
        while emulator.poll() is None and odoo.process and odoo.process.poll() is None:
            time.sleep(1)
        if emulator.poll() is not None:
            print(f"FAIL: the emulator stopped; see {emulator_log}", file=sys.stderr)
        else:
            print(f"FAIL: Odoo stopped; see {odoo.log_path}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Stop) as exc:
        print(f"\nstopping ({exc or 'Ctrl-C'})", flush=True)
        return 0
    except RuntimeError as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 1
    finally:
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(signum, signal.SIG_IGN)  # finish stopping whatever comes next
        if odoo:
            odoo.stop()
        if emulator and emulator.poll() is None:
            emulator.terminate()
            emulator.wait(timeout=10)
        if cluster:
            cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
