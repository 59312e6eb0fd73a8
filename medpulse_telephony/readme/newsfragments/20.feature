The incoming-call card is heard and seen: while it rings, one tab of the user plays Odoo's
incoming-call sound, stopped when the call is answered anywhere, ends or its card is hidden;
out of focus, a desktop notification shows the number and the line (the patient's name only
if the company allows it in Settings ▸ Telephony); each user turns both on or off in My
Preferences ▸ Telephony. Calls get an outcome (Telephony ▸ Configuration ▸ Call outcomes:
booked, rescheduled, cancelled, information given, wrong number, complaint, other; per
company, translatable), set on the card (which proposes "Booked" after a booking) or in the
journal, optionally required before an answered call's card closes; a booking, cancellation
or complaint leaves one note on the patient, and the patient's form lists their recent calls.
New columns only (`medpulse_call.outcome_id`, the users' and companies' settings): no
migration script, `-u medpulse_telephony` adds them.
