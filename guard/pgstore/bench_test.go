//go:build postgres

package pgstore_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smscourier/smscourier/guard"
	"github.com/smscourier/smscourier/guard/pgstore"
)

// BenchmarkTake measures one Take of an OTP send: five takes (a new
// recipient's cooldown, its prefix, its country, hourly and daily global
// budgets) and a remembered admission, against the throwaway cluster on
// loopback. "direct" is the figure; "counted" goes through a proxy that
// counts round trips and reports them per Take (roundtrips/op);
// "baseline" is the cheapest round trip, SELECT $1::int on a pool of one
// connection like "direct"'s, to compare with.
func BenchmarkTake(b *testing.B) {
	dsn := migratedDB(b)
	b.Run("direct", func(b *testing.B) {
		bench(b, newPool(b, dsn, 1), (*pgstore.Store).Take)
	})
	b.Run("baseline", func(b *testing.B) {
		pool := newPool(b, dsn, 1)
		var x int
		b.ReportAllocs()
		for b.Loop() {
			if err := pool.QueryRow(context.Background(), "SELECT $1::int", pgx.QueryExecModeExec, 1).Scan(&x); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("counted", func(b *testing.B) {
		pool, counter := countedPool(b, dsn)
		before := counter.n.Load()
		n := bench(b, pool, (*pgstore.Store).Take)
		b.ReportMetric(float64(counter.n.Load()-before)/float64(n), "roundtrips/op")
	})
}

// BenchmarkPeek measures one Peek of BenchmarkTake's OTP send, as
// Guard.Check makes it before the send: the cells of the prefix, the
// country and the budgets exist, the recipient's cooldown and the message
// are new. "direct" and "counted" are BenchmarkTake's.
func BenchmarkPeek(b *testing.B) {
	dsn := migratedDB(b)
	if d, err := pgstore.New(newPool(b, dsn, 1)).Take(context.Background(), time.Now(), otpSend("warm-up")); err != nil || !d.Allowed {
		b.Fatalf("Take = %+v, %v", d, err)
	}
	b.Run("direct", func(b *testing.B) {
		bench(b, newPool(b, dsn, 1), (*pgstore.Store).Peek)
	})
	b.Run("counted", func(b *testing.B) {
		pool, counter := countedPool(b, dsn)
		before := counter.n.Load()
		n := bench(b, pool, (*pgstore.Store).Peek)
		b.ReportMetric(float64(counter.n.Load()-before)/float64(n), "roundtrips/op")
	})
}

// otpSend is the Request of an OTP send to a new recipient: five takes (the
// recipient's cooldown, its prefix, its country, hourly and daily global
// budgets) and a remembered admission. id names the recipient and the
// message: setID gives them another.
func otpSend(id string) guard.Request {
	req := guard.Request{Remember: time.Minute, Takes: []guard.Take{
		{Interval: time.Minute, Burst: 1, Cost: 1},
		{Key: "prefix:+1206555", Interval: time.Microsecond, Burst: 1 << 20, Cost: 1},
		{Key: "country:US", Interval: time.Microsecond, Burst: 1 << 20, Cost: 1},
		{Key: "global:hour", Interval: time.Microsecond, Burst: 1 << 20, Cost: 1},
		{Key: "global:day", Interval: time.Microsecond, Burst: 1 << 20, Cost: 1},
	}}
	setID(&req, id)
	return req
}

// setID makes req, an otpSend, a send of message id to recipient id.
func setID(req *guard.Request, id string) {
	req.Message, req.Takes[0].Key = "msg:"+id, "recipient:"+id
}

// bench runs the benchmark loop of call (Take or Peek) on pool, each time
// an otpSend to a new recipient, and returns the calls made.
func bench(b *testing.B, pool *pgxpool.Pool, call func(*pgstore.Store, context.Context, time.Time, guard.Request) (guard.Decision, error)) int {
	store := pgstore.New(pool)
	ctx := context.Background()
	run := strconv.FormatInt(time.Now().UnixNano(), 36) + "-" // new recipients in each run
	req := otpSend(run)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		setID(&req, run+strconv.Itoa(n))
		d, err := call(store, ctx, time.Now(), req)
		if err != nil || !d.Allowed {
			b.Fatalf("call %d = %+v, %v", n, d, err)
		}
		n++
	}
	return n
}
