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
		benchTake(b, newPool(b, dsn, 1))
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
		n := benchTake(b, pool)
		b.ReportMetric(float64(counter.n.Load()-before)/float64(n), "roundtrips/op")
	})
}

// benchTake runs the benchmark loop on pool and returns the Takes made.
func benchTake(b *testing.B, pool *pgxpool.Pool) int {
	store := pgstore.New(pool)
	ctx := context.Background()
	run := strconv.FormatInt(time.Now().UnixNano(), 36) + "-" // new recipients in each run
	req := guard.Request{Remember: time.Minute, Takes: []guard.Take{
		{Interval: time.Minute, Burst: 1, Cost: 1},
		{Key: "prefix:+1206555", Interval: time.Microsecond, Burst: 1 << 20, Cost: 1},
		{Key: "country:US", Interval: time.Microsecond, Burst: 1 << 20, Cost: 1},
		{Key: "global:hour", Interval: time.Microsecond, Burst: 1 << 20, Cost: 1},
		{Key: "global:day", Interval: time.Microsecond, Burst: 1 << 20, Cost: 1},
	}}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		id := run + strconv.Itoa(n)
		req.Message, req.Takes[0].Key = "msg:"+id, "recipient:"+id
		d, err := store.Take(ctx, time.Now(), req)
		if err != nil || !d.Allowed {
			b.Fatalf("Take = %+v, %v", d, err)
		}
		n++
	}
	return n
}
