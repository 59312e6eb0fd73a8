"""Regenerate the addons' ``.pot`` files from a fresh install and merge them into ``ru.po``.

    scripts/i18n              both addons
    scripts/i18n ADDON ...    only these

Installs the addons without demo data into a throw-away database, exports each addon's
terms with Odoo's own exporter (``--i18n-export``), writes ``<addon>/i18n/<addon>.pot`` and
runs ``msgmerge`` into ``<addon>/i18n/ru.po`` (new terms arrive untranslated or fuzzy:
translate them; ``tests/repository`` fails while any is left). Run under the Python that
imports Odoo 18.0 (``scripts/i18n`` picks it like ``scripts/test``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from odoo_instance import ADDONS, ROOT, OdooInstance  # noqa: E402 - after the sys.path set-up above


def main(argv: list[str]) -> int:
    addons = tuple(argv) or ADDONS
    unknown = [a for a in addons if not (ROOT / a / "__manifest__.py").exists()]
    if unknown:
        print(f"FAIL: not an addon of this checkout: {', '.join(unknown)}")
        return 2
    if not shutil.which("msgmerge"):
        print("FAIL: msgmerge not found (Debian: apt-get install gettext)")
        return 2
    work = Path(tempfile.mkdtemp(prefix="medpulse-i18n-"))
    odoo = OdooInstance(f"medpulse_i18n_{time.strftime('%Y%m%d%H%M%S')}", work)
    try:
        odoo.install(addons, demo=False)
        for addon in addons:
            pot = ROOT / addon / "i18n" / f"{addon}.pot"
            pot.parent.mkdir(exist_ok=True)
            odoo.odoo(f"--i18n-export={pot}", f"--modules={addon}", "--stop-after-init",
                      logfile=work / f"export-{addon}.log")
            po = pot.parent / "ru.po"
            if po.exists():
                subprocess.run(["msgmerge", "--quiet", "--no-wrap", "--update", "--backup=none",
                                str(po), str(pot)], check=True)
                subprocess.run(["msgattrib", "--no-obsolete", "--no-wrap", "-o", str(po), str(po)],
                               check=True)
            print(f"{addon}: {pot.relative_to(ROOT)} exported, {po.relative_to(ROOT)} merged")
    finally:
        odoo.drop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
