"""Versions, changelogs and wheels of this checkout's distributions (README, "Releases").

    scripts/release check           # versions and changelogs agree (fails with the reasons)
    scripts/release notes           # news fragments into the changelogs, at the current versions
    scripts/release record [COMMIT] # name the release's commit (default HEAD) in the changelogs
    scripts/release build DIR       # check, then one wheel per distribution into DIR, at the
                                    # versions of the changelogs

The distributions are those ``scripts/wheels.py`` builds: the toolkit (the checkout's
``pyproject.toml``, a semantic version ``X.Y.Z``) and one per addon (its manifest's
``18.0.X.Y.Z``). Each keeps OCA's changelog ``readme/HISTORY.md``, built by towncrier from the
news fragments in ``readme/newsfragments/`` (``<issue>.<type>`` or ``+<name>.<type>``; the
types are in ``scripts/release_towncrier.toml``). A branch push carries no git tag, so the
changelog itself names each release's commit: ``Released at commit: <sha>``, written by
``record`` once the release is merged.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from wheels import DISTRIBUTIONS, ROOT, build  # noqa: E402 - after the sys.path set-up above

TOWNCRIER_CONFIG = Path(__file__).resolve().parent / "release_towncrier.toml"
TEMPLATE = TOWNCRIER_CONFIG.with_name("release_history.md.j2")
HISTORY = Path("readme") / "HISTORY.md"
FRAGMENTS = Path("readme") / "newsfragments"
ENTRY = re.compile(r"^## (?P<version>\S+) \((?P<date>\d{4}-\d\d-\d\d)\)\s*$", re.M)
COMMIT = re.compile(r"^Released at commit: (?P<commit>[0-9a-f]{40}|not recorded yet)\s*$", re.M)
PENDING = "not recorded yet"
ADDON_VERSION = re.compile(r"^18\.0\.\d+\.\d+\.\d+$")
TOOLKIT_VERSION = re.compile(r"^\d+\.\d+\.\d+$")


@dataclass
class Release:
    version: str
    date: str
    commit: str | None  # None: not recorded yet


@dataclass
class Distribution:
    folder: str  # relative to the checkout; "." is the toolkit

    @property
    def name(self) -> str:
        return "mango-vpbx (toolkit)" if self.folder == "." else self.folder

    @property
    def is_addon(self) -> bool:
        return (ROOT / self.folder / "__manifest__.py").is_file()

    @property
    def version_file(self) -> str:
        """The addon's manifest, else the distribution's ``pyproject.toml``."""
        if self.is_addon:
            return f"{self.folder}/__manifest__.py"
        return "pyproject.toml" if self.folder == "." else f"{self.folder}/pyproject.toml"

    @property
    def history(self) -> Path:
        return ROOT / self.folder / HISTORY

    def version(self, commit: str | None = None) -> str:
        """The version in the checkout, or at ``commit``."""
        if commit is None:
            text = (ROOT / self.version_file).read_text()
        else:
            text = git("show", f"{commit}:{self.version_file}")
        if self.is_addon:
            return ast.literal_eval(text)["version"]
        return re.search(r'^version = "([^"]+)"', text, re.M)[1]

    def releases(self) -> list[Release]:
        """The changelog's entries, newest first."""
        if not self.history.is_file():
            return []
        text = self.history.read_text()
        heads = list(ENTRY.finditer(text))
        releases = []
        for head, nxt in zip(heads, [*heads[1:], None], strict=True):
            body = text[head.end(): nxt.start() if nxt else len(text)]
            commit = COMMIT.search(body)
            releases.append(Release(head["version"], head["date"],
                                    commit["commit"] if commit and commit["commit"] != PENDING
                                    else None))
        return releases

    def fragments(self) -> list[Path]:
        folder = ROOT / self.folder / FRAGMENTS
        return sorted(p for p in folder.iterdir() if not p.name.startswith(".")) \
            if folder.is_dir() else []


def distributions() -> list[Distribution]:
    return [Distribution(folder) for folder in DISTRIBUTIONS]


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                          check=True).stdout


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def problems_of(dist: Distribution) -> list[str]:
    """Why the distribution's version and its changelog disagree (nothing: they agree)."""
    where = f"{dist.name}:"
    version = dist.version()
    pattern = ADDON_VERSION if dist.is_addon else TOOLKIT_VERSION
    if not pattern.match(version):
        form = "18.0.X.Y.Z" if dist.is_addon else "X.Y.Z"
        return [f"{where} version {version} in {dist.version_file} is not of the form {form}"]
    releases = dist.releases()
    history = dist.history.relative_to(ROOT)
    if not releases:
        return [f"{where} {history} has no release; write news fragments in "
                f"{dist.folder}/{FRAGMENTS} and run scripts/release notes"]
    problems = []
    newest = releases[0]
    if newest.version != version:
        hint = ("the changelog is ahead of the version" if version_key(newest.version)
                > version_key(version) else "run scripts/release notes")
        problems.append(f"{where} version {version} in {dist.version_file} but the newest "
                        f"release in {history} is {newest.version} ({hint})")
    versions = [version_key(r.version) for r in releases]
    if versions != sorted(set(versions), reverse=True):
        problems.append(f"{where} {history}: releases not newest first, or one twice")
    for release in releases:
        if release.commit is None:
            if release is not newest:
                problems.append(f"{where} {history}: {release.version} names no commit")
            continue
        try:
            at_commit = dist.version(release.commit)
        except subprocess.CalledProcessError:
            problems.append(f"{where} {history}: {release.version} names commit "
                            f"{release.commit}, which this repository does not have")
            continue
        if at_commit != release.version:
            problems.append(f"{where} {history}: {release.version} names commit "
                            f"{release.commit[:12]}, where the version is {at_commit}")
    return problems


def check() -> int:
    problems = []
    for dist in distributions():
        found = problems_of(dist)
        problems += found
        if not found:
            newest = dist.releases()[0]
            state = f"commit {newest.commit[:12]}" if newest.commit else "commit not recorded yet"
            print(f"{dist.name} {newest.version} ({newest.date}, {state})")
    for problem in problems:
        print(f"FAIL: {problem}")
    return 1 if problems else 0


def notes() -> int:
    """Each distribution with news fragments: a changelog entry at its current version."""
    for dist in distributions():
        if not dist.fragments():
            continue
        version = dist.version()
        if any(r.version == version for r in dist.releases()):
            print(f"FAIL: {dist.name}: {version} is in its changelog already; bump the version "
                  "first (README, \"Releases\")")
            return 1
        with tempfile.TemporaryDirectory() as tmp:
            # towncrier reads the template relative to the distribution's folder: the
            # configuration is given with the template's absolute path instead.
            config = Path(tmp) / "towncrier.toml"
            config.write_text(TOWNCRIER_CONFIG.read_text().replace(
                'template = "release_history.md.j2"', f'template = "{TEMPLATE}"'))
            subprocess.run([sys.executable, "-m", "towncrier", "build", "--yes",
                            f"--config={config}", f"--dir={ROOT / dist.folder}",
                            f"--version={version}"], check=True, cwd=ROOT / dist.folder)
        print(f"{dist.name}: {version} written to {dist.history.relative_to(ROOT)}")
    return check()


def record(commit: str) -> int:
    """Name ``commit`` in the newest entry of each changelog whose version it holds."""
    sha = git("rev-parse", "--verify", f"{commit}^{{commit}}").strip()
    for dist in distributions():
        releases = dist.releases()
        if not releases or releases[0].commit is not None:
            continue
        if dist.version(sha) != releases[0].version:
            continue
        text = dist.history.read_text()
        dist.history.write_text(text.replace(f"Released at commit: {PENDING}",
                                             f"Released at commit: {sha}", 1))
        print(f"{dist.name} {releases[0].version}: commit {sha}")
    return check()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/release", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="versions and changelogs agree")
    sub.add_parser("notes", help="news fragments into the changelogs")
    rec = sub.add_parser("record", help="name the release's commit in the changelogs")
    rec.add_argument("commit", nargs="?", default="HEAD")
    bld = sub.add_parser("build", help="check, then build the wheels")
    bld.add_argument("dest", type=Path)
    opts = parser.parse_args(argv)
    if opts.command == "check":
        return check()
    if opts.command == "notes":
        return notes()
    if opts.command == "record":
        return record(opts.commit)
    if check():
        return 1
    # The released versions as they are: whool would append the commits since the manifest's
    # version changed (18.0.1.0.0.75), which is for builds between releases.
    os.environ["WHOOL_POST_VERSION_STRATEGY_OVERRIDE"] = "none"
    for wheel in build(opts.dest):
        print(wheel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
