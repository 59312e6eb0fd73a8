"""The emulator's load mode as the benchmarks drive it: ``mango-emulator load`` plus callers.

Same arguments and JSON summary as ``python -m mango_vpbx_emulator load`` (of the checkout
under test, first on ``PYTHONPATH``), and ``--callers FILE`` (one external number a line,
taken in turn, one per call): a clinic is called by many people, not by the scenarios'
one default number again and again (which would make every call of the run contend for
the same per-number follow-up row).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from mango_vpbx_emulator.faults import FaultInjector  # noqa: PLC0415 - tree under test
    from mango_vpbx_emulator.load import DEFAULT_MIX, run_load  # noqa: PLC0415 - imported where it is needed
    from mango_vpbx_emulator.pbx import Pbx  # noqa: PLC0415 - imported where it is needed
    from mango_vpbx_emulator.sender import EventSender  # noqa: PLC0415 - imported where it is needed
    from mango_vpbx_emulator.state import directory_from_config, parse_employees_flag  # noqa: PLC0415 - imported where it is needed

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--webhook", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--api-salt", required=True)
    parser.add_argument("--employees", required=True, help="EXT:NAME,...")
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--speed", type=float, default=200.0)
    parser.add_argument("--callers", help="file of external numbers, one a line")
    args = parser.parse_args(argv)
    directory = directory_from_config({"employees": [
        {"extension": e.extension, "name": e.name, "email": e.email}
        for e in parse_employees_flag(args.employees)]})
    sender = EventSender(args.webhook, args.api_key, args.api_salt)
    # as the CLI builds it: the PBX's own clock at speed 1, each call at --speed
    pbx = Pbx(directory, FaultInjector(sender), speed=1.0, record_delay=5.0)
    callers = Path(args.callers).read_text().split() if args.callers else None
    summary = run_load(pbx, sender, args.rate, args.duration, DEFAULT_MIX,
                       params={"speed": args.speed}, workers=args.workers, callers=callers)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
