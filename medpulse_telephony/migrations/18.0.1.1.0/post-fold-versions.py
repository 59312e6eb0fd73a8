"""18.0.1.1.0: each call records the versions of the fold and of the statistics mapping.

The calls of 18.0.1.0.0 were computed by the fold and the statistics mapping of
``mango-vpbx`` 1.0.0: version 1 of both (``mango_vpbx.calls.FOLD_VERSION``,
``mango_vpbx.stats.STATS_VERSION``). They are marked so, not refolded: a call folded from
its events gets ``fold_version`` 1, a call whose values came from the PBX's statistics
``stats_version`` 1. A call recovered from the statistics has no event: its
``fold_version`` stays 0 (never folded). Literal 1, not the constants: a later release
that raises them must still refold these calls (``medpulse.call.refold``).
"""


def migrate(cr, version):
    if not version:
        return
    cr.execute("""
        UPDATE medpulse_call call SET fold_version = 1
         WHERE COALESCE(call.fold_version, 0) = 0
           AND EXISTS (SELECT 1 FROM medpulse_call_event event WHERE event.call_id = call.id)
    """)
    cr.execute("""
        UPDATE medpulse_call SET stats_version = 1
         WHERE COALESCE(stats_version, 0) = 0
           AND (recovered_from_stats OR completed_from_stats)
    """)
