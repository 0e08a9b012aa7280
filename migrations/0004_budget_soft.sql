-- Version 4: the reservation also reports how much of the period is committed (spent + reserved)
-- after each request, so workers can log and count a team crossing its soft budget.
DROP FUNCTION switchyard_reserve_budget(json);

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
