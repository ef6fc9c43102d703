-- Version 1 of the guard's schema: the GCRA cells, the admissions and the
-- function that answers one Take. Times are nanoseconds since the Unix
-- epoch (bigint), exact to Go's time.Duration (timestamptz keeps only
-- microseconds).

-- One row per GCRA cell that is not back to fresh. key is the Take's Key as
-- the guard gives it (a hash); tat is its theoretical arrival time. A cell
-- whose tat is not after now is fresh and is deleted by the cleanup.
CREATE TABLE smscourier_guard_cells (
    key bytea  PRIMARY KEY,
    tat bigint NOT NULL
);
CREATE INDEX smscourier_guard_cells_tat ON smscourier_guard_cells (tat);

-- One row per remembered admission: message is the Request's Message (a
-- hash of the idempotency key), expires when the admission is forgotten.
CREATE TABLE smscourier_guard_admissions (
    message bytea  PRIMARY KEY,
    expires bigint NOT NULL
);
CREATE INDEX smscourier_guard_admissions_expires ON smscourier_guard_admissions (expires);

-- smscourier_guard_take answers one Request at at_ns in one statement:
--
--   1. Admission (when msg is not empty): a remembered, unexpired admission
--      allows the send and counts nothing. With remember_ns > 0 the
--      admission's row is created or locked first, so two takes of one
--      message are serialised and only one of them counts.
--   2. Cells: every cell is created if missing and locked in key order (one
--      INSERT ... ORDER BY key ON CONFLICT DO UPDATE ... WHERE false locks
--      without writing), so concurrent takes never deadlock.
--   3. GCRA, take by take, in the Request's order: tat = max(stored tat,
--      now); new_tat = tat + cost*interval; allowed iff new_tat - now <=
--      burst*interval, else it waits new_tat - now - burst*interval. A key
--      given twice is chained: the second take starts from the first's
--      new_tat. refused is the first refusing take's index (0-based),
--      retry_after_ns the longest wait.
--   4. Only if every take allows: every cell gets its new tat and the
--      admission is remembered until at_ns + remember_ns.
--   5. Cleanup: at most cleanup expired cells and as many expired
--      admissions are deleted, oldest first, skipping rows other
--      transactions hold (SKIP LOCKED: it never waits, so it cannot
--      deadlock).
--
-- Every statement in it reads or writes by an index (the primary keys, and
-- the tat and expires indexes for the cleanup) whatever the tables'
-- statistics, so its plans are made once per session
-- (plan_cache_mode = force_generic_plan) rather than at every call.
--
-- It needs READ COMMITTED, PostgreSQL's default isolation level.
CREATE FUNCTION smscourier_guard_take(
    at_ns        bigint,
    msg          bytea,
    remember_ns  bigint,
    cell_keys    bytea[],
    intervals_ns bigint[],
    bursts       bigint[],
    costs        bigint[],
    cleanup      integer,
    OUT allowed        boolean,
    OUT refused        integer,
    OUT retry_after_ns bigint
) LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    n        integer := coalesce(array_length(cell_keys, 1), 0);
    new_tats bigint[] := '{}';
    adm_new  boolean := false;
    adm_exp  bigint;
    tat      bigint;
    lag      bigint;
BEGIN
    allowed := true;
    refused := -1;
    retry_after_ns := 0;

    -- 1. Admission.
    IF length(msg) > 0 THEN
        IF remember_ns > 0 THEN
            LOOP
                INSERT INTO smscourier_guard_admissions AS a (message, expires)
                VALUES (msg, at_ns + remember_ns)
                ON CONFLICT (message) DO NOTHING;
                IF FOUND THEN
                    adm_new := true;
                    EXIT;
                END IF;
                SELECT a.expires INTO adm_exp
                FROM smscourier_guard_admissions a
                WHERE a.message = msg
                FOR UPDATE;
                EXIT WHEN FOUND; -- else deleted meanwhile: insert again
            END LOOP;
        ELSE
            SELECT a.expires INTO adm_exp
            FROM smscourier_guard_admissions a
            WHERE a.message = msg;
        END IF;
        IF adm_exp > at_ns THEN
            RETURN; -- remembered: allowed, nothing counted
        END IF;
    END IF;

    IF n > 0 THEN
        -- 2. Create and lock every cell, in key order.
        INSERT INTO smscourier_guard_cells AS c (key, tat)
        SELECT DISTINCT k, at_ns FROM unnest(cell_keys) AS u(k) ORDER BY k
        ON CONFLICT (key) DO UPDATE SET tat = c.tat WHERE false;

        -- 3. GCRA, take by take; a key given again starts from its last
        -- new tat.
        FOR i IN 1 .. n LOOP
            tat := NULL;
            FOR j IN REVERSE i - 1 .. 1 LOOP
                IF cell_keys[j] = cell_keys[i] THEN
                    tat := new_tats[j];
                    EXIT;
                END IF;
            END LOOP;
            IF tat IS NULL THEN
                SELECT c.tat INTO tat FROM smscourier_guard_cells c WHERE c.key = cell_keys[i];
            END IF;
            tat := greatest(tat, at_ns) + costs[i] * intervals_ns[i];
            new_tats[i] := tat;
            lag := tat - at_ns - bursts[i] * intervals_ns[i];
            IF lag > 0 THEN
                IF allowed THEN
                    allowed := false;
                    refused := i - 1;
                END IF;
                retry_after_ns := greatest(retry_after_ns, lag);
            END IF;
        END LOOP;

        -- 4. Count.
        IF allowed THEN
            -- In order: the last take of a key leaves its latest tat.
            FOR i IN 1 .. n LOOP
                UPDATE smscourier_guard_cells c SET tat = new_tats[i]
                WHERE c.key = cell_keys[i];
            END LOOP;
        END IF;
    END IF;

    IF length(msg) > 0 AND remember_ns > 0 THEN
        IF NOT allowed THEN
            IF adm_new THEN
                DELETE FROM smscourier_guard_admissions a WHERE a.message = msg;
            END IF;
        ELSIF NOT adm_new THEN
            UPDATE smscourier_guard_admissions a SET expires = at_ns + remember_ns
            WHERE a.message = msg;
        END IF;
    END IF;

    -- 5. Cleanup.
    IF cleanup > 0 THEN
        DELETE FROM smscourier_guard_cells c
        WHERE c.key = ANY (ARRAY(SELECT e.key FROM smscourier_guard_cells e
                                 WHERE e.tat <= at_ns
                                 ORDER BY e.tat LIMIT cleanup
                                 FOR UPDATE SKIP LOCKED))
          AND c.tat <= at_ns;
        DELETE FROM smscourier_guard_admissions a
        WHERE a.message = ANY (ARRAY(SELECT e.message FROM smscourier_guard_admissions e
                                     WHERE e.expires <= at_ns
                                     ORDER BY e.expires LIMIT cleanup
                                     FOR UPDATE SKIP LOCKED))
          AND a.expires <= at_ns;
    END IF;
END;
$$;
