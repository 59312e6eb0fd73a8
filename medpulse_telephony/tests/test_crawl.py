"""Every screen of our apps, as every role, in a real browser: the screen crawl.

For each role (receptionist, doctor, clinic manager, operator, telephony manager,
administrator, a user of a second company, a user whose language is Russian) the menus
of our apps are taken from ``ir.ui.menu`` as that user sees them: the apps whose XML id
belongs to an addon named ``medpulse_*`` and every menu under them. The browser half
(``static/tests/crawl/screen_crawler.js``) opens what the web client shows that user:
every menu, every view type of each action, the first record of each list and every
page of its form, the forms and wizards that menus open. The crawl fails on an error
dialog (an access error included), a console error or uncaught exception, a view that
does not load, a list that is empty, and a menu of our apps that was not visited.

Nothing here names a menu, a model or a view: a screen added later is crawled as it is.
Its records come from ``crawl_database.py``, which the crawl names when one is missing.
"""

import json
import logging
import os
import time

from odoo.tests import HttpCase, tagged
from odoo.tools.safe_eval import safe_eval

from .crawl_database import HERE, CrawlDatabase

_logger = logging.getLogger(__name__)

CRAWLER = "@medpulse_telephony/../tests/crawl/screen_crawler"
REPORT_PREFIX = "medpulse-crawl-report:"
STEP_PREFIX = "medpulse-crawl-step:"
APP_MODULE_PREFIX = "medpulse_"
#: Roles to crawl, comma-separated; every role when unset. Set by the upgrade test only
#: (``tests/e2e/test_upgrade.py`` says which roles and why); never in the test command's
#: own run of the addon tests.
ROLES_VARIABLE = "MEDPULSE_CRAWL_ROLES"


class _BrowserLog(logging.Handler):
    """The browser's console, as ``browser_js`` logs it, in order."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        if record.name.endswith(".browser"):
            self.records.append((record.levelno, record.getMessage()))


@tagged("post_install", "-at_install")
class TestScreenCrawl(HttpCase):
    def test_every_screen_as_every_role(self):
        database = CrawlDatabase(self).build()
        users = database.users
        if os.environ.get(ROLES_VARIABLE):
            roles = os.environ[ROLES_VARIABLE].split(",")
            self.assertLessEqual(set(roles), set(users), f"{ROLES_VARIABLE}: unknown role")
            users = {role: users[role] for role in roles}
            _logger.info("crawl as %s only (%s)", ", ".join(roles), ROLES_VARIABLE)
        for role, user in users.items():
            with self.subTest(role=role, login=user.login):
                menus = self._our_menus(user)
                self.assertTrue(menus, f"{role} sees no menu of our apps")
                self._check_records(role, user, menus)
                self._crawl(role, user, menus)

    # ------------------------------------------------------------ the menus

    def _our_menus(self, user):
        """{menu id: path} of the menus with an action in our apps that ``user`` sees."""
        Menu = self.env["ir.ui.menu"].with_context(**{"ir.ui.menu.full_list": True})
        ours = self.env["ir.model.data"].search([
            ("model", "=", "ir.ui.menu"), ("module", "=like", f"{APP_MODULE_PREFIX}%"),
        ])
        roots = Menu.browse(ours.mapped("res_id")).filtered(lambda menu: not menu.parent_id)
        self.assertTrue(roots, "no app menu of a medpulse_* addon")
        for menu in Menu.browse(ours.mapped("res_id")):
            self.assertTrue(
                any(menu.parent_path.startswith(f"{root.id}/") for root in roots),
                f"menu {menu.complete_name} of our addons is outside our apps: "
                "the crawl cannot reach it",
            )
        visible = Menu.with_user(user)._visible_menu_ids()
        found = {}
        for menu in Menu.search([("id", "child_of", roots.ids)]):
            ancestors = [int(part) for part in menu.parent_path.strip("/").split("/")]
            if menu.action and all(ancestor in visible for ancestor in ancestors):
                found[menu.id] = menu
        return found

    def _check_records(self, role, user, menus):
        """Every list behind a menu has a record for ``user``, or the crawl says where to add it."""
        missing = []
        for menu in menus.values():
            action = menu.action
            if action._name != "ir.actions.act_window" or self.env[action.res_model]._transient:
                continue
            types = {view.view_mode for view in action.view_ids} | set(action.view_mode.split(","))
            if not types & {"list", "kanban"}:
                continue
            # evaluated as the web client does: the user's context, their current company
            context = dict(
                action.with_user(user)._get_eval_context(), allowed_company_ids=user.company_id.ids
            )
            domain = safe_eval(action.domain or "[]", context)
            if not self.env[action.res_model].with_user(user).search_count(domain, limit=1):
                missing.append(
                    f"model {action.res_model} has a menu ({menu.complete_name}) but no record "
                    f"{role} can see in the crawl database: add one in {HERE}"
                )
        self.assertFalse(missing, "\n".join(missing))

    # ------------------------------------------------------------ the browser

    def _crawl(self, role, user, menus):
        log = _BrowserLog()
        self._logger.addHandler(log)
        started = time.monotonic()
        browser_failure = None
        try:
            self.browser_js(
                "/odoo",
                f"odoo.loader.modules.get({CRAWLER!r}).crawlScreens()",
                f"odoo.isReady === true && odoo.loader.modules.has({CRAWLER!r})",
                login=user.login, timeout=600,
                # Record every console error and go on: the report lists them all.
                error_checker=lambda message: False,
            )
        except AssertionError as error:
            browser_failure = str(error)
        finally:
            self._logger.removeHandler(log)
        problems, report = self._read_log(log.records)
        if report is None:
            problems.append(f"the crawler sent no report: {browser_failure}")
        else:
            visited = set(report["visited"])
            problems += [
                f"menu not visited (ir.ui.menu shows it to {role}, the web client does not): "
                f"{menu.complete_name}"
                for menu_id, menu in menus.items() if menu_id not in visited
            ]
            problems += [
                f"visited a menu ir.ui.menu does not give {role}: {menu_id}"
                for menu_id in visited - set(menus)
            ]
            problems += [f"{p['where']}: {p['message']}" for p in report["problems"]]
            _logger.info(
                "crawl as %s: %d menus, %d screens, %.1f s in the browser (%.1f s in all)",
                role, len(visited), report["screens"], report["seconds"],
                time.monotonic() - started,
            )
        if problems:
            self.fail(f"screen crawl as {role} ({user.login}): {len(problems)} problem(s)\n- "
                      + "\n- ".join(problems))

    @staticmethod
    def _read_log(records):
        """Console errors (with the step they followed) and the crawler's report."""
        problems, report, step = [], None, "loading the web client"
        for level, message in records:
            if message.startswith(STEP_PREFIX):
                step = message[len(STEP_PREFIX):]
            elif message.startswith(REPORT_PREFIX):
                report = json.loads(message[len(REPORT_PREFIX):])
            elif level >= logging.ERROR:
                lines = dict.fromkeys(  # without the stack, once each
                    line.strip() for line in message.splitlines()
                    if not line.strip().startswith("at ")
                )
                problems.append(f"{step}: console error: {' / '.join(filter(None, lines))[:1500]}")
        return problems, report
