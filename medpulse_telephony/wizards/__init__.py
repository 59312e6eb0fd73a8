from . import medpulse_telephony_import_users
