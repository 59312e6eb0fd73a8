"""A loopback PBX answering stats/request and stats/result, for the statistics tests.

It checks every request's signature with ``mango_vpbx.verify`` (403 otherwise),
answers ``stats/result`` with 204 for the first ``not_ready`` polls of each report,
then with the CSV that ``csv_for(request_json)`` returns, and records what it saw.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import mango_vpbx


class StatsPbx:
    def __init__(self, api_key, api_salt, csv_for, not_ready=1, status=None):
        self.api_key, self.api_salt = api_key, api_salt
        self.csv_for = csv_for
        self.not_ready = not_ready
        self.status = status  # an HTTP status to answer every request with (failure tests)
        self.requests = []  # json of each stats/request
        self.polls = []  # (key, time.monotonic()) of each stats/result
        self.rejected = 0
        self._reports = {}
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                status, body = stub._handle(self.path, form)
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/vpbx/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, path, form):
        if not mango_vpbx.verify(form, self.api_key, self.api_salt):
            self.rejected += 1
            return 403, b""
        if self.status:
            return self.status, b""
        data = json.loads(form["json"])
        if path.endswith("/stats/request"):
            self.requests.append(data)
            key = f"key-{len(self.requests)}"
            self._reports[key] = {"csv": self.csv_for(data), "polls": 0}
            return 200, json.dumps({"key": key}).encode()
        if path.endswith("/stats/result"):
            report = self._reports.get(data.get("key"))
            self.polls.append((data.get("key"), time.monotonic()))
            if report is None:
                return 404, b""
            report["polls"] += 1
            if report["polls"] <= self.not_ready:
                return 204, b""
            return 200, report["csv"].encode()
        return 404, b""


def csv_rows(rows, fields):
    """Rows (dicts) as the PBX's CSV for the requested ``fields`` string."""
    names = [name.strip() for name in fields.split(",")]
    return "".join(";".join(str(row.get(name, "")) for name in names) + "\n" for row in rows)


def window_csv(rows, line_end="\n"):
    """A ``csv_for`` serving the rows whose ``start`` is inside the requested window."""

    def csv_for(data):
        low, high = int(data["date_from"]), int(data["date_to"])
        chosen = [row for row in rows if low <= int(row["start"]) <= high]
        return csv_rows(chosen, data["fields"]).replace("\n", line_end)

    return csv_for
