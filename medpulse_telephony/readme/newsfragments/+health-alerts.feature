Integration health alerts: when the PBX integration turns red during working hours (no
events, a failed reconciliation, events in error, requests locked out), one incident opens
and the administrators get an activity, a notification and, if set, an e-mail; it closes
once the integration has stayed green for a delay (Settings ▸ Telephony ▸ Integration health
alerts), so a flapping link makes one incident. *Telephony ▸ Configuration ▸ Integration
incidents* lists them.
