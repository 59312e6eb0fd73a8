"""A scripted PBX API on 127.0.0.1 for client tests (no network), and a worker for processes."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class ScriptedPbx:
    """Answers each path with scripted responses (the last one repeats); records requests."""

    def __init__(self):
        self.responses: dict[str, list[tuple[int, dict, bytes, float]]] = {}
        self.requests: list[tuple[str, str, dict]] = []
        pbx = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                form = {k: v[0] for k, v in parse_qs(body).items()}
                path = self.path.lstrip("/")
                pbx.requests.append((method, path, form))
                script = pbx.responses.get(path) or [(404, {}, b"", 0.0)]
                status, headers, payload, delay = script.pop(0) if len(script) > 1 else script[0]
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value.replace("{base}", pbx.url))
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_POST(self):  # noqa: N802
                self._answer("POST")

            def do_GET(self):  # noqa: N802
                self._answer("GET")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def script(self, path, *responses):
        """Script ``path``: each response is ``(status, body, headers=None, delay=0)``."""
        items = []
        for response in responses:
            status, body, *rest = response
            headers = rest[0] if rest else {}
            delay = rest[1] if len(rest) > 1 else 0.0
            if isinstance(body, dict | list):
                payload = json.dumps(body).encode()
                headers = {"Content-Type": "application/json", **(headers or {})}
            else:
                payload = body if isinstance(body, bytes) else body.encode()
            items.append((status, headers or {}, payload, delay))
        self.responses[path] = items

    def calls(self, path):
        """The JSON payloads posted to ``path``."""
        return [json.loads(form["json"]) for _m, p, form in self.requests if p == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def hangup_in_another_process(base_url, store_path, queue):
    """Run one command against the PBX with a store in a file; report the outcome's class."""
    from mango_vpbx import VpbxClient, VpbxError
    from mango_vpbx.limits import SqliteLimitStore

    client = VpbxClient(base_url, "key", "salt", timeout=5,
                        limiter=SqliteLimitStore(store_path))
    try:
        client.hangup("call-1", command_id="from-process")
        queue.put("ok")
    except VpbxError as exc:
        queue.put(type(exc).__name__)
