from . import res_company
from . import medpulse_specialty
from . import medpulse_service
from . import medpulse_doctor
from . import medpulse_patient_phone
from . import medpulse_patient
from . import medpulse_appointment
from . import medpulse_clinic_demo
