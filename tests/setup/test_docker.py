"""The Docker files keep the production shape (no Docker engine here: they are read, and
``docker-compose config`` validates the compose file in tests/emulator and tests/repository):
the image installs wheels, Odoo runs prefork workers and crons behind a buffering nginx."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

from setup_helpers import ROOT

DOCKER = ROOT / "docker"


def compose_config() -> str:
    tool = shutil.which("docker-compose")
    assert tool, "install Debian's docker-compose (apt-get install -y docker-compose) to check it"
    out = subprocess.run(
        [tool, "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def service(config: str, name: str) -> str:
    match = re.search(rf"^  {name}:\n((?:    .*\n|\n)*)", config, re.M)
    assert match, f"no service {name} in:\n{config}"
    return match[1]


def test_the_odoo_image_installs_wheels_and_mounts_no_checkout():
    config = compose_config()
    odoo = service(config, "odoo")
    volumes = re.search(r"^    volumes:\n((?:    - .*\n)*)", odoo, re.M)[1]
    assert str(ROOT) not in volumes, (
        "the Odoo container must run the installed wheels, not the checkout"
    )
    assert "published" not in odoo and "8069:" not in odoo, "Odoo is reached through the proxy only"
    dockerfile = (DOCKER / "Dockerfile.odoo").read_text()
    assert "scripts/wheels.py build" in dockerfile
    assert "--odoo-from-debian" in dockerfile and "FROM odoo:18.0" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".git" in ignored and ".medpulse" in ignored


def test_odoo_runs_workers_and_crons_and_the_demo_history():
    start = (DOCKER / "odoo-start.sh").read_text()
    workers = int(re.search(r"^workers = (\d+)", start, re.M)[1])
    crons = int(re.search(r"^max_cron_threads = (\d+)", start, re.M)[1])
    assert workers >= 2 and crons >= 1
    assert re.search(r"demo_init\.py .*--history", start.replace("\\\n", " "))
    assert "/mnt/medpulse" not in start


def test_odoo_serves_its_database_by_name_without_a_filter():
    # With a --db-filter, Odoo opens a PostgreSQL connection to list the databases for every
    # request without a session: every PBX request (README, "Production").
    start = (DOCKER / "odoo-start.sh").read_text().replace("\\\n", " ")
    command = re.search(r"^exec odoo (.*)$", start, re.M)[1]
    assert '-d "${DB_NAME}"' in command
    assert "db-filter" not in command and "dbfilter" not in start


def test_the_start_script_calls_demo_init_with_options_it_has():
    start = (DOCKER / "odoo-start.sh").read_text().replace("\\\n", " ")
    call = re.search(r"demo_init\.py (.*)", start)[1]
    flags = set(re.findall(r"(--[a-z-]+)", call))
    help_text = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo_init.py"), "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert flags and flags <= set(re.findall(r"(--[a-z-]+)", help_text)), flags
    compose = compose_config()
    assert "--history=/var/lib/medpulse-pbx/history.json" in service(compose, "pbx")


def test_nginx_buffers_requests_and_carries_the_websocket():
    conf = (DOCKER / "nginx.conf").read_text()
    for directive in (
        "proxy_request_buffering on",
        "proxy_buffering on",
        "client_body_timeout",
        "client_header_timeout",
        "client_max_body_size",
        "proxy_read_timeout",
    ):
        assert directive in conf, directive
    gevent_port = re.search(r"^gevent_port = (\d+)", (DOCKER / "odoo-start.sh").read_text(), re.M)[
        1
    ]
    assert f"server odoo:{gevent_port};" in conf
    websocket = re.search(r"location /websocket \{(.*?)\}", conf, re.S)[1]
    assert "proxy_pass http://odoo_websocket" in websocket and "Upgrade" in websocket
    proxy = service(compose_config(), "proxy")
    assert "8069" in proxy and "nginx.conf" in proxy
