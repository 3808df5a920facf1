-- The demo's CSV writes timestamps in UTC without a zone (much faster to format): read them so.
SET LOCAL TIME ZONE 'UTC'
