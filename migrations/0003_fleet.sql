-- Fleet membership, version 3. Every worker refreshes its row every few seconds; the number of
-- live workers of a consumer group gives each worker its share of every deployment's rate
-- limits, so N workers together respect the limit instead of N times it.
CREATE TABLE worker_heartbeats (
    worker_id   text PRIMARY KEY,
    group_id    text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    seen_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX worker_heartbeats_group_idx ON worker_heartbeats (group_id, seen_at);
