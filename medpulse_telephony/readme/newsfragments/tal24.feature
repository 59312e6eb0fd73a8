The calls that settle in one fold transaction enter the managers' report tallies in one
statement at its end, not one each; a recording event finds all the call's recordings in
one search and writes only what changes a recording (the other recordings of the call, and
the later events of a recording folded together, write no row). (issue 24)
