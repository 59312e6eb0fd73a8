"""The linters of ``scripts/test`` (and of ``.pre-commit-config.yaml``): every finding fails.

    python scripts/lint.py            # all of them, as scripts/test runs them
    python scripts/lint.py ruff eslint

Python (pinned in ``scripts/setup/medpulse_setup.py``'s ``TEST_DEPENDENCIES``, which the test
command installs into its environment):

- ``ruff`` on the whole checkout with the project's configuration (``pyproject.toml``: OCA's
  per-file ignores for ``__init__.py`` and ``__manifest__.py``);
- ``pylint`` with ``pylint-odoo`` and ``.pylintrc-mandatory`` (OCA's mandatory checks) on the
  addons;
- ``oca-checks-odoo-module`` (manifests, XML, CSV) and ``oca-checks-po`` (translations,
  without the pretty-format rule, as OCA runs it) on the addons.

JavaScript, on the addons' ``static/src``: ``prettier --check`` and ``eslint`` at the versions
of ``NODE_PACKAGES``, installed by npm into ``~/.cache/medpulse/node-lint-<hash>/`` on the
first run (offline, npm takes them from its own cache; when it cannot, the run fails and
says why: a linter that did not run is a failed run, never a skipped one).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts" / "setup"))
from medpulse_setup import cache_root  # noqa: E402 - after the sys.path set-up above

NODE_PACKAGES = {
    "prettier": "3.3.3",
    "eslint": "9.12.0",
    "@eslint/js": "9.12.0",
    "globals": "16.0.0",
}
# Owned by the toolkit's maintainers: their findings are counted apart in the summary (they
# still fail the run).
TOOLKIT_PATHS = ("mango_vpbx/", "tests/mango_vpbx/", "tests/emulator/")


class LintError(Exception):
    """A linter could not run: the run fails with this sentence."""


def addons() -> list[str]:
    return sorted(p.parent.name for p in ROOT.glob("*/__manifest__.py"))


def _run(cmd: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    except FileNotFoundError:
        raise LintError(f"{cmd[0]} is not installed (scripts/test installs it)") from None


def _python_tool(module: str) -> list[str]:
    return [sys.executable, "-m", module]


def _script(name: str) -> str:
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise LintError(f"{name} is not installed for {sys.executable} (scripts/test installs it)")
    return str(path)


# --------------------------------------------------------------------------- Python
def ruff() -> list[str]:
    out = _run([*_python_tool("ruff"), "check", "--output-format", "concise", "--no-cache", "."])
    if out.returncode not in (0, 1):
        raise LintError(f"ruff failed: {out.stderr.strip()[-500:]}")
    return [line for line in out.stdout.splitlines() if line[:1].isalnum() and ":" in line
            and not line.startswith(("Found ", "All checks"))]


def pylint_odoo() -> list[str]:
    out = _run([*_python_tool("pylint"), "--rcfile=.pylintrc-mandatory", *addons()])
    if out.returncode & 32 or (out.returncode and not out.stdout.strip()):
        raise LintError(f"pylint failed: {(out.stderr or out.stdout).strip()[-500:]}")
    return [line for line in out.stdout.splitlines() if line and not line.startswith("*")]


def oca_checks_odoo_module() -> list[str]:
    out = _run([_script("oca-checks-odoo-module"), "--no-verbose", *addons()])
    if out.returncode and not out.stdout.strip():
        raise LintError(f"oca-checks-odoo-module failed: {out.stderr.strip()[-500:]}")
    return [line for line in out.stdout.splitlines() if line.strip()]


def oca_checks_po() -> list[str]:
    files = sorted(
        str(path.relative_to(ROOT))
        for addon in addons()
        for path in (ROOT / addon / "i18n").glob("*.po*")
    )
    out = _run([_script("oca-checks-po"), "--no-verbose", "--disable=po-pretty-format", *files])
    if out.returncode and not out.stdout.strip():
        raise LintError(f"oca-checks-po failed: {out.stderr.strip()[-500:]}")
    return [line for line in out.stdout.splitlines() if line.strip()]


# --------------------------------------------------------------------------- JavaScript
def node_tools() -> Path:
    """The folder whose node_modules holds NODE_PACKAGES, installed once per version set."""
    key = hashlib.sha256(json.dumps(NODE_PACKAGES, sort_keys=True).encode()).hexdigest()[:12]
    folder = cache_root() / f"node-lint-{key}"
    if all((folder / "node_modules" / name / "package.json").exists() for name in NODE_PACKAGES):
        return folder
    npm = shutil.which("npm")
    if not npm:
        raise LintError("npm is not installed: prettier and eslint need Node.js and npm "
                        "(Debian: apt-get install npm)")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "package.json").write_text(json.dumps(
        {"name": "medpulse-lint", "private": True, "devDependencies": NODE_PACKAGES}, indent=2
    ))
    out = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefer-offline"],
                         cwd=folder, capture_output=True, text=True)
    if out.returncode:
        raise LintError(
            "npm could not install " + ", ".join(f"{n}@{v}" for n, v in NODE_PACKAGES.items())
            + " (offline, they must be in npm's cache: run scripts/test once online): "
            + out.stderr.strip()[-300:]
        )
    return folder


def _node(tool: str, args: list[str]) -> subprocess.CompletedProcess:
    folder = node_tools()
    env = dict(os.environ, NODE_PATH=str(folder / "node_modules"))
    return _run([str(folder / "node_modules" / ".bin" / tool), *args], env=env)


def _static_src() -> list[str]:
    return [addon + "/static/src" for addon in addons() if (ROOT / addon / "static/src").is_dir()]


def prettier() -> list[str]:
    patterns = [f"{folder}/**/*.{{js,scss}}" for folder in _static_src()]
    out = _node("prettier", ["--list-different", *patterns])
    if out.returncode not in (0, 1) or (out.returncode and not out.stdout.strip()):
        raise LintError(f"prettier failed: {out.stderr.strip()[-500:]}")
    return [f"{line}: not formatted as prettier does (prettier --write {line})"
            for line in out.stdout.splitlines() if line.strip()]


def eslint() -> list[str]:
    out = _node("eslint", ["--format", "json", *_static_src()])
    try:
        results = json.loads(out.stdout)
    except ValueError:
        raise LintError(f"eslint failed: {(out.stderr or out.stdout).strip()[-500:]}") from None
    return [
        f"{Path(result['filePath']).relative_to(ROOT)}:{msg.get('line', 0)}:"
        f"{msg.get('column', 0)}: {msg['message']} ({msg.get('ruleId')})"
        for result in results
        for msg in result["messages"]
    ]


LINTERS = {
    "ruff": ruff,
    "pylint-odoo": pylint_odoo,
    "oca-checks-odoo-module": oca_checks_odoo_module,
    "oca-checks-po": oca_checks_po,
    "prettier": prettier,
    "eslint": eslint,
}


def run(names: list[str] | None = None, say=print) -> tuple[int, int, list[str]]:
    """Run the linters; ``(passed, failed, problems)`` as the test command counts them."""
    passed, failed, problems = 0, 0, []
    for name in names or LINTERS:
        try:
            findings = LINTERS[name]()
        except LintError as exc:
            failed += 1
            problems.append(f"lint {name}: {exc}")
            continue
        if not findings:
            passed += 1
            say(f"lint {name}: 0 findings")
            continue
        failed += 1
        toolkit = [f for f in findings if f.startswith(TOOLKIT_PATHS)]
        say(f"lint {name}: {len(findings)} finding(s)"
            + (f", {len(toolkit)} in the toolkit's paths" if toolkit else ""))
        for finding in findings:
            say(f"  {finding}")
        problems.append(f"lint {name}: {len(findings)} finding(s)")
    return passed, failed, problems


if __name__ == "__main__":
    _passed, _failed, _problems = run(sys.argv[1:] or None)
    for problem in _problems:
        print(f"FAIL: {problem}")
    sys.exit(1 if _failed else 0)
