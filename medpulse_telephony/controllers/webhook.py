"""The door the PBX knocks on: every PBX -> Odoo request lands here.

The PBX is given ``<web.base.url>/mango`` and appends its own paths to it
(``/mango/events/call``, ``/mango/events/summary``, ``/mango/result/callback``,
``/mango/ping``...). Order of checks, before anything is written or any ``sudo``
search depends on the payload:

1. body size (route ``max_content_length``: 413) and form content type (415);
2. the three form fields present (400);
3. the company owning ``vpbx_api_key`` and a constant-time check of ``sign`` with
   that company's salt (403 for an unknown key or a bad signature).

A correctly signed request is always answered 200, even when it cannot be
understood: the PBX does not retry, so a 4xx would lose a real call. It is stored
flagged ``not_understood`` instead.
"""

import logging

import mango_vpbx
from mango_vpbx.assumptions import PING_SEGMENT

from odoo import SUPERUSER_ID, http
from odoo.http import request

_logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
FORM_MIMETYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class MangoWebhook(http.Controller):
    @http.route(
        ["/mango", "/mango/<path:subpath>"],
        type="http", auth="public", methods=["POST"], csrf=False, save_session=False,
        max_content_length=MAX_BODY_BYTES,
    )
    def mango_webhook(self, subpath="", **_params):
        path = subpath.strip("/")
        if path.rsplit("/", 1)[-1] == PING_SEGMENT:
            # The account page's "check connection": undocumented payload, maybe unsigned.
            # Answering proves the URL is right and writes nothing.
            return _reply(200, "OK")
        httprequest = request.httprequest
        if httprequest.mimetype not in FORM_MIMETYPES:
            return _reply(415, "Unsupported content type")
        form = {key: httprequest.form.get(key) for key in ("vpbx_api_key", "sign", "json")}
        if not all(form.values()):
            return _reply(400, "Missing vpbx_api_key, sign or json")
        if any("\x00" in value for value in (path, *form.values())):
            # PostgreSQL text cannot hold NUL and no valid PBX request contains one.
            return _reply(400, "NUL character in the request")
        company = request.env["res.company"].sudo().search(
            [("mango_api_key", "=", form["vpbx_api_key"])], limit=1
        )
        if not company or not mango_vpbx.verify(form, company.mango_api_key, company.mango_api_salt):
            _logger.info("Rejected a PBX request to /mango/%s: unknown key or bad signature", path)
            return _reply(403, "Forbidden")
        _logger.debug("PBX request /mango/%s for company %s: %s", path, company.id, form["json"])
        env = request.env(user=SUPERUSER_ID, context=dict(request.env.context, allowed_company_ids=company.ids))
        record, event = env["medpulse.call.event"].with_company(company)._store(company, path, form["json"])
        _logger.debug("PBX request /mango/%s stored as %s", path, record.id if record else "duplicate")
        if record and event is not None:
            record._process_in_turn(event)
        return _reply(200, "OK")


def _reply(status, text):
    return request.make_response(text, headers=[("Content-Type", "text/plain; charset=utf-8")], status=status)
