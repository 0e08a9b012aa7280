-- Switchyard schema, version 1: terminal request rows, the cost ledger and daily team spend.
-- Money is NUMERIC(30,12) USD: the worker's integer picodollars, exactly.

CREATE TABLE requests (
    request_id          text PRIMARY KEY,
    team                text NOT NULL,
    status              text NOT NULL CHECK (status IN ('ok', 'error')),
    error_code          text,
    error_message       text,
    priority_class      text,
    tier                text,
    deployment          text,
    model               text,
    provider            text,
    route_reason        text,
    input_tokens        bigint NOT NULL DEFAULT 0,
    output_tokens       bigint NOT NULL DEFAULT 0,
    cached_input_tokens bigint NOT NULL DEFAULT 0,
    cost_usd            numeric(30, 12) NOT NULL DEFAULT 0,
    attempts            integer NOT NULL DEFAULT 0,
    queued_ms           bigint NOT NULL DEFAULT 0,
    provider_ms         bigint NOT NULL DEFAULT 0,
    total_ms            bigint NOT NULL DEFAULT 0,
    source_topic        text,
    source_partition    integer,
    source_offset       bigint,
    -- The result.v1 event exactly as it was emitted; re-emitted verbatim for redelivered requests.
    result              json NOT NULL,
    finished_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX requests_team_finished_idx ON requests (team, finished_at);

-- One row per billed provider call. (request_id, attempt) is unique: a request is never billed
-- twice for the same call, whatever Kafka redelivers.
CREATE TABLE cost_ledger (
    id                  bigserial PRIMARY KEY,
    request_id          text NOT NULL REFERENCES requests (request_id),
    attempt             integer NOT NULL,
    team                text NOT NULL,
    deployment          text NOT NULL,
    model               text NOT NULL,
    tier                text NOT NULL,
    provider            text NOT NULL,
    input_tokens        bigint NOT NULL,
    output_tokens       bigint NOT NULL,
    cached_input_tokens bigint NOT NULL DEFAULT 0,
    cost_usd            numeric(30, 12) NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (request_id, attempt)
);
CREATE INDEX cost_ledger_team_created_idx ON cost_ledger (team, created_at);

-- Spend per team per UTC day, from the ledger (what was billed). `requests` counts the distinct
-- requests billed that day.
CREATE VIEW team_spend_daily AS
SELECT team,
       (created_at AT TIME ZONE 'UTC')::date AS day,
       count(DISTINCT request_id)            AS requests,
       sum(input_tokens)::bigint             AS input_tokens,
       sum(output_tokens)::bigint            AS output_tokens,
       sum(cost_usd)                         AS cost_usd
FROM cost_ledger
GROUP BY team, (created_at AT TIME ZONE 'UTC')::date;
