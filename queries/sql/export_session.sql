-- Settings of an export's transaction (local to it): timestamps written in the filter's zone, as
-- ISO 8601.
-- params: tz
SELECT set_config('TimeZone', CAST(:tz AS text), true),
       set_config('DateStyle', 'ISO, YMD', true)
