-- Record an evaluation of a rule: whether it holds now, its value and rows; changed is true when
-- it started or stopped holding (then since is :at, the sender's clock). No row back when the rule is gone.
-- params: rule_id, holding, value, row_count, detail, at
SELECT changed, since
FROM orchdash.alert_transition(CAST(:rule_id AS uuid), CAST(:holding AS boolean),
                               CAST(:value AS double precision), CAST(:row_count AS bigint),
                               CAST(:detail AS text), CAST(:at AS timestamptz))
