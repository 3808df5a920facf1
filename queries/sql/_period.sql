-- The filters' period: rows recorded in [start_ts, end_ts), from the start day's midnight to the
-- midnight after the end day in the chosen zone (criteria.Filters.bounds).
-- The explicit company filter, the second tenancy lock, is not here: each statement writes it
-- where a reader checks it, as every statement must have it.
-- params: start_ts, end_ts
AND rows.recorded_at >= CAST(:start_ts AS timestamptz)
AND rows.recorded_at < CAST(:end_ts AS timestamptz)
