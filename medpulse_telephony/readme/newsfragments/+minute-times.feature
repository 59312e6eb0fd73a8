The lists of call-backs (and their attempts and missed calls), of the lost-patient ledger, of
integration incidents and of the patient's calls show their times to the minute: the seconds
cut the due times short.
