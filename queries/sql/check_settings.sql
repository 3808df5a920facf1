-- Whether the rollups were built at the time zone and low-confidence threshold the app reads
-- (ORCHDASH_TIMEZONE :zone, ORCHDASH_LOW_CONFIDENCE :threshold): queries in another zone, or at
-- another threshold, read the raw rows instead (exact, slower). The fix rebuilds them (as the
-- owner), or sets the environment to what is stored.
-- params: zone, threshold
SELECT format('the rollups are built in time zone %s, the app reads ORCHDASH_TIMEZONE=%s',
              s.zone, CAST(:zone AS text)) AS problem,
       format('SELECT orchdash.rollup_rebuild(%L, %s), as the owner; or set ORCHDASH_TIMEZONE=%s',
              CAST(:zone AS text), CAST(:threshold AS numeric), s.zone) AS fix
FROM orchdash.rollup_settings AS s
WHERE s.zone <> CAST(:zone AS text)
UNION ALL
SELECT format('the rollups count low confidence below %s, the app reads'
              || ' ORCHDASH_LOW_CONFIDENCE=%s', s.low_threshold, CAST(:threshold AS numeric)),
       format('SELECT orchdash.rollup_rebuild(%L, %s), as the owner; or set'
              || ' ORCHDASH_LOW_CONFIDENCE=%s', CAST(:zone AS text),
              CAST(:threshold AS numeric), s.low_threshold)
FROM orchdash.rollup_settings AS s
WHERE s.low_threshold <> CAST(:threshold AS numeric)
UNION ALL
SELECT format('the agent rollup is built in time zone %s, the app reads ORCHDASH_TIMEZONE=%s',
              a.zone, CAST(:zone AS text)),
       format('SELECT orchdash.agent_rebuild(%L), as the owner; or set ORCHDASH_TIMEZONE=%s',
              CAST(:zone AS text), a.zone)
FROM orchdash.agent_settings AS a
WHERE a.zone <> CAST(:zone AS text)
