"""Fixtures of the set-up tests (the helpers live in setup_helpers.py)."""

from setup_helpers import odoo_source_archive, real_cache_root  # noqa: F401 - pytest fixtures
