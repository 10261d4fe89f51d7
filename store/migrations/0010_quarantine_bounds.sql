-- Quarantine is bounded: rows keep a prefix of the raw bytes with the full size and SHA-256; what the
-- per-device rate limit holds back is counted per (device, reason, minute) in quarantine_suppressed; both
-- tables are hypertables with a retention policy, so the maintenance loop's drop_chunks expires them.
ALTER TABLE quarantine ADD COLUMN payload_size integer, ADD COLUMN payload_sha256 bytea;
UPDATE quarantine SET payload_size = length(payload), payload_sha256 = sha256(payload);
ALTER TABLE quarantine ALTER COLUMN payload_size SET NOT NULL, ALTER COLUMN payload_sha256 SET NOT NULL;
-- A hypertable's unique keys include its time column; quarantine_id stays unique through its sequence.
ALTER TABLE quarantine DROP CONSTRAINT quarantine_pkey;
ALTER TABLE quarantine ADD PRIMARY KEY (quarantine_id, received_at);
SELECT create_hypertable('quarantine', 'received_at', chunk_time_interval => interval '1 day',
                         create_default_indexes => false, migrate_data => true);

CREATE TABLE quarantine_suppressed (
    device_id  text NOT NULL,            -- '' when the topic names no device
    reason     text NOT NULL,
    period     timestamptz NOT NULL,     -- the minute the messages arrived in
    messages   bigint NOT NULL,
    bytes      bigint NOT NULL,
    first_at   timestamptz NOT NULL,
    last_at    timestamptz NOT NULL,
    PRIMARY KEY (device_id, reason, period)
);
SELECT create_hypertable('quarantine_suppressed', 'period', chunk_time_interval => interval '7 days',
                         create_default_indexes => false);
CREATE INDEX quarantine_suppressed_period_idx ON quarantine_suppressed (period DESC);

INSERT INTO retention_policies (hypertable, keep_days, compress_after_days) VALUES
    ('quarantine', 30, NULL),
    ('quarantine_suppressed', 90, NULL)
ON CONFLICT (hypertable) DO NOTHING;
