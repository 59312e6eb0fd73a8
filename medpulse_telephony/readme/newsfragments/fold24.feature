Each webhook event costs fewer SQL statements and less Python: a worker keeps the fold of the
calls it handled last and adds the new event to it, reading the call's lock, its stored events'
ids and those to link in one statement, instead of reading and folding all the call's events
again (the journal is the same: a kept fold is used only when it holds exactly the stored
events). (issue 24, part 1)
