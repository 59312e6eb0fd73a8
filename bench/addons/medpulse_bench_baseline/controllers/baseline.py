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
        # medpulse_telephony's webhook up to its answer: its checks, its store of the event
        # (stored processed: no fold follows), its commit. Imported here: a bench database
        # may hold this addon without the telephony one.
        from odoo.addons.medpulse_telephony.controllers.webhook import (  # noqa: PLC0415
            verified_request,
        )

        path = subpath.strip("/")
        company, json_str, refusal = verified_request(path)
        if refusal:
            return refusal
        env = request.env(
            user=SUPERUSER_ID, context=dict(request.env.context, allowed_company_ids=company.ids)
        )
        env["medpulse.call.event"].with_company(company)._store(
            company, path, json_str, state="processed"
        )
        request.env.cr.commit()  # pylint: disable=invalid-commit  # as the webhook: stored before the answer
        return request.make_response("OK", headers=[("Content-Type", "text/plain")])
