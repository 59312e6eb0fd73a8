"""Signing of the PBX's requests, in both directions.

Every request between the PBX and an external system is a form POST with three
fields: ``vpbx_api_key`` (the PBX account's unique code), ``json`` (the payload as
a JSON *string*) and ``sign`` = ``sha256(api_key + json + api_salt)`` as lowercase
hex. It is a plain SHA-256 of the concatenation, not an HMAC (some public clients
get this wrong). The salt is never sent.

The signature covers the exact ``json`` string: verify it on the raw form value,
before any parsing, and sign exactly the string you send.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["sign", "verify", "encode", "dumps", "sign_recording_link"]


def sign(api_key: str, json_str: str, api_salt: str) -> str:
    """Return the PBX signature of ``json_str``: ``sha256(key + json + salt)``."""
    return hashlib.sha256((api_key + json_str + api_salt).encode("utf-8")).hexdigest()


def verify(form: Mapping[str, Any], api_key: str, api_salt: str) -> bool:
    """Tell whether a received form is signed by the holder of ``api_key``/``api_salt``.

    Constant-time in the signature and the key; a missing field, a non-string
    field or an empty key/salt on our side never verifies.
    """
    received_key = form.get("vpbx_api_key")
    received_sign = form.get("sign")
    json_str = form.get("json")
    if not api_key or not api_salt:
        return False
    if not all(isinstance(v, str) for v in (received_key, received_sign, json_str)):
        return False
    key_ok = hmac.compare_digest(received_key.encode("utf-8"), api_key.encode("utf-8"))
    expected = sign(api_key, json_str, api_salt)
    sign_ok = hmac.compare_digest(received_sign.lower().encode("utf-8"), expected.encode("utf-8"))
    return key_ok and sign_ok


def dumps(payload: Any) -> str:
    """Serialise a payload the way the PBX expects: compact, UTF-8 kept as is."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def encode(payload: Any, api_key: str, api_salt: str) -> dict[str, str]:
    """Build the signed form fields (``vpbx_api_key``, ``sign``, ``json``) for a payload.

    A ``str`` payload is sent verbatim (it must already be the JSON text).
    """
    json_str = payload if isinstance(payload, str) else dumps(payload)
    return {"vpbx_api_key": api_key, "sign": sign(api_key, json_str, api_salt), "json": json_str}


def sign_recording_link(
    api_key: str, timestamp: int | str, recording_id: str, api_salt: str
) -> str:
    """Signature of a ``queries/recording/link`` GET link.

    ``sha256(key + timestamp + recording_id + salt)``; ``timestamp`` is the link's expiry.
    """
    return hashlib.sha256(
        (api_key + str(timestamp) + recording_id + api_salt).encode("utf-8")
    ).hexdigest()
