from . import test_phone_lookup
from . import test_appointment
from . import test_access
from . import test_tour
