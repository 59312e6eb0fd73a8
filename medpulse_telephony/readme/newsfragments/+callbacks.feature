Call-backs (`medpulse.call.callback`): a missed call opens one call-back per caller number
(later misses join it; hidden numbers and abandons shorter than a threshold open none), with
an owner (the operator whose phone rang, a round-robin among operators on duty, or a fixed
operator), a due time counted on the company's working hours and holidays, and a "Call back"
activity in the owner's "My activities". Outgoing calls to the number are recorded as
attempts; an answered call with the number or a booking for the patient closes it. A
one-minute cron marks overdue call-backs and notifies the owner and the telephony managers
once. "Missed calls to return" now lists the call-backs. Operators can mark themselves
away in their preferences. New settings in Settings ▸ Telephony ▸ Call-backs.
