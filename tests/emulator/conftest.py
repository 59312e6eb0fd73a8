"""Fixtures: a webhook that checks signatures (the emulator's own), an emulator on a free port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mango_vpbx_emulator.pbx import Autopilot
from mango_vpbx_emulator.server import Emulator
from mango_vpbx_emulator.testing import Webhook

KEY = "emulator-test-key"
SALT = "emulator-test-salt"


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    with Webhook(KEY, SALT) as hook:
        yield hook


@pytest.fixture
def emulator(webhook: Webhook) -> Iterator[Emulator]:
    emu = Emulator(
        KEY,
        SALT,
        webhook.url,
        speed=200.0,
        record_delay=1.0,
        autopilot=Autopilot(answer_after=2, talk=10),
    )
    emu.start("127.0.0.1", 0)
    yield emu
    emu.stop()
    emu.pbx.join(5)
