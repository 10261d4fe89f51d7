-- Operations: rollup tables (1 minute, 1 hour) maintained by the platform's own maintenance loop, the queue of
-- buckets to re-aggregate, and retention settings per hypertable. Works on the Apache edition of TimescaleDB
-- (no continuous aggregates or policies there).

-- Finding what arrived since the last rollup pass scans received_at. A BRIN index is nearly free to maintain
-- on insert (rows arrive in received_at order within a chunk) and lets that scan skip old blocks.
CREATE INDEX dust_readings_received_brin ON dust_readings USING brin (received_at);
CREATE INDEX met_readings_received_brin ON met_readings USING brin (received_at);

-- Per (device, bucket) count/sum/min/max of each metric of dust_readings: means re-aggregate exactly at coarser buckets.
CREATE TABLE dust_rollup_1m (
    device_id  text NOT NULL,
    bucket     timestamptz NOT NULL,
    pm1_n    integer NOT NULL DEFAULT 0,
    pm1_sum  double precision,
    pm1_min  double precision,
    pm1_max  double precision,
    pm25_n    integer NOT NULL DEFAULT 0,
    pm25_sum  double precision,
    pm25_min  double precision,
    pm25_max  double precision,
    pm10_n    integer NOT NULL DEFAULT 0,
    pm10_sum  double precision,
    pm10_min  double precision,
    pm10_max  double precision,
    temperature_n    integer NOT NULL DEFAULT 0,
    temperature_sum  double precision,
    temperature_min  double precision,
    temperature_max  double precision,
    rh_n    integer NOT NULL DEFAULT 0,
    rh_sum  double precision,
    rh_min  double precision,
    rh_max  double precision,
    pressure_n    integer NOT NULL DEFAULT 0,
    pressure_sum  double precision,
    pressure_min  double precision,
    pressure_max  double precision,
    wind_speed_n    integer NOT NULL DEFAULT 0,
    wind_speed_sum  double precision,
    wind_speed_min  double precision,
    wind_speed_max  double precision,
    samples    integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
SELECT create_hypertable('dust_rollup_1m', 'bucket', chunk_time_interval => interval '30 days');
CREATE UNIQUE INDEX dust_rollup_1m_key ON dust_rollup_1m (device_id, bucket DESC);

-- Per (device, bucket) count/sum/min/max of each metric of dust_readings: means re-aggregate exactly at coarser buckets.
CREATE TABLE dust_rollup_1h (
    device_id  text NOT NULL,
    bucket     timestamptz NOT NULL,
    pm1_n    integer NOT NULL DEFAULT 0,
    pm1_sum  double precision,
    pm1_min  double precision,
    pm1_max  double precision,
    pm25_n    integer NOT NULL DEFAULT 0,
    pm25_sum  double precision,
    pm25_min  double precision,
    pm25_max  double precision,
    pm10_n    integer NOT NULL DEFAULT 0,
    pm10_sum  double precision,
    pm10_min  double precision,
    pm10_max  double precision,
    temperature_n    integer NOT NULL DEFAULT 0,
    temperature_sum  double precision,
    temperature_min  double precision,
    temperature_max  double precision,
    rh_n    integer NOT NULL DEFAULT 0,
    rh_sum  double precision,
    rh_min  double precision,
    rh_max  double precision,
    pressure_n    integer NOT NULL DEFAULT 0,
    pressure_sum  double precision,
    pressure_min  double precision,
    pressure_max  double precision,
    wind_speed_n    integer NOT NULL DEFAULT 0,
    wind_speed_sum  double precision,
    wind_speed_min  double precision,
    wind_speed_max  double precision,
    samples    integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
SELECT create_hypertable('dust_rollup_1h', 'bucket', chunk_time_interval => interval '365 days');
CREATE UNIQUE INDEX dust_rollup_1h_key ON dust_rollup_1h (device_id, bucket DESC);

-- Per (device, bucket) count/sum/min/max of each metric of met_readings: means re-aggregate exactly at coarser buckets.
CREATE TABLE met_rollup_1m (
    device_id  text NOT NULL,
    bucket     timestamptz NOT NULL,
    wind_speed_n    integer NOT NULL DEFAULT 0,
    wind_speed_sum  double precision,
    wind_speed_min  double precision,
    wind_speed_max  double precision,
    temperature_n    integer NOT NULL DEFAULT 0,
    temperature_sum  double precision,
    temperature_min  double precision,
    temperature_max  double precision,
    rh_n    integer NOT NULL DEFAULT 0,
    rh_sum  double precision,
    rh_min  double precision,
    rh_max  double precision,
    pressure_n    integer NOT NULL DEFAULT 0,
    pressure_sum  double precision,
    pressure_min  double precision,
    pressure_max  double precision,
    samples    integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
SELECT create_hypertable('met_rollup_1m', 'bucket', chunk_time_interval => interval '30 days');
CREATE UNIQUE INDEX met_rollup_1m_key ON met_rollup_1m (device_id, bucket DESC);

-- Per (device, bucket) count/sum/min/max of each metric of met_readings: means re-aggregate exactly at coarser buckets.
CREATE TABLE met_rollup_1h (
    device_id  text NOT NULL,
    bucket     timestamptz NOT NULL,
    wind_speed_n    integer NOT NULL DEFAULT 0,
    wind_speed_sum  double precision,
    wind_speed_min  double precision,
    wind_speed_max  double precision,
    temperature_n    integer NOT NULL DEFAULT 0,
    temperature_sum  double precision,
    temperature_min  double precision,
    temperature_max  double precision,
    rh_n    integer NOT NULL DEFAULT 0,
    rh_sum  double precision,
    rh_min  double precision,
    rh_max  double precision,
    pressure_n    integer NOT NULL DEFAULT 0,
    pressure_sum  double precision,
    pressure_min  double precision,
    pressure_max  double precision,
    samples    integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
SELECT create_hypertable('met_rollup_1h', 'bucket', chunk_time_interval => interval '365 days');
CREATE UNIQUE INDEX met_rollup_1h_key ON met_rollup_1h (device_id, bucket DESC);

-- How far (in received_at) each source table has been scanned for new rows (NULL: never).
CREATE TABLE rollup_state (
    source            text PRIMARY KEY CHECK (source IN ('dust_readings', 'met_readings')),
    received_through  timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
INSERT INTO rollup_state (source) VALUES ('dust_readings'), ('met_readings');

-- 1-minute buckets whose raw rows changed (new or late data) and must be re-aggregated.
CREATE TABLE rollup_dirty (
    source     text NOT NULL REFERENCES rollup_state (source),
    device_id  text NOT NULL,
    bucket     timestamptz NOT NULL,
    PRIMARY KEY (source, bucket, device_id)
);

-- Raw and rollup retention per hypertable: chunks entirely older than keep_days are dropped (NULL keeps all).
-- compress_after_days is used only on the licensed edition (native compression).
CREATE TABLE retention_policies (
    hypertable           text PRIMARY KEY,
    keep_days            double precision CHECK (keep_days IS NULL OR keep_days > 0),
    compress_after_days  double precision CHECK (compress_after_days IS NULL OR compress_after_days > 0),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
INSERT INTO retention_policies (hypertable, keep_days, compress_after_days) VALUES
    ('dust_readings', 400, 7),
    ('met_readings', 400, 7),
    ('cycler_samples', 3650, 30),
    ('process_values', 730, 7),
    ('dust_rollup_1m', 1830, 30),
    ('met_rollup_1m', 1830, 30),
    ('dust_rollup_1h', NULL, 90),
    ('met_rollup_1h', NULL, 90);
