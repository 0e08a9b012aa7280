-- Team budgets, version 2. A budget is held per team per period (UTC day, ISO week or month),
-- keyed by the period's first day, so nothing ever has to "reset": a new period is a new row.
-- Before a provider call the worker reserves the request's worst-case cost; the terminal write
-- settles the actual cost and releases the reservation in the same statement that stores the
-- result, so a request is settled exactly once whatever Kafka redelivers.

CREATE TABLE budget_periods (
    team          text NOT NULL,
    period_kind   text NOT NULL CHECK (period_kind IN ('day', 'week', 'month')),
    period_start  date NOT NULL,
    budget_usd    numeric(30, 12) NOT NULL,   -- the budget in force (from the workers' config)
    spent_usd     numeric(30, 12) NOT NULL DEFAULT 0,
    reserved_usd  numeric(30, 12) NOT NULL DEFAULT 0 CHECK (reserved_usd >= 0),
    PRIMARY KEY (team, period_start)
);

CREATE TABLE budget_reservations (
    request_id    text PRIMARY KEY,
    team          text NOT NULL,
    period_start  date NOT NULL,
    amount_usd    numeric(30, 12) NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Reserves budget for a batch of requests, in order, atomically per request.
-- Input: [{request_id, team, amount, budget, period_kind}]. Output per request_id: 'reserved',
-- 'already' (a reservation exists: a redelivery) or 'exceeded', and the period's committed spend
-- (spent + reserved) after it, so workers can report a team crossing its soft budget.
-- The conditional UPDATE takes the period row's lock, so concurrent workers cannot overspend.
CREATE FUNCTION switchyard_reserve_budget(items json)
RETURNS TABLE (request_id text, verdict text, committed_usd numeric)
LANGUAGE plpgsql AS $$
DECLARE
    item record;
    start date;
    now_utc timestamp := now() AT TIME ZONE 'UTC';
BEGIN
    FOR item IN SELECT * FROM json_to_recordset(items)
        AS x(request_id text, team text, amount numeric, budget numeric, period_kind text)
    LOOP
        request_id := item.request_id;
        start := CASE item.period_kind
                     WHEN 'day' THEN date_trunc('day', now_utc)
                     WHEN 'week' THEN date_trunc('week', now_utc)
                     ELSE date_trunc('month', now_utc) END::date;
        IF EXISTS (SELECT 1 FROM budget_reservations r WHERE r.request_id = item.request_id) THEN
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
                INSERT INTO budget_reservations (request_id, team, period_start, amount_usd)
                VALUES (item.request_id, item.team, start, item.amount);
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

-- Budget per team and period: what is spent, what is reserved by calls in progress, what is left.
CREATE VIEW team_budget_status AS
SELECT team,
       period_kind,
       period_start                             AS period,
       budget_usd,
       spent_usd,
       reserved_usd,
       budget_usd - spent_usd - reserved_usd    AS remaining_usd
FROM budget_periods;
