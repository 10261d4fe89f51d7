-- Alert escalation, incidents (one dust episode seen by neighbouring sensors) and the ordered event stream
-- behind the live feed (server-sent events resumable with Last-Event-ID).

ALTER TABLE alerts ADD COLUMN escalation_level integer NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN escalated_at timestamptz;
ALTER TABLE alerts ADD COLUMN incident_id bigint;
-- Escalation scans active alerts by age; listing filters by site and type.
CREATE INDEX alerts_active_created_idx ON alerts (created_at) WHERE status = 'active';
CREATE INDEX alerts_site_idx ON alerts (site_id, alert_id DESC);
CREATE INDEX alerts_type_idx ON alerts (type, alert_id DESC);
CREATE INDEX alerts_device_idx ON alerts (device_id, alert_id DESC);
CREATE INDEX alerts_unassigned_idx ON alerts (first_time) WHERE incident_id IS NULL;

CREATE TABLE incidents (
    incident_id     bigserial PRIMARY KEY,
    site_id         text NOT NULL,
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    first_time      timestamptz NOT NULL,
    last_time       timestamptz NOT NULL,
    alert_count     integer NOT NULL DEFAULT 0,
    device_ids      text[] NOT NULL DEFAULT '{}',
    wind_dir        double precision,
    wind_speed      double precision,
    likely_source   text,
    source_bearing  double precision,
    details         jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    closed_at       timestamptz
);
CREATE INDEX incidents_open_idx ON incidents (site_id, last_time) WHERE status = 'open';
CREATE INDEX incidents_id_desc_idx ON incidents (incident_id DESC);
ALTER TABLE alerts ADD CONSTRAINT alerts_incident_fk FOREIGN KEY (incident_id) REFERENCES incidents (incident_id);
CREATE INDEX alerts_incident_idx ON alerts (incident_id) WHERE incident_id IS NOT NULL;

-- The live feed. Ids are handed out under a transaction-scoped advisory lock, so they become visible in
-- commit order: a reader resuming after id N can never miss a row with a smaller id that commits later.
CREATE TABLE stream_events (
    stream_id    bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    topic        text NOT NULL CHECK (topic IN ('alert', 'incident')),
    ref_id       bigint NOT NULL,
    site_id      text NOT NULL,
    kind         text NOT NULL,
    data         jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX stream_events_site_idx ON stream_events (site_id, stream_id);

CREATE FUNCTION kipsense_stream_lock() RETURNS void LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(7031990431);
$$;

CREATE FUNCTION kipsense_alert_event_to_stream() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    a alerts%ROWTYPE;
BEGIN
    SELECT * INTO a FROM alerts WHERE alert_id = NEW.alert_id;
    PERFORM kipsense_stream_lock();
    INSERT INTO stream_events (at, topic, ref_id, site_id, kind, data)
    VALUES (NEW.at, 'alert', NEW.alert_id, a.site_id, NEW.kind,
            jsonb_build_object('event_id', NEW.event_id, 'actor', NEW.actor, 'comment', NEW.comment,
                               'device_id', a.device_id, 'type', a.type, 'severity', a.severity,
                               'status', a.status, 'value', a.value) || NEW.data);
    PERFORM pg_notify('kipsense_stream', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER alert_events_stream AFTER INSERT ON alert_events
    FOR EACH ROW EXECUTE FUNCTION kipsense_alert_event_to_stream();
