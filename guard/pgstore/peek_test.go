//go:build postgres

package pgstore_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smscourier/smscourier/guard"
	"github.com/smscourier/smscourier/guard/pgstore"
)

// tableRows returns every row of the cells and admissions tables, one
// string each, in order.
func tableRows(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	var rows []string
	err := pool.QueryRow(context.Background(), `SELECT coalesce(array_agg(r ORDER BY r), '{}') FROM (
		SELECT 'cell ' || encode(key, 'escape') || ' ' || tat AS r FROM smscourier_guard_cells
		UNION ALL
		SELECT 'admission ' || encode(message, 'escape') || ' ' || expires FROM smscourier_guard_admissions) t`).Scan(&rows)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestPeekChangesNothing: in each case, Takes leave some state, then
// Peeks answer what the Take that follows them answers, and leave every
// row as it was, expired ones included (the cleanup is Take's); that Take
// answers and writes as a Take alone does on a twin database.
func TestPeekChangesNothing(t *testing.T) {
	type step struct {
		at  time.Duration // after t0
		req guard.Request
	}
	A := func(burst, cost int, interval time.Duration) guard.Take { return take("A", interval, burst, cost) }
	B := func(burst, cost int, interval time.Duration) guard.Take { return take("B", interval, burst, cost) }
	takes := func(ts ...guard.Take) guard.Request { return guard.Request{Takes: ts} }
	msg := func(m string, remember time.Duration, ts ...guard.Take) guard.Request {
		return guard.Request{Message: m, Remember: remember, Takes: ts}
	}
	cases := []struct {
		name   string
		before []step // the Takes made first
		at     time.Duration
		req    guard.Request
		want   guard.Decision
	}{
		{"fresh cells, a new message", nil,
			0, msg("m", time.Hour, A(2, 1, time.Hour), B(2, 1, time.Hour)), allowed},
		{"refused by a full cell", []step{{0, takes(B(1, 1, time.Hour))}},
			time.Second, msg("m", time.Hour, A(2, 1, time.Hour), B(1, 1, time.Hour)), refused(1, time.Hour-time.Second)},
		{"a remembered message", []step{{0, msg("m", time.Hour, A(1, 1, time.Hour))}},
			time.Second, msg("m", time.Hour, A(1, 1, time.Hour)), allowed},
		{"an expired admission", []step{{0, msg("m", time.Minute, A(1, 1, time.Second))}},
			2 * time.Minute, msg("m", time.Minute, A(1, 1, time.Second)), allowed},
		{"a key given twice", []step{{0, takes(A(3, 1, time.Second))}},
			0, takes(A(3, 1, time.Second), A(3, 1, time.Second)), allowed},
		{"a key given twice, refused", nil,
			0, takes(A(3, 2, time.Second), A(3, 2, time.Second)), refused(1, time.Second)},
		{"Remember 0", []step{{0, msg("m", 0, A(2, 1, time.Hour))}},
			0, msg("m", 0, A(2, 1, time.Hour)), allowed},
		{"expired rows, left to Take's cleanup", []step{
			{0, msg("old1", time.Second, B(1, 1, time.Second))},
			{0, msg("old2", time.Second, take("C", time.Second, 1, 1))},
		}, time.Hour, msg("m", time.Hour, A(1, 1, time.Hour)), allowed},
	}
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			peeked, alone := newPool(t, migratedDB(t), 0), newPool(t, migratedDB(t), 0)
			for _, pool := range []*pgxpool.Pool{peeked, alone} {
				for j, s := range tc.before {
					if _, err := pgstore.New(pool).Take(ctx, t0.Add(s.at), s.req); err != nil {
						t.Fatalf("take %d before: %v", j, err)
					}
				}
			}
			store := pgstore.New(peeked)
			rows := tableRows(t, peeked)
			for i := range 2 {
				d, err := store.Peek(ctx, t0.Add(tc.at), tc.req)
				if err != nil || d != tc.want {
					t.Fatalf("Peek %d = %+v, %v; want %+v", i+1, d, err, tc.want)
				}
				if got := tableRows(t, peeked); !slices.Equal(got, rows) {
					t.Fatalf("rows after Peek %d:\n%q\nwant them unchanged:\n%q", i+1, got, rows)
				}
			}
			d, err := store.Take(ctx, t0.Add(tc.at), tc.req)
			if err != nil || d != tc.want {
				t.Fatalf("Take after the Peeks = %+v, %v; want %+v", d, err, tc.want)
			}
			d, err = pgstore.New(alone).Take(ctx, t0.Add(tc.at), tc.req)
			if err != nil || d != tc.want {
				t.Fatalf("Take alone = %+v, %v; want %+v", d, err, tc.want)
			}
			if got, want := tableRows(t, peeked), tableRows(t, alone); !slices.Equal(got, want) {
				t.Errorf("rows after the Peeks and the Take:\n%q\nafter the Take alone:\n%q", got, want)
			}
		})
	}
}

// TestPeekWaitsForNoLock: while another transaction holds the rows a Peek
// reads, changed and not committed (as a Take under way does), the Peek
// answers at once from what was committed. A Peek that waited for the locks
// would wait until the test's deadline.
func TestPeekWaitsForNoLock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dsn := migratedDB(t)
	store := pgstore.New(newPool(t, dsn, 0), pgstore.WithTimeout(0))
	cell := take("A", time.Hour, 2, 1)
	m1 := guard.Request{Message: "m1", Remember: time.Hour, Takes: []guard.Take{cell}}
	m2 := guard.Request{Message: "m2", Remember: time.Hour, Takes: []guard.Take{cell}}
	if d, err := store.Take(ctx, t0, m1); err != nil || d != allowed {
		t.Fatalf("Take m1 = %+v, %v; want allowed", d, err)
	}

	tx, err := newPool(t, dsn, 1).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	for _, q := range []string{
		"UPDATE smscourier_guard_cells SET tat = tat + 3600000000000 WHERE key = 'A'",
		"DELETE FROM smscourier_guard_admissions WHERE message = 'm1'",
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	// The rows are locked: a third session cannot lock them.
	probe := newPool(t, dsn, 1)
	for _, q := range []string{
		"SELECT 1 FROM smscourier_guard_cells WHERE key = 'A' FOR UPDATE NOWAIT",
		"SELECT 1 FROM smscourier_guard_admissions WHERE message = 'm1' FOR UPDATE NOWAIT",
	} {
		_, err := probe.Exec(ctx, q)
		if pgErr := (*pgconn.PgError)(nil); !errors.As(err, &pgErr) || pgErr.Code != "55P03" {
			t.Fatalf("%s: error %v, want lock_not_available (55P03)", q, err)
		}
	}

	for _, s := range []struct {
		name string
		req  guard.Request
		want guard.Decision
	}{
		{"m1, remembered", m1, allowed},
		{"m2, one unit left", m2, allowed},
	} {
		if d, err := store.Peek(ctx, t0, s.req); err != nil || d != s.want {
			t.Fatalf("Peek %s while the rows are locked = %+v, %v; want %+v", s.name, d, err, s.want)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// Committed: the cell is full for two hours and m1 is forgotten.
	for _, req := range []guard.Request{m1, m2} {
		if d, err := store.Peek(ctx, t0, req); err != nil || d != refused(0, time.Hour) {
			t.Fatalf("Peek %s after the commit = %+v, %v; want %+v", req.Message, d, err, refused(0, time.Hour))
		}
	}
}
