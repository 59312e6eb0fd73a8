"""Set up what ``scripts/demo`` and ``scripts/test`` need on a fresh Debian or Ubuntu machine.

Standard library only: it runs under the machine's ``python3`` before anything is installed.

    python3 scripts/setup/medpulse_setup.py ensure --for test   # prints the Python to use
    python3 scripts/setup/medpulse_setup.py status              # where the environment is

``ensure`` checks the Python version (Odoo 18.0 runs on 3.10, 3.11 and 3.12), the system
packages (installed with apt-get as root, else the exact command is printed and it exits 2),
then builds, once, a virtualenv in the user's cache folder holding Odoo 18.0 and its
requirements (``odoo-requirements.txt`` beside this file), websocket-client, the toolkit's
dependencies and the test dependencies. Odoo comes from the pin below (Odoo's nightly
``.deb``, checked against the sha1 Odoo publishes in its own Docker image) or, offline, from
``MEDPULSE_ODOO_SOURCE`` (a directory or a ``.tar.gz``). The virtualenv's folder is named
after a hash of the source, the requirements and the Python: a new pin or a changed
requirement makes a new one, and a second run finds the old one in a fraction of a second.
Progress goes to stderr as a few timed lines; pip's output goes to ``setup.log`` in that
folder. Every step can be re-run: the folder counts as ready only once its last step wrote
``READY``, and an interrupted run is finished by the next one.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

from python_check import python_refusal

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

# The pin: Odoo S.A.'s nightly build of 18.0 that its own Docker image (odoo/docker,
# 18.0/Dockerfile) installs, with the sha1 published there. Move it by changing both values
# (README, "Getting Odoo 18.0").
ODOO_RELEASE = "20250819"
ODOO_SHA1 = "25daea677dc7b60cc25ec1eebd16d1c8e3f77a8a"
ODOO_DEB_URL = f"https://nightly.odoo.com/18.0/nightly/deb/odoo_18.0.{ODOO_RELEASE}_all.deb"
# Inside the .deb, where Python finds the ``odoo`` package (every addon is in odoo/addons).
DEB_PYTHON_DIR = "usr/lib/python3/dist-packages"

REQUIREMENTS = HERE / "odoo-requirements.txt"
# distribution -> (pinned version, import name): what the tests and the e2e harness import,
# and websocket-client (Odoo's tours drive Chromium through it).
TEST_DEPENDENCIES = {
    "pytest": ("8.3.3", "pytest"),
    "pytest-cov": ("5.0.0", "pytest_cov"),
    "coverage": ("7.6.1", "coverage"),
    "hypothesis": ("6.112.2", "hypothesis"),
    "phonenumbers": ("8.13.48", "phonenumbers"),
    "websocket-client": ("1.8.0", "websocket"),
    "playwright": ("1.47.0", "playwright"),
    "polib": ("1.2.0", "polib"),
    # The linters of scripts/lint.py (pre-commit pins the same versions).
    "ruff": ("0.17.6", "ruff"),
    "pylint": ("4.0.10", "pylint"),
    "pylint-odoo": ("10.0.12", "pylint_odoo"),
    "oca-odoo-pre-commit-hooks": ("0.2.27", "oca_pre_commit_hooks"),
    # The addons' edit-test loop (README, "Develop"); tests/conftest.py keeps it out of the
    # suites that start their own Odoo.
    "pytest-odoo": ("2.3.0", "pytest_odoo"),
    # scripts/release notes: the changelogs from news fragments, as OCA builds them.
    "towncrier": ("24.8.0", "towncrier"),
    "click": ("8.1.8", "click"),
}
STATE_FILE = "READY"
PG_OS_USER = "medpulse-postgres"


class SetupError(Exception):
    """A reason to stop, in words the user can act on."""


# --------------------------------------------------------------------------- output
_started = time.monotonic()


def progress(msg: str) -> None:
    print(f"[setup {time.monotonic() - _started:5.1f}s] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- system packages
def os_release() -> dict[str, str]:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return {}
    return dict(re.findall(r'^(\w+)="?([^"\n]*)"?$', text, re.M))


def pg_bin_dir() -> Path | None:
    """Debian's PostgreSQL server binaries, newest version first."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return candidates[-1].parent if candidates else None


def server_answers(host: str, port: int, timeout: float = 2.0) -> bool:
    import socket  # noqa: PLC0415 - imported where it is needed

    if host.startswith("/"):
        path = os.path.join(host, f".s.PGSQL.{port}")
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            return True
        return False
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def pg_target() -> tuple[str, int]:
    return os.environ.get("PGHOST") or "localhost", int(os.environ.get("PGPORT") or 5432)


def missing_packages(purpose: str, build: bool, python: str, which=None) -> list[str]:
    """Debian package names of what is missing for ``purpose`` (``demo`` or ``test``).

    Checked by what the commands use (a compiler, ``pg_config``, a browser...), not by
    package names, so a machine that has them some other way is not asked to install them.
    """
    which = which or shutil.which
    ubuntu = os_release().get("ID") == "ubuntu"
    missing: list[str] = []
    if build:
        if not which("gcc") or not which("make"):
            missing.append("build-essential")  # psycopg2 is built from source
        if not which("pg_config"):
            missing.append("libpq-dev")
        info = subprocess.run(
            [
                python,
                "-c",
                "import sysconfig, os, importlib.util as u; "
                "print(os.path.exists(os.path.join(sysconfig.get_paths()['include'], "
                "'Python.h'))); "
                "print(u.find_spec('ensurepip') is not None); "
                "import sys; print('%d.%d' % sys.version_info[:2])",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        has_headers, has_ensurepip, short = info[0] == "True", info[1] == "True", info[2]
        if not has_headers:
            missing.append(f"python{short}-dev")
        if not has_ensurepip:
            missing.append(f"python{short}-venv")
    if pg_bin_dir() is None and not server_answers(*pg_target()):
        missing.append("postgresql")  # the private cluster's binaries
    if purpose == "test":
        if not any(which(b) for b in ("chromium", "chromium-browser", "google-chrome")):
            missing.append("chromium-browser" if ubuntu else "chromium")  # tours, e2e
        if not which("docker-compose"):
            missing.append("docker-compose")  # validates docker-compose.yml
        if not which("git"):
            missing.append("git")  # whool reads the addons' versions from git
        if not which("nginx") and not which("/usr/sbin/nginx"):  # /usr/sbin: not on every PATH
            missing.append("nginx")  # the deployment's reverse proxy, tested in front of Odoo
    return missing


def apt_command(packages: list[str], sudo: bool) -> str:
    prefix = "sudo " if sudo else ""
    return (
        f"{prefix}apt-get update && {prefix}apt-get install -y --no-install-recommends "
        + " ".join(packages)
    )


def ensure_system_packages(purpose: str, build: bool, python: str, log: Path | None) -> None:
    missing = missing_packages(purpose, build, python)
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SetupError(
            f"missing system packages: {' '.join(missing)}. Install them:\n    "
            + apt_command(missing, sudo=os.geteuid() != 0)
            + "\nthen run this command again"
        )
    progress(f"installing system packages: {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if "postgresql" in missing:
        # Only the binaries are wanted (the private cluster): no system-wide server that
        # would answer on 5432 and refuse this user's role.
        conf = Path("/etc/postgresql-common/createcluster.d")
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "medpulse.conf").write_text("create_main_cluster = false\n")
    for cmd in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", *missing],
    ):
        run_logged(cmd, log, env=env)
    still = missing_packages(purpose, build, python)
    if still:
        raise SetupError(f"still missing after apt-get: {' '.join(still)}")


def ensure_pg_os_user(log: Path | None) -> None:
    """The unprivileged OS user the private PostgreSQL cluster runs as when we are root."""
    import pwd  # noqa: PLC0415 - imported where it is needed

    try:
        pwd.getpwnam(PG_OS_USER)
    except KeyError:
        progress(f"creating the OS user {PG_OS_USER} (runs the private PostgreSQL cluster)")
        run_logged(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                PG_OS_USER,
            ],
            log,
        )


def run_logged(cmd: list[str], log: Path | None, **kwargs) -> None:
    """Run a command, its output appended to the log; a failure names the log."""
    if log is None:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kwargs)
        return
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, **kwargs).returncode
    if rc:
        raise SetupError(f"`{' '.join(cmd[:4])} ...` failed (exit {rc}); see {log}")


# --------------------------------------------------------------------------- odoo source
def source_spec() -> str | None:
    return os.environ.get("MEDPULSE_ODOO_SOURCE") or None


def file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def source_identity(spec: str | None) -> str:
    """What the cache is keyed on for this source: the pin, or the local source's content."""
    if spec is None:
        return f"deb:{ODOO_RELEASE}:{ODOO_SHA1}"
    path = Path(spec).expanduser().resolve()
    if path.is_file():
        return f"archive:{file_digest(path, 'sha256')}"
    if path.is_dir():
        head = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        return f"dir:{path}:{head}"
    raise SetupError(f"MEDPULSE_ODOO_SOURCE={spec}: no such file or directory")


def environment_key(source_id: str, python_version: str) -> str:
    """The virtualenv's identity: source, requirements, extra dependencies and Python."""
    digest = hashlib.sha256()
    for part in (
        source_id,
        REQUIREMENTS.read_text(),
        json.dumps(TEST_DEPENDENCIES, sort_keys=True),
        " ".join(toolkit_dependencies()),
        python_version,
    ):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def toolkit_dependencies() -> list[str]:
    """``dependencies`` of the toolkit's pyproject.toml (the toolkit runs from the checkout)."""
    text = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"^dependencies\s*=\s*\[(.*?)\]", text, re.M | re.S)
    return re.findall(r'"([^"]+)"', block[1]) if block else []


def cache_root() -> Path:
    if os.environ.get("MEDPULSE_CACHE_DIR"):
        return Path(os.environ["MEDPULSE_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache")
    return Path(base) / "medpulse"


def odoo_version_of(tree: Path) -> str:
    release = tree / "odoo" / "release.py"
    if not release.is_file():
        raise SetupError(f"{tree} holds no Odoo source (no odoo/release.py)")
    match = re.search(r"^version_info = \((\d+), (\d+)", release.read_text(), re.M)
    if not match or match[1] != "18":
        raise SetupError(f"{tree} holds Odoo {match[1] if match else '?'}.x, not 18.0")
    return f"{match[1]}.{match[2]}"


def python_root_of(tree: Path) -> Path:
    """The folder that holds the ``odoo`` package: a source tree, or an unpacked .deb."""
    for candidate in (tree, tree / DEB_PYTHON_DIR):
        if (candidate / "odoo" / "release.py").is_file():
            return candidate
    children = [c for c in tree.iterdir() if c.is_dir()] if tree.is_dir() else []
    if len(children) == 1:
        return python_root_of(children[0])
    raise SetupError(f"{tree} holds no Odoo source (no odoo/release.py)")


def fetch_odoo(spec: str | None, env_dir: Path, log: Path) -> Path:
    """The folder holding the ``odoo`` package, unpacked into ``env_dir`` when needed."""
    if spec and Path(spec).expanduser().is_dir():
        return python_root_of(Path(spec).expanduser().resolve())
    dest = env_dir / "odoo-src"
    if dest.is_dir():
        return python_root_of(dest)
    partial = Path(tempfile.mkdtemp(prefix="odoo-src.", dir=env_dir))
    if spec:
        progress(f"unpacking {spec}")
        with tarfile.open(Path(spec).expanduser()) as tar:
            tar.extractall(partial, filter="data") if hasattr(
                tarfile, "data_filter"
            ) else tar.extractall(partial)  # noqa: S202 - the Odoo source archive the user chose
    else:
        deb = download_pinned_deb(log)
        progress(f"unpacking {deb.name}")
        run_logged(["dpkg-deb", "-x", str(deb), str(partial)], log)
    partial.rename(dest)  # only a complete tree gets the final name
    return python_root_of(dest)


def download_pinned_deb(log: Path) -> Path:
    """Odoo's nightly .deb of the pin, checked against Odoo's published sha1."""
    downloads = cache_root() / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    deb = downloads / ODOO_DEB_URL.rsplit("/", 1)[1]
    if not deb.exists():
        progress(f"downloading {ODOO_DEB_URL}")
        partial = deb.with_suffix(".part")
        try:
            with (
                urllib.request.urlopen(ODOO_DEB_URL, timeout=60) as resp,
                partial.open("wb") as out,
            ):
                shutil.copyfileobj(resp, out, 1 << 20)
        except OSError as exc:
            raise SetupError(
                f"could not download Odoo 18.0 ({exc}). Offline, point MEDPULSE_ODOO_SOURCE at "
                "a local Odoo 18.0 source (a directory or a .tar.gz)"
            ) from None
        partial.rename(deb)
    sha1 = file_digest(deb, "sha1")  # the checksum Odoo publishes for it
    if sha1 != ODOO_SHA1:
        deb.unlink()
        raise SetupError(f"{deb.name}: sha1 {sha1}, expected {ODOO_SHA1}; removed, not used")
    with log.open("a") as out:
        out.write(f"\n{deb}: sha1 {sha1} verified\n")
    return deb


# --------------------------------------------------------------------------- virtualenv
def register_odoo(venv_python: Path, odoo_root: Path, version: str) -> None:
    """Make the unpacked Odoo importable in the virtualenv and known to pip as ``odoo``.

    A ``.pth`` file puts its folder on ``sys.path``; a ``.dist-info`` names the distribution
    ``odoo`` (what the addons' wheels require) and a launcher gives the ``odoo`` command,
    as ``pip install`` of Odoo's source would, without copying or building 600 MB.
    """
    site = Path(
        subprocess.run(
            [str(venv_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (site / "medpulse-odoo.pth").write_text(f"{odoo_root}\n")
    dist = site / f"odoo-{version}.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: odoo\nVersion: {version}\n")
    (dist / "INSTALLER").write_text("medpulse-setup\n")
    launcher = venv_python.parent / "odoo"
    launcher.write_text(f"#!{venv_python}\nimport odoo.cli\n\nodoo.cli.main()\n")
    launcher.chmod(0o755)
    (dist / "RECORD").write_text(
        "\n".join(
            f"{p},,"
            for p in (
                site / "medpulse-odoo.pth",
                dist / "METADATA",
                dist / "INSTALLER",
                dist / "RECORD",
                launcher,
            )
        )
        + "\n"
    )


def pip_requirements() -> list[str]:
    return [*toolkit_dependencies(), *(f"{d}=={v}" for d, (v, _m) in TEST_DEPENDENCIES.items())]


def build_environment(env_dir: Path, base_python: str, spec: str | None) -> Path:
    log = env_dir / "setup.log"
    progress(f"setting up Odoo 18.0 in {env_dir} (log: {log})")
    odoo_root = fetch_odoo(spec, env_dir, log)
    version = odoo_version_of(odoo_root)
    venv = env_dir / "venv"
    python = venv / "bin" / "python"
    if not python.exists():
        progress("creating the virtualenv")
        run_logged([base_python, "-m", "venv", str(venv)], log)
    progress(
        "installing Odoo's requirements and the test dependencies with pip "
        "(a few minutes the first time)"
    )
    run_logged(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "-r",
            str(REQUIREMENTS),
            *pip_requirements(),
        ],
        log,
    )
    register_odoo(python, odoo_root, version)
    run_logged([str(python), "-m", "pip", "check"], log)
    run_logged(
        [
            str(python),
            "-c",
            "import odoo.release, websocket; assert odoo.release.version_info[0] == 18",
        ],
        log,
    )
    (env_dir / STATE_FILE).write_text(
        json.dumps(
            {
                "python": str(python),
                "odoo": str(odoo_root),
                "source": spec or ODOO_DEB_URL,
                "built": time.strftime("%Y-%m-%d %H:%M:%S"),
            }
        )
        + "\n"
    )
    progress("environment ready")
    return python


@contextlib.contextmanager
def locked(path: Path):
    """One setup at a time per environment (two commands started together wait)."""
    import fcntl  # noqa: PLC0415 - imported where it is needed

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def environment_dir(spec: str | None) -> Path:
    """``<cache>/odoo18-<key>-py3.11`` for this Python (the one running this module)."""
    exact = f"{sys.version.split()[0]} {os.path.realpath(sys.executable)}"
    key = environment_key(source_identity(spec), exact)
    return cache_root() / f"odoo18-{key}-py{sys.version_info[0]}.{sys.version_info[1]}"


def ensure(purpose: str, existing: str | None) -> str:
    """The Python that runs Odoo 18.0 with everything ``purpose`` needs, set up if missing."""
    if existing:
        ensure_system_packages(purpose, build=False, python=existing, log=None)
        return existing
    refusal = python_refusal(tuple(sys.version_info), sys.executable)
    if refusal:
        raise SetupError(refusal)
    spec = source_spec()
    env_dir = environment_dir(spec)
    ready = env_dir / STATE_FILE
    if ready.exists():
        ensure_system_packages(purpose, build=False, python=sys.executable, log=None)
        return json.loads(ready.read_text())["python"]
    env_dir.mkdir(parents=True, exist_ok=True)
    with locked(env_dir / ".lock"):
        if ready.exists():  # another command finished it while we waited
            return json.loads(ready.read_text())["python"]
        ensure_system_packages(
            purpose, build=True, python=sys.executable, log=env_dir / "setup.log"
        )
        return str(build_environment(env_dir, sys.executable, spec))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="medpulse_setup", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ens = sub.add_parser("ensure", help="set up what is missing; print the Python to use")
    ens.add_argument("--for", dest="purpose", choices=("demo", "test"), default="test")
    ens.add_argument(
        "--python", help="an existing Python with Odoo 18.0: only check system packages"
    )
    sub.add_parser("status", help="print the environment's folder and whether it is ready")
    opts = parser.parse_args(argv)
    try:
        if opts.command == "status":
            env_dir = environment_dir(source_spec())
            state = "ready" if (env_dir / STATE_FILE).exists() else "not set up"
            print(f"{env_dir} {state}")
            return 0
        print(ensure(opts.purpose, opts.python))
    except SetupError as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("FAIL: interrupted; run the command again to finish the setup", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
