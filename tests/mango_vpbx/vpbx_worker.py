"""A worker for the client tests that need a second process (importable by multiprocessing)."""

from __future__ import annotations


def hangup_in_another_process(base_url, store_path, queue):
    """Run one command against the PBX with a store in a file; report the outcome's class."""
    from mango_vpbx import VpbxClient, VpbxError
    from mango_vpbx.limits import SqliteLimitStore

    client = VpbxClient(base_url, "key", "salt", timeout=5,
                        limiter=SqliteLimitStore(store_path))
    try:
        client.hangup("call-1", command_id="from-process")
        queue.put("ok")
    except VpbxError as exc:
        queue.put(type(exc).__name__)
