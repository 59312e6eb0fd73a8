"""An emulated Mango Office virtual PBX, on the :mod:`mango_vpbx` toolkit (distribution
``mango-vpbx-emulator``; ``python -m mango_vpbx_emulator`` or ``mango-emulator``).

* :mod:`~mango_vpbx_emulator.testing`: for tests, a scriptable PBX double on a free port
  (:class:`~mango_vpbx_emulator.testing.PbxDouble`), a checking webhook, and the canonical
  event sequences (:func:`~mango_vpbx_emulator.testing.sequence`).
* :mod:`~mango_vpbx_emulator.server`: :class:`~mango_vpbx_emulator.server.Emulator`, the
  PBX's API, recording files, the control API and the console over HTTP.
* :mod:`~mango_vpbx_emulator.pbx`: the PBX engine: calls, legs, commands, recordings.
* :mod:`~mango_vpbx_emulator.scenarios`: the scripted calls (incoming answered, missed,
  queue, transfers, callback...) and :mod:`~mango_vpbx_emulator.reference`: the protocol
  reference's own sequences; together the one source of call sequences for tests.
* :mod:`~mango_vpbx_emulator.state`: the directory (employees, groups, lines) and calls.
* :mod:`~mango_vpbx_emulator.sender`, :mod:`~mango_vpbx_emulator.faults`: signed delivery
  to the webhook, and the faults injected into it.
* :mod:`~mango_vpbx_emulator.replay`, :mod:`~mango_vpbx_emulator.load`: a logged day again,
  and load tests.
* :mod:`~mango_vpbx_emulator.history`, :mod:`~mango_vpbx_emulator.demo_files`: the demo's
  weeks of past calls, and the files the demo shares with Odoo.
* :mod:`~mango_vpbx_emulator.console`: the web console's page.
"""
