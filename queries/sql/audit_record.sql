-- Record one export or refused attempt through the insert-only function of migration f05; the
-- user is the one in this transaction's JWT claims (none for an attempt without an identity).
-- params: action, file_name, filters, time_zone, data_as_of, row_count, scope, sha256, reason
SELECT orchdash.record_export(
    CAST(:action AS text),
    CAST(:file_name AS text),
    CAST(:filters AS jsonb),
    CAST(:time_zone AS text),
    CAST(:data_as_of AS timestamptz),
    CAST(:row_count AS bigint),
    CAST(:scope AS uuid[]),
    CAST(:sha256 AS text),
    CAST(:reason AS text)
)
