"""Checks of the repository itself: translations, access rights, no Odoo in the toolkit.

They read files only, so they run in seconds and name the file to fix.
"""

from __future__ import annotations

import ast
import csv
import re
from pathlib import Path

import polib
import pytest

ROOT = Path(__file__).resolve().parents[2]
ADDONS = ("medpulse_clinic", "medpulse_telephony", "medpulse_telephony_demo")


def _model_names(addon: str) -> set[str]:
    """Models an addon defines (``_name`` given, not only ``_inherit``), wizards included."""
    names = set()
    for path in (ROOT / addon).rglob("*.py"):
        if "tests" in path.parts:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = {ast.unparse(b) for b in node.bases}
            if not bases & {"models.Model", "models.TransientModel"}:
                continue
            for stmt in node.body:
                if (
                    isinstance(stmt, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == "_name" for t in stmt.targets)
                    and isinstance(stmt.value, ast.Constant)
                ):
                    names.add(stmt.value.value)
    return names


@pytest.mark.parametrize("addon", ADDONS)
def test_russian_translation_is_complete(addon):
    po_path = ROOT / addon / "i18n" / "ru.po"
    pot_path = ROOT / addon / "i18n" / f"{addon}.pot"
    assert pot_path.exists(), f"{pot_path} is missing: export it from a fresh install"
    assert po_path.exists(), f"{po_path} is missing"
    po = polib.pofile(str(po_path))
    pot = polib.pofile(str(pot_path))
    untranslated = [e.msgid for e in po if not e.obsolete and not e.translated()]
    assert not untranslated, f"{po_path}: {len(untranslated)} untranslated, e.g. {untranslated[:3]}"
    missing = {e.msgid for e in pot} - {e.msgid for e in po if not e.obsolete}
    assert not missing, (
        f"{po_path} lacks {len(missing)} msgid(s) of the .pot, e.g. {sorted(missing)[:3]}"
    )


# The demo addon only adds buttons to the telephony addon's models: no model of its own.
@pytest.mark.parametrize("addon", ("medpulse_clinic", "medpulse_telephony"))
def test_every_model_has_access_rights(addon):
    csv_path = ROOT / addon / "security" / "ir.model.access.csv"
    models = _model_names(addon)
    if not models:
        pytest.fail(f"{addon} defines no model")
    with csv_path.open() as fh:
        covered = {row["model_id:id"].split(".")[-1] for row in csv.DictReader(fh)}
    uncovered = {m for m in models if "model_" + m.replace(".", "_") not in covered}
    assert not uncovered, f"{csv_path}: no access line for {sorted(uncovered)}"


@pytest.mark.parametrize("addon", ADDONS)
def test_every_test_module_is_imported(addon):
    """Odoo runs only the test modules ``tests/__init__.py`` imports: a test file left out
    of it never runs, and its failures pass unseen (the waiting list's three once did)."""
    tests = ROOT / addon / "tests"
    init = ast.parse((tests / "__init__.py").read_text())
    imported = {
        alias.name
        for node in ast.walk(init)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    modules = {path.stem for path in tests.glob("test_*.py")}
    assert not modules - imported, (
        f"{tests / '__init__.py'} does not import {sorted(modules - imported)}"
    )


def test_toolkit_never_imports_odoo():
    offenders = [
        str(p.relative_to(ROOT))
        for package in ("mango_vpbx", "mango_vpbx_emulator")
        for p in (ROOT / package).rglob("*.py")
        if re.search(r"^\s*(from|import)\s+odoo\b", p.read_text(), re.M)
    ]
    assert not offenders, f"the toolkit and its emulator must stay pure Python: {offenders}"


def test_docker_compose_file_validates():
    """``docker-compose config`` accepts the file (there is no Docker engine here to run it)."""
    import shutil  # noqa: PLC0415 - imported where it is needed
    import subprocess  # noqa: PLC0415 - imported where it is needed

    tool = shutil.which("docker-compose")
    if not tool:
        pytest.fail(
            "docker-compose is not installed (apt-get install docker-compose; .ci/run does it)"
        )
    result = subprocess.run([tool, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_docker_image_runs_the_tested_init_script():
    """The Odoo container initialises its database with scripts/demo_init.py, the script the
    end-to-end suite runs, so the Docker path cannot drift from the tested one."""
    start = (ROOT / "docker" / "odoo-start.sh").read_text()
    assert "scripts/demo_init.py" in start
    conftest = (ROOT / "tests" / "e2e" / "conftest.py").read_text()
    assert "demo_init.py" in conftest
