"""A loopback HTTP server standing in for the PBX API in tests.

It checks every request's signature with ``mango_vpbx.verify`` (a request it cannot
verify is recorded with ``signed=False`` and refused), records the decoded ``json``,
and answers what the test asked for. ``before_reply`` lets a test do something
while the PBX "thinks", e.g. deliver the call's events to Odoo's webhook before the
command's HTTP reply, as the real PBX may, or sleep past the client's timeout (a slow
PBX: the reply then finds the connection closed, which is ignored).
"""

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import mango_vpbx


class PbxStub:
    def __init__(self, api_key, api_salt):
        self.api_key = api_key
        self.api_salt = api_salt
        self.requests = []
        self.replies = {}
        self.before_reply = None
        self._server = None
        self._thread = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self._server.server_address[1]}/vpbx/"

    def start(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the stdlib's name
                length = int(self.headers.get("Content-Length") or 0)
                form = {
                    key: values[0]
                    for key, values in urllib.parse.parse_qs(
                        self.rfile.read(length).decode("utf-8")
                    ).items()
                }
                path = self.path.split("/vpbx/", 1)[-1].strip("/")
                signed = mango_vpbx.verify(form, stub.api_key, stub.api_salt)
                payload = json.loads(form["json"]) if signed else None
                stub.requests.append({"path": path, "json": payload, "signed": signed})
                if not signed:
                    self._reply(403, {"code": 3102})
                    return
                if stub.before_reply:
                    stub.before_reply(path, payload)
                status, body = stub.replies.get(path, (200, {"result": 1000}))
                self._reply(status, body)

            def _reply(self, status, body):
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    return  # the client gave up waiting: nobody to answer

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def reset(self):
        self.requests.clear()
        self.replies.clear()
        self.before_reply = None

    def commands(self, path):
        return [request["json"] for request in self.requests if request["path"] == path]
