package pgstore_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smscourier/smscourier/guard"
	"github.com/smscourier/smscourier/guard/pgstore"
)

// secretPassword is in every DSN of these tests; no error may show it.
const secretPassword = "s3cret-Passw0rd"

// poolTo returns a pool (connecting lazily) to addr with secretPassword in
// its DSN.
func poolTo(t *testing.T, addr string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(),
		"postgres://guard:"+secretPassword+"@"+addr+"/guard?sslmode=disable&connect_timeout=30")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// silentServer returns the address of a listener that accepts connections
// and never answers, as a server stuck or behind a dropped route does.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return l.Addr().String()
}

// ops are the Store's two methods that answer a Request.
var ops = []struct {
	name string
	call func(*pgstore.Store, context.Context, time.Time, guard.Request) (guard.Decision, error)
}{
	{"Take", (*pgstore.Store).Take},
	{"Peek", (*pgstore.Store).Peek},
}

var oneTake = guard.Request{
	Message:  "m",
	Remember: time.Minute,
	Takes:    []guard.Take{{Key: "k", Interval: time.Second, Burst: 1, Cost: 1}},
}

// TestUnreachable: a Take or Peek against a server that cannot be reached
// fails promptly (within the context's deadline or the Store's timeout),
// wraps the cause, and never shows the DSN's password.
func TestUnreachable(t *testing.T) {
	cases := []struct {
		name    string
		addr    func(*testing.T) string
		ctxWait time.Duration // 0: no deadline on the context
		opts    []pgstore.Option
		wantIs  error
		within  time.Duration
	}{
		{name: "closed port", addr: closedPort, within: 2 * time.Second},
		{name: "silent server, context deadline", addr: silentServer, ctxWait: 100 * time.Millisecond,
			wantIs: context.DeadlineExceeded, within: 1500 * time.Millisecond},
		{name: "silent server, store timeout", addr: silentServer,
			opts:   []pgstore.Option{pgstore.WithTimeout(150 * time.Millisecond)},
			wantIs: context.DeadlineExceeded, within: 1500 * time.Millisecond},
	}
	for _, op := range ops {
		for _, tc := range cases {
			t.Run(op.name+"/"+tc.name, func(t *testing.T) {
				store := pgstore.New(poolTo(t, tc.addr(t)), tc.opts...)
				ctx := context.Background()
				if tc.ctxWait > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.ctxWait)
					defer cancel()
				}
				start := time.Now()
				d, err := op.call(store, ctx, time.Now(), oneTake)
				elapsed := time.Since(start)
				if err == nil {
					t.Fatalf("%s = %+v, nil error; want an error", op.name, d)
				}
				if elapsed > tc.within {
					t.Errorf("%s took %v, want at most %v", op.name, elapsed, tc.within)
				}
				if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
					t.Errorf("error %v, want one wrapping %v", err, tc.wantIs)
				}
				msg := err.Error()
				if strings.Contains(msg, secretPassword) {
					t.Errorf("error shows the password: %s", msg)
				}
				if want := "smscourier/guard/pgstore: " + strings.ToLower(op.name) + ": "; !strings.HasPrefix(msg, want) {
					t.Errorf("error %q lacks the prefix %q", msg, want)
				}
				if d != (guard.Decision{}) {
					t.Errorf("decision with the error = %+v, want the zero Decision", d)
				}
			})
		}
	}
}

// TestInvalidTake: a take the store cannot evaluate is an error of Take
// and of Peek, found before anything is sent (the pool points at a closed
// port).
func TestInvalidTake(t *testing.T) {
	cases := []struct {
		name string
		take guard.Take
		want string
	}{
		{"burst 0", guard.Take{Key: "k", Interval: time.Second, Burst: 0, Cost: 1}, "take 1: burst 0"},
		{"cost 0", guard.Take{Key: "k", Interval: time.Second, Burst: 1, Cost: 0}, "take 1: cost 0"},
		{"negative interval", guard.Take{Key: "k", Interval: -time.Second, Burst: 1, Cost: 1}, "take 1: interval -1s"},
		{"zero interval", guard.Take{Key: "k", Burst: 1, Cost: 1}, "take 1: interval 0s"},
		{"burst times interval overflows", guard.Take{Key: "k", Interval: time.Hour, Burst: 1 << 40, Cost: 1}, "too long"},
		{"cost times interval overflows", guard.Take{Key: "k", Interval: time.Hour, Burst: 1, Cost: 1 << 40}, "too long"},
	}
	store := pgstore.New(poolTo(t, closedPort(t)))
	for _, op := range ops {
		for _, tc := range cases {
			t.Run(op.name+"/"+tc.name, func(t *testing.T) {
				req := guard.Request{Takes: []guard.Take{oneTake.Takes[0], tc.take}}
				_, err := op.call(store, context.Background(), time.Now(), req)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("%s error = %v, want one containing %q", op.name, err, tc.want)
				}
				if strings.Contains(err.Error(), "connect") {
					t.Errorf("error %v: the request was sent", err)
				}
			})
		}
	}
}
