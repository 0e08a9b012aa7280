-- Request ids per team, version 8. A request is (team, request_id): two teams may use the same
-- id without one reading the other's stored result or settling the other's reservation. Every
-- key that was request_id becomes (team, request_id); existing rows keep their values, and
-- since a team was already stored on every row, nothing has to be rewritten.
--
-- Upgrade: stop the workers of the older version first. Their statements name the old keys
-- (ON CONFLICT (request_id)) and fail against this schema until they are replaced.

LOCK TABLE requests, cost_ledger, budget_reservations IN ACCESS EXCLUSIVE MODE;

ALTER TABLE cost_ledger DROP CONSTRAINT cost_ledger_request_fkey;
ALTER TABLE cost_ledger DROP CONSTRAINT cost_ledger_pkey;
ALTER TABLE requests DROP CONSTRAINT requests_request_id_finished_at_key;
ALTER TABLE requests DROP CONSTRAINT requests_pkey;

ALTER TABLE requests ADD CONSTRAINT requests_pkey PRIMARY KEY (team, request_id);
-- As in version 5: the ledger's foreign key must include its partition key (created_at), and
-- a request's ledger rows are written with its row, in one statement, with the same timestamp.
ALTER TABLE requests
    ADD CONSTRAINT requests_team_request_id_finished_at_key UNIQUE (team, request_id, finished_at);
ALTER TABLE cost_ledger
    ADD CONSTRAINT cost_ledger_pkey PRIMARY KEY (team, request_id, attempt, created_at);
ALTER TABLE cost_ledger
    ADD CONSTRAINT cost_ledger_request_fkey FOREIGN KEY (team, request_id, created_at)
        REFERENCES requests (team, request_id, finished_at);

ALTER TABLE budget_reservations DROP CONSTRAINT budget_reservations_pkey;
ALTER TABLE budget_reservations ADD CONSTRAINT budget_reservations_pkey PRIMARY KEY (team, request_id);

-- As in version 7, with reservations keyed by (team, request_id). Rows come back with the
-- item's 0-based position in `items` (ord), since a request id alone no longer names one item.
DROP FUNCTION switchyard_reserve_budget(json);
CREATE FUNCTION switchyard_reserve_budget(items json)
RETURNS TABLE (ord integer, verdict text, committed_usd numeric)
LANGUAGE plpgsql AS $$
DECLARE
    item record;
    start date;
    now_utc timestamp := now() AT TIME ZONE 'UTC';
BEGIN
    ord := -1;
    FOR item IN SELECT * FROM json_to_recordset(items)
        AS x(request_id text, team text, amount numeric, budget numeric, period_kind text,
              worker_id text)
    LOOP
        ord := ord + 1;
        start := CASE item.period_kind
                     WHEN 'day' THEN date_trunc('day', now_utc)
                     WHEN 'week' THEN date_trunc('week', now_utc)
                     ELSE date_trunc('month', now_utc) END::date;
        IF EXISTS (SELECT 1 FROM budget_reservations r
                   WHERE r.team = item.team AND r.request_id = item.request_id) THEN
            UPDATE budget_reservations r SET worker_id = item.worker_id
            WHERE r.team = item.team AND r.request_id = item.request_id
              AND r.worker_id IS DISTINCT FROM item.worker_id;
            verdict := 'already';
        ELSE
            INSERT INTO budget_periods AS p (team, period_kind, period_start, budget_usd)
            VALUES (item.team, item.period_kind, start, item.budget)
            ON CONFLICT (team, period_start) DO UPDATE SET budget_usd = EXCLUDED.budget_usd
                WHERE p.budget_usd <> EXCLUDED.budget_usd;
            UPDATE budget_periods p SET reserved_usd = p.reserved_usd + item.amount
            WHERE p.team = item.team AND p.period_start = start
              AND p.spent_usd + p.reserved_usd + item.amount <= p.budget_usd;
            IF FOUND THEN
                INSERT INTO budget_reservations (request_id, team, period_start, amount_usd,
                                                 worker_id)
                VALUES (item.request_id, item.team, start, item.amount, item.worker_id);
                verdict := 'reserved';
            ELSE
                verdict := 'exceeded';
            END IF;
        END IF;
        SELECT p.spent_usd + p.reserved_usd INTO committed_usd
        FROM budget_periods p WHERE p.team = item.team AND p.period_start = start;
        RETURN NEXT;
    END LOOP;
END;
$$;

-- The daily rollup (version 5) finds a request's last call per (team, request_id).
CREATE OR REPLACE FUNCTION switchyard_ledger_daily_add() RETURNS trigger
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
    FROM (SELECT r.*,
                 r.attempt = max(r.attempt) OVER (PARTITION BY r.team, r.request_id) AS last_call
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

CREATE OR REPLACE FUNCTION switchyard_rebuild_ledger_daily(from_day date, to_day date)
RETURNS bigint
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
    FROM (SELECT r.*,
                 r.attempt = max(r.attempt) OVER (PARTITION BY r.team, r.request_id) AS last_call
          FROM cost_ledger r
          WHERE r.created_at >= from_day::timestamp AT TIME ZONE 'UTC'
            AND r.created_at < to_day::timestamp AT TIME ZONE 'UTC') n
    GROUP BY 1, 2, 3, 4, 5, 6;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END;
$$;
