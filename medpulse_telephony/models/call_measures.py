"""What one call counts for in the managers' reports, as SQL over the journal: written once.

Three readers compute these values: the per-call analysis (``medpulse.call.report``), the
tallies the report menus read (``medpulse.call.tally``) and the calls by source
(``medpulse.call.source.report``). Each used to spell the wait, the talk, the call-backs and
the conversion in its own SQL; a change to one (which calls a rate is over) had to be made
three times or the reports disagreed. Here each is a fragment over the aliases:

* ``c``: the call (``medpulse_call``);
* ``tz``: the clinic's time zone (``tz.name``), joined by :data:`TZ_JOINS`;
* ``closer``: the call that returned a missed one, joined by :data:`CLOSER_JOIN`;
* ``appt``: whether an appointment (not cancelled) was booked during the call, joined by
  :data:`BOOKED_FEW_JOIN` (a few calls: one index look-up each) or :data:`BOOKED_ALL_JOIN`
  (the whole journal: one hash of the booked calls).

Constants only: no value of a request is ever formatted into them.
"""

#: The clinic's time zone as everywhere else: its working calendar's, else its address's
#: (``medpulse.wallboard._company_tz``), else UTC.
TZ_JOINS = """
    JOIN res_company comp ON comp.id = c.company_id
    LEFT JOIN resource_calendar cal ON cal.id = comp.resource_calendar_id
    LEFT JOIN res_partner partner ON partner.id = comp.partner_id
    CROSS JOIN LATERAL (
        SELECT COALESCE(NULLIF(cal.tz, ''), NULLIF(partner.tz, ''), 'UTC') AS name
    ) tz
"""
CLOSER_JOIN = "LEFT JOIN medpulse_call closer ON closer.id = c.closed_by_call_id"
BOOKED_FEW_JOIN = """
    CROSS JOIN LATERAL (
        SELECT EXISTS (
            SELECT 1 FROM medpulse_appointment a
             WHERE a.call_id = c.id AND a.state != 'cancelled'
        ) AS booked
    ) appt
"""
BOOKED_ALL_JOIN = """
    LEFT JOIN (
        SELECT DISTINCT call_id, TRUE AS booked FROM medpulse_appointment
         WHERE call_id IS NOT NULL AND state != 'cancelled'
    ) appt ON appt.call_id = c.id
"""

#: The call's start in the clinic's time zone, and what the reports group it by.
LOCAL_START = "(c.created_at AT TIME ZONE 'UTC' AT TIME ZONE tz.name)"
LOCAL_DAY = f"{LOCAL_START}::date"
LOCAL_MONTH = f"date_trunc('month', {LOCAL_START})::date"
LOCAL_WEEKDAY = f"to_char({LOCAL_START}, 'ID')"
LOCAL_HOUR = f"to_char({LOCAL_START}, 'HH24')"

#: A call the reports count: it has a result and its final state is known (its summary
#: arrived, or the PBX's statistics gave it). A call in progress, or answered and still
#: talking, counts nowhere yet: what it counts for changes until it ends.
COUNTED = (
    "c.result IN ('answered', 'missed') AND c.created_at IS NOT NULL"
    " AND (c.is_final OR c.recovered_from_stats OR c.completed_from_stats)"
)

#: Populations of the rates and averages (booleans).
INCOMING = "c.direction = 'incoming' AND c.result IN ('answered', 'missed')"
ANSWERED = "c.result = 'answered'"
MISSED = "c.call_type = 'missed_incoming'"
RETURNED = f"{MISSED} AND c.closed_by_call_id IS NOT NULL"
RETURN_TIMED = f"{MISSED} AND closer.id IS NOT NULL"
CONVERSION_BASE = f"{ANSWERED} AND c.direction IN ('incoming', 'outgoing')"
BOOKED = "COALESCE(appt.booked, FALSE)"

#: Values measured over those populations.
WAIT_SECONDS = "c.wait_seconds"
TALK_SECONDS = "c.talk_seconds"
RETURN_MINUTES = "GREATEST(EXTRACT(EPOCH FROM closer.created_at - c.created_at), 0) / 60.0"


def when(condition: str, value: str, otherwise: str | None = None) -> str:
    """``value`` for the calls of ``condition``; ``otherwise`` (NULL: skipped by averages)
    for the others."""
    tail = f" ELSE {otherwise}" if otherwise is not None else ""
    return f"CASE WHEN {condition} THEN {value}{tail} END"


def flag(condition: str) -> str:
    """1 for the calls of ``condition``, else 0: a count once summed."""
    return f"({condition})::int"


def percent(population: str, condition: str) -> str:
    """100 for the calls of ``population`` that meet ``condition``, 0 for the others of it,
    NULL outside it: its average is the share in percent."""
    return when(population, when(condition, "100.0", "0.0"))
