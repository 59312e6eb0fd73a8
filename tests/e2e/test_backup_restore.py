"""Odoo's own backup and restore keep a clinic's telephony: the journal and the recordings.

A call is played on the emulator and its recording downloaded; Odoo's backup (``odoo db
dump``: the same zip as the database manager's /web/database/backup, the SQL dump and the
filestore) is restored (``odoo db load``) into a new database, served by its own Odoo.
There every record of every ``medpulse.*`` model reads the same, and the recording's bytes
come back from the restored filestore. README, "Backup and restore".
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import time
import zipfile

from conftest import ODOO_PYTHON, ROOT, OdooRPC, run_scenario
from odoo_instance import OdooInstance
from test_scenarios import FAST


def snapshot(rpc: OdooRPC) -> dict[str, list[dict]]:
    """Every record of every model of ours, its stored fields (the files aside: hashed below).

    The models are those with access rules: the others (abstract ones) hold no record."""
    rules = rpc("ir.model.access", "search_read",
                [("model_id.model", "=like", "medpulse.%"), ("model_id.transient", "=", False)],
                fields=["model_id"])
    models = rpc("ir.model", "read", list({r["model_id"][0] for r in rules}), ["model"])
    rows = {}
    for model in sorted(m["model"] for m in models):
        fields = rpc(model, "fields_get", attributes=["store", "type"])
        names = sorted(name for name, f in fields.items()
                       if f.get("store") and f["type"] != "binary")
        rows[model] = rpc(model, "search_read", [], fields=names, order="id",
                          context={"active_test": False})
    return rows


def recording_file(rpc: OdooRPC, recording_id: int) -> tuple[str, str]:
    """The recording's audio (sha256 of the bytes Odoo serves) and its filestore path."""
    [rec] = rpc("medpulse.call.recording", "read", [recording_id], ["audio_file", "attachment_id"])
    [att] = rpc("ir.attachment", "read", [rec["attachment_id"][0]], ["store_fname"])
    return hashlib.sha256(base64.b64decode(rec["audio_file"])).hexdigest(), att["store_fname"]


def odoo_db(instance: OdooInstance, *args: str) -> None:
    """``odoo db ...`` with the instance's config: Odoo's database manager on the command line."""
    subprocess.run([*instance.odoo_command(), "db", "-c", str(instance.config_path), *args],
                   check=True, cwd=ROOT, env=instance.env(), capture_output=True)


def test_backup_restores_the_journal_and_the_recordings(odoo_server, emulator, admin_rpc,
                                                        work_dir):
    entry = run_scenario(emulator, "incoming_answered", **FAST)
    [recording] = admin_rpc.wait_for("medpulse.call.recording",
                                     [("call_id.entry_id", "=", entry)], ["id"])
    [cron] = admin_rpc("ir.model.data", "search_read",
                       [("module", "=", "medpulse_telephony"),
                        ("name", "=", "ir_cron_medpulse_call_recording_download")],
                       fields=["res_id"])
    deadline = time.monotonic() + 60
    state = None
    while state != "available" and time.monotonic() < deadline:
        admin_rpc("ir.cron", "method_direct_trigger", [cron["res_id"]])
        [state] = [r["state"] for r in admin_rpc("medpulse.call.recording", "read",
                                                  [recording["id"]], ["state"])]
    assert state == "available", "the recording was downloaded into Odoo"
    audio_sha, store_fname = recording_file(admin_rpc, recording["id"])
    before = snapshot(admin_rpc)
    assert any(call["entry_id"] == entry for call in before["medpulse.call"])

    backup = work_dir / "clinic-backup.zip"
    odoo_db(odoo_server, "dump", odoo_server.dbname, str(backup))
    with zipfile.ZipFile(backup) as zf:
        names = set(zf.namelist())
    assert {"dump.sql", "manifest.json", f"filestore/{store_fname}"} <= names, \
        "the backup holds the database and the filestore with the recording"

    restored = OdooInstance(f"{odoo_server.dbname}_restored", work_dir, python=ODOO_PYTHON)
    restored.write_config()
    try:
        odoo_db(restored, "load", restored.dbname, str(backup))
        assert (restored.data_dir / "filestore" / restored.dbname / store_fname).is_file()
        restored.start()
        rpc = OdooRPC(restored.url, restored.dbname, "admin", "admin")
        after = snapshot(rpc)
        assert after.keys() == before.keys()
        for model, rows in before.items():
            assert after[model] == rows, f"{model} differs after the restore"
        assert recording_file(rpc, recording["id"]) == (audio_sha, store_fname)
    finally:
        restored.drop()
