import random
from datetime import date, datetime, time, timedelta

import pytz

from odoo import api, fields, models

# Demo content is generated from a fixed seed so every demo database shows the same
# clinic; only the dates move with the day of installation.
DEMO_SEED = 20260101

MALE_SURNAMES = [
    "Иванов", "Петров", "Сидоров", "Смирнов", "Кузнецов", "Попов", "Васильев", "Соколов",
    "Михайлов", "Новиков", "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов",
    "Егоров", "Павлов", "Козлов", "Степанов", "Николаев", "Орлов", "Андреев", "Макаров",
    "Никитин", "Захаров", "Зайцев", "Соловьёв", "Борисов", "Яковлев",
]
MALE_NAMES = [
    "Александр", "Сергей", "Дмитрий", "Андрей", "Алексей", "Максим", "Иван", "Михаил",
    "Николай", "Евгений", "Владимир", "Павел", "Артём", "Олег", "Виктор", "Юрий",
]
FEMALE_NAMES = [
    "Елена", "Ольга", "Наталья", "Татьяна", "Ирина", "Анна", "Мария", "Светлана",
    "Екатерина", "Юлия", "Марина", "Галина", "Людмила", "Дарья", "Ксения", "Валентина",
]
# (male form, female form) of the patronymic
PATRONYMICS = [
    ("Александрович", "Александровна"), ("Сергеевич", "Сергеевна"), ("Дмитриевич", "Дмитриевна"),
    ("Андреевич", "Андреевна"), ("Алексеевич", "Алексеевна"), ("Иванович", "Ивановна"),
    ("Михайлович", "Михайловна"), ("Николаевич", "Николаевна"), ("Владимирович", "Владимировна"),
    ("Павлович", "Павловна"), ("Викторович", "Викторовна"), ("Юрьевич", "Юрьевна"),
    ("Петрович", "Петровна"), ("Олегович", "Олеговна"), ("Анатольевич", "Анатольевна"),
]
CITIES = ["Уфа", "Уфа", "Уфа", "Стерлитамак", "Нефтекамск"]
STREETS = [
    "ул. Ленина", "пр. Октября", "ул. Менделеева", "ул. Комсомольская", "ул. Гагарина",
    "ул. Российская", "бул. Хадии Давлетшиной", "ул. Пушкина", "ул. Заки Валиди",
]
MOBILE_CODES = [
    "901", "903", "905", "909", "912", "917", "919", "922", "925", "926", "927", "937",
    "950", "953", "960", "961", "965", "967", "977", "987", "999",
]
# How people actually type a Russian mobile number.
PHONE_FORMATS = [
    "+7 ({c}) {a}-{b}-{d}",
    "8 {c} {a} {b} {d}",
    "8({c}){a}{b}{d}",
    "+7{c}{a}{b}{d}",
    "7{c}{a}{b}{d}",
    "8-{c}-{a}-{b}-{d}",
]


def _female_surname(surname):
    return surname + "а"


def _format_phone(rng, code):
    digits = f"{rng.randrange(10**7):07d}"
    template = rng.choice(PHONE_FORMATS)
    return template.format(c=code, a=digits[:3], b=digits[3:5], d=digits[5:])


class MedpulseClinicDemo(models.AbstractModel):
    _name = "medpulse.clinic.demo"
    _description = "Clinic Demo Data"

    @api.model
    def _load_demo_patients_and_schedule(self):
        rng = random.Random(DEMO_SEED)
        patients = self._demo_patients(rng)
        self._demo_appointments(rng, patients)

    @api.model
    def _demo_patients(self, rng):
        records = []
        shared_numbers = []
        for index in range(1, 61):
            female = rng.random() < 0.55
            surname = rng.choice(MALE_SURNAMES)
            patronymic = rng.choice(PATRONYMICS)
            phones = [{
                "number": _format_phone(rng, rng.choice(MOBILE_CODES)),
                "label": "own",
                "sequence": 1,
            }]
            if index % 7 == 0 and shared_numbers:
                # A family member who gives the number of a relative already on file.
                relative_number, relative_name = shared_numbers[-1]
                phones.append({
                    "number": relative_number, "label": "relative",
                    "relative_name": relative_name, "sequence": 2,
                })
            elif rng.random() < 0.25:
                phones.append({
                    "number": _format_phone(rng, rng.choice(MOBILE_CODES)),
                    "label": rng.choice(["work", "relative"]),
                    "sequence": 2,
                })
            values = {
                "last_name": _female_surname(surname) if female else surname,
                "first_name": rng.choice(FEMALE_NAMES if female else MALE_NAMES),
                "patronymic": patronymic[1] if female else patronymic[0],
                "gender": "female" if female else "male",
                "birth_date": date(1941, 1, 1) + timedelta(days=rng.randrange(66 * 365)),
                "city": rng.choice(CITIES),
                "street": f"{rng.choice(STREETS)}, д. {rng.randrange(1, 120)}",
                "consent_recording": rng.random() < 0.8,
                # Every fifth patient never agreed to SMS (no random draw: the rest of
                # the demo stays the same).
                "consent_sms": index % 5 != 4,
                "phone_ids": [fields.Command.create(phone) for phone in phones],
            }
            if index % 7 == 6:
                owner = f"{values['first_name']} {values['last_name']}"
                shared_numbers.append((phones[0]["number"], owner))
            records.append({
                "xml_id": f"medpulse_clinic.demo_patient_{index:02d}",
                "values": values,
                "noupdate": True,
            })
        return self.env["medpulse.patient"]._load_records(records)

    @api.model
    def _demo_appointments(self, rng, patients):
        Appointment = self.env["medpulse.appointment"]
        doctors = self.env["medpulse.doctor"].search([("service_ids", "!=", False)], order="id")
        # The clinic's today, not the installing user's: the schedule is in the clinic's zone.
        clinic_tz = pytz.timezone(self.env.company.resource_calendar_id.tz or "UTC")
        now = fields.Datetime.now()
        today = pytz.utc.localize(now).astimezone(clinic_tz).date()
        first_day = today - timedelta(days=14)
        last_day = today + timedelta(days=7)
        records = []
        for doctor in doctors:
            services = doctor.service_ids.sorted("id")
            begin = datetime.combine(first_day, time.min)
            end = datetime.combine(last_day, time.max)
            for work_start, work_stop in Appointment._doctor_work_intervals(doctor, begin, end):
                cursor = work_start
                while True:
                    cursor += timedelta(minutes=15 * rng.randrange(1, 9))
                    service = rng.choice(services)
                    stop = cursor + timedelta(minutes=service.duration)
                    if stop > work_stop:
                        break
                    records.append({
                        "xml_id": f"medpulse_clinic.demo_appointment_{len(records) + 1:04d}",
                        "values": {
                            "patient_id": rng.choice(patients).id,
                            "doctor_id": doctor.id,
                            "service_id": service.id,
                            "start": cursor,
                            "stop": stop,
                            "state": self._demo_state(rng, cursor, now),
                            "origin": "phone" if rng.random() < 0.6 else "manual",
                        },
                        "noupdate": True,
                    })
                    cursor = stop
        Appointment._load_records(records)

    @api.model
    def _demo_state(self, rng, start, now):
        draw = rng.random()
        if start < now - timedelta(hours=1):
            return "done" if draw < 0.82 else ("no_show" if draw < 0.9 else "cancelled")
        if start < now:
            return "arrived"
        return "confirmed" if draw < 0.4 else ("cancelled" if draw > 0.95 else "scheduled")
