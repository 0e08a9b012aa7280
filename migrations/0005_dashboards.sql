-- Dashboards, version 5: the cost ledger partitioned by month, a daily rollup the spend views read,
-- and reference prices for savings. Every day and month is a UTC one, whatever the session's
-- TimeZone.
--
-- Why a rollup: LiteLLM keeps one spend-log row per call and answers "what did team X spend in
-- October" by scanning them, which is what makes its table slow at hundreds of gigabytes. Here the
-- views read `ledger_daily`, one row per (UTC day, team, deployment, model, provider, tier), kept
-- up to date by the statement that writes the ledger, so a dashboard query costs the same at ten
-- million ledger rows as at ten. Figures: docs/BENCHMARKS.md, "Spend views".
--
-- Why partitions: the raw ledger is for audits and drill-downs. Month partitions keep its indexes
-- small and let old months be detached or dropped in one command without touching the rollup, so
-- dashboards keep their history after the raw rows are gone.

------------------------------------------------------------------------------------------------
-- The ledger, partitioned by month on created_at.
--
-- A partitioned table's unique constraints must contain the partition key, so (request_id,
-- attempt) cannot be unique by itself any more. It stays unique because of two constraints:
--   1. the primary key (request_id, attempt, created_at), and
--   2. the foreign key (request_id, created_at) -> requests (request_id, finished_at): every
--      ledger row of a request carries that request's finished_at, so all rows of one request
--      have the same created_at, and (1) is then exactly "(request_id, attempt) is unique".
-- The worker needs no change for it: its batch statement inserts the requests row and the ledger
-- rows together, both stamped with now() (the transaction's start), and inserts ledger rows only
-- for requests that same statement inserted (the requests primary key is the dedupe).
-- The cost is one more unique index on requests (request_id, finished_at); docs/BENCHMARKS.md
-- has the figure.
------------------------------------------------------------------------------------------------

LOCK TABLE cost_ledger IN ACCESS EXCLUSIVE MODE;
DROP VIEW team_spend_daily;
ALTER TABLE cost_ledger RENAME TO cost_ledger_v4;

-- Same columns in the same order as before, so `SELECT *` readers see the same shape.
CREATE TABLE cost_ledger (
    id                          bigint NOT NULL DEFAULT nextval('cost_ledger_id_seq'),
    request_id                  text NOT NULL,
    attempt                     integer NOT NULL,
    team                        text NOT NULL,
    deployment                  text NOT NULL,
    model                       text NOT NULL,
    tier                        text NOT NULL,
    provider                    text NOT NULL,
    input_tokens                bigint NOT NULL,
    output_tokens               bigint NOT NULL,
    cached_input_tokens         bigint NOT NULL DEFAULT 0,
    cost_usd                    numeric(30, 12) NOT NULL,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    cache_creation_input_tokens bigint NOT NULL DEFAULT 0,
    reasoning_tokens            bigint NOT NULL DEFAULT 0
) PARTITION BY RANGE (created_at);
ALTER SEQUENCE cost_ledger_id_seq OWNED BY cost_ledger.id;

-- Rows of a month without a partition land here, so an insert never fails for want of one;
-- switchyard_ensure_ledger_partitions() moves them out when it creates their month.
CREATE TABLE cost_ledger_default PARTITION OF cost_ledger DEFAULT;

-- Creates the monthly partitions cost_ledger_pYYYY_MM from `months_back` months before the
-- current UTC month to `months_ahead` months after it, and returns how many it created. Rows of
-- such a month already in the DEFAULT partition are moved into the new partition. Safe to call
-- often and concurrently (workers at start, cron, `switchyard migrate`): it takes an advisory lock
-- and skips months that exist. A new partition is built aside and attached, which locks the
-- parent less than CREATE TABLE ... PARTITION OF would.
CREATE FUNCTION switchyard_ensure_ledger_partitions(months_ahead integer DEFAULT 3,
                                                    months_back integer DEFAULT 0)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    this_month date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
    month date;
    part text;
    lo text;
    hi text;
    created integer := 0;
BEGIN
    IF months_ahead < 0 OR months_back < 0 THEN
        RAISE EXCEPTION 'switchyard_ensure_ledger_partitions: months_ahead and months_back must '
                        'not be negative (got %, %)', months_ahead, months_back;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('switchyard_ensure_ledger_partitions'));
    FOR i IN -months_back .. months_ahead LOOP
        month := (this_month + make_interval(months => i))::date;
        part := 'cost_ledger_p' || to_char(month, 'YYYY_MM');
        CONTINUE WHEN EXISTS (SELECT 1 FROM pg_class c
                              JOIN pg_namespace n ON n.oid = c.relnamespace
                              WHERE c.relname = part
                                AND n.oid = (SELECT relnamespace FROM pg_class
                                             WHERE oid = 'cost_ledger'::regclass));
        -- Bounds as UTC literals: independent of the session's TimeZone and DateStyle.
        lo := to_char(month, 'YYYY-MM-DD') || ' 00:00:00+00';
        hi := to_char((month + interval '1 month')::date, 'YYYY-MM-DD') || ' 00:00:00+00';
        EXECUTE format('CREATE TABLE %I (LIKE cost_ledger INCLUDING DEFAULTS)', part);
        EXECUTE format('WITH moved AS (DELETE FROM cost_ledger_default WHERE created_at >= %L '
                       'AND created_at < %L RETURNING *) INSERT INTO %I SELECT * FROM moved',
                       lo, hi, part);
        EXECUTE format('ALTER TABLE cost_ledger ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                       part, lo, hi);
        created := created + 1;
    END LOOP;
    RETURN created;
END;
$$;

-- Partitions for every month the existing rows cover, and three months ahead.
DO $$
DECLARE
    oldest timestamptz := (SELECT min(created_at) FROM cost_ledger_v4);
    months_back integer := 0;
BEGIN
    IF oldest IS NOT NULL THEN
        months_back := greatest(0,
            (extract(year FROM now() AT TIME ZONE 'UTC') - extract(year FROM oldest AT TIME ZONE 'UTC')) * 12
            + extract(month FROM now() AT TIME ZONE 'UTC') - extract(month FROM oldest AT TIME ZONE 'UTC'));
    END IF;
    PERFORM switchyard_ensure_ledger_partitions(3, months_back);
END;
$$;

-- Existing rows move over with their request's finished_at as created_at. The worker wrote both
-- with the same now(), so this changes nothing it wrote; a row inserted by hand with another
-- time is aligned (and counted in a NOTICE), since the foreign key below requires it.
DO $$
DECLARE
    aligned bigint;
BEGIN
    INSERT INTO cost_ledger (id, request_id, attempt, team, deployment, model, tier, provider,
                             input_tokens, output_tokens, cached_input_tokens, cost_usd,
                             created_at, cache_creation_input_tokens, reasoning_tokens)
    SELECT l.id, l.request_id, l.attempt, l.team, l.deployment, l.model, l.tier, l.provider,
           l.input_tokens, l.output_tokens, l.cached_input_tokens, l.cost_usd,
           r.finished_at, l.cache_creation_input_tokens, l.reasoning_tokens
    FROM cost_ledger_v4 l JOIN requests r ON r.request_id = l.request_id;
    SELECT count(*) INTO aligned
    FROM cost_ledger_v4 l JOIN requests r ON r.request_id = l.request_id
    WHERE l.created_at <> r.finished_at;
    IF aligned > 0 THEN
        RAISE NOTICE 'cost_ledger: % row(s) took their request''s finished_at as created_at',
                     aligned;
    END IF;
END;
$$;
DROP TABLE cost_ledger_v4;

ALTER TABLE requests
    ADD CONSTRAINT requests_request_id_finished_at_key UNIQUE (request_id, finished_at);
ALTER TABLE cost_ledger
    ADD CONSTRAINT cost_ledger_pkey PRIMARY KEY (request_id, attempt, created_at);
ALTER TABLE cost_ledger
    ADD CONSTRAINT cost_ledger_request_fkey FOREIGN KEY (request_id, created_at)
        REFERENCES requests (request_id, finished_at);
-- Drill-downs: one team's calls in a time range (the per-request detail behind a dashboard
-- figure). Partition pruning narrows to the months; this narrows to the team.
CREATE INDEX cost_ledger_team_created_idx ON cost_ledger (team, created_at);
-- Time ranges within a month (a day's rows for switchyard_rebuild_ledger_daily, "the last hour"):
-- rows arrive in created_at order, so a BRIN index answers them at a fraction of a B-tree's size
-- and write cost.
CREATE INDEX cost_ledger_created_brin ON cost_ledger USING brin (created_at);

------------------------------------------------------------------------------------------------
-- The daily rollup.
--
-- One row per UTC day and (team, deployment, model, provider, tier). Request counts:
--   requests         distinct requests with a billed call in this row's group
--   served_requests  requests whose LAST billed call (highest attempt) is in this group; every
--                    request is counted in exactly one row, so these add up across any grouping
-- team is a property of the request and all of a request's calls share one day (see the foreign
-- key above), so per team and day both are the distinct requests.
------------------------------------------------------------------------------------------------

CREATE TABLE ledger_daily (
    day                         date NOT NULL,
    team                        text NOT NULL,
    deployment                  text NOT NULL,
    model                       text NOT NULL,
    provider                    text NOT NULL,
    tier                        text NOT NULL,
    calls                       bigint NOT NULL,
    requests                    bigint NOT NULL,
    served_requests             bigint NOT NULL,
    input_tokens                bigint NOT NULL,
    output_tokens               bigint NOT NULL,
    cached_input_tokens         bigint NOT NULL,
    cache_creation_input_tokens bigint NOT NULL,
    reasoning_tokens            bigint NOT NULL,
    cost_usd                    numeric(30, 12) NOT NULL,
    PRIMARY KEY (day, team, deployment, model, provider, tier)
);
CREATE INDEX ledger_daily_team_day_idx ON ledger_daily (team, day);

-- Adds the rows one INSERT wrote to the ledger. It runs once per statement, inside it, so the
-- rollup commits or rolls back with the ledger rows. The worker writes every ledger row of a
-- request in one statement (the one that inserts the request), so "distinct" and "last call"
-- computed over the statement's rows are exact; rows added to a request by a later statement
-- need switchyard_rebuild_ledger_daily, and so do rows inserted straight into a partition (a
-- statement trigger of the parent does not see them): write to cost_ledger itself. Upserts go in
-- key order so concurrent writers cannot deadlock on the rollup; a writer holds its rollup rows
-- from the end of its statement to its commit. Same aggregation as
-- switchyard_rebuild_ledger_daily: keep them in step
-- (DashboardViews.RebuildMatchesTheRollupTheWritesMaintained checks it).
CREATE FUNCTION switchyard_ledger_daily_add() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ledger_daily AS d (day, team, deployment, model, provider, tier, calls, requests,
                                   served_requests, input_tokens, output_tokens,
                                   cached_input_tokens, cache_creation_input_tokens,
                                   reasoning_tokens, cost_usd)
    SELECT (n.created_at AT TIME ZONE 'UTC')::date, n.team, n.deployment, n.model, n.provider,
           n.tier, count(*), count(DISTINCT n.request_id), count(*) FILTER (WHERE n.last_call),
           sum(n.input_tokens), sum(n.output_tokens), sum(n.cached_input_tokens),
           sum(n.cache_creation_input_tokens), sum(n.reasoning_tokens), sum(n.cost_usd)
    FROM (SELECT r.*, r.attempt = max(r.attempt) OVER (PARTITION BY r.request_id) AS last_call
          FROM new_rows r) n
    GROUP BY 1, 2, 3, 4, 5, 6
    ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (day, team, deployment, model, provider, tier) DO UPDATE SET
        calls = d.calls + EXCLUDED.calls,
        requests = d.requests + EXCLUDED.requests,
        served_requests = d.served_requests + EXCLUDED.served_requests,
        input_tokens = d.input_tokens + EXCLUDED.input_tokens,
        output_tokens = d.output_tokens + EXCLUDED.output_tokens,
        cached_input_tokens = d.cached_input_tokens + EXCLUDED.cached_input_tokens,
        cache_creation_input_tokens = d.cache_creation_input_tokens
                                      + EXCLUDED.cache_creation_input_tokens,
        reasoning_tokens = d.reasoning_tokens + EXCLUDED.reasoning_tokens,
        cost_usd = d.cost_usd + EXCLUDED.cost_usd;
    RETURN NULL;
END;
$$;
CREATE TRIGGER cost_ledger_daily_rollup AFTER INSERT ON cost_ledger
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION switchyard_ledger_daily_add();

-- Recomputes ledger_daily for the UTC days [from_day, to_day) from the ledger and returns the
-- number of rollup rows written. For repairs: after ledger rows were deleted, updated or added to
-- an existing request by hand. Blocks ledger writes while it runs (SHARE lock), so no write is
-- counted twice or lost; days whose ledger partitions were dropped come back empty.
CREATE FUNCTION switchyard_rebuild_ledger_daily(from_day date, to_day date) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    written bigint;
BEGIN
    LOCK TABLE cost_ledger IN SHARE MODE;
    DELETE FROM ledger_daily WHERE day >= from_day AND day < to_day;
    INSERT INTO ledger_daily (day, team, deployment, model, provider, tier, calls, requests,
                              served_requests, input_tokens, output_tokens, cached_input_tokens,
                              cache_creation_input_tokens, reasoning_tokens, cost_usd)
    SELECT (n.created_at AT TIME ZONE 'UTC')::date, n.team, n.deployment, n.model, n.provider,
           n.tier, count(*), count(DISTINCT n.request_id), count(*) FILTER (WHERE n.last_call),
           sum(n.input_tokens), sum(n.output_tokens), sum(n.cached_input_tokens),
           sum(n.cache_creation_input_tokens), sum(n.reasoning_tokens), sum(n.cost_usd)
    FROM (SELECT r.*, r.attempt = max(r.attempt) OVER (PARTITION BY r.request_id) AS last_call
          FROM cost_ledger r
          WHERE r.created_at >= from_day::timestamp AT TIME ZONE 'UTC'
            AND r.created_at < to_day::timestamp AT TIME ZONE 'UTC') n
    GROUP BY 1, 2, 3, 4, 5, 6;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END;
$$;

SELECT switchyard_rebuild_ledger_daily('-infinity', 'infinity');

------------------------------------------------------------------------------------------------
-- Reference prices: what savings are measured against. One row, the current reference, written
-- by the worker at start from reporting.reference_model (a model group of its config). NULL
-- cached / cache-creation prices mean the input price, a NULL reasoning price the output price,
-- as in the worker's cost math.
------------------------------------------------------------------------------------------------

CREATE TABLE reference_prices (
    is_current                          boolean PRIMARY KEY DEFAULT true CHECK (is_current),
    name                                text NOT NULL,
    input_cost_per_token                numeric(30, 12) NOT NULL,
    output_cost_per_token               numeric(30, 12) NOT NULL,
    cached_input_cost_per_token         numeric(30, 12),
    cache_creation_input_cost_per_token numeric(30, 12),
    reasoning_cost_per_token            numeric(30, 12),
    updated_at                          timestamptz NOT NULL DEFAULT now()
);

------------------------------------------------------------------------------------------------
-- Views. A filter on a view's day / team / tier column is applied to ledger_daily before it is
-- grouped (both are grouping columns), so it uses ledger_daily's indexes.
------------------------------------------------------------------------------------------------

-- Spend per team per UTC day (the columns of version 1). requests: distinct requests billed.
CREATE VIEW team_spend_daily AS
SELECT team,
       day,
       sum(served_requests)::bigint AS requests,
       sum(input_tokens)::bigint    AS input_tokens,
       sum(output_tokens)::bigint   AS output_tokens,
       sum(cost_usd)                AS cost_usd
FROM ledger_daily
GROUP BY team, day;

-- Spend per team per UTC month; month is the month's first day.
CREATE VIEW team_spend_monthly AS
SELECT team,
       date_trunc('month', day::timestamp)::date AS month,
       sum(served_requests)::bigint   AS requests,
       sum(cost_usd)                  AS cost_usd,
       sum(input_tokens)::bigint      AS input_tokens,
       sum(output_tokens)::bigint     AS output_tokens
FROM ledger_daily
GROUP BY team, date_trunc('month', day::timestamp)::date;

-- Spend per deployment per UTC day, every token class. requests: distinct requests with a billed
-- call on the deployment (a request billed on two deployments counts under each);
-- served_requests: requests whose last billed call was on it (these add up to the day's total);
-- calls: billed calls.
CREATE VIEW model_spend_daily AS
SELECT day,
       deployment,
       model,
       provider,
       tier,
       sum(requests)::bigint                    AS requests,
       sum(input_tokens)::bigint                AS input_tokens,
       sum(output_tokens)::bigint               AS output_tokens,
       sum(cached_input_tokens)::bigint         AS cached_input_tokens,
       sum(cache_creation_input_tokens)::bigint AS cache_creation_input_tokens,
       sum(reasoning_tokens)::bigint            AS reasoning_tokens,
       sum(cost_usd)                            AS cost_usd,
       sum(served_requests)::bigint             AS served_requests,
       sum(calls)::bigint                       AS calls
FROM ledger_daily
GROUP BY day, deployment, model, provider, tier;

-- Each tier's part of a UTC day: requests served by the tier (their last billed call was on it,
-- so every request counts once and request_share adds up to 1 over a day), all cost billed on
-- the tier, and the shares (numeric 0..1) of the day's totals; a share is NULL on a day whose
-- total is 0.
CREATE VIEW tier_mix_daily AS
SELECT day,
       tier,
       requests,
       cost_usd,
       requests::numeric / nullif(sum(requests) OVER (PARTITION BY day), 0) AS request_share,
       cost_usd / nullif(sum(cost_usd) OVER (PARTITION BY day), 0)          AS cost_share
FROM (SELECT day, tier, sum(served_requests)::bigint AS requests, sum(cost_usd) AS cost_usd
      FROM ledger_daily
      GROUP BY day, tier) t;

-- What each team's billed tokens of a UTC day would have cost at the current reference price,
-- and what routing saved against it (negative: it cost more). input_tokens counts every prompt
-- token, cached and cache-creation ones included; output_tokens includes reasoning tokens.
-- reference_cost_usd and saved_usd are NULL while no reference price is set.
CREATE VIEW team_savings_daily AS
SELECT l.day,
       l.team,
       sum(l.served_requests)::bigint AS requests,
       sum(l.cost_usd)                AS actual_cost_usd,
       sum(l.reference_cost_usd)      AS reference_cost_usd,
       sum(l.reference_cost_usd) - sum(l.cost_usd) AS saved_usd,
       min(l.reference_model)         AS reference_model
FROM (SELECT d.day, d.team, d.served_requests, d.cost_usd, p.name AS reference_model,
             (d.input_tokens - d.cached_input_tokens - d.cache_creation_input_tokens)
                 * p.input_cost_per_token
             + d.cached_input_tokens
                 * coalesce(p.cached_input_cost_per_token, p.input_cost_per_token)
             + d.cache_creation_input_tokens
                 * coalesce(p.cache_creation_input_cost_per_token, p.input_cost_per_token)
             + (d.output_tokens - d.reasoning_tokens) * p.output_cost_per_token
             + d.reasoning_tokens * coalesce(p.reasoning_cost_per_token, p.output_cost_per_token)
                 AS reference_cost_usd
      FROM ledger_daily d
      LEFT JOIN reference_prices p ON p.is_current) l
GROUP BY l.day, l.team;

-- team_budget_status (migration 2) is unchanged: it reads budget_periods, where the statement
-- that makes a request terminal moves its reservation out of reserved_usd and adds only the
-- settled cost to spent_usd.
