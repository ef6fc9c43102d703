package queue

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/smstest"
)

// BenchmarkThroughputSQLite measures messages delivered per second through
// the queue on SQLite (a file in a temporary directory, as sqlitedb.Open opens
// it) to a loopback gateway, with Config's defaults and a courier whose
// template takes the fast path (no go-jsonnet):
//
//   - drain: b.N messages queued with EnqueueMany before the worker client
//     starts; timed from Start until the last job completed;
//   - live: the worker client running, b.N messages queued in batches of
//     100; timed from the first enqueue until the last job completed.
//
// Each run checks that every message was delivered exactly once. Run it
// with a fixed count, for example -benchtime 2000x.
func BenchmarkThroughputSQLite(b *testing.B) {
	b.Run("drain", func(b *testing.B) {
		gw := smstest.New(b)
		h := newHarness(b, NewWorker(benchCourier(b, gw), WorkerConfig{}), testConfig())
		msgs := benchMessages(b.N)
		for batch := range chunks(msgs, 1000) {
			if _, err := EnqueueMany(context.Background(), h.client, batch, nil); err != nil {
				b.Fatal(err)
			}
		}
		b.ResetTimer()
		start := time.Now()
		h.start(b)
		h.waitFinal(b, b.N)
		report(b, gw, start)
	})
	b.Run("live", func(b *testing.B) {
		gw := smstest.New(b)
		h := newHarness(b, NewWorker(benchCourier(b, gw), WorkerConfig{}), testConfig())
		h.start(b)
		msgs := benchMessages(b.N)
		b.ResetTimer()
		start := time.Now()
		for batch := range chunks(msgs, 100) {
			if _, err := EnqueueMany(context.Background(), h.client, batch, nil); err != nil {
				b.Fatal(err)
			}
		}
		h.waitFinal(b, b.N)
		report(b, gw, start)
	})
}

// benchCourier sends to gw with the body template alone, which the courier
// renders without go-jsonnet, so that the figure is the queue's.
func benchCourier(b *testing.B, gw *smstest.Gateway) *smscourier.Courier {
	cfg := gatewayConfig(gw)
	cfg.RequestConfig.Response = ""
	c, err := smscourier.New(cfg, smscourier.WithoutRetries())
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func benchMessages(n int) []smscourier.Message {
	msgs := make([]smscourier.Message, n)
	for i := range msgs {
		msgs[i] = message(fmt.Sprintf("bench-%d", i))
	}
	return msgs
}

// chunks yields msgs in slices of at most size.
func chunks(msgs []smscourier.Message, size int) func(func([]smscourier.Message) bool) {
	return func(yield func([]smscourier.Message) bool) {
		for len(msgs) > 0 {
			n := min(size, len(msgs))
			if !yield(msgs[:n]) {
				return
			}
			msgs = msgs[n:]
		}
	}
}

// report checks that each message was delivered once and reports the rate.
func report(b *testing.B, gw *smstest.Gateway, start time.Time) {
	elapsed := time.Since(start)
	b.StopTimer()
	counts := keysAt(gw)
	if len(counts) != b.N || gw.Count() != b.N {
		b.Fatalf("%d requests for %d distinct keys, want %d of each", gw.Count(), len(counts), b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(0, "ns/op") // the rate is the figure; ns/op repeats it
}
