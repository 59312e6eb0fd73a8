{
    "name": "MedPulse Clinic",
    "summary": "Patients, doctors, services, appointments and visits of a clinic",
    "version": "18.0.1.0.0",
    "category": "Services/Clinic",
    "license": "LGPL-3",
    "author": "MedPulse",
    "depends": ["base", "mail", "phone_validation", "resource"],
    "external_dependencies": {"python": ["phonenumbers"]},
    "data": [],
    "demo": [],
    "application": True,
    "installable": True,
}
