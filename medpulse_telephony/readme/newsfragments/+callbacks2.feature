Call-backs, continued: an "On duty / Away" switch in the systray (one click; the transfer
panel of the card shows which colleagues are away); "Being called by …": a click-to-call
claims the number's open call-back until its call ends (2 minutes if it never starts), and a
colleague's click on the same number is refused with who is calling; an escalation step
(Settings ▸ Telephony ▸ Call-backs: after N minutes overdue, a group such as the clinic
managers and a chosen user are told once); the patient's form shows the patient's open
call-back above the Calls tab's list. New columns only, empty or 0 after `-u` (no escalation
until set).
