"""The upgrade test's starting point: a clinic's database of the previous release.

Built through that release's real paths (``build``): its commit checked out in a
``git worktree``, its ``scripts/demo_init.py`` (demo data, the settings and the PBX keys),
its Odoo server and its PBX emulator posting every scenario through the signed webhook,
the recordings downloaded by their cron, one played (an audit row) and one deleted on
request, a follow-up resolved with a note, a patient deleted. What it held is read then
(``before``): the upgrade test compares the upgraded database with it.

The database is the same for every run of the same inputs, so it is kept between runs
(``odoo_instance.DatabaseCache``, ``~/.cache/medpulse/upgrade-release/<key>``: the dump,
the filestore, ``before`` and the PBX keys) under a key naming all it depends on
(``release_key``): the release's commit, the Odoo that built it, the PostgreSQL server's
version and the source of this module and of what it uses. A second run restores it in
seconds instead of building it (about 100 s on the 2-core test machine); the upgrade
(``-u`` with the checkout's code) and every check run each time.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import ODOO_PYTHON, ROOT, EmulatorControl, OdooRPC, run_scenario
from odoo_instance import DatabaseCache, OdooInstance, free_port, odoo_addons_dirs, odoo_identity
from test_backup_restore import snapshot
from test_scenarios import CASES, FAST

#: Changed when the cache's layout changes (what ``meta.json`` holds).
CACHE_FORMAT = "1"
#: The source the release's database and ``before`` depend on, besides the release itself.
SOURCES = ("tests/e2e/upgrade_release.py", "tests/e2e/conftest.py", "tests/e2e/test_scenarios.py",
           "tests/e2e/test_backup_restore.py", "scripts/odoo_instance.py")
CACHE = "upgrade-release"


def release_key(commit: str, odoo: str, postgres: str, sources: dict[str, bytes]) -> str:
    """The cache key of the release's database: a digest of what it depends on."""
    digest = hashlib.sha256()
    for part in (CACHE_FORMAT, commit, odoo, postgres,
                 *(f"{name}\0{text.hex()}" for name, text in sorted(sources.items()))):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:24]


def current_key(commit: str, instance: OdooInstance) -> str:
    """``release_key`` of this machine and checkout for ``commit`` (any form git reads)."""
    full = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", f"{commit}^{{commit}}"],
                          capture_output=True, text=True)
    if full.returncode:
        pytest.fail(f"the previous release {commit} is not in this clone (a shallow clone? "
                    f"git fetch --unshallow): {full.stderr.strip()}")
    conn = instance.connect()
    with conn.cursor() as cr:
        cr.execute("SHOW server_version_num")
        [postgres] = cr.fetchone()
    conn.close()
    return release_key(full.stdout.strip(), odoo_identity(instance.python), postgres,
                       {name: (ROOT / name).read_bytes() for name in SOURCES})


def release_database(commit: str, instance: OdooInstance, work_dir: Path,
                     cache_root: Path | None = None) -> tuple[dict, bool]:
    """``instance``'s database (stopped), the previous release's, and what ``build`` read
    in it; from the cache when it has the key, else built and kept there.
    Returns (meta, whether it came from the cache)."""
    cache = DatabaseCache(CACHE, cache_root)
    key = current_key(commit, instance)
    meta = cache.restore(key, instance)
    if meta is not None:
        return meta, True
    meta = build(commit, instance.dbname, work_dir)
    cache.save(key, instance, meta)
    return json.loads(json.dumps(meta)), False  # as a restore gives it back


# --------------------------------------------------------------------------- building
def release_worktree(commit: str, work_dir: Path) -> Path:
    path = work_dir / f"release-{commit[:12]}"
    out = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), commit],
                         capture_output=True, text=True)
    if out.returncode:
        pytest.fail(f"cannot check out the previous release {commit} (a shallow clone? "
                    f"git fetch --unshallow): {out.stderr.strip()}")
    return path


@dataclass
class ReleaseInstance(OdooInstance):
    """An Odoo of the previous release: its addons and its toolkit, from its worktree."""

    root: Path = field(default=ROOT)

    def addons_path(self) -> str:
        return ",".join(map(str, [*odoo_addons_dirs(self.python), self.root]))

    def env(self) -> dict[str, str]:
        env = super().env()
        paths = [str(self.root), str(self.toolkit_metadata_dir()), os.environ.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
        # Not measured by the coverage of this checkout (pytest-cov's subprocess hook).
        return {k: v for k, v in env.items() if not k.startswith("COV_CORE_")}


class Emulator:
    """The PBX emulator of a checkout, posting to an Odoo's webhook."""

    def __init__(self, root: Path, odoo: OdooInstance, port: int, key: str, salt: str,
                 log: Path):
        self.log = log.open("w")
        self.proc = subprocess.Popen(
            [ODOO_PYTHON, "-m", "mango_vpbx_emulator", "serve", "--port", str(port),
             "--webhook", f"{odoo.url}/mango", "--api-key", key, "--api-salt", salt],
            cwd=root, env=odoo.env(), stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.control = EmulatorControl(f"http://127.0.0.1:{port}")
        self.control.wait_ready(self.proc)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


def build(commit: str, dbname: str, work_dir: Path) -> dict:
    """The release's database ``dbname``, built through its real paths (its server stopped
    at the end); returns what it held (``before``), the recordings' digests (``audio``) and
    its PBX keys."""
    release = release_worktree(commit, work_dir)
    key, salt = secrets.token_hex(12), secrets.token_hex(16)
    port = free_port()
    old = ReleaseInstance(dbname, work_dir, python=ODOO_PYTHON, root=release)
    emulator = None
    try:
        old.write_config()
        subprocess.run(
            [ODOO_PYTHON, str(release / "scripts" / "demo_init.py"), "-c", str(old.config_path),
             "-d", dbname, "--pbx-url", f"http://127.0.0.1:{port}/vpbx/", "--api-key", key,
             "--api-salt", salt, "--odoo-url", old.url],
            check=True, env=old.env(), cwd=release, stdout=subprocess.DEVNULL,
        )
        old.start()
        emulator = Emulator(release, old, port, key, salt, work_dir / "emulator-release.log")
        rpc = OdooRPC(old.url, dbname, "admin", "admin")
        fill(rpc, emulator.control)
        before = {**snapshot(rpc), **our_fields_on_odoo_models(rpc)}
        audio = recordings_audio(rpc)
    finally:
        if emulator:
            emulator.stop()
        old.stop()
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(release)],
                       capture_output=True)
        shutil.rmtree(release, ignore_errors=True)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], capture_output=True)
    return {"before": before, "audio": audio, "api_key": key, "api_salt": salt}


def audio_of(meta: dict) -> dict[int, str]:
    """``meta["audio"]`` by recording id (JSON has string keys)."""
    return {int(rec_id): digest for rec_id, digest in meta["audio"].items()}


def fill(rpc: OdooRPC, emulator: EmulatorControl) -> dict:
    """A clinic's life at the release, through its real paths."""
    patient = rpc("medpulse.patient", "create", {
        "last_name": "Upgradova", "first_name": "Vera",
        "phone_ids": [(0, 0, {"number": "+7 917 765-43-21"})],
    })
    entries = {}
    for name, (params, _expected) in CASES.items():
        entries[name] = run_scenario(emulator, name, **FAST, **params)
    calls = rpc.wait_for("medpulse.call", [("entry_id", "in", list(entries.values())),
                                            ("is_final", "=", True)],
                         ["id", "entry_id", "call_type"],
                         until=lambda rows: len(rows) == len(entries))
    # The patient asked to be deleted: the journal keeps the calls, not the link.
    rpc("medpulse.patient", "unlink", [patient])
    # Follow-ups: one missed call called back and noted, one left waiting.
    missed = [c for c in calls if c["call_type"] == "missed_incoming"]
    assert len(missed) >= 2, calls
    # (What the list's "Resolved" button writes: action_set_resolved answers nothing over RPC.)
    rpc("medpulse.call", "write", [missed[0]["id"]],
        {"followup_note": "Called back, booked", "followup_state": "resolved"})
    # The recordings, downloaded by their cron; one played (access log), one deleted on request.
    rpc.wait_for("medpulse.call.recording", [], ["id"], timeout=60)
    recordings = download_recordings(rpc)
    rpc("medpulse.call.recording", "action_play", [recordings[0]["id"]])
    if len(recordings) > 1:
        wizard = rpc("medpulse.call.recording.delete", "create", {
            "recording_ids": [(6, 0, [recordings[-1]["id"]])], "reason": "The patient's request",
        })
        rpc("medpulse.call.recording.delete", "action_delete", [wizard])
    return entries


def download_recordings(rpc: OdooRPC) -> list[dict]:
    """Run the download cron until every recording is in Odoo; the recordings."""
    [cron] = rpc("ir.model.data", "search_read",
                 [("module", "=", "medpulse_telephony"),
                  ("name", "=", "ir_cron_medpulse_call_recording_download")], fields=["res_id"])
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        rpc("ir.cron", "method_direct_trigger", [cron["res_id"]])
        recordings = rpc("medpulse.call.recording", "search_read",
                         [("state", "!=", "deleted")], fields=["id", "state"])
        if all(r["state"] == "available" for r in recordings):
            break
        time.sleep(1)
    assert recordings and all(r["state"] == "available" for r in recordings), recordings
    return recordings


def our_fields_on_odoo_models(rpc: OdooRPC) -> dict[str, list[dict]]:
    """Our ``medpulse_*`` stored fields on res.company and res.users, every record."""
    rows = {}
    for model in ("res.company", "res.users"):
        fields_ = rpc(model, "fields_get", attributes=["store", "type"])
        names = sorted(n for n, f in fields_.items()
                       if n.startswith("medpulse_") and f.get("store"))
        rows[model] = rpc(model, "search_read", [], fields=names, order="id",
                          context={"active_test": False})
    return rows


def recordings_audio(rpc: OdooRPC) -> dict[int, str]:
    """sha256 of each available recording's bytes, as Odoo serves them (the filestore)."""
    found = {}
    for rec in rpc("medpulse.call.recording", "search_read", [("state", "=", "available")],
                   fields=["id", "audio_file"]):
        found[rec["id"]] = hashlib.sha256(base64.b64decode(rec["audio_file"] or b"")).hexdigest()
    return found
