"""What reconciliation and the statistics wizard ask of the PBX's statistics (the mapping of
a statistics row to a ``CallState`` is the toolkit's ``mango_vpbx.stats.call_state``)."""

#: Fields asked from ``stats/request`` wherever statistics meet the journal.
STATS_FIELDS = (
    "entry_id", "records", "start", "finish", "answer", "from_extension", "from_number",
    "to_extension", "to_number", "disconnect_reason", "line_number", "location", "create",
)

#: What an incomplete call keeps from its own events when statistics complete it:
#: the events saw the parties and the ringing better than one CSV row can.
_KEPT_FROM_EVENTS = (
    "direction", "caller_number", "caller_e164", "callee_number", "callee_e164",
    "external_e164", "line_id", "patient_id", "patient_ids", "rang_user_ids", "created_at",
    "transfers", "command_id", "callback_initiator",
)

