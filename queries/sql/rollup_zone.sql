-- The time zone whose local days the rollups use (migration f04, orchdash.rollup_settings):
-- figures in any other zone are computed from the raw rows. Read as the user.
-- params:
SELECT s.zone FROM orchdash.rollup_settings AS s
