-- Core schema: sites, devices, typed reading hypertables, quarantine, alerts, API keys, scorer state, ground truth.
CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE sites (
    site_id     text PRIMARY KEY CHECK (site_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO sites (site_id, name) VALUES ('park', 'Industrial park');

CREATE TABLE devices (
    device_id            text PRIMARY KEY CHECK (device_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    kind                 text NOT NULL CHECK (kind IN ('dust', 'met', 'cycler', 'process')),
    site_id              text NOT NULL REFERENCES sites (site_id),
    name                 text,
    lat                  double precision,
    lon                  double precision,
    mobile               boolean NOT NULL DEFAULT false,
    expected_interval_s  double precision NOT NULL DEFAULT 10 CHECK (expected_interval_s > 0),
    firmware             text,
    status               text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
    mqtt_password_hash   text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    last_seen            timestamptz,
    last_received        timestamptz
);
CREATE INDEX devices_site_idx ON devices (site_id);

CREATE TABLE dust_readings (
    device_id       text NOT NULL,
    time            timestamptz NOT NULL,
    pm1             double precision,
    pm25            double precision,
    pm10            double precision,
    temperature     double precision,
    rh              double precision,
    pressure        double precision,
    wind_speed      double precision,
    wind_dir        double precision,
    lat             double precision,
    lon             double precision,
    battery         double precision,
    rssi            double precision,
    seq             bigint,
    time_estimated  boolean NOT NULL DEFAULT false,
    received_at     timestamptz NOT NULL DEFAULT now()
);
SELECT create_hypertable('dust_readings', 'time', chunk_time_interval => interval '1 day');
CREATE UNIQUE INDEX dust_readings_key ON dust_readings (device_id, time DESC);

CREATE TABLE met_readings (
    device_id       text NOT NULL,
    time            timestamptz NOT NULL,
    wind_speed      double precision,
    wind_dir        double precision,
    temperature     double precision,
    rh              double precision,
    pressure        double precision,
    seq             bigint,
    time_estimated  boolean NOT NULL DEFAULT false,
    received_at     timestamptz NOT NULL DEFAULT now()
);
SELECT create_hypertable('met_readings', 'time', chunk_time_interval => interval '7 days');
CREATE UNIQUE INDEX met_readings_key ON met_readings (device_id, time DESC);

CREATE TABLE cycler_samples (
    device_id            text NOT NULL,
    time                 timestamptz NOT NULL,
    test_time            double precision,
    cycle_index          integer,
    step_index           integer,
    step_type            text,
    voltage              double precision,
    current              double precision,
    temperature          double precision,
    charge_capacity      double precision,
    discharge_capacity   double precision,
    charge_energy        double precision,
    discharge_energy     double precision,
    internal_resistance  double precision,
    seq                  bigint,
    time_estimated       boolean NOT NULL DEFAULT false,
    received_at          timestamptz NOT NULL DEFAULT now()
);
SELECT create_hypertable('cycler_samples', 'time', chunk_time_interval => interval '1 day');
CREATE UNIQUE INDEX cycler_samples_key ON cycler_samples (device_id, time DESC);

CREATE TABLE process_values (
    device_id       text NOT NULL,
    time            timestamptz NOT NULL,
    tag             text NOT NULL,
    value           double precision NOT NULL,
    quality         integer NOT NULL DEFAULT 192,
    time_estimated  boolean NOT NULL DEFAULT false,
    received_at     timestamptz NOT NULL DEFAULT now()
);
SELECT create_hypertable('process_values', 'time', chunk_time_interval => interval '1 day');
CREATE UNIQUE INDEX process_values_key ON process_values (device_id, tag, time DESC);

CREATE TABLE device_events (
    device_id   text NOT NULL,
    time        timestamptz NOT NULL,
    event       text NOT NULL,
    detail      text NOT NULL DEFAULT '',
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, time, event)
);

CREATE TABLE quarantine (
    quarantine_id  bigserial PRIMARY KEY,
    received_at    timestamptz NOT NULL DEFAULT now(),
    topic          text NOT NULL,
    device_id      text,
    reason         text NOT NULL,
    detail         text NOT NULL DEFAULT '',
    payload        bytea NOT NULL,
    worker         text NOT NULL DEFAULT ''
);
CREATE INDEX quarantine_received_idx ON quarantine (received_at DESC);
CREATE INDEX quarantine_device_idx ON quarantine (device_id, received_at DESC);

CREATE TABLE alerts (
    alert_id         bigserial PRIMARY KEY,
    device_id        text NOT NULL,
    site_id          text NOT NULL,
    type             text NOT NULL,
    severity         text NOT NULL CHECK (severity IN ('info', 'warning', 'major', 'critical')),
    status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'acknowledged', 'cleared')),
    value            double precision,
    threshold        double precision,
    details          jsonb NOT NULL DEFAULT '{}',
    occurrences      integer NOT NULL DEFAULT 1,
    first_time       timestamptz NOT NULL,
    last_time        timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    cleared_at       timestamptz,
    cleared_by       text,
    assignee         text
);
-- One open alert per (device, type): repeats update it, a new one is possible only after clearing.
CREATE UNIQUE INDEX alerts_one_open ON alerts (device_id, type) WHERE status <> 'cleared';
CREATE INDEX alerts_created_idx ON alerts (created_at DESC, alert_id DESC);
CREATE INDEX alerts_status_idx ON alerts (status, created_at DESC);

CREATE TABLE alert_events (
    event_id  bigserial PRIMARY KEY,
    alert_id  bigint NOT NULL REFERENCES alerts (alert_id) ON DELETE CASCADE,
    at        timestamptz NOT NULL DEFAULT now(),
    kind      text NOT NULL,
    actor     text NOT NULL DEFAULT 'system',
    comment   text,
    data      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX alert_events_alert_idx ON alert_events (alert_id, event_id);

CREATE TABLE api_keys (
    key_id        bigserial PRIMARY KEY,
    name          text NOT NULL,
    role          text NOT NULL CHECK (role IN ('operator', 'researcher', 'field', 'admin')),
    prefix        text NOT NULL UNIQUE,
    key_hash      text NOT NULL,
    sites         text[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    last_used_at  timestamptz
);

CREATE TABLE scorer_state (
    detector    text NOT NULL,
    device_id   text NOT NULL,
    watermark   timestamptz NOT NULL,
    state       jsonb NOT NULL DEFAULT '{}',
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (detector, device_id)
);

CREATE TABLE ground_truth (
    truth_id    bigserial PRIMARY KEY,
    run_id      text NOT NULL DEFAULT '',
    device_id   text NOT NULL,
    kind        text NOT NULL,
    start_time  timestamptz NOT NULL,
    end_time    timestamptz NOT NULL,
    params      jsonb NOT NULL DEFAULT '{}',
    UNIQUE (run_id, device_id, kind, start_time)
);
CREATE INDEX ground_truth_device_idx ON ground_truth (device_id, start_time);
