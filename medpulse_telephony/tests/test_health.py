from datetime import datetime

from odoo.tests import TransactionCase, freeze_time, tagged

from .common import TelephonyFixtures

# Monday 2 March 2026, 14:00 in Ufa (UTC+5) = 09:00 UTC: working time.
MONDAY_AFTERNOON = datetime(2026, 3, 2, 9, 0)
# Sunday 1 March 2026, 14:00 in Ufa: nobody works.
SUNDAY_AFTERNOON = datetime(2026, 3, 1, 9, 0)


@tagged("post_install", "-at_install")
class TestHealth(TelephonyFixtures, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()
        calendar = cls.env["resource.calendar"].create(
            {"name": "Clinic hours", "tz": "Asia/Yekaterinburg"}
        )
        cls.company.resource_calendar_id = calendar  # default attendances: Mon-Fri 08-12, 13-17

    def _event(self, received_at, state="processed"):
        return self.env["medpulse.call.event"].create({
            "company_id": self.company.id, "path": "events/call", "json": "{}",
            "identity": f"test:{received_at}:{state}", "received_at": received_at, "state": state,
        })

    def _health(self):
        return self.env["medpulse.telephony.health"].with_user(self.manager).create({})

    def test_red_when_silent_during_working_hours(self):
        self._event(datetime(2026, 3, 2, 6, 30))  # 11:30 in Ufa, 2.5 h ago
        with freeze_time(MONDAY_AFTERNOON):
            health = self._health()
            self.assertEqual(health.status, "red")
            self.assertIn("60 minutes of working time", health.status_message)
            self.assertEqual(health.last_event_at, datetime(2026, 3, 2, 6, 30))

    def test_green_when_events_arrive(self):
        self._event(datetime(2026, 3, 2, 8, 50))
        self._event(datetime(2026, 3, 2, 8, 55), state="not_understood")
        with freeze_time(MONDAY_AFTERNOON):
            health = self._health()
            self.assertEqual(health.status, "ok")
            self.assertEqual(health.events_24h, 2)
            self.assertEqual(health.not_understood_count, 1)
            domain = health.action_open_not_understood()["domain"]
            self.assertEqual(self.env["medpulse.call.event"].search_count(domain), 1)

    def test_green_outside_working_hours(self):
        self._event(datetime(2026, 2, 27, 12, 0))  # Friday
        with freeze_time(SUNDAY_AFTERNOON):
            self.assertEqual(self._health().status, "ok")

    def test_failures_are_counted(self):
        self.company._medpulse_pbx_record_error("The PBX failed with HTTP 500")
        with freeze_time(MONDAY_AFTERNOON):
            health = self._health()
            self.assertEqual(health.last_error, "The PBX failed with HTTP 500")
            self.assertEqual(health.recovered_count, 0)
            self.assertEqual(health.last_reconcile_state, "Never")
