from . import controllers


def _create_table(env):
    env.cr.execute(
        "CREATE TABLE IF NOT EXISTS medpulse_bench_baseline_event "
        "(id SERIAL PRIMARY KEY, path VARCHAR, json TEXT, received_at TIMESTAMP DEFAULT now())"
    )
