-- Delete an alert rule (and its state): RLS lets the statement see the user's own rules only.
-- params: rule_id
DELETE FROM orchdash.alert_rules WHERE id = CAST(:rule_id AS uuid)
RETURNING CAST(id AS text) AS id
