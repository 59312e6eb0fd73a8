from . import medpulse_call_command
from . import res_config_settings
from . import res_users
