"""``scripts/demo``: Odoo with the addons on a demo database, wired to the PBX emulator.

The database (default ``medpulse_demo``) is kept between runs; ``--reset`` starts afresh.
Stop with Ctrl-C: both servers stop.
"""

from __future__ import annotations

import argparse
import secrets
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from odoo_instance import ROOT, OdooInstance, free_port  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="medpulse_demo")
    parser.add_argument("--port", type=int, default=8069, help="Odoo's HTTP port")
    parser.add_argument("--pbx-port", type=int, default=8180, help="the emulator's port")
    parser.add_argument("--work-dir", type=Path, default=Path.home() / ".local/share/medpulse-demo")
    parser.add_argument("--reset", action="store_true", help="drop the demo database first")
    parser.add_argument("--history", type=int, default=60, metavar="DAYS",
                        help="days of calls a new demo database gets (0: none)")
    opts = parser.parse_args()

    # Crons on, as in production: recordings download, reconciliation runs.
    odoo = OdooInstance(opts.db, opts.work_dir, http_port=opts.port or free_port(),
                        extra_options={"max_cron_threads": "2"})
    if opts.reset:
        odoo.drop()
    odoo.write_config()
    key_file = opts.work_dir / "pbx-credentials"
    if not key_file.exists():
        key_file.write_text(f"{secrets.token_hex(12)} {secrets.token_hex(16)}\n")
        key_file.chmod(0o600)
    api_key, api_salt = key_file.read_text().split()
    pbx_url = f"http://127.0.0.1:{opts.pbx_port}/vpbx/"
    pbx_files = opts.work_dir / f"{opts.db}-emulator"

    subprocess.run(
        [odoo.python, str(ROOT / "scripts" / "demo_init.py"), "-c", str(odoo.config_path),
         "-d", opts.db, "--pbx-url", pbx_url, "--api-key", api_key, "--api-salt", api_salt,
         "--odoo-url", odoo.url, "--emulator-dir", str(pbx_files),
         *(["--history", str(opts.history)] if opts.history else [])],
        check=True, env=odoo.env(), cwd=ROOT,
    )
    emulator = subprocess.Popen(
        [odoo.python, "-m", "mango_vpbx.emulator", "serve", "--port", str(opts.pbx_port),
         "--webhook", f"{odoo.url}/mango", "--api-key", api_key, "--api-salt", api_salt,
         "--directory", str(pbx_files / "directory.json"),
         *(["--history", str(pbx_files / "history.json")] if opts.history else [])],
        env=odoo.env(), cwd=ROOT,
    )
    try:
        odoo.start()
        print(
            f"\nMedPulse is running: {odoo.url}/odoo  (log: {odoo.log_path})\n"
            "  logins: admin / admin (extension 101, manager), demo / demo (102), anna / anna (103)\n"
            f"  PBX emulator console: http://127.0.0.1:{opts.pbx_port}/  (webhook {odoo.url}/mango)\n"
            "  Ring yourself: Settings > Telephony > Ring me, or start a scenario in the console.\n"
            "Ctrl-C stops both.",
            flush=True,
        )
        while emulator.poll() is None and odoo.process and odoo.process.poll() is None:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        odoo.stop()
        emulator.terminate()
        emulator.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
