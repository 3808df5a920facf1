-- Fold the rollup log into the rollups (owner only): what changed since the last fold, applied
-- as deltas; returns how many log rows were folded.
SELECT orchdash.rollup_fold()
