"""docker-compose.yml validates, and its Odoo container runs the tested initialisation script."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_compose_file_validates() -> None:
    tool = shutil.which("docker-compose")
    assert tool, "install Debian's docker-compose (apt-get install -y docker-compose) to check it"
    result = subprocess.run(
        [tool, "-f", str(ROOT / "docker-compose.yml"), "config", "--services"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == {"db", "odoo", "pbx", "proxy"}


def test_odoo_container_uses_the_shared_init_script() -> None:
    start = (ROOT / "docker" / "odoo-start.sh").read_text()
    assert "/opt/medpulse/scripts/demo_init.py" in start
    assert (ROOT / "scripts" / "demo_init.py").exists()
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "/opt/medpulse/odoo-start.sh" in compose
    assert "--webhook=http://proxy/mango" in compose
