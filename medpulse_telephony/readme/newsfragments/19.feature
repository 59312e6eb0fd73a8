Every command sent to the PBX leaves a record in *Telephony ▸ PBX commands*, committed before
the request leaves and then its outcome: besides click-to-call and call control, now the
recording start and the automatic routing of a known patient (new kinds and a *Queued* state:
a route decided while a webhook event is processed is sent once that event's transaction has
committed, never while the call's next events wait). The webhook's transactions are owned by
its controller; the follow-up lock of missed calls is a declared model
(`medpulse.call.followup.lock`), its hand-made table is dropped by the migration. (issue 19)
