Each call records the version of the fold (`fold_version`) and of the statistics mapping
(`stats_version`) that computed it. When an upgrade of the addon or of `mango-vpbx` changes
how calls are computed, a scheduled action folds every call of an older version again from
its stored events, in batches, while the webhook keeps working; calls taken from the PBX's
statistics are asked of the PBX again by the reconciliation. *Integration health* shows the
progress (calls left, done) and what changed, per field (*Refolds of the journal*).
