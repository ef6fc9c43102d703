//go:build postgres

package pgtests

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/queue"
	"github.com/smscourier/smscourier/smstest"
)

// BenchmarkThroughputPostgres measures messages delivered per second through
// the queue on PostgreSQL (the throwaway cluster) to a loopback gateway,
// with Config's defaults: b.N messages queued with EnqueueMany in batches of
// 1,000 while the worker client runs, timed until the last job completed.
// Every message must be delivered exactly once. Run it with a fixed count,
// for example -benchtime 5000x.
func BenchmarkThroughputPostgres(b *testing.B) {
	dsn := freshDB(b)
	gw := smstest.New(b)
	in := startInstance(b, dsn, queue.NewWorker(courierFor(b, gw.URL()), queue.WorkerConfig{}), queue.Config{})
	msgs := make([]smscourier.Message, b.N)
	for i := range msgs {
		msgs[i] = message(fmt.Sprintf("bench-%07d", i))
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < len(msgs); i += 1000 {
		if _, err := queue.EnqueueMany(context.Background(), in.client, msgs[i:min(i+1000, len(msgs))], nil); err != nil {
			b.Fatal(err)
		}
	}
	waitFinal(b, b.N, in)
	elapsed := time.Since(start)
	b.StopTimer()
	counts := keysAt(gw)
	if len(counts) != b.N || gw.Count() != b.N {
		b.Fatalf("%d requests for %d keys, want %d each once", gw.Count(), len(counts), b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}
