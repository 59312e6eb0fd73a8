"""Every emulator scenario, played against a real Odoo through the signed webhook,
ends as the right journal record; an exported log replays into the same journal on a
fresh database."""

from __future__ import annotations

import base64
import json
import subprocess

import pytest
from conftest import ODOO_PYTHON, ROOT, OdooInstance, OdooRPC, run_scenario

FAST = {"speed": 40.0, "ivr_seconds": 4.0, "ring_seconds": 8.0, "talk_seconds": 40.0}
FIELDS = ["entry_id", "direction", "call_type", "result", "missed_at", "answered_user_id",
          "operator_user_id", "rang_user_ids", "external_e164", "talk_seconds", "wait_seconds",
          "is_final", "transfers", "followup_state", "line_id", "patient_id"]

# scenario -> (parameters, expected journal values; users by login)
CASES = {
    "incoming_answered": ({}, {"call_type": "incoming", "answered": "admin", "rang": {"admin"}}),
    "missed_ivr": (
        {},
        {
            "call_type": "missed_incoming",
            "missed_at": "ivr",
            "rang": set(),
            "followup_state": "needs_callback",
        },
    ),
    "missed_operator": (
        {},
        {
            "call_type": "missed_incoming",
            "missed_at": "operator",
            "rang": {"admin"},
            "followup_state": "needs_callback",
        },
    ),
    "queue": (
        {"answered_by": "103"},
        {"call_type": "incoming", "answered": "anna", "rang": {"admin", "demo", "anna"}},
    ),
    "blind_transfer": (
        {},
        {"call_type": "incoming", "rang": {"admin", "demo"}, "transferred": True},
    ),
    "consultative_transfer": (
        {},
        {"call_type": "incoming", "rang": {"admin", "demo"}, "transferred": True},
    ),
    "callback": ({}, {"call_type": "outgoing", "operator": "admin"}),
    "internal": ({}, {"call_type": "internal", "answered": "demo"}),
    "outgoing": ({}, {"call_type": "outgoing", "operator": "admin"}),
}


@pytest.fixture(scope="module")
def logins(admin_rpc):
    users = admin_rpc("res.users", "search_read", [("login", "in", ["admin", "demo", "anna"])],
                      fields=["login"])
    return {u["id"]: u["login"] for u in users}


def final_call(rpc, entry_id):
    [call] = rpc.wait_for("medpulse.call", [("entry_id", "=", entry_id)], FIELDS,
                          until=lambda rows: rows and rows[0]["is_final"])
    return call


@pytest.mark.parametrize("scenario", list(CASES))
def test_scenario_builds_the_journal_record(emulator, admin_rpc, logins, scenario):
    params, expected = CASES[scenario]
    entry_id = run_scenario(emulator, scenario, **FAST, **params)
    call = final_call(admin_rpc, entry_id)

    assert call["call_type"] == expected["call_type"], call
    if "missed_at" in expected:
        assert call["missed_at"] == expected["missed_at"]
    if "answered" in expected:
        assert (
            call["answered_user_id"] and logins[call["answered_user_id"][0]] == expected["answered"]
        )
    if "operator" in expected:
        assert (
            call["operator_user_id"] and logins[call["operator_user_id"][0]] == expected["operator"]
        )
    if "rang" in expected:
        assert {logins[u] for u in call["rang_user_ids"]} == expected["rang"]
    if "followup_state" in expected:
        assert call["followup_state"] == expected["followup_state"]
    if expected.get("transferred"):
        assert call["transfers"], "the journal shows the transfer"
    if call["result"] == "answered":
        assert call["talk_seconds"] > 0
    if call["direction"] != "internal":
        assert call["external_e164"] == "+79177654321"


def test_exported_log_replays_into_the_same_journal(emulator, admin_rpc, odoo_server, work_dir,
                                                    pbx_credentials, new_demo):
    entries = [run_scenario(emulator, name, **FAST, **CASES[name][0])
               for name in ("incoming_answered", "missed_operator", "queue", "outgoing")]
    originals = {e: final_call(admin_rpc, e) for e in entries}
    call_ids = admin_rpc("medpulse.call", "search", [("entry_id", "in", entries)])
    action = admin_rpc("medpulse.call", "action_export_raw_events", call_ids)
    attachment_id = int(action["url"].split("/web/content/")[1].split("?")[0])
    [attachment] = admin_rpc("ir.attachment", "read", [attachment_id], fields=["datas"])
    log = work_dir / "exported.jsonl"
    log.write_bytes(base64.b64decode(attachment["datas"]))
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines and {"path", "json", "received_at"} <= set(lines[0])

    api_key, api_salt = pbx_credentials
    fresh = OdooInstance(f"{odoo_server.dbname}_replay", work_dir, python=ODOO_PYTHON)
    try:
        new_demo(fresh, "--pbx-url", "http://127.0.0.1:9/vpbx/",
                 "--api-key", api_key, "--api-salt", api_salt, "--odoo-url", fresh.url)
        fresh.start()
        subprocess.run(
            [ODOO_PYTHON, "-m", "mango_vpbx_emulator", "replay", str(log),
             "--webhook", f"{fresh.url}/mango", "--api-key", api_key, "--api-salt", api_salt],
            check=True, env=fresh.env(), cwd=ROOT, stdout=subprocess.DEVNULL,
        )
        replayed_rpc = OdooRPC(fresh.url, fresh.dbname, "admin", "admin")
        comparable = [f for f in FIELDS if f not in ("answered_user_id", "operator_user_id",
                                                      "rang_user_ids", "line_id", "patient_id")]
        for entry_id, original in originals.items():
            replayed = final_call(replayed_rpc, entry_id)
            assert {f: replayed[f] for f in comparable} == {f: original[f] for f in comparable}
            # Same users and line, by name (ids may differ between databases).
            for field in ("answered_user_id", "operator_user_id", "line_id", "patient_id"):
                assert (replayed[field] or [0, False])[1] == (original[field] or [0, False])[1], (
                    field
                )
    finally:
        fresh.drop()
