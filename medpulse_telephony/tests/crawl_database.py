"""The screen crawl's database: one user per role, and something on every screen.

Two clinics (companies), each with its own PBX account served by its own PBX emulator
(``mango_vpbx_emulator``, in this process). Everything the PBX produces comes from the
emulator's scenarios and commands and reaches Odoo through the real webhook route,
signed: calls of every kind and their raw events, lines, a click-to-call command and
its result, recordings (downloaded from the emulator into attachments, then played),
and a reconciliation with the emulator's statistics. The clinic's records (patients,
doctors, services, appointments) are created as a receptionist would.

The emulator logs its events instead of posting them (no webhook URL), and this module
delivers them afterwards, in order, with ``url_open``: an HttpCase shares one database
cursor between the test and its HTTP server, so nothing may reach the server while the
test itself uses the database.

A screen added later is covered by the crawl as it is; when its model needs records,
add them in :meth:`CrawlDatabase._seed_company` (the crawl says so when a list is empty).
"""

from datetime import timedelta

from odoo import Command, fields
from odoo.tests import new_test_user

import mango_vpbx
from mango_vpbx_emulator import scenarios
from mango_vpbx_emulator.pbx import Autopilot
from mango_vpbx_emulator.server import Emulator

from ..models.medpulse_reminder import local_day

#: Emulated seconds per real second: a call of a minute takes 60 ms.
SPEED = 1000.0
HERE = "medpulse_telephony/tests/crawl_database.py"

#: role -> (groups, extension, company: "main" or "second", language)
ROLES = {
    "receptionist": ("medpulse_clinic.group_clinic_receptionist", "101", "main", "en_US"),
    "doctor": ("medpulse_clinic.group_clinic_doctor", False, "main", "en_US"),
    "clinic_manager": ("medpulse_clinic.group_clinic_manager", False, "main", "en_US"),
    "operator": ("medpulse_telephony.group_telephony_operator", "102", "main", "en_US"),
    "telephony_manager": ("medpulse_telephony.group_telephony_manager", "103", "main", "en_US"),
    "second_company": (
        "medpulse_clinic.group_clinic_receptionist,medpulse_telephony.group_telephony_manager",
        "101", "second", "en_US",
    ),
    "russian": (
        "medpulse_clinic.group_clinic_manager,medpulse_telephony.group_telephony_manager",
        False, "main", "ru_RU",
    ),
}


class CrawlDatabase:
    """Build the crawl's data inside an HttpCase's transaction: ``CrawlDatabase(case).build()``."""

    def __init__(self, case):
        self.case = case
        self.env = case.env
        self.users = {}

    def build(self):
        self.env["res.lang"]._activate_lang("ru_RU")
        installed = self.env["ir.module.module"].search([("state", "=", "installed")])
        installed._update_translations(["ru_RU"])
        companies = {
            "main": self.env.company,
            "second": self.env["res.company"].create({"name": "Second clinic (crawl)"}),
        }
        for role, (groups, extension, company_key, lang) in ROLES.items():
            company = companies[company_key]
            self.users[role] = new_test_user(
                self.env, login=f"crawl_{role}", groups=groups, lang=lang, tz="Asia/Yekaterinburg",
                name=f"Crawl {role.replace('_', ' ').title()}",
                company_id=company.id, company_ids=[Command.set(company.ids)],
                medpulse_pbx_extension=extension,
            )
        self.users["administrator"] = self.env.ref("base.user_admin")
        for key, company in companies.items():
            self._seed_company(company, key)
        self._download_recordings()
        return self

    def _people(self, company_key):
        return {role: self.users[role] for role, spec in ROLES.items() if spec[2] == company_key}

    def _seed_company(self, company, key):
        people = self._people(key)
        receptionist = people.get("receptionist") or people["second_company"]
        operator = people.get("operator") or people["second_company"]
        manager = people.get("telephony_manager") or people["second_company"]
        Clinic = self.env["medpulse.patient"].with_user(receptionist).with_company(company)
        patients = Clinic.create([
            {"last_name": "Crawlova", "first_name": f"Anna {key}",
             "phone_ids": [Command.create({"number": "+7 916 100-00-01"})]},
            {"last_name": "Crawlov", "first_name": f"Boris {key}",
             "phone_ids": [Command.create({"number": "+7 916 100-00-02"})]},
        ])
        specialty = self.env["medpulse.specialty"].create({"name": f"Crawl therapy ({key})"})
        service = self.env["medpulse.service"].create({
            "name": f"Crawl consultation ({key})", "code": f"CRAWL-{key}", "duration": 30,
            "specialty_id": specialty.id, "company_id": company.id,
        })
        doctor = self.env["medpulse.doctor"].create({
            "name": f"Crawl doctor ({key})", "specialty_id": specialty.id, "company_id": company.id,
            "user_id": people["doctor"].id if "doctor" in people else False,
            "resource_calendar_id": False, "service_ids": [Command.set(service.ids)],
        })
        self._play_pbx(company, key, receptionist, operator, patients, manager)
        # booked during the patient's call, as from the card: the form shows the call
        call = self.env["medpulse.call"].search(
            [("company_id", "=", company.id), ("call_type", "=", "incoming")], limit=1
        )
        Appointment = self.env["medpulse.appointment"].with_user(receptionist).with_company(company)
        tomorrow = fields.Datetime.now() + timedelta(days=1)
        first = Appointment.create({
            "patient_id": patients[0].id, "doctor_id": doctor.id, "service_id": service.id,
            "start": Appointment._find_next_free_slot(doctor, service, tomorrow),
            "call_id": call.id,
        })
        # Another patient: a booking of the second one would close their call-back.
        third = Clinic.create({"last_name": "Crawlova", "first_name": f"Vera {key}",
                               "phone_ids": [Command.create({"number": "+7 916 100-00-03"})]})
        second = Appointment.create({
            "patient_id": third.id, "doctor_id": doctor.id, "service_id": service.id,
            "start": Appointment._find_next_free_slot(doctor, service, first.stop),
        })
        self._remind(company, key, first | second)
        # Issue 22, part 3: the second patient waits; a booking cancelled later offers its time.
        self.env["medpulse.waitlist"].with_user(receptionist).with_company(company).create({
            "patient_id": patients[1].id, "doctor_id": doctor.id, "hour_from": 0, "hour_to": 24,
            "day_sat": True, "day_sun": True,
            "waiting_since": fields.Datetime.now() - timedelta(days=3),
        })
        freed = Appointment.create({
            "patient_id": third.id, "doctor_id": doctor.id, "service_id": service.id,
            "start": Appointment._find_next_free_slot(doctor, service, second.stop),
        })
        freed.action_cancel()
        # Issue 22: yesterday's no-show of the first patient, on the recall list.
        yesterday = fields.Datetime.now() - timedelta(days=1)
        missed = Appointment.create({
            "patient_id": patients[0].id, "doctor_id": doctor.id, "service_id": service.id,
            "start": Appointment._find_next_free_slot(doctor, service, yesterday),
        })
        missed.action_no_show()

    def _remind(self, company, key, appointments):
        """Issue 21, part 2: tomorrow's reminders (an SMS through the emulator unless the
        demo's quiet hours hold it, one refused for want of consent) and the call list, by
        the reminders' own code."""
        Rule = self.env["medpulse.reminder.rule"].sudo()
        if not Rule.search([("company_id", "=", company.id), ("service_ids", "=", False)]):
            Rule.create({"name": f"Crawl reminders ({key})", "company_id": company.id,
                         "channel": "sms_call", "quiet_start": 0.0, "quiet_end": 0.0})
        company.sudo().medpulse_sms_extension = "101"
        Reminder = self.env["medpulse.reminder"].sudo()
        built = Reminder._build_day(company, local_day(company, appointments[0].start))
        ours = built.filtered(lambda r: r.appointment_id in appointments and r.state == "planned")
        # Past the call time: the SMS goes, the appointments join the call list.
        now = max(appointments.mapped("start")) - timedelta(hours=19)
        for reminder in ours.sorted("planned_at"):
            reminder._deliver(now)
        if not ours.filtered(lambda r: r.state == "listed"):
            raise AssertionError(f"the reminders listed nobody: {ours.mapped('error')}")

    def _play_pbx(self, company, key, receptionist, operator, patients, manager):
        """Calls on the company's emulated PBX, their events through the webhook, then
        the PBX's statistics."""
        api_key, api_salt = f"crawl-key-{key}", f"crawl-salt-{key}"
        emulator = Emulator(
            api_key, api_salt, webhook=None, speed=SPEED, record_delay=1.0, rate_limits=False,
            stats_not_ready_polls=0, autopilot=Autopilot(answer_after=2, talk=20),
        )
        emulator.start("127.0.0.1", 0)
        self.case.addCleanup(emulator.stop)
        company.sudo().write(
            {
                "medpulse_pbx_api_url": f"{emulator.url}/vpbx/",
                "medpulse_pbx_api_key": api_key,
                "medpulse_pbx_api_salt": api_salt,
                "medpulse_pbx_time_base": "utc",
                "medpulse_pbx_default_region": "RU",
            }
        )
        known, other = (patient.phone_ids[:1].number_e164.lstrip("+") for patient in patients)
        desk = receptionist.medpulse_pbx_extension
        plays = [
            # Issue 23: from an ad's call-tracking number, 2 then 1 typed in the voice menu, the
            # recording tagged by speech analytics.
            ("incoming_answered", {"caller": known, "extension": desk, "dtmf": "2,1",
                                   "dct": "74950001122", "utm": "yandex/cpc/spring",
                                   "topics": "Booking,Prices"}),
            # an unknown caller from the same ad who hangs up in the voice menu: to call back
            ("missed_ivr", {"caller": "79169990011", "dct": "74950001122",
                            "utm": "yandex/cpc/spring", "dtmf": "2"}),
            ("outgoing", {"extension": desk, "target": known}),
            ("internal", {"extension": desk, "to_extension": operator.medpulse_pbx_extension}),
            # last, from another number: nobody calls it back, so it waits in "to return"
            ("missed_operator", {"caller": other, "extension": desk}),
        ]
        for name, params in plays:
            run = scenarios.run_scenario(emulator.pbx, name, dict(params, speed=SPEED))
            if run.error:
                raise AssertionError(f"the emulator's {name} scenario failed: {run.error}")
        answer = (
            self.env["medpulse.call.command"].with_user(receptionist).with_company(company)
            .action_click_to_call(known, "medpulse.patient", patients[0].id)
        )
        if not answer["ok"]:
            raise AssertionError(f"click-to-call on the emulator failed: {answer['message']}")
        # Issue 21: an SMS to the patient, its result and delivery report from the emulator.
        patients[0].with_user(receptionist).consent_sms = True
        sms = (
            self.env["medpulse.sms"].with_user(receptionist).with_company(company)
            ._send(patients[0], f"Crawl SMS ({key})", known)
        )
        if not sms["ok"]:
            raise AssertionError(f"SMS on the emulator failed: {sms['message']}")
        # The autopilot's thread ends the call and starts the one that later sends its
        # record/added: the second join waits for that one.
        emulator.pbx.join(30)
        emulator.pbx.join(30)
        deliveries = [(delivery.path, delivery.json) for delivery in emulator.sender.log()]
        # and a signed request the webhook cannot read: kept, flagged "not understood"
        deliveries.append(("events/call", '{"entry_id": "crawl-unreadable", "seq": "x"}'))
        self._deliver(deliveries, api_key, api_salt)
        now = fields.Datetime.now()
        self.env["medpulse.call.reconcile"].with_user(manager).with_company(company).action_reconcile_period(
            company, now - timedelta(hours=1), now + timedelta(hours=1),
        )
        # An integration incident of yesterday, opened and closed as the health check does.
        Incident = self.env["medpulse.telephony.incident"].sudo()
        incident = Incident._open(
            company, {"errors": "Crawl: events in error"}, now - timedelta(days=1)
        )
        incident._close(now - timedelta(days=1) + timedelta(minutes=20))

    def _deliver(self, deliveries, api_key, api_salt):
        for path, json_str in deliveries:
            form = mango_vpbx.encode(json_str, api_key, api_salt)
            response = self.case.url_open(f"/mango/{path}", data=form)
            if response.status_code != 200:
                raise AssertionError(f"the webhook refused {path}: {response.status_code}")

    def _download_recordings(self):
        Recording = self.env["medpulse.call.recording"].sudo()
        Recording._cron_download()
        # (A database that lived, e.g. the upgrade test's, may hold recordings deleted on request.)
        recordings = Recording.search([("state", "!=", "deleted")])
        missing = recordings.filtered(lambda r: r.state != "available" or not r.attachment_id)
        if not recordings or missing:
            raise AssertionError(
                f"recordings were not downloaded from the emulator: {missing.mapped('last_error')}"
            )
        for recording in recordings:
            main = recording.company_id == self.env.company
            manager = self.users["telephony_manager" if main else "second_company"]
            recording.with_user(manager)._log_access("play")
        # Issue 23: the topics speech analytics found and the visitors' sources, asked of the
        # emulators.
        self.env["medpulse.call.insight"].sudo()._cron_fetch()
        # The fetch itself is tested in test_insight.py. On the upgrade test's database the
        # crawl's calls got none (to look into): the screens still get a topic to show.
        for company in self.env["res.company"].search([]):
            Call = self.env["medpulse.call"].sudo()
            if Call.search_count([("company_id", "=", company.id), ("topic_ids", "!=", False)]):
                continue
            call = Call.search(
                [("company_id", "=", company.id), ("dct_number", "!=", False)], limit=1)
            if call:
                Topic = self.env["medpulse.call.topic"].sudo()
                topic = Topic.search([("company_id", "=", company.id), ("name", "=", "Booking")])
                topic = topic or Topic.create({"name": "Booking", "company_id": company.id})
                call.topic_ids = [Command.link(topic.id)]
        label = self.env["medpulse.ivr.label"].sudo().search([], limit=1)
        label.name = "Cancel or move an appointment"
