"""Two baselines for the webhook ingest benchmark. Never install this outside ``bench/``.

Both routes take the same signed form posts as the real webhook (``/mango/<path>``) and
are declared the same way (public, no CSRF, no session saved), so the load generator
drives all three identically and the differences are our work per event:

- ``/bench/empty/<path>``: answers 200 without touching the database beyond what Odoo's
  dispatcher does for any public route: the floor of Odoo's own HTTP stack;
- ``/bench/insert/<path>``: one INSERT of the raw form into an plain (primary key only)
  table, the least a webhook that keeps what it receives can do.

They are unauthenticated on purpose (like the PBX's webhook before its signature check),
which is why they live in a bench-only addon.
"""

from odoo import http
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
