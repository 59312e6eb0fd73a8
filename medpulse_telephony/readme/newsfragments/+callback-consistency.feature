Call-backs follow the journal's follow-up: marking a missed call "No action needed" (journal or
card) cancels its open call-back, whoever owns it, and cancels its "Call back" activity instead
of marking it done (so does the call-back's own "No call-back needed"); the lost-patient ledger
counts that caller as "no call-back needed", never as lost. An answered call learnt late (a
delayed delivery, or the reconciliation) that falls between two misses of one call-back closes
it for the earlier misses only: the later ones move to a new call-back. No data change.
