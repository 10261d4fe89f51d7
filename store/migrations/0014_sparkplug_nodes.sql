-- Sparkplug B decoding state per edge node (alias tables of the node and its devices, last seq, bdSeq),
-- written with every batch that changed it, so a restarted ingest worker decodes DATA by alias at once.
CREATE TABLE sparkplug_nodes (
    node_key    text PRIMARY KEY,        -- '<group>/<edge node>' as on the topic
    state       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
