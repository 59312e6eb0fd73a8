"""``scripts/release``: the versions and the changelogs agree, or the check says where not.

The check runs on this checkout, then on a copy of its release files in a new git
repository, where versions are bumped, changelogs edited and commits recorded the wrong way.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from wheels import DISTRIBUTIONS  # noqa: E402 - after the sys.path set-up above

SCRIPTS = ("release.py", "wheels.py", "release_towncrier.toml", "release_history.md.j2")
ADDON = "medpulse_telephony"


def release(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(root / "scripts" / "release.py"), *args],
                          cwd=root, capture_output=True, text=True)


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", message)
    return git(root, "rev-parse", "HEAD")


def set_version(root: Path, folder: str, version: str) -> None:
    if not (root / folder / "__manifest__.py").is_file():
        path = root / folder / "pyproject.toml"
        path.write_text(re.sub(r'^version = "[^"]+"', f'version = "{version}"',
                               path.read_text(), count=1, flags=re.M))
    else:
        path = root / folder / "__manifest__.py"
        path.write_text(re.sub(r'"version": "[^"]+"', f'"version": "{version}"',
                               path.read_text(), count=1))


def version_of(root: Path, folder: str) -> str:
    manifest = root / folder / "__manifest__.py"
    if manifest.is_file():
        return re.search(r'"version": "([^"]+)"', manifest.read_text())[1]
    return re.search(r'^version = "([^"]+)"', (root / folder / "pyproject.toml").read_text(),
                     flags=re.M)[1]


def next_patch(version: str, step: int = 1) -> str:
    """``version`` with its last number raised by ``step``: a version nobody released."""
    *head, last = version.split(".")
    return ".".join([*head, str(int(last) + step)])


@pytest.fixture
def copy(tmp_path):
    """The release files of this checkout in a new git repository, its one commit recorded."""
    root = tmp_path / "checkout"
    (root / "scripts").mkdir(parents=True)
    for name in SCRIPTS:
        shutil.copy(ROOT / "scripts" / name, root / "scripts" / name)
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    for folder in DISTRIBUTIONS:
        if folder != ".":
            (root / folder).mkdir()
            # An addon's version is in its manifest, another distribution's in its pyproject.
            version_file = next(
                name for name in ("__manifest__.py", "pyproject.toml")
                if (ROOT / folder / name).is_file()
            )
            shutil.copy(ROOT / folder / version_file, root / folder / version_file)
        shutil.copytree(ROOT / folder / "readme", root / folder / "readme", dirs_exist_ok=True)
        # Fragments still pending here are not the copy's: its tests write their own.
        for fragment in (root / folder / "readme" / "newsfragments").glob("*"):
            if not fragment.name.startswith("."):
                fragment.unlink()
        # The copy releases its newest entries itself (below), recorded or not here; older
        # entries keep the commits they name, which the fetch of this repository's history
        # brings.
        history = root / folder / "readme" / "HISTORY.md"
        history.write_text(re.sub(r"Released at commit: (?:not recorded yet|[0-9a-f]{40})",
                                  "Released at commit: not recorded yet", history.read_text(),
                                  count=1))
    git(root, "init", "-q")
    git(root, "fetch", "-q", str(ROOT), "HEAD")
    commit(root, "release")
    recorded = release(root, "record")
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    commit(root, "record the release")
    return root


def test_the_checkout_agrees():
    """Every distribution's version has its changelog entry; recorded commits hold it."""
    done = release(ROOT, "check")
    assert done.returncode == 0, done.stdout + done.stderr
    names = {line.split()[0] for line in done.stdout.splitlines()}
    assert len(names) == len(DISTRIBUTIONS)


def test_record_names_the_commit(copy):
    release_commit = git(copy, "rev-parse", "HEAD~1")
    for folder in DISTRIBUTIONS:
        history = (copy / folder / "readme" / "HISTORY.md").read_text()
        assert f"Released at commit: {release_commit}" in history
    done = release(copy, "check")
    assert done.returncode == 0, done.stdout
    assert f"commit {release_commit[:12]}" in done.stdout


@pytest.mark.parametrize("folder", DISTRIBUTIONS)
def test_a_version_without_its_changelog_entry_fails(copy, folder):
    current = release(copy, "check").stdout
    bumped = next_patch(version_of(copy, folder), 99)
    set_version(copy, folder, bumped)
    done = release(copy, "check")
    assert done.returncode == 1
    assert f"version {bumped}" in done.stdout and "run scripts/release notes" in done.stdout
    assert done.stdout.count("FAIL") == 1, current + done.stdout


def test_a_changelog_ahead_of_the_version_fails(copy):
    history = copy / ADDON / "readme" / "HISTORY.md"
    history.write_text("## 18.0.2.0.0 (2030-01-01)\n\nReleased at commit: not recorded yet\n\n"
                       + history.read_text())
    done = release(copy, "check")
    assert done.returncode == 1
    assert "the changelog is ahead of the version" in done.stdout


def test_a_recorded_commit_must_hold_the_version(copy):
    """An entry naming a commit where the version was another, or an unknown commit, fails."""
    history = copy / ADDON / "readme" / "HISTORY.md"
    text = history.read_text()
    recorded = re.search(r"Released at commit: ([0-9a-f]{40})", text)[1]
    other = next_patch(version_of(copy, ADDON))
    set_version(copy, ADDON, other)
    wrong = commit(copy, "a version nobody released")
    history.write_text(text.replace(recorded, wrong))
    done = release(copy, "check")
    assert done.returncode == 1
    assert f"names commit {wrong[:12]}, where the version is {other}" in done.stdout
    history.write_text(text.replace(recorded, "0" * 40))
    assert "which this repository does not have" in release(copy, "check").stdout


def test_the_next_release_from_news_fragments(copy):
    """Bump, fragment, notes: a new entry on top, pending until recorded; the older entry
    without its commit then fails."""
    released = version_of(copy, ADDON)
    bumped = next_patch(released)
    set_version(copy, ADDON, bumped)
    (copy / ADDON / "readme" / "newsfragments" / "42.bugfix").write_text(
        "A fix an administrator should know about.\n")
    done = release(copy, "notes")
    assert done.returncode == 0, done.stdout + done.stderr
    history = (copy / ADDON / "readme" / "HISTORY.md").read_text()
    assert history.startswith(f"## {bumped} (")
    assert "### Bugfixes\n\n- A fix an administrator should know about. (issue 42)" in history
    assert not (copy / ADDON / "readme" / "newsfragments" / "42.bugfix").exists()
    assert f"{ADDON} {bumped} (" in done.stdout and "commit not recorded yet" in done.stdout

    # A fragment while the version is in the changelog already: the version must move first.
    (copy / ADDON / "readme" / "newsfragments" / "43.bugfix").write_text("Another.\n")
    assert "is in its changelog already; bump the version" in release(copy, "notes").stdout

    (copy / ADDON / "readme" / "HISTORY.md").write_text(
        history.replace(f"Released at commit: {git(copy, 'rev-parse', 'HEAD~1')}",
                        "Released at commit: not recorded yet"))
    done = release(copy, "check")
    assert done.returncode == 1 and f"{released} names no commit" in done.stdout
