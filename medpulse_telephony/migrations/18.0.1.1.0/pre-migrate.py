"""18.0.1.1.0: the follow-up lock becomes a declared model (``medpulse.call.followup.lock``).

Its table has the name of the one ``medpulse.call.init()`` used to create by hand, with a
primary key on (company, number) and no ``id``. Dropped before the module's tables are
updated, so the model's own table is created in its place. Its rows are only locks (a
timestamp per number): nothing is lost.
"""


def migrate(cr, version):
    if not version:
        return
    cr.execute("DROP TABLE IF EXISTS medpulse_call_followup_lock")
