-- Merge the agent rollup's unmerged entries (owner only): one entry per key again; returns how
-- many merged entries were written (0 if another merge was under way).
SELECT orchdash.agent_merge()
