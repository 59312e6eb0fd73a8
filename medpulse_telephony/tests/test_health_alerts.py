"""Integration health alerts: one incident per red spell during working hours, the
administrators alerted once, closed after a lasting green; who sees what.

The clock is constructed: every check is ``medpulse.telephony.incident._evaluate(company,
now)`` at a given moment (the cron passes the real one), with events received at given
moments; nothing sleeps.
"""

import json
from datetime import datetime, timedelta, timezone

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import HttpCase, TransactionCase, freeze_time, new_test_user, tagged

from .common import TelephonyFixtures
from .test_access_matrix import ROLES

# Monday 2 March 2026, 14:00 in Ufa (UTC+5) = 09:00 UTC: working time.
MONDAY = datetime(2026, 3, 2, 9, 0)
# Sunday 1 March 2026, 14:00 in Ufa: nobody works.
SUNDAY = datetime(2026, 3, 1, 9, 0)
# Monday 2 March 2026, 08:00 in Ufa: the clinic opens.
OPENING = datetime(2026, 3, 2, 3, 0)

ADMIN_GROUPS = "base.group_system,medpulse_telephony.group_telephony_manager"


def minutes(n):
    return timedelta(minutes=n)


class AlertsCase(TelephonyFixtures):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_telephony()
        calendar = cls.env["resource.calendar"].create(
            {"name": "Clinic hours", "tz": "Asia/Yekaterinburg"}
        )
        cls.company.resource_calendar_id = calendar  # default attendances: Mon-Fri 08-12, 13-17
        cls.company.partner_id.email = "clinic@clinic.example"
        cls.admin = new_test_user(
            cls.env, login="health_admin", name="Alla Admin", email="alla@clinic.example",
            groups=ADMIN_GROUPS,
        )
        cls.Incident = cls.env["medpulse.telephony.incident"].sudo()

    def event(self, received_at, state="processed", company=None):
        return self.env["medpulse.call.event"].sudo().create({
            "company_id": (company or self.company).id, "path": "events/call", "json": "{}",
            "identity": f"test:{received_at}:{state}", "received_at": received_at, "state": state,
        })

    def evaluate(self, now, company=None):
        return self.Incident._evaluate(company or self.company, now)

    def incidents(self, company=None):
        return self.Incident.search([("company_id", "=", (company or self.company).id)])

    def last_bus_id(self):
        self.env.cr.precommit.run()
        return self.env["bus.bus"].sudo().search([], order="id desc", limit=1).id

    def notifications(self, since):
        """{partner id: [payload]} of the simple notifications sent since bus row ``since``."""
        self.env.cr.precommit.run()
        found = {}
        for row in self.env["bus.bus"].sudo().search([("id", ">", since)], order="id"):
            message = json.loads(row.message)
            if message["type"] == "simple_notification":
                found.setdefault(json.loads(row.channel)[2], []).append(message["payload"])
        return found


@tagged("post_install", "-at_install")
class TestHealthAlerts(AlertsCase, TransactionCase):
    def red_with_an_error(self, at):
        """A working PBX (an event a minute before) whose event at ``at`` could not be folded."""
        self.event(at - minutes(1))
        return self.event(at, state="error")

    def test_red_during_working_hours_opens_one_incident_and_alerts_once(self):
        self.red_with_an_error(MONDAY - minutes(1))
        since = self.last_bus_id()
        incident = self.evaluate(MONDAY)
        self.assertEqual(incident, self.incidents())
        self.assertEqual(
            (incident.state, incident.opened_at, incident.last_red_at, incident.is_red),
            ("open", MONDAY, MONDAY, True),
        )
        self.assertTrue(incident.events_in_error)
        self.assertFalse(incident.silent or incident.reconcile_failed or incident.locked_out)
        self.assertEqual(incident.kinds_label, "Events in error")
        self.assertIn("could not be put in the journal", incident.details)

        admins = self.Incident._administrators(self.company)
        self.assertIn(self.admin, admins)
        self.assertNotIn(self.manager, admins, "telephony managers read incidents, unalerted")
        self.assertNotIn(self.env.ref("base.user_root"), admins)
        activities = incident.activity_ids
        self.assertEqual(sorted(activities.user_id.ids), sorted(admins.ids), "one each")
        self.assertEqual(
            activities.activity_type_id,
            self.env.ref("medpulse_telephony.mail_activity_type_integration_incident"),
        )
        self.assertEqual(set(activities.mapped("date_deadline")), {MONDAY.date()})
        sent = self.notifications(since)
        self.assertEqual(set(sent), set(admins.partner_id.ids))
        payload = sent[self.admin.partner_id.id]
        self.assertEqual(len(payload), 1)
        self.assertEqual(payload[0]["type"], "danger")
        self.assertIn(self.company.name, payload[0]["title"])
        self.assertIn("could not be put in the journal", payload[0]["message"])
        self.assertFalse(
            self.env["mail.mail"].sudo().search([("model", "=", incident._name)]),
            "no e-mail unless the company asks for it",
        )

        # Still red a minute later, and another thing red too: the same incident, no new alert.
        since = self.last_bus_id()
        self.env["medpulse.call.reconcile"].sudo().create({
            "company_id": self.company.id, "date_from": MONDAY - minutes(60), "date_to": MONDAY,
            "state": "failed", "error": "The PBX failed with HTTP 500",
        })
        self.assertEqual(self.evaluate(MONDAY + minutes(1)), incident)
        self.assertEqual(self.incidents(), incident)
        self.assertEqual(incident.last_red_at, MONDAY + minutes(1))
        self.assertTrue(incident.reconcile_failed)
        self.assertIn("HTTP 500", incident.details)
        self.assertEqual(incident.red_count, 1)
        self.assertEqual(len(incident.activity_ids), len(admins))
        self.assertFalse(self.notifications(since))

    def test_an_e_mail_when_the_company_asks(self):
        self.company.medpulse_health_alert_email = True
        self.red_with_an_error(MONDAY - minutes(1))
        incident = self.evaluate(MONDAY)
        mail = self.env["mail.mail"].sudo().search(
            [("model", "=", incident._name), ("res_id", "=", incident.id)]
        )
        self.assertEqual(len(mail), 1)
        self.assertIn(self.admin.partner_id, mail.recipient_ids)
        self.assertNotIn(self.manager.partner_id, mail.recipient_ids)
        self.assertIn("is not working", mail.subject)
        self.assertIn("could not be put in the journal", str(mail.body_html))
        self.evaluate(MONDAY + minutes(1))
        self.assertEqual(
            self.env["mail.mail"].sudo().search_count([("model", "=", incident._name)]), 1
        )

    def test_red_outside_working_hours_opens_none_until_opening_time(self):
        """Red on Sunday: nothing. Still red when the clinic opens on Monday: the incident
        opens then, at opening time."""
        self.env["medpulse.call.reconcile"].sudo().create({
            "company_id": self.company.id, "date_from": SUNDAY - minutes(60), "date_to": SUNDAY,
            "state": "failed", "error": "The PBX failed with HTTP 500",
        })
        since = self.last_bus_id()
        self.assertFalse(self.evaluate(SUNDAY))
        self.assertFalse(self.evaluate(OPENING - minutes(1)), "07:59 in Ufa")
        self.assertFalse(self.incidents())
        self.assertFalse(self.notifications(since))
        health = self.env["medpulse.telephony.health"].sudo().new({"company_id": self.company.id})
        self.assertIn("reconcile", health._red(SUNDAY), "red, but nobody is at work")

        incident = self.evaluate(OPENING + minutes(1))
        self.assertEqual((incident.opened_at, incident.state), (OPENING + minutes(1), "open"))
        self.assertTrue(incident.reconcile_failed)
        self.assertTrue(self.notifications(since))

    def test_a_holiday_is_not_working_time(self):
        self.env["resource.calendar.leaves"].create({
            "name": "Holiday", "calendar_id": self.company.resource_calendar_id.id,
            "date_from": datetime(2026, 3, 1, 19, 0), "date_to": datetime(2026, 3, 2, 18, 59),
        })
        self.red_with_an_error(MONDAY - minutes(1))
        self.assertFalse(self.evaluate(MONDAY))
        self.assertFalse(self.incidents())

    def test_a_flapping_link_makes_one_incident(self):
        error = self.red_with_an_error(MONDAY - minutes(1))
        incident = self.evaluate(MONDAY)
        error.state = "processed"  # green: the call's next event folded it
        self.assertEqual(self.evaluate(MONDAY + minutes(5)), incident)
        self.assertEqual((incident.state, incident.is_red), ("open", False))
        self.event(MONDAY + minutes(9), state="error")  # red again
        self.evaluate(MONDAY + minutes(10))
        self.assertEqual((incident.is_red, incident.red_count), (True, 2))
        self.env["medpulse.call.event"].sudo().search([("state", "=", "error")]).state = "processed"
        self.evaluate(MONDAY + minutes(11))
        self.event(MONDAY + minutes(19), state="error")  # and again
        self.evaluate(MONDAY + minutes(20))
        self.assertEqual(self.incidents(), incident, "one incident, not three")
        self.assertEqual(incident.red_count, 3)
        admins = self.Incident._administrators(self.company)
        self.assertEqual(len(incident.activity_ids), len(admins), "alerted once")

    def test_green_for_the_delay_closes_the_incident(self):
        self.company.medpulse_health_close_minutes = 15
        error = self.red_with_an_error(MONDAY - minutes(1))
        incident = self.evaluate(MONDAY)
        error.state = "processed"
        self.event(MONDAY + minutes(10))
        for minute in range(1, 15):
            self.evaluate(MONDAY + minutes(minute))
            self.assertEqual(incident.state, "open", f"green for {minute} minutes only")
        self.evaluate(MONDAY + minutes(15))
        self.assertEqual((incident.state, incident.closed_at), ("closed", MONDAY + minutes(15)))
        self.assertFalse(incident.activity_ids, "the administrators' activities are done")
        self.assertTrue(any("works again" in str(m.body) for m in incident.message_ids))
        # Red again later: a new incident, a new alert.
        since = self.last_bus_id()
        self.event(MONDAY + minutes(29), state="error")
        second = self.evaluate(MONDAY + minutes(30))
        self.assertNotEqual(second, incident)
        self.assertEqual(len(self.incidents()), 2)
        self.assertIn(self.admin.partner_id.id, self.notifications(since))

    def test_what_is_red(self):
        health = self.env["medpulse.telephony.health"].with_user(self.manager).create({})
        # No event at all for an hour of working time: silent.
        self.assertEqual(list(health._red(MONDAY)), ["silent"])
        self.event(MONDAY - minutes(5))
        self.assertEqual(health._red(MONDAY), {})
        # The PBX refused a request: the client paused the account.
        account = self.company._medpulse_pbx_client().account
        until = (MONDAY + minutes(2)).replace(tzinfo=timezone.utc).timestamp()
        self.env["medpulse.telephony.limit"].sudo().create(
            {"key": f"{account}:locked", "kind": "block", "at": until}
        )
        red = health._red(MONDAY)
        self.assertEqual(list(red), ["lockout"])
        self.assertIn("2:02", red["lockout"], "until when, in the clinic's time (14:02)")
        self.assertEqual(health._red(MONDAY + minutes(3)).get("lockout"), None, "lock over")
        incident = self.evaluate(MONDAY)
        self.assertTrue(incident.locked_out)
        with freeze_time(MONDAY):
            screen = self.env["medpulse.telephony.health"].with_user(self.manager).create({})
            self.assertEqual(screen.status, "red")
            self.assertIn("locked out", screen.status_message)
            self.assertEqual(screen.incident_id, incident)
            self.assertEqual(screen.incident_ids, incident)

    def test_the_no_event_threshold_is_a_setting(self):
        self.event(MONDAY - minutes(40))
        health = self.env["medpulse.telephony.health"].sudo().new({"company_id": self.company.id})
        self.assertEqual(health._red(MONDAY), {})
        self.company.medpulse_health_silence_minutes = 30
        self.assertIn("30 minutes", health._red(MONDAY)["silent"])
        with self.assertRaises(ValidationError):
            self.company.medpulse_health_silence_minutes = 0

    def calls_at(self, moments):
        Call = self.env["medpulse.call"].sudo()
        for index, moment in enumerate(moments):
            Call.create({"entry_id": f"usual-{index}-{moment}", "company_id": self.company.id,
                         "created_at": moment})

    def test_no_events_is_red_only_when_calls_usually_come(self):
        """An hour of working time without events: red where that hour usually has calls
        (5 by default, the same hour of the last 7 days on average), not in a small
        clinic's quiet hour; no incident opens then. A company without any call in those
        days (a webhook that never worked) is red whatever."""
        health = self.env["medpulse.telephony.health"].sudo().new({"company_id": self.company.id})
        self.event(MONDAY - minutes(61))
        self.assertIn("silent", health._red(MONDAY), "no call history: red")
        # The last week: two calls a day between 13:00 and 14:00 in Ufa.
        days = [MONDAY - timedelta(days=days) for days in range(1, 8)]
        self.calls_at([day - minutes(offset) for day in days for offset in (10, 40)])
        self.assertEqual(health._red(MONDAY), {}, "two calls usually: a quiet hour")
        self.assertFalse(self.evaluate(MONDAY))
        self.assertFalse(self.incidents())
        # Three more a day at that hour: five usually, the silence is red.
        self.calls_at([day - minutes(offset) for day in days for offset in (20, 30, 50)])
        self.assertIn("silent", health._red(MONDAY))
        self.assertTrue(self.evaluate(MONDAY).silent)
        # Calls of another hour do not count; a minimum of 0 makes any silence red.
        health_later = MONDAY + timedelta(hours=2)
        self.event(health_later - minutes(61))
        self.assertEqual(health._red(health_later), {}, "none usually at 15:00-16:00")
        self.company.medpulse_health_silence_min_calls = 0
        self.assertIn("silent", health._red(health_later))
        with self.assertRaises(ValidationError):
            self.company.medpulse_health_silence_min_calls = -1

    def test_the_cron_checks_every_configured_company_now(self):
        self.red_with_an_error(MONDAY - minutes(1))
        with freeze_time(MONDAY):
            self.env["medpulse.telephony.incident"]._cron_evaluate()
        self.assertEqual(self.incidents().opened_at, MONDAY)
        cron = self.env.ref("medpulse_telephony.ir_cron_medpulse_telephony_incident")
        self.assertEqual((cron.interval_number, cron.interval_type), (1, "minutes"))

    def test_another_company_incident_is_invisible(self):
        company_b = self.env["res.company"].create({"name": "Branch B"})
        company_b.sudo().write({
            "medpulse_pbx_api_key": "branch-b-key", "medpulse_pbx_api_salt": "branch-b-salt",
            "resource_calendar_id": False,
        })
        admin_b = new_test_user(
            self.env, login="health_admin_b", groups=ADMIN_GROUPS,
            company_id=company_b.id, company_ids=[(6, 0, company_b.ids)],
        )
        self.event(MONDAY - minutes(1), state="error", company=company_b)
        incident_b = self.evaluate(MONDAY, company=company_b)
        self.assertTrue(incident_b, "no calendar: any time is working time")
        self.assertIn(admin_b, incident_b.activity_ids.user_id)
        self.assertNotIn(self.admin, incident_b.activity_ids.user_id, "not company B's admin")
        Incident = self.env["medpulse.telephony.incident"]
        for user in (self.admin, self.manager):
            self.assertFalse(Incident.with_user(user).search([("id", "=", incident_b.id)]))
            with self.assertRaises(AccessError):
                Incident.with_user(user).browse(incident_b.id).read(["details"])
            screen = self.env["medpulse.telephony.health"].with_user(user).create({})
            self.assertNotIn(incident_b, screen.incident_ids)
        self.assertFalse(self.incidents(), "company A is green")


#: README, "Access matrix", the health alerts table: role -> what it may do (else refused).
INCIDENT_MATRIX = {
    "operator": set(),
    "receptionist": set(),
    "doctor": set(),
    "telephony_manager": {"read_incidents"},
    "clinic_manager": set(),
    "administrator": {"read_incidents", "alerted_of_incidents", "change_alert_settings"},
    "portal": set(),
    "public": set(),
}
INCIDENT_ACTIONS = (
    "read_incidents", "alerted_of_incidents", "change_incidents", "change_alert_settings",
)


@tagged("post_install", "-at_install")
class TestHealthAlertsAccessMatrix(AlertsCase, TransactionCase):
    """One test per cell of the README's health alerts table."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.users = {
            role: cls.env.ref("base.public_user") if groups is None
            else new_test_user(cls.env, login=f"incident_{role}", groups=groups)
            for role, groups in ROLES.items()
        }
        cls.env.cr.precommit.run()
        since = cls.env["bus.bus"].sudo().search([], order="id desc", limit=1).id
        Event = cls.env["medpulse.call.event"].sudo()
        for state in ("processed", "error"):
            Event.create({
                "company_id": cls.company.id, "path": "events/call", "json": "{}",
                "identity": f"matrix:{state}", "received_at": MONDAY - minutes(1), "state": state,
            })
        cls.incident = cls.Incident._evaluate(cls.company, MONDAY)
        cls.env.cr.precommit.run()
        cls.bus_partners = {
            json.loads(row.channel)[2]
            for row in cls.env["bus.bus"].sudo().search([("id", ">", since)])
        }

    def do_read_incidents(self, user):
        found = self.env["medpulse.telephony.incident"].with_user(user).search(
            [("id", "=", self.incident.id)]
        )
        return bool(found) and "could not be put" in found.read(["details"])[0]["details"]

    def do_alerted_of_incidents(self, user):
        return (
            user in self.incident.activity_ids.user_id
            and user.partner_id.id in self.bus_partners
        )

    def do_change_incidents(self, user):
        self.incident.with_user(user).write({"state": "closed"})
        return self.incident.sudo().state == "closed"

    def do_change_alert_settings(self, user):
        self.company.with_user(user).write({
            "medpulse_health_alert_email": True, "medpulse_health_close_minutes": 30,
        })
        return self.company.sudo().medpulse_health_alert_email


def _cell_test(role, action, allowed):
    def test(self):
        user = self.users[role]
        try:
            outcome = getattr(self, f"do_{action}")(user)
        except (AccessError, UserError):
            outcome = False
        self.assertEqual(
            outcome, allowed,
            f"{role} {'must' if allowed else 'must not'} be able to {action.replace('_', ' ')}",
        )

    test.__name__ = f"test_{role}__{action}"
    test.__doc__ = f"{role} × {action}: {'allowed' if allowed else 'refused'}"
    return test


for _role in ROLES:
    for _action in INCIDENT_ACTIONS:
        _test = _cell_test(_role, _action, _action in INCIDENT_MATRIX[_role])
        setattr(TestHealthAlertsAccessMatrix, _test.__name__, _test)


@tagged("post_install", "-at_install")
class TestHealthIncidentsBrowser(TelephonyFixtures, HttpCase):
    """The health screen and the incidents, in a browser, as an administrator and as a
    telephony manager (who reads them unalerted)."""

    def test_health_screen_and_incidents_in_the_browser(self):
        self.setup_telephony()
        # Working hours whatever the time the test runs: no calendar, any time is.
        self.company.resource_calendar_id = False
        now = fields.Datetime.now()
        Event = self.env["medpulse.call.event"].sudo()
        for state in ("processed", "error"):
            Event.create({
                "company_id": self.company.id, "path": "events/call", "json": "{}",
                "identity": f"tour:{state}", "received_at": now, "state": state,
            })
        incident = self.env["medpulse.telephony.incident"].sudo()._evaluate(self.company, now)
        self.assertEqual(incident.state, "open")
        for user in (self.env.ref("base.user_admin"), self.manager):
            with self.subTest(user.login):
                self.start_tour("/odoo", "medpulse_health_incidents_tour", login=user.login)
