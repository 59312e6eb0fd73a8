"""Keep the addresses of call recordings out of sanitised HTML (messages, notes...).

Whoever displays HTML that points at ``/medpulse/recording/...`` makes their browser
request it: a recording in a message would be fetched by every reader. The audio route
already refuses a request without a token of an explicit play; this removes such
addresses from every HTML field Odoo sanitises (the chatter's messages among them), in
whatever spelling a browser would follow (percent-encoded, backslashes, doubled slashes,
any case).
"""

import re
from urllib.parse import unquote

from lxml import etree

from odoo.tools import mail

_RECORDING_PATH = re.compile(r"medpulse[/\\]+recording[/\\]", re.IGNORECASE)


def points_at_a_recording(value):
    """Whether an attribute value holds an address of the recordings' route."""
    text = value
    for _round in range(3):  # %252F: decoded twice by a browser and a redirect
        text = unquote(text)
    return bool(_RECORDING_PATH.search(text))


def _strip_recording_addresses(doc):
    for element in doc.iter(tag=etree.Element):
        for name, value in list(element.attrib.items()):
            if value and points_at_a_recording(value):
                del element.attrib[name]


def _install():
    cleaner = mail._Cleaner
    if getattr(cleaner, "_medpulse_strips_recordings", False):
        return
    clean = cleaner.__call__

    def __call__(self, doc):
        clean(self, doc)
        _strip_recording_addresses(doc)

    cleaner.__call__ = __call__
    cleaner._medpulse_strips_recordings = True


_install()
