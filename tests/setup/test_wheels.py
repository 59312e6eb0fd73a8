"""The OCA way: wheels built from this checkout install the addons into a Python that runs
Odoo, with no addons path into the checkout, and Odoo installs them with demo data and no
warning. Also the form for Odoo as a Debian package, and a build without git."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from setup_helpers import BASE_PYTHON, ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import wheels  # noqa: E402 - after the sys.path set-up above
from odoo_instance import PgParams  # noqa: E402 - after the sys.path set-up above

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \d+ (?P<level>[A-Z]+) ")


def metadata(wheel: Path) -> tuple[str, str, list[str]]:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        text = zf.read(name).decode()
    get = lambda key: re.findall(rf"^{key}: (.*)$", text, re.M)  # noqa: E731 - a one-line helper
    return get("Name")[0], get("Version")[0], get("Requires-Dist")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    dest = tmp_path_factory.mktemp("wheels")
    paths = wheels.build(dest)
    by_name = {metadata(p)[0]: p for p in paths}
    assert set(by_name) == {
        "mango-vpbx",
        "mango-vpbx-emulator",
        "odoo-addon-medpulse_clinic",
        "odoo-addon-medpulse_telephony",
        "odoo-addon-medpulse_telephony_demo",
    }
    return by_name


def test_wheels_name_their_requirements(built):
    _name, version, requires = metadata(built["odoo-addon-medpulse_telephony"])
    assert version.startswith("18.0.")
    assert "mango-vpbx" in requires
    assert any(r.startswith("odoo-addon-medpulse_clinic") for r in requires)
    assert any(r.startswith("odoo==18.0") for r in requires)
    _name, _version, requires = metadata(built["odoo-addon-medpulse_clinic"])
    assert "mango-vpbx" in requires
    with zipfile.ZipFile(built["odoo-addon-medpulse_telephony"]) as zf:
        names = zf.namelist()
    assert "odoo/addons/medpulse_telephony/__manifest__.py" in names
    assert not any(n.endswith("pyproject.toml") for n in names)
    # The emulator is its own distribution, on top of the toolkit.
    _name, _version, requires = metadata(built["mango-vpbx-emulator"])
    assert requires == ["mango-vpbx"]
    with zipfile.ZipFile(built["mango-vpbx-emulator"]) as zf:
        names = zf.namelist()
    assert "mango_vpbx_emulator/testing.py" in names and "mango_vpbx_emulator/__main__.py" in names
    assert not any(n.endswith(("pyproject.toml", "README.md")) for n in names)
    assert any(n.endswith("entry_points.txt") for n in names)
    with zipfile.ZipFile(built["mango-vpbx"]) as zf:
        names = zf.namelist()
    assert "mango_vpbx/errors.py" in names
    assert not any(n.startswith("mango_vpbx_emulator/") for n in names)
    assert wheels.outside_requirements(list(built.values())) == sorted(
        {"phonenumbers", "phonenumbers>=8.12", "requests", "requests>=2.25"}
    )


def test_build_without_git_uses_the_manifest_version(tmp_path):
    """A Docker build context has no .git: whool's version is then the manifest's."""
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    copy = tmp_path / "context"
    for name in files:
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    env = {k: v for k, v in os.environ.items() if k != "WHOOL_POST_VERSION_STRATEGY_OVERRIDE"}
    env["GIT_CEILING_DIRECTORIES"] = str(tmp_path)  # no repository above the copy either
    build = (  # the copy's own scripts/wheels.py, one addon (the others build the same way)
        f"import sys, pathlib; sys.path.insert(0, {str(copy / 'scripts')!r}); import wheels; "
        f"wheels.build(pathlib.Path({str(tmp_path / 'dist')!r}), "
        "distributions=('medpulse_telephony',))"
    )
    out = subprocess.run(
        [sys.executable, "-c", build],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    versions = {metadata(p)[0]: metadata(p)[1] for p in (tmp_path / "dist").glob("*.whl")}
    manifest = (ROOT / "medpulse_telephony" / "__manifest__.py").read_text()
    assert (
        versions["odoo-addon-medpulse_telephony"] == re.search(r'"version": "([^"]+)"', manifest)[1]
    )


def overlay_venv(path: Path) -> Path:
    """A new virtualenv that sees the Python running Odoo (its packages, Odoo itself) but
    holds nothing of this checkout: what the wheels install goes into it alone."""
    subprocess.run([BASE_PYTHON, "-m", "venv", str(path)], check=True)
    python = path / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    odoo_site = sysconfig.get_paths()["purelib"]
    import odoo  # noqa: PLC0415 - imported where it is needed

    # Odoo's own folder first: an editable Odoo (setuptools' import finder, which comes after
    # the path finder) would lose to the ``odoo`` namespace the wheels create.
    odoo_root = Path(odoo.__file__).resolve().parent.parent
    Path(site, "odoo-python.pth").write_text(
        f"{odoo_root}\nimport site; site.addsitedir({odoo_site!r})\n"
    )
    return python


@contextlib.contextmanager
def connect(pg: PgParams, dbname: str):
    import psycopg2  # noqa: PLC0415 - Odoo's dependency, under the Python running these tests

    conn = psycopg2.connect(
        dbname=dbname, host=pg.host, port=pg.port, user=pg.user, password=pg.password or None
    )
    conn.autocommit = True
    try:
        with conn.cursor() as cr:
            yield cr
    finally:
        conn.close()


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def module_path(python: Path, addon: str, cwd: Path) -> str:
    out = subprocess.run(
        [
            str(python),
            "-c",
            "import odoo.netsvc, odoo.modules.module; from odoo.tools import config; "
            "config.parse_config([]); "
            f"from odoo.modules.module import get_module_path; print(get_module_path({addon!r}))",
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=cwd,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


def test_odoo_from_debian_form_installs_without_the_odoo_distribution(built, tmp_path):
    python = overlay_venv(tmp_path / "venv")
    subprocess.run(
        [
            str(python),
            str(ROOT / "scripts" / "wheels.py"),
            "install",
            str(next(iter(built.values())).parent),
            "--python",
            str(python),
            "--odoo-from-debian",
            "--",
            "--no-index",
            "-q",
        ],
        check=True,
        env=clean_env(),
    )
    path = module_path(python, "medpulse_telephony", tmp_path)
    assert path.startswith(str(tmp_path / "venv")), path


def test_addons_installed_from_wheels_install_in_odoo_with_demo_data(built, tmp_path):
    python = overlay_venv(tmp_path / "venv")
    subprocess.run(
        [
            str(python),
            str(ROOT / "scripts" / "wheels.py"),
            "install",
            str(next(iter(built.values())).parent),
            "--python",
            str(python),
            "--",
            "--no-index",
            "-q",
        ],
        check=True,
        env=clean_env(),
    )
    for addon in ("medpulse_clinic", "medpulse_telephony"):
        path = module_path(python, addon, tmp_path)
        assert path.startswith(str(tmp_path / "venv")) and str(ROOT) not in path, path
    check = subprocess.run([str(python), "-m", "pip", "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    # The emulator's wheel: its module and its command, from the venv, not the checkout.
    emulator = subprocess.run(
        [str(python), "-c", "import mango_vpbx_emulator.testing as t; print(t.__file__)"],
        capture_output=True, text=True, env=clean_env(), cwd=tmp_path,
    )
    assert emulator.returncode == 0 and str(ROOT) not in emulator.stdout, emulator.stderr
    assert emulator.stdout.startswith(str(tmp_path / "venv")), emulator.stdout
    usage = subprocess.run([str(tmp_path / "venv" / "bin" / "mango-emulator"), "--help"],
                           capture_output=True, text=True, env=clean_env(), cwd=tmp_path)
    assert usage.returncode == 0 and "serve" in usage.stdout, usage.stderr

    pg = PgParams()
    db = f"medpulse_wheels_{os.getpid()}"
    log = tmp_path / "odoo.log"
    cmd = [
        str(python),
        "-m",
        "odoo",
        "-d",
        db,
        "-i",
        "medpulse_telephony",
        "--stop-after-init",
        f"--db_host={pg.host}",
        f"--db_port={pg.port}",
        f"--db_user={pg.user}",
        f"--db_password={pg.password or 'False'}",
        f"--data-dir={tmp_path / 'data'}",
        f"--logfile={log}",
        "--log-level=info",
        "--max-cron-threads=0",
        "--http-port=0",
    ]
    try:
        rc = subprocess.run(cmd, env=clean_env(), cwd=tmp_path, timeout=900).returncode
        text = log.read_text(errors="replace")
        assert rc == 0, text[-3000:]
        paths = re.search(r"addons paths: (.*)$", text, re.M)[1]
        assert str(ROOT) not in paths, paths
        bad = [
            line
            for line in text.splitlines()
            if (m := LOG_LINE.match(line)) and m["level"] in ("WARNING", "ERROR", "CRITICAL")
        ]
        assert not bad, bad[:5]
        with connect(pg, db) as cr:
            cr.execute(
                "SELECT name, state, demo FROM ir_module_module "
                "WHERE name LIKE 'medpulse%' ORDER BY name"
            )
            assert cr.fetchall() == [
                ("medpulse_clinic", "installed", True),
                ("medpulse_telephony", "installed", True),
                # Production installs the telephony addon only: the demo addon's wheel is
                # there, its module is not installed.
                ("medpulse_telephony_demo", "uninstalled", False),
            ]
            cr.execute("SELECT count(*) FROM medpulse_patient")
            assert cr.fetchone()[0] > 0, "the demo patients should be there"
    finally:
        with connect(pg, "postgres") as cr:
            cr.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
