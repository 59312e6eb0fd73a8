from . import controllers, models, sanitize, wizards
