"""Build this checkout's wheels, and install them into the Python that runs Odoo.

    python scripts/wheels.py build DIR                 # one wheel per distribution into DIR
    python scripts/wheels.py install DIR [--python P]  # pip resolves: Odoo installed by pip
    python scripts/wheels.py install DIR --odoo-from-debian   # Odoo as a Debian package
    python scripts/wheels.py install DIR -- --no-index        # more pip options after --

The distributions are the folders with a ``pyproject.toml``, listed in ``DISTRIBUTIONS``:
the toolkit (``mango-vpbx``, setuptools, at the root), the PBX emulator
(``mango-vpbx-emulator``, setuptools, its package folder) and one ``odoo-addon-<name>`` per
addon (OCA's
``whool``: name, version and requirements come from the manifest). whool adds to the
manifest's version the number of commits since it changed, read from git; where there is no
git (a Docker build context), the manifest's version is used as it is.

The addons' wheels require the distribution ``odoo``, which a pip-installed Odoo provides
(and the set-up environment of ``scripts/setup``) but Odoo installed from its Debian package
(the official Docker image) does not. ``--odoo-from-debian`` installs the wheels without
their dependencies, then the dependencies they list other than Odoo and our own wheels.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import zipfile
from email.parser import HeaderParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Folders (relative to the checkout) holding a distribution's pyproject.toml.
DISTRIBUTIONS = (
    ".",
    "mango_vpbx_emulator",
    "medpulse_clinic",
    "medpulse_telephony",
    "medpulse_telephony_demo",
)
PROVIDED_BY_ODOO = re.compile(r"^(odoo|odoo\d*-addon-.*)$", re.I)


def in_git_work_tree() -> bool:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--is-inside-work-tree"],
            capture_output=True,
            text=True,
        )
    except FileNotFoundError:
        return False
    return out.returncode == 0 and out.stdout.strip() == "true"


def build(dest: Path, python: str = sys.executable,
          distributions: tuple[str, ...] = DISTRIBUTIONS) -> list[Path]:
    """One wheel per distribution into ``dest``; returns their paths."""
    dest.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if not in_git_work_tree():
        env.setdefault("WHOOL_POST_VERSION_STRATEGY_OVERRIDE", "none")
    before = set(dest.glob("*.whl"))
    subprocess.run(
        [
            python,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--disable-pip-version-check",
            "-w",
            str(dest),
            *(str(ROOT / d) for d in distributions),
        ],
        check=True,
        cwd=ROOT,
        env=env,
    )
    return sorted(set(dest.glob("*.whl")) - before) or sorted(dest.glob("*.whl"))


def requirements_of(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = HeaderParser().parsestr(zf.read(name).decode())
    return meta.get_all("Requires-Dist") or []


def outside_requirements(wheels: list[Path]) -> list[str]:
    """What the wheels require besides Odoo, Odoo addons and each other (extras left out)."""
    ours = {re.split(r"-\d", w.name.replace("_", "-"), maxsplit=1)[0].lower() for w in wheels}
    needed = []
    for wheel in wheels:
        for req in requirements_of(wheel):
            name = re.split(r"[\s;<>=!~\[(]", req, maxsplit=1)[0]
            if (
                "extra ==" in req
                or PROVIDED_BY_ODOO.match(name)
                or name.lower().replace("_", "-") in ours
            ):
                continue
            needed.append(req)
    return sorted(set(needed))


def install(wheel_dir: Path, python: str, odoo_from_debian: bool, pip_args: list[str]) -> None:
    wheels = sorted(wheel_dir.glob("*.whl"))
    if not wheels:
        raise SystemExit(f"no wheel in {wheel_dir}")
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check", *pip_args]
    if not odoo_from_debian:
        subprocess.run([*pip, *map(str, wheels)], check=True)
        return
    subprocess.run([*pip, "--no-deps", *map(str, wheels)], check=True)
    needed = outside_requirements(wheels)
    if needed:
        subprocess.run([*pip, *needed], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/wheels.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build one wheel per distribution")
    b.add_argument("dest", type=Path)
    i = sub.add_parser("install", help="install the wheels of a folder")
    i.add_argument("wheel_dir", type=Path)
    i.add_argument("--python", default=sys.executable, help="the Python that runs Odoo")
    i.add_argument(
        "--odoo-from-debian",
        action="store_true",
        help="Odoo is a Debian package (no 'odoo' distribution): --no-deps, then the "
        "wheels' other requirements",
    )
    argv = sys.argv[1:] if argv is None else argv
    pip_args = argv[argv.index("--") + 1 :] if "--" in argv else []
    opts = parser.parse_args(argv[: len(argv) - len(pip_args) - (1 if pip_args else 0)])
    if opts.command == "build":
        for wheel in build(opts.dest):
            print(wheel)
    else:
        install(opts.wheel_dir, opts.python, opts.odoo_from_debian, pip_args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
