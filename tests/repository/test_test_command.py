"""The test command: a failing test fails it; ``--suite`` takes a folder, a file or a node id
(a file used to be dropped without a word, so ``--suite FILE`` ran nothing and the run
passed); it says where the time went.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from run_tests import (  # noqa: E402 - after the sys.path set-up above
    odoo_test_times,
    relative_suite,
    run_pytest,
    suite_holds,
)


@pytest.mark.parametrize(("suite", "classname", "holds"), [
    ("tests/e2e", "tests.e2e.test_scenarios", True),
    ("tests/e2e/", "tests.e2e.test_scenarios.TestX", True),
    ("tests/e2e/test_scenarios.py", "tests.e2e.test_scenarios", True),
    ("tests/e2e/test_scenarios.py::test_x", "tests.e2e.test_scenarios", True),
    ("tests/e2e/test_scenarios.py", "tests.e2e.test_scenarios_more", False),
    ("tests/e2e", "tests.emulator.test_history", False),
])
def test_a_suite_holds_its_tests(suite, classname, holds):
    assert suite_holds(suite, classname) is holds


def test_a_suite_is_named_from_the_checkout():
    absolute = ROOT / "tests" / "repository" / "test_test_command.py"
    assert relative_suite(f"{absolute}::test_x") == "tests/repository/test_test_command.py::test_x"
    assert relative_suite("tests/e2e") == "tests/e2e"


def test_a_missing_suite_fails_without_running(tmp_path):
    passed, failed, problems = run_pytest({}, tmp_path, ["tests/e2e/test_nothing_here.py"])
    assert (passed, failed) == (0, 1)
    assert problems == ["no such test path: tests/e2e/test_nothing_here.py"]


def test_a_failing_test_fails_the_command(tmp_path):
    """``scripts/test`` (its driver, as ``scripts/test`` runs it) on a file of one passing and
    one failing test: exit status 1, both counted, the failure named, the time per phase."""
    (ROOT / ".medpulse").mkdir(exist_ok=True)  # ignored by git; pytest runs tests from here
    folder = Path(tempfile.mkdtemp(prefix="test-command-", dir=ROOT / ".medpulse"))
    try:
        (folder / "test_sample.py").write_text(
            "def test_passes():\n    assert True\n\n\ndef test_fails():\n    assert 1 == 2\n")
        # Outside tests/: the conftest that stands in for pytest-odoo's fixtures, copied.
        (folder / "conftest.py").write_text((ROOT / "tests" / "conftest.py").read_text())
        suite = f"{folder.relative_to(ROOT)}/test_sample.py"
        out = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "run_tests.py"), "--only", "pytest",
             "--suite", suite],
            capture_output=True, text=True, cwd=ROOT, timeout=600,
            # Its own coverage, not this run's (pytest-cov's subprocess hook).
            env={k: v for k, v in os.environ.items() if not k.startswith("COV_CORE_")},
        )
    finally:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
    lines = out.stdout.strip().splitlines()
    assert out.returncode == 1, out.stdout[-3000:] + out.stderr[-2000:]
    assert lines[-1] == "1 passed, 1 failed"
    assert "test_sample.py::test_fails" in out.stdout
    assert any(line.startswith("time per phase") for line in lines)
    assert any(line.strip().startswith(f"pytest: {suite}") for line in lines)


def test_odoo_test_times_per_class(tmp_path):
    """Each test class's time runs from its first ``Starting`` line to the next test's, or to
    the module loader's next line (an at-install test is followed by the next module)."""
    log = tmp_path / "odoo.log"
    stamp = "2026-12-03 16:00:{:02d},000 42 INFO db "
    log.write_text("\n".join([
        stamp.format(0) + "odoo.modules.loading: loading 1 modules...",
        stamp.format(5) + "odoo.addons.medpulse_x.tests.test_a: Starting TestA.test_1 ...",
        stamp.format(8) + "odoo.addons.medpulse_x.tests.test_a: Starting TestA.test_2 ...",
        stamp.format(9) + "odoo.addons.medpulse_x.models.y: something the test logs",
        "Traceback (a continuation line, no time)",
        stamp.format(10) + "odoo.modules.loading: Loading module medpulse_z (3/3)",
        stamp.format(30) + "odoo.addons.medpulse_z.tests.test_b: Starting TestB.test_1 ...",
        stamp.format(37) + "odoo.tests.result: 0 failed, 0 error(s) of 3 tests",
        stamp.format(40) + "odoo.service.server: Initiating shutdown",
    ]) + "\n")
    span, per_class = odoo_test_times(log)
    assert span == 40
    assert dict(per_class) == {"medpulse_x.test_a.TestA": 5, "medpulse_z.test_b.TestB": 7}
