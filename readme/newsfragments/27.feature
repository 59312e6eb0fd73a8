`mango_vpbx.calls.FOLD_VERSION` and `mango_vpbx.stats.STATS_VERSION`: the versions of what
`fold()` and `stats.call_state()` return for the same input, raised by a release that changes
it, so that an integrator can store them with each call and fold again the calls of an older
version.
