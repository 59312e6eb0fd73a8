"""A webhook outage against a real Odoo: the emulator keeps the calls in its statistics,
reconciliation recovers exactly the missing ones, and running it again changes nothing."""

from __future__ import annotations

import time

from conftest import run_scenario
from test_scenarios import FAST

FIELDS = ["entry_id", "call_type", "direction", "result", "external_e164", "operator_user_id",
          "answered_user_id", "reconciled", "recovered_from_stats", "completed_from_stats",
          "talk_seconds", "created_at", "ended_at"]


def trigger_reconciliation(rpc):
    [cron] = rpc(
        "ir.model.data",
        "search_read",
        [("module", "=", "medpulse_telephony"), ("name", "=", "ir_cron_medpulse_call_reconcile")],
        fields=["res_id"],
    )
    rpc("ir.cron", "method_direct_trigger", [cron["res_id"]])


def lost_events(emulator, entries):
    return [e for e in emulator.get("/control/events")["events"]
            if any(entry in e["json"] for entry in entries)]


def journal(rpc, entries):
    rows = rpc("medpulse.call", "search_read", [("entry_id", "in", entries)], fields=FIELDS)
    return {row["entry_id"]: row for row in rows}


def test_outage_is_recovered_from_the_pbx_statistics(emulator, admin_rpc):
    delivered = run_scenario(emulator, "incoming_answered", **FAST)
    admin_rpc.wait_for(
        "medpulse.call", [("entry_id", "=", delivered), ("is_final", "=", True)], ["id"]
    )

    emulator.post("/control/faults", {"outage_seconds": 60})
    try:
        lost = [run_scenario(emulator, "missed_operator", **FAST),
                run_scenario(emulator, "outgoing", **FAST)]
        # The PBX sends record/added a while after a call ends: the outage covers it too.
        quiet_since, seen = time.monotonic(), -1
        while time.monotonic() - quiet_since < 3:
            count = len(lost_events(emulator, lost))
            if count != seen:
                quiet_since, seen = time.monotonic(), count
            time.sleep(0.2)
    finally:
        emulator.post("/control/faults", {})
    outcomes = {e["outcome"] for e in lost_events(emulator, lost)}
    assert outcomes and "delivered" not in outcomes, outcomes
    assert not journal(admin_rpc, lost), "the outage really kept these calls from Odoo"

    trigger_reconciliation(admin_rpc)
    after = journal(admin_rpc, [delivered, *lost])
    assert set(after) == {delivered, *lost}
    assert after[lost[0]]["call_type"] == "missed_incoming"
    assert after[lost[1]]["call_type"] == "outgoing"
    for entry in lost:
        assert after[entry]["recovered_from_stats"], after[entry]
        assert after[entry]["reconciled"], after[entry]
        assert after[entry]["external_e164"] == "+79177654321"
    assert after[delivered]["reconciled"] and not after[delivered]["recovered_from_stats"]

    total = admin_rpc("medpulse.call", "search_count", [])
    trigger_reconciliation(admin_rpc)
    assert journal(admin_rpc, [delivered, *lost]) == after, "a second run changes nothing"
    assert admin_rpc("medpulse.call", "search_count", []) == total
