A PBX event costs the webhook about a tenth fewer SQL statements and a fifth fewer Python
calls: each Odoo process keeps the company's PBX directory (who has which extension and
device), read again whenever an extension, a device or a user's companies change; the
caller's patients are searched at the call's first event, whenever its number changes and
once it is over, not at every leg in between (a patient created from the card is linked at
once, one given the number elsewhere meanwhile when the call ends); Odoo's cron workers are
woken through the connection kept for the bus, and a recording's download only once per new
due time; phone numbers already read are remembered. (issue 24)
