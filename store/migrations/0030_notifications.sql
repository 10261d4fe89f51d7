-- Notifications: contacts, groups with an on-call rotation, routing rules (data, not code), the outbox written
-- in the same transaction as the alert event that causes it, and the messages with their delivery log.

CREATE TABLE notify_contacts (
    contact_id   bigserial PRIMARY KEY,
    name         text NOT NULL UNIQUE,
    language     text NOT NULL DEFAULT 'fi' CHECK (language IN ('fi', 'sv', 'en')),
    phone        text,
    email        text,
    webhook_url  text,
    apprise_urls text[] NOT NULL DEFAULT '{}',
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- A group's members take turns: member k (by position) is on duty in the k-th period after rotation_start.
CREATE TABLE notify_groups (
    group_id        bigserial PRIMARY KEY,
    name            text NOT NULL UNIQUE,
    rotation_start  timestamptz NOT NULL DEFAULT date_trunc('day', now()),
    rotation_hours  double precision NOT NULL DEFAULT 168 CHECK (rotation_hours > 0),
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notify_group_members (
    group_id    bigint NOT NULL REFERENCES notify_groups (group_id) ON DELETE CASCADE,
    contact_id  bigint NOT NULL REFERENCES notify_contacts (contact_id) ON DELETE CASCADE,
    position    integer NOT NULL,
    PRIMARY KEY (group_id, contact_id)
);

-- Tags of devices for routing (a device may carry several: 'north-fence', 'line-2', ...).
CREATE TABLE notify_device_tags (
    device_id  text NOT NULL,
    tag        text NOT NULL,
    PRIMARY KEY (device_id, tag)
);

-- A route: empty match arrays match everything. Times of day are in Europe/Helsinki.
CREATE TABLE notify_routes (
    route_id          bigserial PRIMARY KEY,
    name              text NOT NULL UNIQUE,
    position          integer NOT NULL DEFAULT 100,
    enabled           boolean NOT NULL DEFAULT true,
    match_sites       text[] NOT NULL DEFAULT '{}',
    match_types       text[] NOT NULL DEFAULT '{}',
    min_severity      text NOT NULL DEFAULT 'info' CHECK (min_severity IN ('info', 'warning', 'major', 'critical')),
    match_kinds       text[] NOT NULL DEFAULT '{}',
    match_tags        text[] NOT NULL DEFAULT '{}',
    contact_ids       bigint[] NOT NULL DEFAULT '{}',
    group_ids         bigint[] NOT NULL DEFAULT '{}',
    escalation_group_ids bigint[] NOT NULL DEFAULT '{}',
    active_days       integer[] NOT NULL DEFAULT '{1,2,3,4,5,6,7}',
    active_from       time,
    active_until      time,
    quiet_from        time,
    quiet_until       time,
    quiet_bypass_critical boolean NOT NULL DEFAULT true,
    group_window_s    double precision NOT NULL DEFAULT 1800 CHECK (group_window_s >= 0),
    repeat_every_s    double precision CHECK (repeat_every_s IS NULL OR repeat_every_s >= 60),
    stop_after        boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notify_outbox (
    outbox_id  bigserial PRIMARY KEY,
    event_id   bigint NOT NULL UNIQUE,
    alert_id   bigint NOT NULL REFERENCES alerts (alert_id) ON DELETE CASCADE,
    kind       text NOT NULL,
    data       jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    routed_at  timestamptz
);
CREATE INDEX notify_outbox_pending_idx ON notify_outbox (outbox_id) WHERE routed_at IS NULL;

-- One message to one contact on one channel; its alerts are grouped (an incident's alerts join it).
CREATE TABLE notify_messages (
    message_id       bigserial PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE,
    route_id         bigint REFERENCES notify_routes (route_id) ON DELETE SET NULL,
    contact_id       bigint NOT NULL REFERENCES notify_contacts (contact_id) ON DELETE CASCADE,
    channel          text NOT NULL CHECK (channel IN ('email', 'webhook', 'apprise')),
    target           text NOT NULL,
    group_key        text NOT NULL,
    reason           text NOT NULL CHECK (reason IN ('alert', 'repeat', 'escalation')),
    alert_ids        bigint[] NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text,
    not_before       timestamptz NOT NULL DEFAULT now(),
    alert_at         timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    sent_at          timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notify_messages_due_idx ON notify_messages (not_before) WHERE status IN ('pending', 'sending');
CREATE INDEX notify_messages_group_idx ON notify_messages (contact_id, channel, group_key, created_at DESC);
CREATE INDEX notify_messages_target_idx ON notify_messages (channel, target, sent_at DESC) WHERE status = 'sent';

-- Every attempt: the delivery log.
CREATE TABLE notify_attempts (
    attempt_id  bigserial PRIMARY KEY,
    message_id  bigint NOT NULL REFERENCES notify_messages (message_id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    ok          boolean NOT NULL,
    error       text,
    duration_ms double precision
);
CREATE INDEX notify_attempts_message_idx ON notify_attempts (message_id);
