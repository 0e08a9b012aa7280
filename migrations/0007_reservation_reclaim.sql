-- Reservation reclaim, version 7. A reservation is released by the statement that makes its
-- request terminal; one whose event is never delivered again (retention, an offset reset, a
-- topic deleted) would hold its team's budget for the rest of the period. Each reservation now
-- names the worker that holds it (the one serving the request; a redelivery moves it), and
-- switchyard_reclaim_reservations releases those older than a bound whose worker is gone.
ALTER TABLE budget_reservations ADD COLUMN worker_id text;  -- NULL: made before version 7
CREATE INDEX budget_reservations_created_idx ON budget_reservations (created_at);

-- As in version 2, plus the item's worker_id (on a new reservation, and taken over on 'already').
CREATE OR REPLACE FUNCTION switchyard_reserve_budget(items json)
RETURNS TABLE (request_id text, verdict text, committed_usd numeric)
LANGUAGE plpgsql AS $$
DECLARE
    item record;
    start date;
    now_utc timestamp := now() AT TIME ZONE 'UTC';
BEGIN
    FOR item IN SELECT * FROM json_to_recordset(items)
        AS x(request_id text, team text, amount numeric, budget numeric, period_kind text,
              worker_id text)
    LOOP
        request_id := item.request_id;
        start := CASE item.period_kind
                     WHEN 'day' THEN date_trunc('day', now_utc)
                     WHEN 'week' THEN date_trunc('week', now_utc)
                     ELSE date_trunc('month', now_utc) END::date;
        IF EXISTS (SELECT 1 FROM budget_reservations r WHERE r.request_id = item.request_id) THEN
            -- A redelivery: the reservation now belongs to the worker serving the request, so
            -- it is not reclaimed while that worker lives.
            UPDATE budget_reservations r SET worker_id = item.worker_id
            WHERE r.request_id = item.request_id AND r.worker_id IS DISTINCT FROM item.worker_id;
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

-- Releases the reservations created more than `older_than_ms` ago whose worker has no heartbeat
-- within `live_within_ms` (or that name no worker), and returns what was released per team and
-- period. A reservation taken over by a live worker (a redelivery) stays: the row lock orders the
-- takeover and this DELETE, which re-checks its condition on the updated row.
CREATE FUNCTION switchyard_reclaim_reservations(older_than_ms bigint, live_within_ms bigint)
RETURNS TABLE (team text, period_start date, reclaimed bigint, amount_usd numeric)
LANGUAGE sql AS $$
    WITH gone AS (
        DELETE FROM budget_reservations r
        WHERE r.created_at < now() - older_than_ms * interval '1 millisecond'
          AND NOT EXISTS (
              SELECT 1 FROM worker_heartbeats h
              WHERE h.worker_id = r.worker_id
                AND h.seen_at > now() - live_within_ms * interval '1 millisecond')
        RETURNING r.team, r.period_start, r.amount_usd
    ),
    sums AS (
        SELECT g.team, g.period_start, count(*) AS n, sum(g.amount_usd) AS amount
        FROM gone g GROUP BY g.team, g.period_start
    ),
    released AS (
        UPDATE budget_periods p SET reserved_usd = greatest(p.reserved_usd - s.amount, 0)
        FROM sums s WHERE p.team = s.team AND p.period_start = s.period_start
    )
    SELECT s.team, s.period_start, s.n, s.amount FROM sums s;
$$;
