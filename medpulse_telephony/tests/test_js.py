import logging
import re
from pathlib import Path

from odoo.modules.module import get_module_path
from odoo.tests import HttpCase, tagged

from odoo.addons.web.tests.test_js import unit_test_error_checker

TEST_FILES = "medpulse_telephony/static/tests"
# Hoot's `filter` keeps the tests whose full name ("@module/path/test name") matches;
# a value between slashes is a regular expression.
HOOT_FILTER = "/^@medpulse_telephony\\//"


class _Collector(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@tagged("post_install", "-at_install")
class TestIncomingCardJs(HttpCase):
    def test_incoming_card_hoot(self):
        """Run our Hoot tests headless (the card, the journal); every test of every file
        must have run and passed.

        Hoot reports success for an empty selection too, so the number of tests it
        passed is compared with the number of tests in the files.
        """
        folder = Path(get_module_path("medpulse_telephony"), "static", "tests")
        expected = sum(
            len(re.findall(r"^test\(", path.read_text(), re.M)) for path in folder.glob("*.test.js")
        )
        self.assertGreater(expected, 0)
        collector = _Collector()
        # The browser's console is logged under this test's logger (odoo.tests.common).
        logger = logging.getLogger("odoo.addons.medpulse_telephony")
        logger.addHandler(collector)
        try:
            self.browser_js(
                f"/web/tests?headless&loglevel=2&timeout=15000&filter={HOOT_FILTER}",
                "", "", login="admin", timeout=600,
                success_signal="[HOOT] test suite succeeded",
                error_checker=unit_test_error_checker,
            )
        finally:
            logger.removeHandler(collector)
        passed = [
            int(match[1])
            for match in map(re.compile(r"\[HOOT\] passed (\d+) tests").search, collector.messages)
            if match
        ]
        self.assertEqual(passed, [expected], f"Hoot must run every test of {TEST_FILES}")
