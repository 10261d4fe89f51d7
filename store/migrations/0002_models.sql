-- Model registry: fitted detectors saved as strict-JSON state, with what they were trained on.
CREATE TABLE models (
    model_id     bigserial PRIMARY KEY,
    name         text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
    version      integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    detector     text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('dust', 'met', 'cycler', 'process')),
    params       jsonb NOT NULL DEFAULT '{}',
    columns      text[] NOT NULL CHECK (cardinality(columns) >= 1),
    devices      text[] NOT NULL DEFAULT '{}',
    train_start  timestamptz NOT NULL,
    train_end    timestamptz NOT NULL CHECK (train_end > train_start),
    n_samples    integer NOT NULL CHECK (n_samples >= 0),
    fingerprint  text NOT NULL,
    versions     jsonb NOT NULL DEFAULT '{}',
    state        jsonb NOT NULL,
    metrics      jsonb NOT NULL DEFAULT '{}',
    severity     text NOT NULL DEFAULT 'warning' CHECK (severity IN ('info', 'warning', 'major', 'critical')),
    active       boolean NOT NULL DEFAULT false,
    created_by   text NOT NULL DEFAULT 'cli',
    created_at   timestamptz NOT NULL DEFAULT now(),
    activated_at timestamptz,
    UNIQUE (name, version)
);
CREATE INDEX models_active_idx ON models (kind) WHERE active;
