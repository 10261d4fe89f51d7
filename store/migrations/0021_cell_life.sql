-- Predictions of a cell's end of life (cycles to 80 % of nominal capacity) by a cell-life model, one per
-- (cell, model, cycles seen): the history shows how the prediction moved as cycles arrived.
CREATE TABLE cell_life_predictions (
    cell_id         text NOT NULL REFERENCES cells (cell_id) ON DELETE CASCADE,
    model_id        bigint NOT NULL REFERENCES models (model_id) ON DELETE CASCADE,
    n_cycles        integer NOT NULL CHECK (n_cycles >= 1),
    predicted_life  double precision NOT NULL,
    lower           double precision NOT NULL,
    upper           double precision NOT NULL,
    early           boolean NOT NULL DEFAULT false,
    features        jsonb NOT NULL DEFAULT '{}',
    predicted_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cell_id, model_id, n_cycles),
    CHECK (lower <= predicted_life AND predicted_life <= upper)
);
