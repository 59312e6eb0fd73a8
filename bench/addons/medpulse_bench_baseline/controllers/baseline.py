"""Two baselines for the webhook ingest benchmark. Never install this outside ``bench/``.

Both routes take the same signed form posts as the real webhook (``/mango/<path>``) and
are declared the same way (public, no CSRF, no session saved), so the load generator
drives all three identically and the differences are our work per event:

- ``/bench/empty/<path>``: answers 200 without touching the database beyond what Odoo's
  dispatcher does for any public route: the floor of Odoo's own HTTP stack;
- ``/bench/insert/<path>``: one INSERT of the raw form into an plain (primary key only)
  table, the least a webhook that keeps what it receives can do;
- ``/bench/store/<path>``: the real webhook's work up to its answer and nothing after
  it: the form checked, the company found by its key, the signature verified, the
  event parsed and stored in ``medpulse_call_event`` by the webhook's own insert
  (its indexes, its duplicate check), committed. The event is stored ``processed``,
  so that nobody folds it: the ceiling of a webhook that keeps every event and folds
  none (``bench_ingest.py``: the webhook's ratio to it is what the fold costs).

They are unauthenticated on purpose (like the PBX's webhook before its signature check),
which is why they live in a bench-only addon.
"""

from odoo import SUPERUSER_ID, http
from odoo.http import request

TABLE = "medpulse_bench_baseline_event"


class BenchBaseline(http.Controller):
    @http.route(
        ["/bench/empty", "/bench/empty/<path:subpath>"],
        type="http", auth="public", methods=["POST"], csrf=False, save_session=False,
    )
    def empty(self, subpath="", **_params):
        return request.make_response("OK", headers=[("Content-Type", "text/plain")])

    @http.route(
        ["/bench/insert", "/bench/insert/<path:subpath>"],
        type="http", auth="public", methods=["POST"], csrf=False, save_session=False,
    )
    def insert(self, subpath="", **_params):
        form = request.httprequest.form
        request.env.cr.execute(
            f"INSERT INTO {TABLE} (path, json) VALUES (%s, %s)",  # noqa: S608 - constant name
            (subpath, form.get("json")),
        )
        return request.make_response("OK", headers=[("Content-Type", "text/plain")])

    @http.route(
        ["/bench/store", "/bench/store/<path:subpath>"],
        type="http", auth="public", methods=["POST"], csrf=False, save_session=False,
    )
    def store(self, subpath="", **_params):
        # What medpulse_telephony's webhook (controllers/webhook.py) and its
        # medpulse.call.event._store do for a signed event they understand, in the same
        # order, but the state: no fold follows (imported here: a bench database may
        # hold this addon without the telephony one).
        from odoo.addons.medpulse_telephony.models.medpulse_call_event import (  # noqa: PLC0415
            _parse_stored,
        )

        import mango_vpbx  # noqa: PLC0415

        path = subpath.strip("/")
        httprequest = request.httprequest
        if httprequest.mimetype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
            return request.make_response("Unsupported content type", status=415)
        form = {key: httprequest.form.get(key) for key in ("vpbx_api_key", "sign", "json")}
        if not all(form.values()):
            return request.make_response("Missing vpbx_api_key, sign or json", status=400)
        if any("\x00" in value for value in (path, *form.values())):
            return request.make_response("NUL character in the request", status=400)
        company, salt = request.env["res.company"].sudo()._medpulse_pbx_account(
            form["vpbx_api_key"]
        )
        if not company or not mango_vpbx.verify(form, form["vpbx_api_key"], salt):
            return request.make_response("Forbidden", status=403)
        env = request.env(
            user=SUPERUSER_ID, context=dict(request.env.context, allowed_company_ids=company.ids)
        )
        if "\\u0000" in form["json"]:
            return request.make_response("NUL character in the json field", status=400)
        event = _parse_stored(path, form["json"])
        env["medpulse.call.event"].with_company(company)._insert(
            company, path, form["json"], identity=event.identity,
            entry_id=getattr(event, "entry_id", None), pbx_call_id=getattr(event, "call_id", None),
            state="processed",
            body_key=f"{event.path}\n{form['json']}"
            if isinstance(event, mango_vpbx.events.RecordTaggedEvent) else None,
        )
        request.env.cr.commit()  # pylint: disable=invalid-commit  # as the webhook: stored before the answer
        return request.make_response("OK", headers=[("Content-Type", "text/plain")])
