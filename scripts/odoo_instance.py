"""A throw-away Odoo 18.0 instance on this machine: config, database, server process.

Used by the test command (``run_tests.py``), the end-to-end suite (``tests/e2e``) and the
demo launcher (``demo.py``), so that all three start Odoo the same way: the addons of
this checkout first on the path, a config file written here (never ``~/.odoorc``), free
loopback ports, and a database that is dropped with its filestore at the end.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADDONS = ("medpulse_clinic", "medpulse_telephony")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def odoo_addons_dirs(python: str) -> list[Path]:
    """Odoo's own addons folders, the way Odoo computes its default addons path."""
    code = (
        "import odoo, os; r = os.path.dirname(odoo.__file__); "
        "print('\\n'.join(p for p in (os.path.join(r, 'addons'), "
        "os.path.abspath(os.path.join(r, '..', 'addons'))) if os.path.isdir(p)))"
    )
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout
    return [Path(line) for line in out.split()]


@dataclass
class PgParams:
    host: str = field(default_factory=lambda: os.environ.get("PGHOST", "localhost"))
    port: str = field(default_factory=lambda: os.environ.get("PGPORT", "5432"))
    user: str = field(default_factory=lambda: os.environ.get("PGUSER") or getpass.getuser())
    password: str = field(default_factory=lambda: os.environ.get("PGPASSWORD", ""))


@dataclass
class OdooInstance:
    """One Odoo database and, when started, its HTTP server (threaded, websocket on)."""

    dbname: str
    work_dir: Path
    python: str = sys.executable
    pg: PgParams = field(default_factory=PgParams)
    http_port: int = field(default_factory=free_port)
    workers: int = 0
    extra_options: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def config_path(self) -> Path:
        return self.work_dir / f"{self.dbname}.conf"

    @property
    def log_path(self) -> Path:
        return self.work_dir / f"{self.dbname}.log"

    @property
    def data_dir(self) -> Path:
        return self.work_dir / f"{self.dbname}-data"

    def addons_path(self) -> str:
        return ",".join(map(str, [*odoo_addons_dirs(self.python), ROOT]))

    def write_config(self) -> Path:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        options = {
            "addons_path": self.addons_path(),
            "data_dir": str(self.data_dir),
            "db_host": self.pg.host,
            "db_port": self.pg.port,
            "db_user": self.pg.user,
            "db_password": self.pg.password or "False",
            "db_name": self.dbname,
            "dbfilter": f"^{self.dbname}$",
            "list_db": "False",
            "http_port": str(self.http_port),
            "gevent_port": str(free_port()),
            "http_interface": "127.0.0.1",
            "workers": str(self.workers),
            "max_cron_threads": "0",
            "log_level": "info",
            "without_demo": "False",
        }
        browser = shutil.which("chromium") or shutil.which("google-chrome")
        if browser:
            options["bin_path"] = str(Path(browser).parent)
        options.update(self.extra_options)
        lines = ["[options]", *(f"{k} = {v}" for k, v in options.items())]
        self.config_path.write_text("\n".join(lines) + "\n")
        return self.config_path

    def toolkit_metadata_dir(self) -> Path:
        """A folder holding the distribution metadata of this checkout's ``mango_vpbx``.

        The addons declare the PyPI name ``mango-vpbx`` in ``external_dependencies`` and Odoo
        looks that name up with ``importlib.metadata``. The code itself is imported from
        the checkout (first on ``PYTHONPATH``); this metadata only names it, so nothing is
        installed into the Python that runs Odoo and no other copy can be picked up.
        """
        site = self.work_dir / "site"
        version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)[1]
        dist = site / f"mango_vpbx-{version}.dist-info"
        dist.mkdir(parents=True, exist_ok=True)
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: mango-vpbx\nVersion: {version}\n")
        return site

    def env(self) -> dict[str, str]:
        paths = [str(ROOT), str(self.toolkit_metadata_dir()), os.environ.get("PYTHONPATH", "")]
        return dict(os.environ, TZ="UTC", PYTHONPATH=os.pathsep.join(filter(None, paths)))

    def odoo_command(self) -> list[str]:
        """How to launch Odoo: its script when there is one, else ``python -m odoo``.

        With ``workers > 0`` Odoo re-runs ``sys.argv[0]`` for its gevent (websocket)
        process, which only works when that is a script (``odoo-bin``, or the ``odoo``
        console script of a pip install), not ``odoo/__main__.py``.
        """
        code = "import odoo, os; print(os.path.dirname(os.path.dirname(odoo.__file__)))"
        source = subprocess.run([self.python, "-c", code], capture_output=True, text=True,
                                check=True).stdout.strip()
        for script in (Path(source) / "odoo-bin", Path(self.python).parent / "odoo"):
            if script.is_file():
                return [self.python, str(script)]
        return [self.python, "-m", "odoo"]

    def odoo(self, *args: str, logfile: Path | None = None, check: bool = True) -> int:
        """Run ``odoo`` once with this instance's config (``--stop-after-init`` is yours to add)."""
        if not self.config_path.exists():
            self.write_config()
        cmd = [*self.odoo_command(), "-c", str(self.config_path), "-d", self.dbname, *args]
        if logfile:
            cmd.append(f"--logfile={logfile}")
        rc = subprocess.run(cmd, cwd=ROOT, env=self.env()).returncode
        if check and rc:
            raise RuntimeError(f"odoo {' '.join(args)} exited with {rc}; see {logfile or 'output'}")
        return rc

    def install(self, modules: tuple[str, ...] = ADDONS, demo: bool = True) -> None:
        args = ["-i", ",".join(modules), "--stop-after-init"]
        if not demo:
            args.append("--without-demo=all")
        self.odoo(*args, logfile=self.work_dir / f"{self.dbname}-install.log")

    def start(self, timeout: float = 120) -> None:
        """Start the server and wait until ``/web/health`` answers."""
        if not self.config_path.exists():
            self.write_config()
        cmd = [*self.odoo_command(), "-c", str(self.config_path), "-d", self.dbname,
               f"--logfile={self.log_path}"]
        self.process = subprocess.Popen(cmd, cwd=ROOT, env=self.env(), start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Odoo exited with {self.process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + "/web/health", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"Odoo did not answer on {self.url} within {timeout} s; see {self.log_path}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def drop(self) -> None:
        """Stop the server, drop the database and its filestore."""
        self.stop()
        import psycopg2  # noqa: PLC0415 - Odoo's dependency, present under Odoo's Python

        conn = psycopg2.connect(dbname="postgres", host=self.pg.host, port=self.pg.port,
                                user=self.pg.user, password=self.pg.password or None)
        conn.autocommit = True
        with conn.cursor() as cr:
            cr.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
        conn.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)
