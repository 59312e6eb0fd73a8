"""scripts/setup/medpulse_setup.py: a fresh HOME set up from a local source archive, the
cache keyed on the pin, the requirements and the source, Pythons outside 3.10-3.12 refused,
missing system packages named with the exact apt-get line."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from setup_helpers import BASE_PYTHON, ROOT, SETUP, medpulse_setup


def run_setup(
    *args: str,
    env: dict[str, str],
    python: str = BASE_PYTHON,
    script: Path = SETUP,
    timeout: float = 1800,
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [python, str(script), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd="/",
    )


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a user who has set nothing up (no MEDPULSE_* but ours)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MEDPULSE_", "PYTHON", "VIRTUAL_ENV", "XDG_CACHE_HOME"))
    }
    env.update(HOME=str(home), **extra)
    return env


def test_setup_from_a_local_archive_into_a_new_home(tmp_path, odoo_source_archive, real_cache_root):
    """From nothing but a HOME and an archive: a virtualenv that runs Odoo 18.0 and the tests;
    the second run finds it without pip. The cache folder is the user's, so the virtualenv
    is built once per machine and source."""
    home = tmp_path / "home"
    home.mkdir()
    env = clean_env(
        home, MEDPULSE_ODOO_SOURCE=str(odoo_source_archive), MEDPULSE_CACHE_DIR=str(real_cache_root)
    )
    first = run_setup("ensure", "--for", "test", env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    python = first.stdout.strip().splitlines()[-1]
    env_dir = Path(python).parents[2]
    assert env_dir.parent == real_cache_root and env_dir.name.startswith("odoo18-")
    assert env_dir.name.endswith(f"-py{sys.version_info[0]}.{sys.version_info[1]}")
    assert (env_dir / "READY").exists()

    probe = subprocess.run(
        [
            python,
            "-c",
            "import importlib.metadata as m, odoo, websocket, pytest, playwright, "
            "phonenumbers, polib, hypothesis; "
            "print(odoo.release.version_info[0], m.version('odoo'), "
            "odoo.__file__)",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    major, dist_version, odoo_file = probe.stdout.split()
    assert major == "18" and dist_version.startswith("18.0")
    assert str(env_dir) in odoo_file, "Odoo must come from the environment's unpacked source"
    pip_check = subprocess.run(
        [python, "-m", "pip", "check"], capture_output=True, text=True, env=env
    )
    assert pip_check.returncode == 0, pip_check.stdout
    launcher = subprocess.run(
        [str(Path(python).parent / "odoo"), "--version"],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
    )
    assert "Odoo Server 18.0" in launcher.stdout, launcher.stderr[-1000:]

    started = time.monotonic()
    second = run_setup("ensure", "--for", "test", env=env)
    elapsed = time.monotonic() - started
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip().splitlines()[-1] == python
    assert "pip" not in second.stderr and "installing" not in second.stderr, second.stderr
    print(f"FIGURES setup second run: {elapsed:.1f} s")


def _copy_setup(tmp_path: Path) -> Path:
    """A copy of the setup folder and the toolkit's pyproject.toml, to edit the pin in."""
    tree = tmp_path / "checkout"
    shutil.copytree(
        SETUP.parent, tree / "scripts" / "setup", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree / "scripts" / "setup" / "medpulse_setup.py"


def _status(script: Path, env: dict[str, str]) -> str:
    out = run_setup("status", env=env, script=script, timeout=60)
    assert out.returncode == 0, out.stderr
    folder, state = out.stdout.strip().rsplit(" ", 2)[0], out.stdout.strip()
    assert state.endswith(("ready", "not set up"))
    return folder.split()[0]


def test_cache_is_keyed_on_the_pin_the_requirements_and_the_source(tmp_path):
    """The real code path (``status``), on a copy of the setup whose pin and requirements
    are edited: each change names another virtualenv; undoing it names the first again."""
    script = _copy_setup(tmp_path)
    env = clean_env(tmp_path, MEDPULSE_CACHE_DIR=str(tmp_path / "cache"))
    pinned = _status(script, env)
    assert Path(pinned).parent == tmp_path / "cache"
    assert _status(script, env) == pinned, "the key must be stable"

    code = script.read_text()
    script.write_text(code.replace(medpulse_setup.ODOO_SHA1, "0" * 40))
    assert _status(script, env) != pinned, "a new pin must make a new environment"
    script.write_text(
        code.replace(f'ODOO_RELEASE = "{medpulse_setup.ODOO_RELEASE}"', 'ODOO_RELEASE = "20990101"')
    )
    assert _status(script, env) != pinned, "a new nightly date must make a new environment"
    script.write_text(code)
    assert _status(script, env) == pinned

    requirements = script.parent / "odoo-requirements.txt"
    text = requirements.read_text()
    requirements.write_text(re.sub(r"^polib==\S+", "polib==9.9.9", text, count=1, flags=re.M))
    assert _status(script, env) != pinned, "a changed requirement must make a new environment"
    requirements.write_text(text)
    assert _status(script, env) == pinned

    archive_a, archive_b = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    archive_a.write_bytes(b"one")
    archive_b.write_bytes(b"two")
    from_a = _status(script, dict(env, MEDPULSE_ODOO_SOURCE=str(archive_a)))
    from_b = _status(script, dict(env, MEDPULSE_ODOO_SOURCE=str(archive_b)))
    assert len({pinned, from_a, from_b}) == 3, "each source has its own environment"


def _unsupported_pythons() -> list[str]:
    names = [shutil.which(f"python3.{minor}") for minor in (6, 7, 8, 9, 13, 14)]
    pyenv = glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3"))
    found = []
    for exe in [*filter(None, names), *pyenv]:
        out = subprocess.run(
            [exe, "-c", "import sys; print(sys.version_info[1])"], capture_output=True, text=True
        )
        if out.returncode == 0 and int(out.stdout) not in (10, 11, 12):
            found.append(exe)
    return found


def test_python_outside_3_10_to_3_12_is_refused(tmp_path):
    refusal = medpulse_setup.python_refusal
    for version in ((3, 10, 13), (3, 11, 7), (3, 12, 1)):
        assert refusal(version, "python3") is None
    for version in ((3, 9, 18), (3, 13, 0), (2, 7, 18)):
        reason = refusal(version, "/usr/bin/python3")
        assert "3.10, 3.11 or 3.12" in reason and "apt-get install python3.11" in reason
        assert ".".join(map(str, version)) in reason
    # The user's path (scripts/demo, setting up from a local source) under every unsupported
    # interpreter this machine has, e.g. 3.13.
    archive = tmp_path / "odoo.tar.gz"
    archive.write_bytes(b"not read: the Python is refused first")
    for exe in _unsupported_pythons():
        env = clean_env(
            tmp_path,
            MEDPULSE_SETUP_PYTHON=exe,
            MEDPULSE_ODOO_SOURCE=str(archive),
            MEDPULSE_CACHE_DIR=str(tmp_path / "cache"),
        )
        out = subprocess.run(
            ["bash", str(ROOT / "scripts" / "demo")],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert out.returncode == 2, (exe, out.stderr)
        assert "Odoo 18.0 runs on Python 3.10, 3.11 or 3.12" in out.stderr, out.stderr
        assert "MEDPULSE_SETUP_PYTHON" in out.stderr
        assert not (tmp_path / "cache").exists(), "nothing is set up for a refused Python"
        print(f"refused: {exe}")


def test_missing_system_packages_are_named_with_the_apt_get_line(monkeypatch, tmp_path):
    """Not root: the exact apt-get command and exit 2, before anything is built."""
    monkeypatch.setattr(medpulse_setup.shutil, "which", lambda _name: None)
    monkeypatch.setattr(medpulse_setup, "pg_bin_dir", lambda: None)
    monkeypatch.setattr(medpulse_setup, "server_answers", lambda *_a, **_k: False)
    monkeypatch.setattr(medpulse_setup.os, "geteuid", lambda: 1000)
    missing = medpulse_setup.missing_packages(
        "test", build=True, python=sys.executable, which=lambda _name: None
    )
    for package in ("build-essential", "libpq-dev", "postgresql", "docker-compose", "git", "nginx"):
        assert package in missing
    assert {"chromium", "chromium-browser"} & set(missing)
    assert "docker-compose" not in medpulse_setup.missing_packages(
        "demo", build=True, python=sys.executable, which=lambda _name: None
    )
    with pytest.raises(medpulse_setup.SetupError) as err:
        medpulse_setup.ensure_system_packages("test", build=True, python=sys.executable, log=None)
    message = str(err.value)
    assert "sudo apt-get update && sudo apt-get install -y --no-install-recommends" in message
    assert "build-essential" in message and "libpq-dev" in message


def _fake_odoo_deb(tmp_path: Path) -> Path:
    """A .deb laid out like Odoo's nightly one (the odoo package in dist-packages), holding
    only what the setup reads of it, built with dpkg-deb like Odoo's."""
    tree = tmp_path / "pkg"
    package = tree / medpulse_setup.DEB_PYTHON_DIR / "odoo"
    package.mkdir(parents=True)
    (package / "release.py").write_text("version_info = (18, 0, 0, 'final', 0, '')\n")
    (tree / "DEBIAN").mkdir()
    (tree / "DEBIAN" / "control").write_text(
        "Package: odoo\nVersion: 18.0.0\nArchitecture: all\nMaintainer: test <t@example.com>\n"
        "Description: layout of Odoo's nightly package\n"
    )
    deb = tmp_path / "odoo_18.0.test_all.deb"
    subprocess.run(["dpkg-deb", "--build", str(tree), str(deb)], check=True, capture_output=True)
    return deb


def test_pinned_deb_is_checked_against_its_sha1_and_unpacked(tmp_path, monkeypatch):
    """The download path, from a file: URL (no internet here): the sha1 decides, a mismatch
    deletes the file and stops; a match is unpacked and Odoo found inside."""
    deb = _fake_odoo_deb(tmp_path)
    monkeypatch.setenv("MEDPULSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(medpulse_setup, "ODOO_DEB_URL", deb.as_uri())
    log = tmp_path / "setup.log"

    monkeypatch.setattr(medpulse_setup, "ODOO_SHA1", "0" * 40)
    with pytest.raises(medpulse_setup.SetupError, match="expected 0000"):
        medpulse_setup.fetch_odoo(None, tmp_path, log)
    assert not list((tmp_path / "cache" / "downloads").glob("*.deb")), "a bad file must not stay"
    assert not (tmp_path / "odoo-src").exists()

    monkeypatch.setattr(medpulse_setup, "ODOO_SHA1", medpulse_setup.file_digest(deb, "sha1"))
    root = medpulse_setup.fetch_odoo(None, tmp_path, log)
    assert root == tmp_path / "odoo-src" / medpulse_setup.DEB_PYTHON_DIR
    assert medpulse_setup.odoo_version_of(root) == "18.0"
    assert "verified" in log.read_text()
