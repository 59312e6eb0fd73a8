from . import baseline
