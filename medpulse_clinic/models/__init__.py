from . import (
    base,
    medpulse_appointment,
    medpulse_clinic_demo,
    medpulse_doctor,
    medpulse_patient,
    medpulse_patient_phone,
    medpulse_service,
    medpulse_specialty,
    res_company,
    res_users,
)
