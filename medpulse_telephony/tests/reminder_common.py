"""Reminder fixtures: a clinic in Ufa (UTC+5), a reminder rule, patients with and without
consents, appointments at fixed times; the PBX is the PBX double (``ClickToCallCase``).

The jobs take their clock as an argument (``now``), which the tests construct: "tomorrow"
is the clinic's, whatever the server's zone (UTC here).
"""

from datetime import datetime

from odoo import Command

from .click_to_call_common import ClickToCallCase

UFA = "Asia/Yekaterinburg"


def utc(*args):
    """A naive UTC datetime, as Odoo stores them."""
    return datetime(*args)


class ReminderCase(ClickToCallCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.env(su=True)
        cls.company.sudo().write({"medpulse_sms_extension": "555", "medpulse_sms_sender": "CLINIC"})
        cls.company.sudo().resource_calendar_id.tz = UFA
        cls.company.sudo().partner_id.lang = "en_US"
        cls.patient.sudo().consent_sms = True
        Patient = env["medpulse.patient"]
        cls.no_sms = Patient.create({
            "last_name": "Smirnov", "first_name": "Oleg", "consent_sms": False,
            "phone_ids": [Command.create({"number": "+7 916 765-43-21"})],
        })
        cls.no_call = Patient.create({
            "last_name": "Orlova", "first_name": "Irina", "consent_sms": True,
            "consent_call": False, "phone_ids": [Command.create({"number": "+7 916 765-43-22"})],
        })
        # The demo's rules, reminders and call list are not these tests' (the demo lists the
        # next working day, which the list's "Next patient" would hand out first).
        env["medpulse.reminder.rule"].search([]).write({"active": False})
        env["medpulse.confirmation.item"].search([]).unlink()
        env["medpulse.reminder"].search([]).unlink()
        cls.specialty = env["medpulse.specialty"].create({"name": "Therapy (reminders)"})
        cls.service = env["medpulse.service"].create({
            "name": "Check-up (reminders)", "code": "REM", "duration": 30,
            "specialty_id": cls.specialty.id,
        })
        cls.doctor = env["medpulse.doctor"].create({
            "name": "Doctor Reminder", "specialty_id": cls.specialty.id,
            "service_ids": [Command.set(cls.service.ids)],
        })
        cls.rule = env["medpulse.reminder.rule"].create({
            "name": "Default", "company_id": cls.company.id, "channel": "sms_call",
            "lead_hours": 24, "call_hours": 20, "quiet_start": 21.0, "quiet_end": 9.0,
            "retry_minutes": 60, "max_attempts": 2,
        })
        cls.Reminder = env["medpulse.reminder"]
        cls.Item = env["medpulse.confirmation.item"]

    def book(self, patient, start, **values):
        return self.env["medpulse.appointment"].sudo().create(dict({
            "patient_id": patient.id, "doctor_id": self.doctor.id,
            "service_id": self.service.id, "start": start,
        }, **values))

    def reminders(self, appointments, step=None):
        domain = [("appointment_id", "in", appointments.ids)]
        if step:
            domain.append(("step", "=", step))
        return self.Reminder.search(domain, order="id")

    def send(self, now, **kwargs):
        kwargs.setdefault("pause", 0)
        self.Reminder._cron_send(now=now, **kwargs)
        self.env.invalidate_all()

    def sms_requests(self):
        """The SMS the PBX received and accepted (the double answers what it was told)."""
        return self.stub.calls("commands/sms")
