-- A reading whose key (device, time[, tag]) is already stored with different values is not dropped: the
-- stored row stays (first write wins, history is not rewritten) and the offered reading is kept here with
-- the stored one beside it and a reference to the message that carried it. An identical redelivery of the
-- same conflicting reading only raises `repeats`. Partitioned by the reading's time so that retention drops
-- conflicts together with the readings they are about.
CREATE TABLE reading_conflicts (
    source_table       text NOT NULL
        CHECK (source_table IN ('dust_readings', 'met_readings', 'cycler_samples', 'process_values')),
    device_id          text NOT NULL,
    time               timestamptz NOT NULL,
    tag                text NOT NULL DEFAULT '',   -- process tag; '' for the other tables
    stored             jsonb NOT NULL,             -- the kept row's values (key and received_at left out)
    offered            jsonb NOT NULL,             -- the refused reading's values, same shape
    offered_md5        text NOT NULL,              -- md5(offered::text): one row per distinct offered reading
    stored_received_at timestamptz,
    topic              text NOT NULL,              -- the message that carried the offered reading
    received_at        timestamptz NOT NULL,
    payload_sha256     bytea NOT NULL,
    worker             text NOT NULL DEFAULT '',
    repeats            integer NOT NULL DEFAULT 1, -- times this same reading was offered again (redeliveries)
    last_received_at   timestamptz NOT NULL,
    recorded_at        timestamptz NOT NULL DEFAULT now()
);
SELECT create_hypertable('reading_conflicts', 'time', chunk_time_interval => interval '30 days');
CREATE UNIQUE INDEX reading_conflicts_key ON reading_conflicts (source_table, device_id, tag, time, offered_md5);
CREATE INDEX reading_conflicts_recorded_idx ON reading_conflicts (recorded_at DESC);
CREATE INDEX reading_conflicts_device_idx ON reading_conflicts (device_id, recorded_at DESC);

INSERT INTO retention_policies (hypertable, keep_days, compress_after_days) VALUES
    ('reading_conflicts', 730, NULL)
ON CONFLICT (hypertable) DO NOTHING;
