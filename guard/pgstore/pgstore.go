// Package pgstore is a guard.Store in PostgreSQL, shared by every instance
// of a fleet: two instances checking the same cap at once never let more
// through than it allows. It can live in the queue's database.
//
// Set it up with Migrate, then make a Store on a pgx pool:
//
//	if err := pgstore.Migrate(ctx, pool); err != nil { ... }
//	store := pgstore.New(pool)
//
// # One round trip
//
// Each Take is one statement, a call of the function
// smscourier_guard_take sent with pgx's QueryExecModeExec (no prepared
// statement, so it also works behind a transaction-mode PgBouncer): one
// round trip, in its own implicit transaction. Inside it, the function
// locks the message's admission and then every cell in key order (so
// concurrent takes never deadlock), evaluates GCRA, and writes only if
// every take allows the send. A pool may add a round trip of its own: by
// default pgxpool pings a connection idle for over a second before lending
// it (pgxpool.Config.ShouldPing).
//
// # Peek
//
// A Store is a guard.Peeker: each Peek is one statement too, a call of the
// function smscourier_guard_peek, which evaluates GCRA with the same
// function as smscourier_guard_take (smscourier_guard_gcra) but writes
// nothing, deletes no expired row and locks nothing. It reads one snapshot:
// a Take committed after the Peek's statement started is not seen, and a
// Take under way never makes a Peek wait.
//
// # Tables
//
// Migrate creates, in the schema first on the search_path:
//
//   - smscourier_guard_cells (key bytea primary key, tat bigint): one row
//     per GCRA cell not back to fresh; tat is its theoretical arrival time
//     in nanoseconds since the Unix epoch. Indexed on tat.
//   - smscourier_guard_admissions (message bytea primary key, expires
//     bigint): one row per remembered admission, until expires (ns since
//     the Unix epoch). Indexed on expires.
//   - smscourier_guard_migrations (version, name, applied_at): the schema
//     versions applied.
//   - the functions smscourier_guard_take, smscourier_guard_peek and
//     smscourier_guard_gcra (the GCRA evaluation the other two share).
//
// Times are integers of nanoseconds, not timestamptz (microseconds), so
// that decisions are exact to Go's time.Duration. They are the now the
// guard passes to Take, so the instances of a fleet should keep their
// clocks in sync (NTP): an instance whose clock runs ahead spends the
// cells' units earlier, one behind is refused longer.
//
// # Expiry
//
// A cell whose tat is not after now is fresh, the same as no row, and an
// admission past its expiry is forgotten. Each Take deletes, after
// deciding, at most a batch (WithCleanup, default 32) of expired cells and
// as many expired admissions, oldest first, skipping rows other
// transactions hold. A Take creates at most one row per take and one
// admission, so while Takes run the tables shrink back to the live rows;
// rows left when sending stops are deleted by the next Takes (a Peek
// deletes none).
//
// The Store needs the READ COMMITTED isolation level, PostgreSQL's
// default: with REPEATABLE READ or SERIALIZABLE as the database's default,
// concurrent Takes of one cell fail with serialization errors.
package pgstore

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smscourier/smscourier/guard"
)

// Defaults of the options.
const (
	// DefaultCleanup is how many expired cells, and how many expired
	// admissions, a Take deletes at most without WithCleanup.
	DefaultCleanup = 32
	// DefaultTimeout bounds a Take or a Peek without WithTimeout.
	DefaultTimeout = 2 * time.Second
)

// Option configures a Store in New. A later option of the same kind
// replaces an earlier one.
type Option interface {
	apply(*Store)
}

type optionFunc func(*Store)

func (f optionFunc) apply(s *Store) { f(s) }

// WithCleanup makes each Take delete at most n expired cells and at most n
// expired admissions. Default DefaultCleanup (32); 0 turns the cleanup
// off, for a database where expired rows are deleted otherwise; a negative
// n is 0. With n below the number of takes of a Request plus one, expired
// rows may pile up faster than they are deleted.
func WithCleanup(n int) Option {
	return optionFunc(func(s *Store) { s.cleanup = int32(max(0, min(n, math.MaxInt32))) })
}

// WithTimeout bounds each Take and each Peek to d, the wait for a
// connection from the pool included, on top of the deadline of its
// context: a Take or Peek that gets no answer within d fails with an error
// wrapping context.DeadlineExceeded. Default DefaultTimeout (2 s); d <= 0:
// the context's deadline only.
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(s *Store) { s.timeout = d })
}

// Store is a guard.Store in PostgreSQL. Its methods are safe for
// simultaneous use by multiple goroutines, and Stores of several processes
// may share one database.
type Store struct {
	pool    *pgxpool.Pool
	cleanup int32
	timeout time.Duration
}

var (
	_ guard.Store  = (*Store)(nil)
	_ guard.Peeker = (*Store)(nil)
)

// New returns a Store keeping its state in the database behind pool, which
// Migrate must have prepared. The Store does not close the pool.
func New(pool *pgxpool.Pool, opts ...Option) *Store {
	s := &Store{pool: pool, cleanup: DefaultCleanup, timeout: DefaultTimeout}
	for _, o := range opts {
		o.apply(s)
	}
	return s
}

const (
	takeSQL = `SELECT allowed, refused, retry_after_ns FROM smscourier_guard_take(
	$1::bigint, $2::bytea, $3::bigint, $4::bytea[], $5::bigint[], $6::bigint[], $7::bigint[], $8::integer)`
	peekSQL = `SELECT allowed, refused, retry_after_ns FROM smscourier_guard_peek(
	$1::bigint, $2::bytea, $3::bytea[], $4::bigint[], $5::bigint[], $6::bigint[])`
)

// Take answers req at now as guard.Store documents, in one round trip. A
// take with Burst or Cost below 1, an Interval not positive, or a
// Burst*Interval or Cost*Interval beyond 72 years is an error, found
// before anything is sent; a Remember beyond 72 years counts as 72 years.
// Take fails when PostgreSQL cannot be reached or answers with an error,
// or when ctx or the Store's timeout ends first; the error wraps the
// cause (context.DeadlineExceeded for a timeout) and names neither the
// keys nor the connection's password. A Take that failed counted nothing,
// unless it failed after its statement reached the server (a timeout
// while PostgreSQL was answering): then the send may have been counted.
func (s *Store) Take(ctx context.Context, now time.Time, req guard.Request) (guard.Decision, error) {
	return s.answer(ctx, now, req, true)
}

// Peek returns the Decision that Take would return at now, as guard.Peeker
// documents, in one round trip, and changes nothing: it writes no row,
// deletes no expired one (the cleanup is Take's) and locks nothing, so it
// never waits for a Take holding the rows it reads. It answers from what
// was committed when its statement started: a Take running meanwhile may
// change the answer. It checks req and fails as Take does; a Peek that
// failed changed nothing.
func (s *Store) Peek(ctx context.Context, now time.Time, req guard.Request) (guard.Decision, error) {
	return s.answer(ctx, now, req, false)
}

// answer sends req at now as one statement: a call of
// smscourier_guard_take when count, else of smscourier_guard_peek.
func (s *Store) answer(ctx context.Context, now time.Time, req guard.Request, count bool) (guard.Decision, error) {
	n := len(req.Takes)
	keys := make([][]byte, n)
	ints := make([]int64, 3*n)
	intervals, bursts, costs := ints[:n:n], ints[n:2*n:2*n], ints[2*n:]
	for i, t := range req.Takes {
		if err := checkTake(t); err != nil {
			return guard.Decision{}, fmt.Errorf("smscourier/guard/pgstore: take %d: %w", i, err)
		}
		keys[i] = []byte(t.Key)
		intervals[i], bursts[i], costs[i] = int64(t.Interval), int64(t.Burst), int64(t.Cost)
	}
	var (
		op, sql string
		args    []any
	)
	if count {
		remember := min(max(req.Remember, 0), maxSpan)
		op, sql, args = "take", takeSQL, []any{pgx.QueryExecModeExec,
			now.UnixNano(), []byte(req.Message), int64(remember), keys, intervals, bursts, costs, s.cleanup}
	} else {
		op, sql, args = "peek", peekSQL, []any{pgx.QueryExecModeExec,
			now.UnixNano(), []byte(req.Message), keys, intervals, bursts, costs}
	}
	if s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	var (
		d       guard.Decision
		refused int32
		retryNs int64
	)
	if err := s.pool.QueryRow(ctx, sql, args...).Scan(&d.Allowed, &refused, &retryNs); err != nil {
		return guard.Decision{}, fmt.Errorf("smscourier/guard/pgstore: %s: %w", op, err)
	}
	d.Refused, d.RetryAfter = int(refused), time.Duration(retryNs)
	return d, nil
}

// maxSpan bounds Burst*Interval, Cost*Interval and Remember so that now
// plus two of them stays within int64 nanoseconds (292 years from 1970).
const maxSpan = 72 * 365 * 24 * time.Hour

func checkTake(t guard.Take) error {
	switch {
	case t.Burst < 1:
		return fmt.Errorf("burst %d, want at least 1", t.Burst)
	case t.Cost < 1:
		return fmt.Errorf("cost %d, want at least 1", t.Cost)
	case t.Interval <= 0:
		return fmt.Errorf("interval %v, want more than 0", t.Interval)
	case int64(t.Burst) > int64(maxSpan/t.Interval) || int64(t.Cost) > int64(maxSpan/t.Interval):
		return fmt.Errorf("burst %d or cost %d times interval %v is too long", t.Burst, t.Cost, t.Interval)
	}
	return nil
}
