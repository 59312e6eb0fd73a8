{
    "name": "MedPulse Telephony Demo",
    "summary": "Try MedPulse telephony with the PBX emulator: \"Ring me\" rings your own phone",
    "version": "18.0.1.1.0",
    "category": "Services/Clinic",
    "license": "LGPL-3",
    "author": "MedPulse",
    "depends": ["medpulse_telephony"],
    "external_dependencies": {"python": ["requests"]},
    "data": [
        "views/res_config_settings_views.xml",
        "views/res_users_views.xml",
    ],
    "assets": {
        "web.assets_tests": [
            "medpulse_telephony_demo/static/tests/tours/ring_me_tour.js",
        ],
    },
    "installable": True,
}
