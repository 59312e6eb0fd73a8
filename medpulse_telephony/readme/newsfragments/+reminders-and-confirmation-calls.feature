Appointment reminders and the confirmation call list (issue 21). Clinic managers write
reminder rules (Clinic ▸ Configuration ▸ Reminder rules: per service or the company's default;
lead time, SMS / call / SMS then a call if not confirmed, quiet hours in the clinic's time
zone, calls again after no answer and how many); nothing is reminded before a rule exists. An
hourly job builds the next days' reminders once per appointment and time (a moved appointment
gets new ones, a cancelled one none; a patient without SMS or call consent gets none, and the log
says why), and a job every five minutes sends the SMS that are due from the company's SMS
extension, in batches that resume where a PBX outage or lockout stopped them, never twice.
Telephony ▸ Confirmation calls is the reception's worklist: "Next patient" hands each operator
a different patient (claimed for 10 minutes), one click calls, one click records the outcome
(confirmed, moved, cancelled with a reason, no answer, wrong number), shown on the schedule as
the appointment's confirmation; Reporting ▸ Confirmation progress shows done, left, confirmed %
and unreachable. The PBX request budget now has a priority: a person's click-to-call, transfer
or SMS goes first, reminders take at most half of the PBX's rate and wait for it. New models
and columns only (`medpulse.reminder.rule`, `medpulse.reminder`, `medpulse.confirmation.item`,
the appointment's `confirmation_state`, the command's `priority`): `-u medpulse_telephony`
adds them, existing appointments are "Not confirmed" and existing commands "Interactive".
