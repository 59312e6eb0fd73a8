from . import medpulse_telephony_import_users
from . import medpulse_call_recording_delete
