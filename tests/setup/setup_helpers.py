"""Shared by the set-up tests: where the checkout, the setup module and the caches are,
and the local Odoo source archive the setup is tested from."""

from __future__ import annotations

import hashlib
import os
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / "scripts" / "setup" / "medpulse_setup.py"
sys.path.insert(0, str(SETUP.parent))
import medpulse_setup  # noqa: E402 - after the sys.path set-up above

# The interpreter the set-up environment is built from: the one behind the Python that runs
# these tests (a virtualenv's base), so the test's environment is keyed like the user's.
BASE_PYTHON = os.path.realpath(getattr(sys, "_base_executable", sys.executable))


@pytest.fixture(scope="session")
def real_cache_root() -> Path:
    """The user's cache (HOME before any test changes it): virtualenvs built here are kept
    between runs, so only the first run on a machine pays for pip."""
    return medpulse_setup.cache_root()


@pytest.fixture(scope="session")
def odoo_source_archive(real_cache_root) -> Path:
    """A local Odoo 18.0 source archive: MEDPULSE_ODOO_SOURCE when it is one, else one made
    once from the ``odoo`` package this run imports (the setup needs nothing else of it)."""
    spec = os.environ.get("MEDPULSE_ODOO_SOURCE")
    if spec and Path(spec).is_file():
        return Path(spec)
    import odoo  # noqa: PLC0415 - under the Python that runs Odoo

    package = Path(odoo.__file__).resolve().parent
    tag = hashlib.sha256(f"{package}:{odoo.release.version}".encode()).hexdigest()[:12]
    archive = real_cache_root / "test-sources" / f"odoo-18.0-{tag}.tar.gz"
    if not archive.exists():
        archive.parent.mkdir(parents=True, exist_ok=True)
        partial = archive.with_suffix(".part")
        with tarfile.open(partial, "w:gz", compresslevel=1) as tar:
            tar.add(
                package,
                arcname="odoo-18.0/odoo",
                filter=lambda ti: None if "__pycache__" in ti.name else ti,
            )
        partial.rename(archive)
    return archive
