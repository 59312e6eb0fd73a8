"""The benchmarked server: ``OdooInstance`` in production shape, behind a path router.

Two things production has that a bare ``OdooInstance(workers=2)`` lacks:

- its gevent process must start: Odoo spawns it as ``sys.executable sys.argv[0] gevent``,
  which works because ``OdooInstance`` launches Odoo through its script (``odoo-bin``);
- a browser reaches the bus on the same origin as the pages, so something must send
  ``/websocket`` to the gevent port and everything else to the HTTP workers (nginx's
  job in Odoo's deployment guide). ``PathRouter`` does that per connection: a browser
  opens a fresh connection for each websocket, and the first request line of a
  connection decides where all of it goes.
"""

from __future__ import annotations

import asyncio
import socket
import threading


def make_instance(OdooInstance, *args, **kwargs):  # noqa: N803 - the class of the tree under test
    """An ``OdooInstance`` of the tree under test, with a longer start-up and its gevent port."""

    class BenchInstance(OdooInstance):
        # OdooInstance launches Odoo through its script, so prefork can spawn the gevent process.
        def start(self, timeout: float = 180) -> None:
            super().start(timeout)

        def gevent_port(self) -> int:
            for line in self.config_path.read_text().splitlines():
                if line.startswith("gevent_port"):
                    return int(line.split("=", 1)[1])
            raise RuntimeError("no gevent_port in the config")

    return BenchInstance(*args, **kwargs)


class PathRouter(threading.Thread):
    """Loopback TCP proxy: connections opening with ``/websocket`` go to the gevent port."""

    def __init__(self, http_port: int, gevent_port: int) -> None:
        super().__init__(daemon=True)
        self.http_port, self.gevent_port = http_port, gevent_port
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self) -> None:
        self.loop = asyncio.new_event_loop()
        server = self.loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port))
        self.ready.set()
        self.loop.run_forever()
        server.close()

    async def _handle(self, reader, writer) -> None:
        head = await reader.readline()
        path = head.split(b" ")[1] if head.count(b" ") >= 2 else b"/"
        port = self.gevent_port if path.startswith(b"/websocket") else self.http_port
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.close()
            return
        up_writer.write(head)

        async def pipe(src, dst):
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def start_and_wait(self) -> PathRouter:
        self.start()
        self.ready.wait(10)
        return self

    def stop(self) -> None:
        if self.loop:
            self.loop.call_soon_threadsafe(self.loop.stop)
