"""The test command's choice of pytest suites: ``--suite`` takes a folder, a file or a node id.

A file used to be dropped without a word (only folders were kept), so ``--suite FILE`` ran
nothing and the run passed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from run_tests import relative_suite, run_pytest, suite_holds  # noqa: E402 - after the sys.path set-up above


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
