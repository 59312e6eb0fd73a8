"""The deployment's reverse proxy, for real: docker/nginx.conf in front of Odoo's prefork
workers on this machine. Two slow-loris clients starve the bare server (its /web/health
times out); behind nginx the same clients hold only nginx connections, /web/health answers,
and nginx cuts them off at its header timeout. Loopback only, bounded in time."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from setup_helpers import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
from odoo_instance import OdooInstance, free_port  # noqa: E402 - after the sys.path set-up above

TRICKLE_SECONDS = 20  # a slow client gives up after this, whatever happens


class SlowLoris(threading.Thread):
    """Sends a request's headers one byte at a time, never ending them (Odoo's workers read
    with a 0.5 s timeout per read, so one byte every 0.2 s keeps a worker waiting)."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.closed_after: float | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        data = b"GET /web/health HTTP/1.1\r\nHost: localhost\r\n" + b"X-Slow: y\r\n" * 1000
        for byte in data:
            if self.stop.is_set() or time.monotonic() - started > TRICKLE_SECONDS:
                break
            try:
                self.sock.sendall(bytes([byte]))
                self.sock.settimeout(0.2)
                if self.sock.recv(1024) == b"":
                    raise ConnectionResetError
            except TimeoutError:
                continue  # nothing to read: the server is still waiting for us
            except OSError:
                self.closed_after = time.monotonic() - started
                break
        self.sock.close()


def health(port: int, timeout: float) -> float | None:
    """Seconds /web/health took to answer 200, or None when it did not within ``timeout``."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/web/health", timeout=timeout) as r:
            return time.monotonic() - started if r.status == 200 else None
    except OSError:
        return None


def wait_health(port: int, process: subprocess.Popen, log: Path) -> None:
    for _ in range(120):
        if process.poll() is not None:
            pytest.fail(f"exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        if health(port, 2) is not None:
            return
        time.sleep(0.5)
    pytest.fail(f"no answer on {port}:\n{log.read_text()[-2000:]}")


def nginx_config(tmp: Path, listen: int, http_port: int, gevent_port: int) -> Path:
    """docker/nginx.conf with the compose network's names replaced by this machine's ports."""
    site = (ROOT / "docker" / "nginx.conf").read_text()
    for old, new in (("server odoo:8069;", f"server 127.0.0.1:{http_port};"),
                     ("server odoo:8072;", f"server 127.0.0.1:{gevent_port};"),
                     ("listen 80;", f"listen 127.0.0.1:{listen};")):
        assert old in site, f"docker/nginx.conf changed shape: {old!r} not found"
        site = site.replace(old, new)
    (tmp / "site.conf").write_text(site)
    temp = "\n".join(f"  {kind}_temp_path {tmp}/{kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    main = tmp / "nginx.conf"
    main.write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"pid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\nworker_processes 1;\n"
        "events { worker_connections 256; }\n"
        f"http {{\n  access_log {tmp}/access.log;\n{temp}\n  include {tmp}/site.conf;\n}}\n"
    )
    return main


def test_nginx_keeps_the_workers_free_of_slow_clients(tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(nginx).exists(), "nginx is not installed (apt-get install nginx)"
    http_port, gevent_port, proxy_port = free_port(), free_port(), free_port()
    odoo_log = tmp_path / "odoo.log"
    odoo_cmd = OdooInstance("unused", tmp_path).odoo_command()
    odoo = subprocess.Popen(
        [*odoo_cmd, "--workers=2", "--max-cron-threads=0", f"--http-port={http_port}",
         f"--gevent-port={gevent_port}", "--http-interface=127.0.0.1", "--proxy-mode",
         f"--logfile={odoo_log}", f"--data-dir={tmp_path / 'data'}"],
        cwd=tmp_path, start_new_session=True,
    )
    proxy = None
    lorises: list[SlowLoris] = []
    try:
        wait_health(http_port, odoo, odoo_log)
        config = nginx_config(tmp_path, proxy_port, http_port, gevent_port)
        check = subprocess.run([nginx, "-t", "-c", str(config)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        proxy = subprocess.Popen([nginx, "-c", str(config), "-g", "daemon off;"])
        wait_health(proxy_port, proxy, tmp_path / "error.log")

        # Bare server: two slow clients, one per worker, and nobody else gets in.
        lorises = [SlowLoris(http_port) for _ in range(2)]
        for loris in lorises:
            loris.start()
        time.sleep(1)
        bare = health(http_port, timeout=3)
        assert bare is None, f"the bare server answered in {bare:.2f} s: the slow clients were cut"
        for loris in lorises:
            loris.stop.set()
            loris.join()
        wait_health(http_port, odoo, odoo_log)

        # Behind nginx: more slow clients than workers, /web/health still answers at once.
        lorises = [SlowLoris(proxy_port) for _ in range(4)]
        for loris in lorises:
            loris.start()
        time.sleep(1)
        proxied = health(proxy_port, timeout=3)
        assert proxied is not None, "/web/health did not answer through nginx"
        for loris in lorises:
            loris.join()
        cut = [loris.closed_after for loris in lorises]
        assert all(c is not None and c < 15 for c in cut), f"nginx did not cut slow clients: {cut}"
        print(f"FIGURES slow loris: bare /web/health timed out (3 s) with 2 slow clients; through "
              f"nginx with 4: {proxied * 1000:.0f} ms; nginx cut them after "
              f"{min(cut):.1f}-{max(cut):.1f} s")
    finally:
        for loris in lorises:
            loris.stop.set()
        if proxy:
            proxy.terminate()
            proxy.wait(timeout=10)
        os.killpg(odoo.pid, 15)
        odoo.wait(timeout=30)
