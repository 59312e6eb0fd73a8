"""A throw-away Odoo 18.0 instance on this machine: config, database, server process.

Used by the test command (``run_tests.py``), the end-to-end suite (``tests/e2e``) and the
demo launcher (``demo.py``), so that all three start Odoo the same way: the addons of
this checkout first on the path, a config file written here (never ``~/.odoorc``), free
loopback ports, and a database that is dropped with its filestore at the end.
"""

from __future__ import annotations

import dataclasses
import getpass
import hashlib
import http.client
import http.server
import json
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADDONS = ("medpulse_clinic", "medpulse_telephony", "medpulse_telephony_demo")
sys.path.insert(0, str(ROOT / "scripts" / "setup"))
from medpulse_setup import (  # noqa: E402 - after the sys.path set-up above
    PG_OS_USER,
    cache_root,
    ensure_pg_os_user,
    pg_bin_dir,
    server_answers,
)


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


def odoo_identity(python: str) -> str:
    """What a database made by ``python``'s Odoo depends on, in one line: Odoo's folder and
    version, its distribution's version, the commit of a git checkout, and the set-up
    environment it lives in (``odoo18-<key>-py3.x``: the pinned source, the requirements and
    the Python, README "Getting Odoo 18.0")."""
    code = (
        "import importlib.metadata as m, os, sys, odoo\n"
        "print(os.path.realpath(os.path.dirname(odoo.__file__)))\n"
        "print(odoo.release.version, sys.version.split()[0])\n"
        "try:\n    print(m.version('odoo'))\nexcept m.PackageNotFoundError:\n    print('-')\n"
    )
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    path, versions, dist = out.stdout.split("\n")[:3]
    parts = [path, versions, dist]
    head = subprocess.run(["git", "-C", path, "rev-parse", "HEAD"], capture_output=True,
                          text=True)
    if head.returncode == 0:
        parts.append(head.stdout.strip())
    parts += [p.name for p in Path(path).parents if re.fullmatch(r"odoo18-\w+-py[\d.]+", p.name)]
    release = Path(path) / "release.py"
    if release.is_file():
        parts.append(hashlib.sha256(release.read_bytes()).hexdigest()[:16])
    return " ".join(parts)


@dataclass
class PgParams:
    host: str = field(default_factory=lambda: os.environ.get("PGHOST", "localhost"))
    port: str = field(default_factory=lambda: os.environ.get("PGPORT", "5432"))
    user: str = field(default_factory=lambda: os.environ.get("PGUSER") or getpass.getuser())
    password: str = field(default_factory=lambda: os.environ.get("PGPASSWORD", ""))


class PostgresUnavailable(Exception):
    """PostgreSQL cannot be used as configured; the message says how to fix it."""


def check_role(pg: PgParams) -> None:
    """The server answers: does it accept the role, and may the role create databases?"""
    import psycopg2  # noqa: PLC0415 - Odoo's dependency, present under Odoo's Python

    try:
        conn = psycopg2.connect(dbname="postgres", host=pg.host, port=pg.port, user=pg.user,
                                password=pg.password or None, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        first = (str(exc).strip().splitlines() or [repr(exc)])[0]
        raise PostgresUnavailable(
            f"PostgreSQL at {pg.host}:{pg.port} answers but refuses the role {pg.user!r} "
            f"({first}). "
            f"Create the role: sudo -u postgres createuser --createdb {pg.user} "
            "(or set PGUSER/PGPASSWORD to a role that may create databases, "
            "or PGPORT to a port where nothing listens to use a private cluster)"
        ) from None
    with conn.cursor() as cr:
        cr.execute("SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user")
        row = cr.fetchone()
    conn.close()
    if not row or not row[0]:
        raise PostgresUnavailable(
            f"PostgreSQL role {pg.user!r} may not create databases: "
            f"sudo -u postgres psql -c 'ALTER ROLE \"{pg.user}\" CREATEDB'"
        )


def resolve_postgres(state_dir: Path, durable: bool = True
                     ) -> tuple[PgParams, PrivateCluster | None]:
    """The server PGHOST/PGPORT/PGUSER point to when it answers, else a private cluster.

    The private cluster lives in ``state_dir`` (started here; the caller stops it).
    """
    pg = PgParams()
    if pg.user == "postgres":
        raise PostgresUnavailable("Odoo refuses the 'postgres' role: set PGUSER to another role")
    if server_answers(pg.host, int(pg.port)):
        check_role(pg)
        return pg, None
    cluster = PrivateCluster(state_dir, durable=durable)
    cluster.start()
    return cluster.params, cluster


def reachable_by_others(path: Path) -> bool:
    """Whether every folder down to ``path`` lets other users through (mode o+x)."""
    return all(p.stat().st_mode & stat.S_IXOTH for p in (path, *path.parents) if p.exists())


class PrivateCluster:
    """A PostgreSQL cluster of our own: Debian's binaries, loopback only, a random password.

    Its data folder is ``<state_dir>/pgdata``. PostgreSQL refuses to run as root: started by
    root, it runs as the unprivileged user ``medpulse-postgres``, which owns the data folder;
    when that user cannot reach ``state_dir`` (e.g. under /root), the data folder is
    ``/var/lib/medpulse/pgdata-<hash of state_dir>`` instead.
    """

    role = "medpulse"

    def __init__(self, state_dir: Path, durable: bool = True):
        self.state_dir = state_dir.resolve()
        self.durable = durable
        self.os_user = PG_OS_USER if os.geteuid() == 0 else None
        self.data_dir = self.state_dir / "pgdata"
        if self.os_user and not reachable_by_others(self.state_dir):
            tag = hashlib.sha256(str(self.state_dir).encode()).hexdigest()[:12]
            self.data_dir = Path("/var/lib/medpulse") / f"pgdata-{tag}"
        self.password_file = self.state_dir / "pg-password"
        self.log_path = self.data_dir.with_name(self.data_dir.name + ".log")
        self.port = 0
        self.started_here = False
        bin_dir = pg_bin_dir()
        if bin_dir is None:
            raise PostgresUnavailable(
                "no PostgreSQL answers (PGHOST/PGPORT) and PostgreSQL's binaries are not installed "
                "for a private cluster: apt-get install postgresql"
            )
        self.bin_dir = bin_dir

    @property
    def params(self) -> PgParams:
        return PgParams(host="127.0.0.1", port=str(self.port), user=self.role,
                        password=self.password_file.read_text().strip())

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        kwargs = {}
        if self.os_user:
            kwargs = {"user": self.os_user, "group": self.os_user, "extra_groups": []}
        return subprocess.run([str(self.bin_dir / args[0]), *args[1:]], capture_output=True,
                              text=True, cwd="/", **kwargs)

    def _init(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if not self.password_file.exists():
            self.password_file.touch(0o600)
            self.password_file.write_text(secrets.token_urlsafe(24) + "\n")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        pwfile = self.data_dir.parent / f".{self.data_dir.name}.pw"
        pwfile.write_text(self.password_file.read_text())
        if self.os_user:
            ensure_pg_os_user(None)
            shutil.chown(self.data_dir, self.os_user, self.os_user)
            shutil.chown(pwfile, self.os_user, self.os_user)
        try:
            out = self._run("initdb", "-D", str(self.data_dir), "-U", self.role,
                            "-A", "scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8",
                            "--no-locale")
        finally:
            pwfile.unlink()
        if out.returncode:
            raise PostgresUnavailable(f"initdb failed: {out.stderr.strip()[-500:]}")
        settings = ["listen_addresses = '127.0.0.1'", "unix_socket_directories = ''"]
        if not self.durable:  # a throw-away test cluster: nothing to keep after a crash
            settings += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# medpulse: private cluster, loopback only\n")
            conf.write("\n".join(settings) + "\n")

    def running_port(self) -> int | None:
        if self._run("pg_ctl", "status", "-D", str(self.data_dir)).returncode:
            return None
        lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        return int(lines[3])

    def start(self) -> None:
        if not (self.data_dir / "PG_VERSION").exists():
            self._init()
        port = self.running_port()
        if port:  # left running (a demo killed hard, or another one using it): reuse it
            self.port = port
            return
        self.port = free_port()
        self.log_path.touch()
        if self.os_user:
            shutil.chown(self.log_path, self.os_user, self.os_user)
        out = self._run("pg_ctl", "start", "-D", str(self.data_dir), "-w", "-t", "60",
                        "-l", str(self.log_path), "-o", f"-p {self.port}")
        if out.returncode:
            raise PostgresUnavailable(
                f"the private PostgreSQL cluster did not start; see {self.log_path}")
        self.started_here = True

    def stop(self) -> None:
        """Stop the cluster if this object started it."""
        if self.started_here:
            self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60")
            self.started_here = False

    def discard(self) -> None:
        """Stop a throw-away cluster and delete its data, also where it was relocated."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.log_path.unlink(missing_ok=True)


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
    #: The folder of the filestore and the sessions when it is not this instance's own:
    #: a sibling (:meth:`sibling`) shares its first instance's.
    shared_data_dir: Path | None = None

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
        return self.shared_data_dir or self.work_dir / f"{self.dbname}-data"

    def sibling(self, work_dir: Path | None = None, **changes) -> OdooInstance:
        """Another Odoo server on this instance's database: its own process, config and
        port, the same database, filestore and sessions (``data_dir``), and no cron
        (``max_cron_threads = 0``: the crons run on one instance only, README "Running
        several Odoo instances"). ``changes`` are fields to set otherwise (``workers``...).

        Only this instance may :meth:`drop` the database; a sibling is only stopped.
        """
        options = {**self.extra_options, **changes.pop("extra_options", {}),
                   "max_cron_threads": "0"}
        return dataclasses.replace(
            self, work_dir=work_dir or self.work_dir / "sibling", http_port=free_port(),
            process=None, shared_data_dir=self.data_dir, extra_options=options, **changes,
        )

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
            # The database by name alone, no ``dbfilter``: a request without a session (every
            # PBX request) then costs Odoo no PostgreSQL connection to list the databases.
            "db_name": self.dbname,
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
        (dist / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: mango-vpbx\nVersion: {version}\n"
        )
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

    def odoo(self, *args: str, logfile: Path | None = None, check: bool = True,
             extra_env: dict[str, str] | None = None) -> int:
        """Run ``odoo`` once with this instance's config (``--stop-after-init`` is yours to add)."""
        if not self.config_path.exists():
            self.write_config()
        cmd = [*self.odoo_command(), "-c", str(self.config_path), "-d", self.dbname, *args]
        if logfile:
            cmd.append(f"--logfile={logfile}")
        rc = subprocess.run(cmd, cwd=ROOT, env={**self.env(), **(extra_env or {})}).returncode
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
                raise RuntimeError(
                    f"Odoo exited with {self.process.returncode}; see {self.log_path}"
                )
            try:
                with urllib.request.urlopen(self.url + "/web/health", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(
            f"Odoo did not answer on {self.url} within {timeout} s; see {self.log_path}"
        )

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    @property
    def filestore(self) -> Path:
        return self.data_dir / "filestore" / self.dbname

    def connect(self, dbname: str = "postgres"):
        """A psycopg2 connection to ``dbname`` (the server's ``postgres`` by default)."""
        import psycopg2  # noqa: PLC0415 - Odoo's dependency, present under Odoo's Python

        return psycopg2.connect(dbname=dbname, host=self.pg.host, port=self.pg.port,
                                user=self.pg.user, password=self.pg.password or None)

    def copy_of(self, template: OdooInstance) -> None:
        """Make this database a copy of ``template``'s, stopped, as Odoo's database manager
        duplicates one: ``CREATE DATABASE ... TEMPLATE`` (a file copy: seconds, where an
        install takes a minute), its filestore copied, a new ``database.uuid`` and
        ``database.secret``."""
        conn = self.connect()
        conn.autocommit = True
        with conn.cursor() as cr:
            cr.execute(f'CREATE DATABASE "{self.dbname}" ENCODING \'unicode\' '
                       f'TEMPLATE "{template.dbname}"')
        conn.close()
        if template.filestore.is_dir():
            shutil.copytree(template.filestore, self.filestore)
        conn = self.connect(self.dbname)
        with conn, conn.cursor() as cr:
            for key, value in (("database.uuid", str(uuid.uuid1())),
                               ("database.secret", str(uuid.uuid4()))):
                cr.execute("UPDATE ir_config_parameter SET value = %s WHERE key = %s",
                           (value, key))
            cr.execute("UPDATE ir_config_parameter SET value = to_char(now() AT TIME ZONE 'UTC', "
                       "'YYYY-MM-DD HH24:MI:SS') WHERE key = 'database.create_date'")
        conn.close()

    def drop(self) -> None:
        """Stop the server, drop the database and its filestore."""
        self.stop()
        conn = self.connect()
        conn.autocommit = True
        with conn.cursor() as cr:
            cr.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
        conn.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)


#: Headers of one hop of HTTP, never forwarded (RFC 9110 §7.6.1).
_HOP_HEADERS = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                "trailer", "transfer-encoding", "upgrade", "proxy-connection"}


class Balancer:
    """A round-robin HTTP proxy on 127.0.0.1 spreading requests over Odoo instances.

    What a load balancer (nginx's ``upstream``, HAProxy) does in front of several Odoo
    instances on one database, reduced to what the tests and benchmarks need: each request
    (not each connection: the PBX's sender keeps its connections open) goes to the next of
    ``upstreams`` (base URLs) in turn, on a connection of its own; the answer comes back
    whole. No websocket: a browser talks to one instance (its gevent port), as a sticky
    session would have it. ``taken`` counts the requests each upstream answered; with
    ``record=True``, ``log`` keeps ``(upstream index, method, path, body)`` of each.
    """

    def __init__(self, upstreams: list[str], record: bool = False, timeout: float = 60):
        self.upstreams = [urllib.parse.urlsplit(url) for url in upstreams]
        self.taken = [0] * len(upstreams)
        self.failed = 0
        self.record = record
        self.log: list[tuple[int, str, str, bytes]] = []
        self._turn = 0
        self._lock = threading.Lock()
        balancer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet: the servers log the requests
                pass

            def forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in _HOP_HEADERS}
                status, answer_headers, answer = balancer._forward(
                    self.command, self.path, headers, body)
                self.send_response(status)
                for name, value in answer_headers:
                    if name.lower() not in _HOP_HEADERS | {"content-length"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer)

            do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_OPTIONS = forward  # noqa: N815 - http.server's names

        self.timeout = timeout
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                       name="balancer")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def turn(self) -> int:
        """The index of the upstream the next request goes to."""
        return self._turn

    def _forward(self, method: str, path: str, headers: dict, body: bytes):
        with self._lock:
            index = self._turn
            self._turn = (self._turn + 1) % len(self.upstreams)
        upstream = self.upstreams[index]
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body or None, headers=headers)
            resp = conn.getresponse()
            answer = (resp.status, resp.getheaders(), resp.read())
        except OSError as error:
            with self._lock:
                self.failed += 1
            return 502, [("Content-Type", "text/plain")], f"upstream: {error}".encode()
        finally:
            conn.close()
        with self._lock:
            self.taken[index] += 1
            if self.record:
                self.log.append((index, method, path, body))
        return answer

    def start(self) -> Balancer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class DatabaseCache:
    """Databases the tests keep between runs, each under the key of what made it.

    ``<cache>/<name>/<key>/`` holds ``dump`` (``pg_dump``'s custom format), ``filestore/``,
    ``meta.json`` (what its maker wants back with it) and ``READY``, written last: an entry
    without it is ignored. The key must name everything the database depends on: another key
    makes another entry; the ``KEEP`` entries used last are kept. A cache must never fail a
    run: an entry that cannot be written is skipped (said on stderr), one that cannot be
    restored is dropped and its maker builds the database again.
    """

    KEEP = 3

    def __init__(self, name: str, root: Path | None = None):
        self.dir = (root or cache_root()) / name

    def _tool(self, name: str) -> str:
        bin_dir = pg_bin_dir()
        return str(bin_dir / name) if bin_dir else (shutil.which(name) or name)

    def _pg_env(self, instance: OdooInstance) -> dict[str, str]:
        pg = instance.pg
        return dict(os.environ, PGHOST=pg.host, PGPORT=str(pg.port), PGUSER=pg.user,
                    PGPASSWORD=pg.password or "")

    def restore(self, key: str, instance: OdooInstance) -> dict | None:
        """``instance``'s database and filestore from the entry of ``key``, and its meta;
        ``None`` (and no database) when there is no usable entry."""
        entry = self.dir / key
        if not (entry / "READY").is_file():
            return None
        try:
            meta = json.loads((entry / "meta.json").read_text())
            conn = instance.connect()
            conn.autocommit = True
            with conn.cursor() as cr:  # as Odoo creates a database
                cr.execute(f'CREATE DATABASE "{instance.dbname}" ENCODING \'unicode\' '
                           "LC_COLLATE 'C' TEMPLATE template0")
            conn.close()
            out = subprocess.run(
                [self._tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
                 "-d", instance.dbname, str(entry / "dump")],
                capture_output=True, text=True, env=self._pg_env(instance),
            )
            if out.returncode:
                raise RuntimeError(f"pg_restore: {out.stderr.strip()[-500:]}")
            shutil.rmtree(instance.filestore, ignore_errors=True)
            if (entry / "filestore").is_dir():
                shutil.copytree(entry / "filestore", instance.filestore)
            (entry / "READY").touch()  # last used: what pruning keeps
            return meta
        except Exception as exc:  # noqa: BLE001 - whatever broke, the maker builds it again
            print(f"cache {entry}: cannot restore ({exc}); building the database again",
                  file=sys.stderr)
            instance.drop()
            return None

    def save(self, key: str, instance: OdooInstance, meta: dict) -> bool:
        """Keep ``instance``'s database (its server stopped) and filestore under ``key``."""
        entry = self.dir / key
        tmp = self.dir / f".{key}.{os.getpid()}"
        try:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            out = subprocess.run(
                [self._tool("pg_dump"), "-Fc", "--no-owner", "--no-privileges", "-f",
                 str(tmp / "dump"), instance.dbname],
                capture_output=True, text=True, env=self._pg_env(instance),
            )
            if out.returncode:
                raise RuntimeError(f"pg_dump: {out.stderr.strip()[-500:]}")
            if instance.filestore.is_dir():
                shutil.copytree(instance.filestore, tmp / "filestore")
            (tmp / "meta.json").write_text(json.dumps(meta))
            (tmp / "READY").write_text(key + "\n")
            shutil.rmtree(entry, ignore_errors=True)
            tmp.rename(entry)
        except Exception as exc:  # noqa: BLE001 - a cache that cannot be written is skipped
            print(f"cache {entry}: not saved ({exc})", file=sys.stderr)
            shutil.rmtree(tmp, ignore_errors=True)
            return False
        self.prune()
        return True

    def prune(self) -> None:
        """Keep the ``KEEP`` entries used last (several checkouts may share the cache), and
        drop what a run stopped while saving left (a day old)."""
        entries = sorted((e for e in self.dir.iterdir() if (e / "READY").is_file()),
                         key=lambda e: (e / "READY").stat().st_mtime, reverse=True)
        stale = [e for e in self.dir.glob(".*") if e.stat().st_mtime < time.time() - 86400]
        for old in entries[self.KEEP:] + stale:
            shutil.rmtree(old, ignore_errors=True)
