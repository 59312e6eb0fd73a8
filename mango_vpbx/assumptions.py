"""Protocol assumptions: where the PBX's documentation is ambiguous, what we accept.

The Mango Office documentation exists in two official versions (2017 and the
current one) that disagree in places, and several points were never settled by
a live capture (see the "Open questions" of the protocol reference). Each such
point is listed here once, with what this package does about it. The rule is
always the same: **accept every documented alternative on input**, send the
form that the current documentation shows.

1. Command reply body (client -> PBX, synchronous part). Public clients read
   ``{"result": 1000}`` from an HTTP 200 body (success <=> the 1000 class,
   1000..1099); the 2017 document answers a bad request with HTTP 420 and
   ``{"code": 3104}``. Both are accepted: a 2xx body with ``result`` outside the
   1000 class is an error as well as a 4xx body with ``code`` (or ``result``). A
   2xx reply without any code is taken as accepted (:data:`COMMAND_OK_CLASS`).
2. Stats-ready notification path: ``/result/stat`` (current document, public
   clients) or ``/result/stats`` (2017). Both parse to the same event, whose
   canonical path is :data:`STATS_READY_PATH` (:data:`STATS_READY_PATHS`).
3. ``was_transferred`` (current document) is also spelt ``was_transfered`` in a
   public client; both are read (:data:`WAS_TRANSFERRED_KEYS`).
4. Ping: the PBX account page's "check connection" button sends a request to a
   path ending in ``ping`` whose payload is not documented. Any path whose last
   segment is ``ping`` is a ping; its body may be empty, not JSON or unsigned
   (:data:`PING_SEGMENT`).
5. Time base: the 2017 document says event times are UTC, the current one
   "UTC+3". Default UTC (:data:`DEFAULT_TIME_BASE`), switchable with
   :class:`~mango_vpbx.times.TimeBase` wherever times are read or sent.
6. ``callback_initiator`` values are printed with Cyrillic letters (``СС`` is two
   U+0421; ``MissGroupСallCallback`` has a Cyrillic ``С``). Enum values are read
   after mapping Cyrillic look-alike letters to Latin (:data:`CYRILLIC_TO_LATIN`),
   so ``СС`` and ``CC`` are the same value.
7. Loose types: ``seq``, ``timestamp``, ``disconnect_reason``, ``result`` come as
   integers or strings; extensions and group numbers as strings (leading zeros
   kept) or integers; ``to`` can be ``{}``; optional keys can be missing.
8. ``/result/*`` notifications of command outcomes are POSTed to the external
   system (the current document prints them on the PBX's host; the 2017 one
   says the PBX sends them). Any ``result/<command>`` path is a command result.
9. Invalid-request lockout: only one request answered with a 3xxx code is
   allowed per two minutes; a second one locks the account (HTTP 401) for two
   minutes. After a 3xxx answer the client refuses every request locally for
   :data:`LOCKOUT_SECONDS` (any request can come back with a 3xxx), and an HTTP
   401 records a lockout of the same length.
10. Basic statistics cover at most one month per request; longer periods are
    split into chunks of :data:`STATS_MAX_SPAN_SECONDS` (30 days minus one
    second, because exactly 30 days is refused by the extended statistics).
    ``stats/result`` answers 204 while the report is not ready (poll at most
    every :data:`STATS_POLL_SECONDS`) and 404 for an unknown or expired key.
11. Stats CSV: ``;`` separated, rows on ``\\n`` or ``\\r\\n``, ``records`` with or
    without brackets, ``disconnect_reason`` numeric or textual ("Busy").
12. ``commands/transfer_cancel`` parameters are not documented; we send
    ``command_id`` and ``call_id`` like the other call commands.
13. A callback (``commands/callback``) is recognised by a ``command_id`` (or a
    ``callback_initiator``) on the *first* leg of the call: its first leg rings
    the employee (in ``to``) on behalf of the target (in ``from``).
14. Call length: the documentation sets no limit. Two times of one call further
    apart than :data:`MAX_CALL_SECONDS` (seven days) mean that one of them is
    wrong (a ``0``, a far-future value): the duration between them is unknown
    (``None``), never a number of decades, and the call says
    ``implausible_times``. The times themselves are kept as sent.
15. String lengths: the documentation sets no maximum either. Every string of an
    event (ids, numbers, extensions, enum values, DTMF...) and the request path
    are at most :data:`MAX_STRING_LENGTH` characters (256; a SIP URI or an id is
    far shorter). A longer one makes the request "not understood": it is kept as
    sent and acknowledged, but folded into no call, so one hostile field cannot
    put the other events of its call in error or overflow an index.
16. Speech analytics (``queries/recording_categories``,
    ``queries/recording_transcripts``): the reference lists them without request or
    answer, and the official page could not be read when this was written. We send
    ``{"recording_id": ...}`` (as ``queries/recording/post``) and accept the topics
    as a list under ``categories`` (also ``category``, ``tags``), at the top level
    or in the items of ``data`` (or ``recordings``) for this recording; a topic is a
    string or an object with ``name`` (also ``title``, ``category``). Transcript
    phrases are a list under ``transcripts`` (also ``transcript``, ``phrases``), each
    a string or an object with ``text`` (or ``phrase``), ``speaker`` (or ``channel``,
    ``side``) and ``start`` (or ``time``). An answer without any of these is an
    empty result, not an error. No rate limit is documented: only the account's
    overall limit applies.
17. ``queries/user_info_by_dct_number``: ``{}`` (or only ``result``) means no visitor
    is bound to the number; ``channel`` and ``current_page`` may be missing or not
    objects, and are then read as empty.
18. ``dct`` of a call: the summary's is authoritative; a leg event's ``dct`` with a
    number wins over one with only ``type`` (the emulator and some legs send
    ``{"type": 0}``); a ``type`` outside 0..2 is kept as sent and shown as unknown.
"""

from __future__ import annotations

from .times import DEFAULT_TIME_BASE, TimeBase

__all__ = [
    "COMMAND_OK_CLASS",
    "STATS_READY_PATH",
    "STATS_READY_PATHS",
    "WAS_TRANSFERRED_KEYS",
    "PING_SEGMENT",
    "DEFAULT_TIME_BASE",
    "TimeBase",
    "CYRILLIC_TO_LATIN",
    "LOCKOUT_SECONDS",
    "MAX_CALL_SECONDS",
    "MAX_STRING_LENGTH",
    "STATS_MAX_SPAN_SECONDS",
    "STATS_POLL_SECONDS",
    "latinize",
]

#: Result codes that mean success (the 1000 class: 1000 done, 1001 done with notes...).
COMMAND_OK_CLASS = range(1000, 1100)

#: Canonical path of the "statistics report is ready" notification.
STATS_READY_PATH = "result/stat"
#: Every path the stats-ready notification is documented under.
STATS_READY_PATHS = ("result/stat", "result/stats")

#: Spellings of the "left this leg by transfer" flag.
WAS_TRANSFERRED_KEYS = ("was_transferred", "was_transfered")

#: Last path segment of the connection check.
PING_SEGMENT = "ping"

#: Cyrillic letters that look like Latin ones, as printed in the PBX's enum values.
CYRILLIC_TO_LATIN = str.maketrans(
    {
        "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O",
        "Р": "P", "С": "C", "Т": "T", "Х": "X", "У": "Y",
        "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "х": "x", "у": "y",
    }
)

#: How long the PBX locks an account after a second 3xxx answer (and how long we wait).
LOCKOUT_SECONDS = 120

#: Longest plausible span between two times of one call (wait, talk): seven days.
MAX_CALL_SECONDS = 7 * 24 * 3600

#: Longest string of an event (and of its request path), in characters.
MAX_STRING_LENGTH = 256

#: Longest period of one ``stats/request``.
STATS_MAX_SPAN_SECONDS = 30 * 24 * 3600 - 1

#: Shortest interval between two ``stats/result`` polls allowed by the PBX.
STATS_POLL_SECONDS = 5.0


def latinize(value: str) -> str:
    """Map Cyrillic look-alike letters of a PBX enum value to Latin ones."""
    return value.translate(CYRILLIC_TO_LATIN)
