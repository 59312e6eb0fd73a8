from . import test_access, test_appointment, test_export, test_phone_lookup, test_tour
