-- Cells and their lineage: material lots, the process batches that made them, cells made from a lot, tests
-- of cells on cycler channels (live or imported from a file), and per-cycle summaries derived from the
-- cycler samples of a test (rebuildable from cycler_samples at any time).

-- A process batch: a time window of one process line device; its tag data is process_values in the window.
CREATE TABLE process_batches (
    batch_id    text PRIMARY KEY CHECK (batch_id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'),
    device_id   text NOT NULL REFERENCES devices (device_id),
    start_time  timestamptz NOT NULL,
    end_time    timestamptz NOT NULL,
    product     text,
    notes       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (end_time > start_time)
);
CREATE INDEX process_batches_device_idx ON process_batches (device_id, start_time);

-- A material lot (cathode active material, precursor, ...).
CREATE TABLE material_lots (
    lot_id       text PRIMARY KEY CHECK (lot_id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'),
    material     text,
    maker        text,
    produced_at  timestamptz,
    notes        text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Which batches produced a lot (a lot may blend several batches; a batch may feed several lots).
CREATE TABLE lot_batches (
    lot_id    text NOT NULL REFERENCES material_lots (lot_id) ON DELETE CASCADE,
    batch_id  text NOT NULL REFERENCES process_batches (batch_id),
    PRIMARY KEY (lot_id, batch_id)
);
CREATE INDEX lot_batches_batch_idx ON lot_batches (batch_id);

-- A test specimen.
CREATE TABLE cells (
    cell_id              text PRIMARY KEY CHECK (cell_id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'),
    chemistry            text,
    format               text,
    nominal_capacity_ah  double precision CHECK (nominal_capacity_ah > 0),
    maker                text,
    formation_date       date,
    lot_id               text REFERENCES material_lots (lot_id),
    notes                text NOT NULL DEFAULT '',
    created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cells_lot_idx ON cells (lot_id);

-- A test of a cell on a cycler channel over a time window; its samples are cycler_samples of that channel
-- in [start_time, end_time] (end_time NULL: still running, live). An imported file is a test with
-- source 'import' and the file's hash, which makes re-import of the same file a no-op.
CREATE TABLE cell_tests (
    test_id      bigserial PRIMARY KEY,
    cell_id      text NOT NULL REFERENCES cells (cell_id),
    device_id    text NOT NULL REFERENCES devices (device_id),
    start_time   timestamptz NOT NULL,
    end_time     timestamptz,
    source       text NOT NULL CHECK (source IN ('live', 'import')),
    file_name    text,
    file_sha256  text UNIQUE,
    file_format  text,
    n_samples    bigint,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (end_time IS NULL OR end_time >= start_time),
    CHECK (source = 'live' OR file_sha256 IS NOT NULL)
);
CREATE INDEX cell_tests_cell_idx ON cell_tests (cell_id, start_time);
CREATE INDEX cell_tests_device_idx ON cell_tests (device_id, start_time);

-- Per-cycle summaries of a test, derived from its samples by store.cells.rebuild_cycles.
CREATE TABLE cell_cycles (
    test_id                  bigint NOT NULL REFERENCES cell_tests (test_id) ON DELETE CASCADE,
    cycle_index              integer NOT NULL,
    start_time               timestamptz NOT NULL,
    end_time                 timestamptz NOT NULL,
    test_time_start_s        double precision,
    test_time_end_s          double precision,
    n_samples                integer NOT NULL,
    charge_capacity_ah       double precision,
    discharge_capacity_ah    double precision,
    charge_energy_wh         double precision,
    discharge_energy_wh      double precision,
    coulombic_efficiency     double precision,
    energy_efficiency        double precision,
    internal_resistance_ohm  double precision,
    max_temperature_c        double precision,
    min_voltage_v            double precision,
    max_voltage_v            double precision,
    PRIMARY KEY (test_id, cycle_index)
);

-- Imported test archives are records of the lab and are often years old: raw cycler samples are kept
-- until deleted on purpose (a 10-year horizon would silently drop an archive imported today).
UPDATE retention_policies SET keep_days = NULL WHERE hypertable = 'cycler_samples';
