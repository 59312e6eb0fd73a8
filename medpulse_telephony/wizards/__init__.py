from . import medpulse_telephony_import_users
from . import medpulse_call_recording_delete
from . import medpulse_pbx_stats_wizard, medpulse_pbx_stats_line
from . import medpulse_sms_send
