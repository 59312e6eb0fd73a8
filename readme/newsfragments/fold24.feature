`mango_vpbx.calls.Folding`: a call's events kept between deliveries, so that each new event is
folded without the earlier ones being read back (`Folding(events).add(new).state()` equals
`fold()` of them all, property-tested for any order, duplication and split into deliveries).
An event's canonical JSON (`Event.canonical_json`) is computed once, not on every fold: `fold()`
of a 13-event call takes 2.7 ms instead of 7.3 ms. (issue 24)
