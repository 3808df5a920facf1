-- The chosen agents: rows whose agents_involved holds all of them (agents_all) or any of them;
-- none chosen means no agent filter. Only the raw rows have the lists: the rollups have no
-- agents, and a statement reads the raw rows when agents are chosen.
-- params: agents, agents_all
AND (cardinality(CAST(:agents AS text[])) = 0
     OR (CAST(:agents_all AS boolean) AND rows.agents_involved @> CAST(:agents AS text[]))
     OR (NOT CAST(:agents_all AS boolean) AND rows.agents_involved && CAST(:agents AS text[])))
