"""The wallboard in a real browser, as each role that may open it: a call rings while it is
open and appears by itself (the PBX's events posted to the webhook by the tour).

Odoo's test mode has no live bus and no cron: the test cursor drops the post-commit hook
that wakes the websockets (``NOTIFY``), and refuses websockets. ``WebsocketCase`` allows
them; what the publisher's cron would push is pushed at the end of the webhook's fold here,
and what the hook would do is done once the bus messages are written (:meth:`_wake_boards`):
the browser's websocket then reads them from the bus as it does in production. The same
path without any of this runs against a real server in ``tests/e2e/test_wallboard_live.py``.
"""

from odoo.tests import new_test_user, tagged
from odoo.tests.common import JsonRpcException

from odoo.addons.bus.models.bus import channel_with_db, dispatch, hashable
from odoo.addons.bus.tests.common import WebsocketCase

from ..models.medpulse_wallboard import WALLBOARD_SUBCHANNEL, WALLBOARD_VARIANTS
from .common import TelephonyFixtures

URL = "/odoo/action-medpulse_telephony.medpulse_wallboard_action"


@tagged("post_install", "-at_install")
class TestWallboardInBrowser(TelephonyFixtures, WebsocketCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()
        cls.telephony_manager = new_test_user(
            cls.env, login="wb_tour_tel", name="Tanya Telephony",
            groups="medpulse_telephony.group_telephony_manager",
        )
        cls.clinic_manager = new_test_user(
            cls.env, login="wb_tour_clinic", name="Kira Clinic",
            groups="medpulse_clinic.group_clinic_manager",
        )

    def setUp(self):
        super().setUp()
        Board = type(self.env["medpulse.wallboard"])
        changed = Board._changed
        db_name = self.registry.db_name

        def changed_and_published(board, companies):
            # What the publisher's cron does after the commit, done in the webhook's
            # transaction here: the test cursor has neither crons nor commits.
            changed(board, companies)
            board._publish_due(companies.ids)
            channels = {
                hashable(channel_with_db(db_name, (company, f"{WALLBOARD_SUBCHANNEL}/{variant}")))
                for company in companies.sudo() for variant in WALLBOARD_VARIANTS
            }
            board.env.cr.precommit.add(lambda: _wake_boards(channels))

        self.patch(Board, "_changed", changed_and_published)
        # Every event's board pushed: the throttle (tested in test_wallboard.py) would leave
        # the last ones to the cron, which the test mode does not run.
        self.patch(Board, "_claim", lambda board, company: True)

    def test_clinic_manager_sees_a_call_ring_live(self):
        self.start_tour(URL, "medpulse_wallboard_named_tour", login=self.clinic_manager.login)

    def test_telephony_manager_sees_a_call_ring_live(self):
        self.start_tour(URL, "medpulse_wallboard_unnamed_tour", login=self.telephony_manager.login)

    def test_an_operator_is_refused(self):
        self.authenticate(self.operator1.login, self.operator1.login)
        # Odoo logs a refused request as a warning: expected here, and captured.
        with self.assertRaisesRegex(JsonRpcException, "AccessError"), \
                self.assertLogs("odoo.http", "WARNING") as logged:
            self.make_jsonrpc_request(
                "/web/dataset/call_kw/medpulse.wallboard/get_board",
                {"model": "medpulse.wallboard", "method": "get_board", "args": [], "kwargs": {}},
            )
        self.assertIn("Only telephony managers and clinic managers", logged.output[0])


def _wake_boards(channels):
    """What the bus's post-commit ``NOTIFY`` does: the websockets of these channels read the
    bus (``WebsocketCase.trigger_notification_dispatching``, from the server's side)."""
    websockets = set()
    for channel in channels:
        websockets.update(dispatch._channels_to_ws.get(channel, []))
    for websocket in websockets:
        websocket.trigger_notification_dispatching()
