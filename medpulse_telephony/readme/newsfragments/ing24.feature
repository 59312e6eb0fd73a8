The webhook does less per PBX event: no savepoint around the fold (its own transaction is
rolled back and the event flagged on a failure), no read of the stored event back to take the
call's lock, the call's line checked in the lock's own statement instead of searched, the
journal's write without the chatter's tracking when no tracked field changes, a closing card
that says only which call it closes, and no journal message (so no bus NOTIFY and its new
database connection) for an event that changed nothing a journal list shows: 25.5 → 21.2 SQL
statements and 22,561 → 20,277 Python function calls per event (`bench/profile_events.py`).
(issue 24)
