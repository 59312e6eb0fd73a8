{
    "name": "MedPulse Telephony",
    "summary": "Mango Office virtual PBX in the clinic: call journal, incoming-call card, click-to-call",
    "version": "18.0.1.0.0",
    "category": "Services/Clinic",
    "license": "LGPL-3",
    "author": "MedPulse",
    "depends": ["medpulse_clinic", "bus", "mail", "phone_validation"],
    "external_dependencies": {"python": ["mango_vpbx", "requests", "phonenumbers"]},
    "data": [],
    "demo": [],
    "application": True,
    "installable": True,
}
