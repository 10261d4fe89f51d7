-- Field work: site boundaries and zones, claim codes, mobile tracks tagged with zones, co-location checks,
-- device health snapshots. Polygons use PostgreSQL's native geometric types with x = longitude, y = latitude
-- (a park is a few kilometres across, so containment in degrees is exact enough and needs no extension).

ALTER TABLE sites ADD COLUMN boundary polygon;
ALTER TABLE sites ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

CREATE TABLE zones (
    site_id     text NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    zone_id     text NOT NULL CHECK (zone_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name        text NOT NULL,
    kind        text NOT NULL DEFAULT 'area',
    area        polygon NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, zone_id)
);

-- The park's fence line and zones, matching the simulated layout (origin 63.84 N, 23.03 E).
UPDATE sites SET boundary = polygon '((23.053432,63.840449),(23.05002,63.844267),(23.040697,63.847062),
    (23.027962,63.848085),(23.015228,63.847062),(23.005905,63.844267),(23.002493,63.840449),(23.005905,63.836631),
    (23.015228,63.833836),(23.027962,63.832814),(23.040697,63.833836),(23.05002,63.836631))'
WHERE site_id = 'park';
INSERT INTO zones (site_id, zone_id, name, kind, area) VALUES
  ('park', 'harbour', 'Harbour and loading quay', 'industrial',
   polygon '((23.004531,63.841797),(23.017775,63.841797),(23.017775,63.847186),(23.004531,63.847186))'),
  ('park', 'stockpiles', 'Concentrate stockpiles', 'industrial',
   polygon '((23.017775,63.836407),(23.03,63.836407),(23.03,63.843593),(23.017775,63.843593))'),
  ('park', 'process', 'Roaster and process plants', 'industrial',
   polygon '((23.03,63.835958),(23.044263,63.835958),(23.044263,63.844042),(23.03,63.844042))'),
  ('park', 'residential-north', 'Residential area north-east', 'residential',
   polygon '((23.058526,63.845839),(23.070751,63.845839),(23.070751,63.851229),(23.058526,63.851229))'),
  ('park', 'residential-south', 'Residential area south-east', 'residential',
   polygon '((23.054451,63.827424),(23.064638,63.827424),(23.064638,63.831915),(23.054451,63.831915))');

ALTER TABLE devices ADD COLUMN retired_at timestamptz;
ALTER TABLE devices ADD COLUMN credential_issued_at timestamptz;

-- Claim codes: only a hash of the code is kept; a code is redeemed at most once, inside its window.
CREATE TABLE claims (
    claim_id      bigserial PRIMARY KEY,
    code_hash     text NOT NULL UNIQUE,
    code_hint     text NOT NULL,
    device_id     text NOT NULL REFERENCES devices (device_id),
    site_id       text NOT NULL REFERENCES sites (site_id),
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    redeemed_at   timestamptz,
    redeemed_by   text,
    CHECK (expires_at > created_at)
);
CREATE INDEX claims_device_idx ON claims (device_id, created_at DESC);

-- Redemption attempts per client address, for rate limiting (old rows are pruned on insert).
CREATE TABLE claim_attempts (
    client  text NOT NULL,
    at      timestamptz NOT NULL DEFAULT now(),
    ok      boolean NOT NULL
);
CREATE INDEX claim_attempts_client_idx ON claim_attempts (client, at DESC);

-- Positions of mobile sensors, each tagged with the zone it fell in (NULL: outside every zone).
CREATE TABLE track_points (
    device_id  text NOT NULL,
    time       timestamptz NOT NULL,
    site_id    text NOT NULL,
    lat        double precision NOT NULL,
    lon        double precision NOT NULL,
    zone_id    text,
    pm10       double precision
);
SELECT create_hypertable('track_points', 'time', chunk_time_interval => interval '7 days');
CREATE UNIQUE INDEX track_points_key ON track_points (device_id, time DESC);

-- Progress of field housekeeping tasks (received-time watermarks).
CREATE TABLE field_watermarks (
    name        text PRIMARY KEY,
    at          timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- A mobile unit's pass near a fixed station, with both units' PM10 over the pass compared.
CREATE TABLE colocation_checks (
    mobile_id    text NOT NULL,
    fixed_id     text NOT NULL,
    start_time   timestamptz NOT NULL,
    end_time     timestamptz NOT NULL,
    samples      integer NOT NULL,
    distance_m   double precision NOT NULL,
    mobile_mean  double precision NOT NULL,
    fixed_mean   double precision NOT NULL,
    difference   double precision NOT NULL,
    agree        boolean NOT NULL,
    checked_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (mobile_id, fixed_id, start_time)
);

-- The latest health assessment of each device.
CREATE TABLE device_health (
    device_id        text PRIMARY KEY REFERENCES devices (device_id) ON DELETE CASCADE,
    state            text NOT NULL CHECK (state IN ('ok', 'degraded', 'offline', 'unknown')),
    checked_at       timestamptz NOT NULL,
    silence_s        double precision,
    rate_ratio       double precision,
    battery          double precision,
    rssi             double precision,
    clock_skew_s     double precision,
    quarantined      integer NOT NULL DEFAULT 0,
    reasons          text[] NOT NULL DEFAULT '{}'
);
