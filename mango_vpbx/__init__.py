"""Mango Office virtual PBX (VPBX) protocol toolkit.

Pure Python, no Odoo import anywhere in this package.
"""

from .signing import dumps, encode, sign, sign_recording_link, verify

__all__ = ["dumps", "encode", "sign", "sign_recording_link", "verify"]
