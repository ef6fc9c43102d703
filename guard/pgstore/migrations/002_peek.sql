-- Version 2 of the guard's schema: smscourier_guard_peek, which answers a
-- Request as smscourier_guard_take would and changes nothing. The GCRA
-- evaluation the two share is the function smscourier_guard_gcra;
-- smscourier_guard_take is redefined to call it, its answers and writes
-- the same as version 1's.

-- smscourier_guard_gcra evaluates the takes of one Request at at_ns from
-- the cells' stored tats, writing and locking nothing. Take by take, in the
-- Request's order: tat = max(stored tat, now), a missing cell being fresh;
-- new_tat = tat + cost*interval; allowed iff new_tat - now <=
-- burst*interval, else it waits new_tat - now - burst*interval. A key given
-- twice is chained: the second take starts from the first's new_tat.
-- refused is the first refusing take's index (0-based), -1 when every take
-- allows; retry_after_ns the longest wait, 0 when every take allows;
-- new_tats the takes' new tats, in the Request's order.
--
-- It is STABLE: its reads see the snapshot of the statement that calls it
-- (in smscourier_guard_take, one that starts after the cells are locked, so
-- it sees their latest tats) and it cannot write. It runs under its
-- caller's plan_cache_mode.
CREATE FUNCTION smscourier_guard_gcra(
    at_ns        bigint,
    cell_keys    bytea[],
    intervals_ns bigint[],
    bursts       bigint[],
    costs        bigint[],
    OUT allowed        boolean,
    OUT refused        integer,
    OUT retry_after_ns bigint,
    OUT new_tats       bigint[]
) LANGUAGE plpgsql STABLE
AS $$
DECLARE
    n   integer := coalesce(array_length(cell_keys, 1), 0);
    tat bigint;
    lag bigint;
BEGIN
    allowed := true;
    refused := -1;
    retry_after_ns := 0;
    new_tats := '{}';
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
        tat := greatest(tat, at_ns) + costs[i] * intervals_ns[i]; -- greatest ignores a NULL
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
END;
$$;

-- smscourier_guard_take answers one Request at at_ns in one statement, as
-- version 1 documents: admission, cells created and locked in key order,
-- GCRA (smscourier_guard_gcra), the count if every take allows, cleanup.
-- It needs READ COMMITTED, PostgreSQL's default isolation level.
CREATE OR REPLACE FUNCTION smscourier_guard_take(
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
    new_tats bigint[];
    adm_new  boolean := false;
    adm_exp  bigint;
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

        -- 3. GCRA, in a statement that starts after the locks are held.
        SELECT g.allowed, g.refused, g.retry_after_ns, g.new_tats
        INTO allowed, refused, retry_after_ns, new_tats
        FROM smscourier_guard_gcra(at_ns, cell_keys, intervals_ns, bursts, costs) g;

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

-- smscourier_guard_peek answers one Request at at_ns as smscourier_guard_take
-- would, in one statement, and changes nothing: a remembered, unexpired
-- admission of msg allows the send; otherwise smscourier_guard_gcra decides.
-- It writes no row, deletes no expired one and locks nothing: it is STABLE,
-- so all its reads see the one snapshot of the statement calling it, and
-- it never waits for a Take holding the rows it reads (it sees what was
-- committed before it started).
CREATE FUNCTION smscourier_guard_peek(
    at_ns        bigint,
    msg          bytea,
    cell_keys    bytea[],
    intervals_ns bigint[],
    bursts       bigint[],
    costs        bigint[],
    OUT allowed        boolean,
    OUT refused        integer,
    OUT retry_after_ns bigint
) LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    adm_exp bigint;
BEGIN
    IF length(msg) > 0 THEN
        SELECT a.expires INTO adm_exp
        FROM smscourier_guard_admissions a
        WHERE a.message = msg;
        IF adm_exp > at_ns THEN
            allowed := true;
            refused := -1;
            retry_after_ns := 0;
            RETURN; -- remembered: Take would allow it and count nothing
        END IF;
    END IF;
    SELECT g.allowed, g.refused, g.retry_after_ns
    INTO allowed, refused, retry_after_ns
    FROM smscourier_guard_gcra(at_ns, cell_keys, intervals_ns, bursts, costs) g;
END;
$$;
