//go:build postgres

package pgstore_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smscourier/smscourier/guard"
	"github.com/smscourier/smscourier/guard/pgstore"
	"github.com/smscourier/smscourier/guard/storetest"
	"github.com/smscourier/smscourier/internal/pgtest"
)

// The tests below run against a throwaway cluster started by
// internal/pgtest (or the server named by SMSCOURIER_TEST_POSTGRES_DSN).
func TestMain(m *testing.M) { pgtest.Main(m) }

// t0 is the tests' now: a fixed instant, so decisions are exact.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// migratedDB returns the DSN of a fresh database that Migrate prepared.
func migratedDB(t testing.TB) string {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	pool := newPool(t, dsn, 0)
	if err := pgstore.Migrate(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	pool.Close()
	return dsn
}

// newPool opens a pool on dsn (maxConns 0: pgxpool's default), closed
// when the test ends. A pool of maxConns > 0 opens them all at once, so
// that concurrent Takes run at once rather than as connections come.
func newPool(t testing.TB, dsn string, maxConns int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if maxConns > 0 {
		cfg.MaxConns, cfg.MinConns = maxConns, maxConns
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if maxConns > 0 {
		conns := make([]*pgxpool.Conn, maxConns)
		for i := range conns {
			if conns[i], err = pool.Acquire(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range conns {
			c.Release()
		}
	}
	return pool
}

func take(key string, interval time.Duration, burst, cost int) guard.Take {
	return guard.Take{Key: key, Interval: interval, Burst: burst, Cost: cost}
}

var allowed = guard.Decision{Allowed: true, Refused: -1}

func refused(i int, after time.Duration) guard.Decision {
	return guard.Decision{Refused: i, RetryAfter: after}
}

// TestContract checks the guard.Store contract step by step: each case is a
// sequence of Requests at given instants and the Decisions they must get,
// from a Peek and then from the Take.
func TestContract(t *testing.T) {
	type step struct {
		at   time.Duration // after t0
		req  guard.Request
		want guard.Decision
	}
	A := func(burst, cost int, interval time.Duration) guard.Take { return take("A", interval, burst, cost) }
	B := func(burst, cost int, interval time.Duration) guard.Take { return take("B", interval, burst, cost) }
	C := func(burst, cost int, interval time.Duration) guard.Take { return take("C", interval, burst, cost) }
	takes := func(ts ...guard.Take) guard.Request { return guard.Request{Takes: ts} }
	msg := func(m string, remember time.Duration, ts ...guard.Take) guard.Request {
		return guard.Request{Message: m, Remember: remember, Takes: ts}
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"allow within burst, refuse past it, allow once refilled", []step{
			{0, takes(A(3, 1, 10*time.Second)), allowed},
			{0, takes(A(3, 1, 10*time.Second)), allowed},
			{0, takes(A(3, 1, 10*time.Second)), allowed},
			{0, takes(A(3, 1, 10*time.Second)), refused(0, 10*time.Second)},
			{4 * time.Second, takes(A(3, 1, 10*time.Second)), refused(0, 6*time.Second)},
			{10*time.Second - 1, takes(A(3, 1, 10*time.Second)), refused(0, 1)},
			{10 * time.Second, takes(A(3, 1, 10*time.Second)), allowed},
			{10 * time.Second, takes(A(3, 1, 10*time.Second)), refused(0, 10*time.Second)},
		}},
		{"refused is the first refusing take, retry after the longest wait", []step{
			{0, takes(A(5, 1, time.Second), B(1, 1, time.Minute), C(1, 1, time.Hour)), allowed},
			{0, takes(A(5, 1, time.Second), B(1, 1, time.Minute), C(1, 1, time.Hour)), refused(1, time.Hour)},
			{time.Minute, takes(A(5, 1, time.Second), B(1, 1, time.Minute), C(1, 1, time.Hour)), refused(2, 59*time.Minute)},
		}},
		{"all or nothing: a refused send counts on no take", []step{
			{0, takes(A(2, 1, time.Hour), B(1, 1, time.Hour)), allowed},
			{0, takes(A(2, 1, time.Hour), B(1, 1, time.Hour)), refused(1, time.Hour)},
			{0, takes(A(2, 1, time.Hour)), allowed}, // A kept the unit the refused send did not take
			{0, takes(A(2, 1, time.Hour)), refused(0, time.Hour)},
		}},
		{"cost takes that many units", []step{
			{0, takes(A(10, 4, time.Second)), allowed},
			{0, takes(A(10, 4, time.Second)), allowed},
			{0, takes(A(10, 4, time.Second)), refused(0, 2*time.Second)},
			{2 * time.Second, takes(A(10, 4, time.Second)), allowed},
		}},
		{"cost above burst is never allowed", []step{
			{0, takes(A(2, 3, time.Second)), refused(0, time.Second)},
			{time.Hour, takes(A(2, 3, time.Second)), refused(0, time.Second)},
		}},
		{"cooldown: burst 1, one per interval", []step{
			{0, takes(A(1, 1, time.Minute)), allowed},
			{30 * time.Second, takes(A(1, 1, time.Minute)), refused(0, 30*time.Second)},
			{time.Minute, takes(A(1, 1, time.Minute)), allowed},
			{time.Minute + time.Second, takes(A(1, 1, time.Minute)), refused(0, 59*time.Second)},
		}},
		{"a key given twice counts twice", []step{
			{0, takes(A(3, 2, time.Second), A(3, 2, time.Second)), refused(1, time.Second)},
			{0, takes(A(3, 3, time.Second)), allowed}, // nothing was counted
			{3 * time.Second, takes(A(4, 2, time.Second), A(4, 2, time.Second)), allowed},
			{3 * time.Second, takes(A(4, 1, time.Second)), refused(0, time.Second)},
		}},
		{"no takes: allowed", []step{
			{0, takes(), allowed},
		}},
		{"a remembered message passes uncounted", []step{
			{0, msg("m1", time.Minute, A(1, 1, time.Hour)), allowed},
			{time.Second, msg("m1", time.Minute, A(1, 1, time.Hour)), allowed},
			{time.Second, msg("m1", 0, A(1, 1, time.Hour)), allowed}, // remembered by the first Take's Remember
			{time.Second, msg("m2", time.Minute, A(1, 1, time.Hour)), refused(0, time.Hour-time.Second)},
		}},
		{"an admission expires after Remember", []step{
			{0, msg("m1", time.Minute, A(1, 1, time.Hour)), allowed},
			{time.Minute - 1, msg("m1", time.Minute, A(1, 1, time.Hour)), allowed},
			{time.Minute, msg("m1", time.Minute, A(1, 1, time.Hour)), refused(0, 59*time.Minute)},
		}},
		{"a refused send is not remembered", []step{
			{0, takes(A(1, 1, time.Hour)), allowed},
			{0, msg("m1", time.Hour, A(1, 1, time.Hour), B(1, 1, time.Hour)), refused(0, time.Hour)},
			{time.Second, msg("m1", time.Hour, A(1, 1, time.Hour), B(1, 1, time.Hour)), refused(0, time.Hour-time.Second)},
			{time.Hour, msg("m1", time.Hour, A(1, 1, time.Hour), B(1, 1, time.Hour)), allowed},
			{time.Hour, msg("m1", time.Hour, A(1, 1, time.Hour), B(1, 1, time.Hour)), allowed}, // remembered now
			{time.Hour, takes(B(1, 1, time.Hour)), refused(0, time.Hour)},                      // B counted once
		}},
		{"Remember 0 remembers nothing", []step{
			{0, msg("m1", 0, A(2, 1, time.Hour)), allowed},
			{0, msg("m1", 0, A(2, 1, time.Hour)), allowed},
			{0, msg("m1", 0, A(2, 1, time.Hour)), refused(0, time.Hour)},
		}},
		{"an expired admission is renewed by the next allowed send", []step{
			{0, msg("m1", time.Minute, A(2, 1, time.Hour)), allowed},
			{2 * time.Minute, msg("m1", time.Minute, A(2, 1, time.Hour)), allowed},
			{2*time.Minute + time.Second, msg("m1", time.Minute, A(2, 1, time.Hour)), allowed},
			{2*time.Minute + time.Second, msg("m2", time.Minute, A(2, 1, time.Hour)), refused(0, time.Hour-2*time.Minute-time.Second)},
		}},
	}
	dsn := migratedDB(t)
	pool := newPool(t, dsn, 0)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := pgstore.New(pool)
			prefix := strconv.Itoa(i) + "/" // keys and messages of one case
			for j, s := range tc.steps {
				req := s.req
				if req.Message != "" {
					req.Message = prefix + req.Message
				}
				req.Takes = append([]guard.Take(nil), req.Takes...)
				for k := range req.Takes {
					req.Takes[k].Key = prefix + req.Takes[k].Key
				}
				got, err := store.Peek(context.Background(), t0.Add(s.at), req)
				if err != nil {
					t.Fatalf("step %d: Peek: %v", j, err)
				}
				if got != s.want {
					t.Fatalf("step %d at t0+%v: Peek = %+v, want %+v", j, s.at, got, s.want)
				}
				got, err = store.Take(context.Background(), t0.Add(s.at), req)
				if err != nil {
					t.Fatalf("step %d: Take: %v", j, err)
				}
				if got != s.want {
					t.Fatalf("step %d at t0+%v: Take = %+v, want %+v", j, s.at, got, s.want)
				}
			}
		})
	}
}

// TestConformance runs the guard/storetest suite, Peek included, each
// subtest on a Store of its own fresh database. The Store has no timeout
// of its own: the suite's 1,000 concurrent Takes queue for the pool's
// connections longer than DefaultTimeout on a loaded machine.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) guard.Store {
		return pgstore.New(newPool(t, migratedDB(t), 0), pgstore.WithTimeout(0))
	})
}

// TestTwoInstancesOneCap: two instances (two pools, two Stores) sharing
// PostgreSQL send 1,000 Takes at once against a cap of 100: exactly 100
// are allowed.
func TestTwoInstancesOneCap(t *testing.T) {
	dsn := migratedDB(t)
	stores := []*pgstore.Store{
		pgstore.New(newPool(t, dsn, 16), pgstore.WithTimeout(0)),
		pgstore.New(newPool(t, dsn, 16), pgstore.WithTimeout(0)),
	}
	const sends, limit = 1000, 100
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		ok    atomic.Int64
		errs  = make(chan error, sends)
	)
	for i := range sends {
		wg.Go(func() {
			<-start
			d, err := stores[i%2].Take(context.Background(), time.Now(), guard.Request{
				Message:  "msg-" + strconv.Itoa(i),
				Remember: time.Hour,
				Takes: []guard.Take{
					take("cap", time.Hour, limit, 1),
					take("recipient-"+strconv.Itoa(i%50), time.Second, 1000, 1),
				},
			})
			if err != nil {
				errs <- err
				return
			}
			if d.Allowed {
				ok.Add(1)
			} else if d.Refused != 0 || d.RetryAfter <= 0 {
				errs <- fmt.Errorf("refusal %+v, want Refused 0 and a RetryAfter", d)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := ok.Load(); got != limit {
		t.Errorf("%d of %d concurrent sends allowed, want exactly %d", got, sends, limit)
	}
	var admissions int
	if err := newPool(t, dsn, 1).QueryRow(context.Background(),
		"SELECT count(*) FROM smscourier_guard_admissions").Scan(&admissions); err != nil {
		t.Fatal(err)
	}
	if admissions != limit {
		t.Errorf("%d admissions remembered, want %d (one per allowed send)", admissions, limit)
	}
}

// TestConcurrentRetriesCountOnce: retries of one message sent at once
// through two instances are all allowed, and counted once.
func TestConcurrentRetriesCountOnce(t *testing.T) {
	dsn := migratedDB(t)
	stores := []*pgstore.Store{pgstore.New(newPool(t, dsn, 8)), pgstore.New(newPool(t, dsn, 8))}
	req := guard.Request{Message: "one", Remember: time.Hour, Takes: []guard.Take{take("cap", time.Hour, 100, 1)}}
	const tries = 200
	var wg sync.WaitGroup
	start := make(chan struct{})
	results := make([]guard.Decision, tries)
	errs := make([]error, tries)
	for i := range tries {
		wg.Go(func() {
			<-start
			results[i], errs[i] = stores[i%2].Take(context.Background(), t0, req)
		})
	}
	close(start)
	wg.Wait()
	for i := range tries {
		if errs[i] != nil || results[i] != allowed {
			t.Fatalf("try %d: Take = %+v, %v; want allowed", i, results[i], errs[i])
		}
	}
	// The cap had 100 units: one went to the message, so 99 are left.
	for _, c := range []struct {
		cost int
		want guard.Decision
	}{{100, refused(0, time.Hour)}, {99, allowed}} {
		got, err := stores[0].Take(context.Background(), t0, guard.Request{Takes: []guard.Take{take("cap", time.Hour, 100, c.cost)}})
		if err != nil || got != c.want {
			t.Fatalf("Take of cost %d = %+v, %v; want %+v", c.cost, got, err, c.want)
		}
	}
}

// TestNoDeadlock: concurrent Takes naming the same cells in opposite
// orders, some of them new, all succeed: cells are locked in key order.
func TestNoDeadlock(t *testing.T) {
	dsn := migratedDB(t)
	stores := []*pgstore.Store{
		pgstore.New(newPool(t, dsn, 16), pgstore.WithTimeout(0)),
		pgstore.New(newPool(t, dsn, 16), pgstore.WithTimeout(0)),
	}
	const sends = 400
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, sends)
	for i := range sends {
		wg.Go(func() {
			<-start
			keys := []string{"a", "b", "c", "d", "new-" + strconv.Itoa(i/4)}
			if i%2 == 1 {
				slices.Reverse(keys)
			}
			var ts []guard.Take
			for _, k := range keys {
				ts = append(ts, take(k, time.Millisecond, 1_000_000, 1))
			}
			var d guard.Decision
			d, errs[i] = stores[i%2].Take(context.Background(), time.Now(), guard.Request{Takes: ts})
			if errs[i] == nil && !d.Allowed {
				errs[i] = fmt.Errorf("refused: %+v", d)
			}
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
}

// rowCounts returns the number of rows of the cells and admissions tables.
func rowCounts(t *testing.T, pool *pgxpool.Pool) (cells, admissions int) {
	t.Helper()
	err := pool.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM smscourier_guard_cells),
		(SELECT count(*) FROM smscourier_guard_admissions)`).Scan(&cells, &admissions)
	if err != nil {
		t.Fatal(err)
	}
	return cells, admissions
}

// TestExpiry: expired cells and admissions are deleted by later Takes, a
// bounded batch each, so the tables shrink back to the live rows; under
// steady traffic to ever new keys they stay bounded.
func TestExpiry(t *testing.T) {
	t.Run("tables shrink back", func(t *testing.T) {
		pool := newPool(t, migratedDB(t), 0)
		const batch, rows = 8, 100
		store := pgstore.New(pool, pgstore.WithCleanup(batch))
		for i := range rows {
			_, err := store.Take(context.Background(), t0, guard.Request{
				Message: "m" + strconv.Itoa(i), Remember: time.Minute,
				Takes: []guard.Take{take("k"+strconv.Itoa(i), time.Second, 1, 1)},
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if c, a := rowCounts(t, pool); c != rows || a != rows {
			t.Fatalf("after %d sends: %d cells, %d admissions; want %d of each", rows, c, a, rows)
		}
		// At t0+1s the cells are fresh, the admissions still live.
		later := t0.Add(time.Second)
		for i := 1; ; i++ {
			d, err := store.Take(context.Background(), later, guard.Request{Takes: []guard.Take{take("live", time.Hour, 100, 1)}})
			if err != nil || !d.Allowed {
				t.Fatalf("Take = %+v, %v", d, err)
			}
			c, a := rowCounts(t, pool)
			if want := max(1, rows+1-i*batch); c != want || a != rows {
				t.Fatalf("after %d Takes at t0+1s: %d cells, %d admissions; want %d, %d", i, c, a, want, rows)
			}
			if c == 1 {
				break
			}
		}
		// Past Remember the admissions go too; the live cell stays.
		for i := 1; ; i++ {
			if _, err := store.Take(context.Background(), t0.Add(time.Minute), guard.Request{}); err != nil {
				t.Fatal(err)
			}
			c, a := rowCounts(t, pool)
			if want := max(0, rows-i*batch); c != 1 || a != want {
				t.Fatalf("after %d Takes at t0+1m: %d cells, %d admissions; want 1, %d", i, c, a, want)
			}
			if a == 0 {
				break
			}
		}
	})
	t.Run("steady traffic to new keys stays bounded", func(t *testing.T) {
		pool := newPool(t, migratedDB(t), 0)
		store := pgstore.New(pool)
		// Every 100 ms a send to a new recipient with a 1 s cooldown and a
		// 2 s remembered admission: about 10 cells and 20 admissions live.
		maxCells, maxAdmissions := 0, 0
		for i := range 1000 {
			now := t0.Add(time.Duration(i) * 100 * time.Millisecond)
			d, err := store.Take(context.Background(), now, guard.Request{
				Message: "m" + strconv.Itoa(i), Remember: 2 * time.Second,
				Takes: []guard.Take{take("r"+strconv.Itoa(i), time.Second, 1, 1), take("global", time.Millisecond, 1000, 1)},
			})
			if err != nil || !d.Allowed {
				t.Fatalf("send %d: %+v, %v", i, d, err)
			}
			if i%50 == 49 {
				c, a := rowCounts(t, pool)
				maxCells, maxAdmissions = max(maxCells, c), max(maxAdmissions, a)
			}
		}
		if maxCells > 12 || maxAdmissions > 21 {
			t.Errorf("at most %d cells and %d admissions over 1,000 sends; want at most 12 and 21 (the live ones)", maxCells, maxAdmissions)
		}
	})
	t.Run("WithCleanup(0) deletes nothing", func(t *testing.T) {
		pool := newPool(t, migratedDB(t), 0)
		store := pgstore.New(pool, pgstore.WithCleanup(0))
		for i := range 10 {
			if _, err := store.Take(context.Background(), t0.Add(time.Duration(i)*time.Hour), guard.Request{
				Message: "m" + strconv.Itoa(i), Remember: time.Second,
				Takes: []guard.Take{take("r"+strconv.Itoa(i), time.Second, 1, 1)},
			}); err != nil {
				t.Fatal(err)
			}
		}
		if c, a := rowCounts(t, pool); c != 10 || a != 10 {
			t.Errorf("%d cells, %d admissions; want 10 of each", c, a)
		}
	})
}

// roundTripCounter is a loopback proxy in front of PostgreSQL that counts
// the round trips clients start: the Sync messages (extended protocol) and
// Query messages (simple protocol) they send.
type roundTripCounter struct {
	l    net.Listener
	addr string
	n    atomic.Int64
	wg   sync.WaitGroup
}

// countedPool returns a pool on dsn whose connections go through a
// roundTripCounter, and the counter. The pool's liveness ping of a
// connection idle for over a second is off.
func countedPool(t testing.TB, dsn string) (*pgxpool.Pool, *roundTripCounter) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(cfg.ConnConfig.Host, "/") {
		t.Skip("the server is on a Unix socket; the round-trip counter proxies TCP")
	}
	counter := newRoundTripCounter(t, net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port))))
	host, port, _ := net.SplitHostPort(counter.addr)
	p, _ := strconv.Atoi(port)
	cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Fallbacks = host, uint16(p), nil
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, counter
}

func newRoundTripCounter(t testing.TB, target string) *roundTripCounter {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &roundTripCounter{l: l, addr: l.Addr().String()}
	p.wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.wg.Go(func() { p.serve(c, target) })
		}
	})
	t.Cleanup(func() { l.Close(); p.wg.Wait() })
	return p
}

func (p *roundTripCounter) serve(client net.Conn, target string) {
	defer client.Close()
	server, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer server.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(client, server)
		client.Close()
		close(done)
	}()
	p.countFrom(client, server)
	server.Close()
	<-done
}

// countFrom forwards the client's side of the protocol to server: untyped
// messages (SSL or GSS encryption requests, then the startup message),
// then typed ones, counting each Sync and simple Query before it forwards
// it, so that the count is in before the server can answer.
func (p *roundTripCounter) countFrom(client io.Reader, server io.Writer) {
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(client, hdr[:8]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[:4])
		code := binary.BigEndian.Uint32(hdr[4:8])
		if _, err := server.Write(hdr[:8]); err != nil {
			return
		}
		if _, err := io.CopyN(server, client, int64(n)-8); err != nil {
			return
		}
		if code != 80877103 && code != 80877104 { // not SSLRequest, GSSENCRequest
			break
		}
	}
	for {
		if _, err := io.ReadFull(client, hdr[:5]); err != nil {
			return
		}
		if hdr[0] == 'S' || hdr[0] == 'Q' {
			p.n.Add(1)
		}
		if _, err := server.Write(hdr[:5]); err != nil {
			return
		}
		if _, err := io.CopyN(server, client, int64(binary.BigEndian.Uint32(hdr[1:5]))-4); err != nil {
			return
		}
	}
}

// TestOneRoundTrip: every Take and every Peek, the first on a new
// connection included, is one round trip to PostgreSQL. (The pool's
// liveness ping of a connection idle for over a second is turned off: it is
// the pool's.) The Peeks come after the Takes, on a pool of their own, so
// that they find cells counted and a message remembered.
func TestOneRoundTrip(t *testing.T) {
	dsn := migratedDB(t)
	cases := []struct {
		name string
		req  guard.Request
	}{
		{"no takes", guard.Request{}},
		{"one take", guard.Request{Takes: []guard.Take{take("a", time.Second, 5, 1)}}},
		{"five takes and an admission", guard.Request{Message: "m", Remember: time.Minute, Takes: []guard.Take{
			take("a", time.Second, 5, 1), take("b", time.Second, 5, 1), take("c", time.Second, 5, 1),
			take("d", time.Second, 5, 1), take("e", time.Second, 5, 1)}}},
		{"remembered", guard.Request{Message: "m", Remember: time.Minute, Takes: []guard.Take{take("a", time.Second, 5, 1)}}},
		{"five takes, a message not remembered", guard.Request{Message: "new", Takes: []guard.Take{
			take("a", time.Second, 5, 1), take("b", time.Second, 5, 1), take("c", time.Second, 5, 1),
			take("d", time.Second, 5, 1), take("f", time.Second, 5, 1)}}},
		{"refused", guard.Request{Takes: []guard.Take{take("z", time.Second, 1, 2)}}},
	}
	for _, op := range ops { // Take, then Peek
		t.Run(op.name, func(t *testing.T) {
			pool, counter := countedPool(t, dsn)
			store := pgstore.New(pool)
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					before := counter.n.Load()
					if _, err := op.call(store, context.Background(), t0, tc.req); err != nil {
						t.Fatal(err)
					}
					if got := counter.n.Load() - before; got != 1 {
						t.Errorf("%s made %d round trips, want 1", op.name, got)
					}
				})
			}
			if got := pool.Stat().TotalConns(); got != 1 {
				t.Errorf("pool has %d connections, want 1 (every %s on one)", got, op.name)
			}
		})
	}
}

// schemaVersions are the names of the schema's versions, in order.
var schemaVersions = []string{"cells_admissions", "peek"}

// versionsRecorded returns the names of the versions Migrate recorded, in
// order.
func versionsRecorded(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	var names []string
	if err := pool.QueryRow(context.Background(),
		"SELECT coalesce(array_agg(name ORDER BY version), '{}') FROM smscourier_guard_migrations").Scan(&names); err != nil {
		t.Fatal(err)
	}
	return names
}

// migrateAtOnce runs Migrate from n pools on dsn at once; each must succeed.
func migrateAtOnce(t *testing.T, dsn string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range errs {
		pool := newPool(t, dsn, 1)
		wg.Go(func() { errs[i] = pgstore.Migrate(context.Background(), pool) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent Migrate %d: %v", i, err)
		}
	}
}

// TestMigrate: Migrate is idempotent and safe to run from several
// instances at once, on a new database or on one at version 1; the Store
// works after it, with the cells and admissions version 1 kept.
func TestMigrate(t *testing.T) {
	ctx := context.Background()
	t.Run("new database", func(t *testing.T) {
		dsn := pgtest.NewDatabase(t)
		migrateAtOnce(t, dsn, 4)
		pool := newPool(t, dsn, 0)
		if err := pgstore.Migrate(ctx, pool); err != nil {
			t.Fatalf("Migrate again: %v", err)
		}
		if got := versionsRecorded(t, pool); !slices.Equal(got, schemaVersions) {
			t.Errorf("versions recorded %q, want %q", got, schemaVersions)
		}
		store := pgstore.New(pool)
		req := guard.Request{Takes: []guard.Take{take("k", time.Second, 1, 1)}}
		if d, err := store.Peek(ctx, t0, req); err != nil || d != allowed {
			t.Fatalf("Peek after Migrate = %+v, %v; want allowed", d, err)
		}
		if d, err := store.Take(ctx, t0, req); err != nil || d != allowed {
			t.Fatalf("Take after Migrate = %+v, %v; want allowed", d, err)
		}
	})
	t.Run("from version 1", func(t *testing.T) {
		dsn := pgtest.NewDatabase(t)
		pool := newPool(t, dsn, 0)
		if err := pgstore.MigrateTo(ctx, pool, 1); err != nil {
			t.Fatal(err)
		}
		if got := versionsRecorded(t, pool); !slices.Equal(got, schemaVersions[:1]) {
			t.Fatalf("versions recorded %q, want %q", got, schemaVersions[:1])
		}
		store := pgstore.New(pool)
		msg := func(m string) guard.Request {
			return guard.Request{Message: m, Remember: time.Hour, Takes: []guard.Take{take("A", time.Hour, 1, 1)}}
		}
		if d, err := store.Take(ctx, t0, msg("m1")); err != nil || d != allowed {
			t.Fatalf("Take at version 1 = %+v, %v; want allowed", d, err)
		}
		if d, err := store.Peek(ctx, t0, msg("m1")); err == nil {
			t.Fatalf("Peek at version 1 = %+v, nil error; want an error (no peek function yet)", d)
		}
		migrateAtOnce(t, dsn, 2)
		if got := versionsRecorded(t, pool); !slices.Equal(got, schemaVersions) {
			t.Errorf("versions recorded %q, want %q", got, schemaVersions)
		}
		// The cell and the admission version 1's Take made answer both.
		steps := []struct {
			name string
			call func(*pgstore.Store, context.Context, time.Time, guard.Request) (guard.Decision, error)
			req  guard.Request
			want guard.Decision
		}{
			{"peek m2", (*pgstore.Store).Peek, msg("m2"), refused(0, time.Hour-time.Second)},
			{"peek m1, remembered", (*pgstore.Store).Peek, msg("m1"), allowed},
			{"take m2", (*pgstore.Store).Take, msg("m2"), refused(0, time.Hour-time.Second)},
			{"take m1, remembered", (*pgstore.Store).Take, msg("m1"), allowed},
			{"take a new cell", (*pgstore.Store).Take, guard.Request{Takes: []guard.Take{take("B", time.Hour, 1, 1)}}, allowed},
			{"peek the new cell", (*pgstore.Store).Peek, guard.Request{Takes: []guard.Take{take("B", time.Hour, 1, 1)}}, refused(0, time.Hour)},
		}
		for _, s := range steps {
			if d, err := s.call(store, ctx, t0.Add(time.Second), s.req); err != nil || d != s.want {
				t.Errorf("%s after Migrate = %+v, %v; want %+v", s.name, d, err, s.want)
			}
		}
	})
}

// TestNotMigrated: a Store on a database Migrate did not prepare fails
// with an error.
func TestNotMigrated(t *testing.T) {
	store := pgstore.New(newPool(t, pgtest.NewDatabase(t), 0))
	if d, err := store.Take(context.Background(), t0, guard.Request{}); err == nil {
		t.Fatalf("Take = %+v, nil error; want an error", d)
	}
	if d, err := store.Peek(context.Background(), t0, guard.Request{}); err == nil {
		t.Fatalf("Peek = %+v, nil error; want an error", d)
	}
}
