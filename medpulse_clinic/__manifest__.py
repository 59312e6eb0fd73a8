{
    "name": "MedPulse Clinic",
    "summary": "Patients, doctors, services, appointments and visits of a clinic",
    "version": "18.0.1.1.0",
    "category": "Services/Clinic",
    "license": "LGPL-3",
    "author": "MedPulse",
    "depends": ["base", "mail", "phone_validation", "resource"],
    "external_dependencies": {"python": ["mango-vpbx", "phonenumbers"]},
    "data": [
        "security/medpulse_clinic_security.xml",
        "security/ir.model.access.csv",
        "data/ir_sequence_data.xml",
        "data/ir_cron_data.xml",
        "views/medpulse_patient_views.xml",
        "views/medpulse_appointment_views.xml",
        "views/medpulse_doctor_views.xml",
        "views/medpulse_service_views.xml",
        "views/medpulse_specialty_views.xml",
        "views/res_company_views.xml",
        "views/medpulse_clinic_menus.xml",
    ],
    "demo": [
        "demo/medpulse_clinic_demo.xml",
    ],
    "assets": {
        "web.assets_backend": [
            "medpulse_clinic/static/src/time_zone/*",
            "medpulse_clinic/static/src/views/**/*",
        ],
        "web.assets_tests": [
            "medpulse_clinic/static/tests/tours/*.js",
        ],
    },
    "application": True,
    "installable": True,
}
