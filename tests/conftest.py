"""Shared by the pytest suites: headless Chromium (the e2e suite and the emulator's console)."""

from __future__ import annotations

import os
import shutil

import pytest


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("MEDPULSE_BROWSER") or shutil.which("chromium")
    if not executable:
        pytest.fail("Chromium not found: the browser tests need it (apt-get install chromium)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=executable, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update",
                  "--no-first-run"],
        )
        yield chromium
        chromium.close()


# pytest-odoo (a test dependency: the addons' edit-test loop, README "Develop") is a plugin of
# every pytest run under Odoo's Python, and its session fixture loads the registry of the Odoo
# database given with --odoo-database, failing without one. The suites here start their own
# Odoo servers and never use one in-process: these empty fixtures take the plugin's place.
@pytest.fixture(scope="session")
def load_registry():
    yield


@pytest.fixture(scope="module")
def enable_odoo_test_flag():
    yield
