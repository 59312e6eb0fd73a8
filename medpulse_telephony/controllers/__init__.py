from . import webhook
from . import recording
