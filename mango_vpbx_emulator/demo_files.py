"""The demo's files for ``serve``: ``--directory FILE`` and ``--history FILE``.

The demo's initialisation (``scripts/demo_init.py``) writes them: the directory names
the PBX's operators as the demo's Odoo users are named and lists the patients the
console can call from; the history is weeks of calls (:mod:`.history`). The emulator
may start before they exist (the Docker services start side by side): each file is
read as soon as it appears and again whenever it changes. A history is counted in the
statistics at once, and today's calls are posted to the webhook as soon as the webhook
answers.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from . import history as hist
from .server import Emulator

_logger = logging.getLogger(__name__)

#: Seconds between two looks at the files.
POLL_SECONDS = 1.0


class DemoFiles:
    """Keeps an emulator in line with the demo's directory and history files."""

    def __init__(
        self, emulator: Emulator, directory: str | None = None, history: str | None = None
    ) -> None:
        self.emulator = emulator
        self.paths = {
            name: Path(path) for name, path in (("directory", directory), ("history", history))
            if path
        }
        self._seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> list[str]:
        """Load the files that appeared or changed since the last look; their names."""
        loaded = []
        for name, path in self.paths.items():
            try:
                mtime = path.stat().st_mtime
            except OSError:
                continue
            if self._seen.get(name) == mtime:
                continue
            try:
                if name == "directory":
                    self.emulator.use_directory(json.loads(path.read_text(encoding="utf-8")))
                else:
                    self._use_history(hist.History.load(path))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                _logger.warning("Could not read %s (%s); trying again", path, exc)
                continue
            self._seen[name] = mtime
            loaded.append(name)
        return loaded

    def _use_history(self, history: hist.History) -> None:
        emulator = self.emulator
        emulator.use_history(history)
        emulator.pbx.background(
            hist.deliver,
            history,
            emulator.sender,
            lambda: hist.webhook_ping(emulator.sender.webhook_base),
            self._stop,
            name="mango-history-delivery",
        )

    def start(self) -> None:
        """Load what is there now, then watch the files in the background."""
        self.check()
        if self.paths:
            self._thread = threading.Thread(
                target=self._watch, daemon=True, name="mango-demo-files"
            )
            self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            self.check()

    def stop(self) -> None:
        self._stop.set()
