-- The chosen ventures and stages; none chosen means all of them.
-- params: venture_ids, stages
AND (cardinality(CAST(:venture_ids AS uuid[])) = 0
     OR rows.venture_id = ANY(CAST(:venture_ids AS uuid[])))
AND (cardinality(CAST(:stages AS integer[])) = 0
     OR rows.stage_id = ANY(CAST(:stages AS integer[])))
