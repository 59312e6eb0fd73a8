from . import (
    res_company,
    res_config_settings,
    medpulse_telephony_line,
    medpulse_telephony_user_number,
    res_users,
    medpulse_call_event,
    medpulse_call,
    medpulse_appointment,
    medpulse_patient,
    medpulse_call_card,
    medpulse_appointment_card,
    res_config_settings_card,
)
