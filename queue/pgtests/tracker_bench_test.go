//go:build postgres

package pgtests

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/queue"
	"github.com/smscourier/smscourier/receipt"
)

// benchConns is the pool size of the receipt benchmarks: one connection
// per concurrent callback they run (b.SetParallelism(8) on two cores).
const benchConns = 16

// benchTracker returns a Tracker on a fresh database whose pool holds
// benchConns connections, with n messages recorded as sent under the ids
// "bm-0" to "bm-<n-1>", and a counter of its reports.
func benchTracker(b *testing.B, n int) (*queue.Tracker, *atomic.Int64) {
	b.Helper()
	dsn := freshDB(b)
	cfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(b, err)
	cfg.MaxConns = benchConns
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(b, err)
	b.Cleanup(pool.Close)
	db := stdlib.OpenDBFromPool(pool)
	b.Cleanup(func() { _ = db.Close() })
	var reported atomic.Int64
	tr, err := queue.NewTracker(db, queue.TrackerConfig{
		Retention: -1,
		OnFinal:   func(context.Context, queue.DeliveryReport) { reported.Add(1) },
	})
	require.NoError(b, err)
	require.NoError(b, tr.Migrate(context.Background()))
	_, err = db.Exec(`INSERT INTO smscourier_messages (idempotency_key, job_id, state, to_masked, country_prefix, gateway, message_id, queued_at, sending_at, sent_at, updated_at)
SELECT 'bk-' || i, i, 'sent', '********2223', '+1', 'gw', 'bm-' || i, now(), now(), now(), now() FROM generate_series(0, $1 - 1) i`, n)
	require.NoError(b, err)
	_, err = db.Exec(`INSERT INTO smscourier_deliveries (message_id, idempotency_key, gateway, country_prefix, to_masked, queued_at, sent_at, updated_at)
SELECT 'bm-' || i, 'bk-' || i, 'gw', '+1', '********2223', now(), now(), now() FROM generate_series(0, $1 - 1) i`, n)
	require.NoError(b, err)
	_, err = db.Exec(`ANALYZE`)
	require.NoError(b, err)
	return tr, &reported
}

// BenchmarkTrackerReceivePostgres measures receipts stored per second by
// Tracker.Receive on PostgreSQL (the throwaway cluster): b.N callbacks of
// one final receipt each, for b.N messages recorded as sent, from 8
// goroutines per CPU; each must deliver its message, reported once. Run
// it with a fixed count, for example -benchtime 20000x.
func BenchmarkTrackerReceivePostgres(b *testing.B) {
	tr, reported := benchTracker(b, b.N)
	var next atomic.Int64
	now := time.Now()
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := "bm-" + strconv.FormatInt(next.Add(1)-1, 10)
			r := receipt.Receipt{Provider: "twilio", MessageID: id, Status: receipt.StatusDelivered, ProviderStatus: "delivered",
				Time: now, Raw: receipt.Raw(`MessageSid=` + id + `&MessageStatus=delivered`)}
			if err := tr.Receive(context.Background(), []receipt.Receipt{r}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if got := reported.Load(); got != int64(b.N) {
		b.Fatalf("%d messages reported, want %d", got, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "receipts/s")
}

// BenchmarkReceiptHandlerPostgres measures signed receipt callbacks
// handled per second end to end: loopback HTTP POSTs from 8 goroutines per
// CPU to a receipt.Handler of the webhook preset's Verifier
// (receipt.Webhook), which checks each one's HMAC-SHA256 signature and
// timestamp, and stores it with a Tracker on PostgreSQL. Each must be answered 200
// and deliver its message, reported once. Run it with a fixed count, for
// example -benchtime 20000x.
func BenchmarkReceiptHandlerPostgres(b *testing.B) {
	tr, reported := benchTracker(b, b.N)
	const secret = smscourier.Secret("receipt-signing-secret-0123")
	v, err := receipt.Webhook(secret, receipt.WebhookOptions{})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(receipt.NewHandler(v, tr))
	b.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	b.Cleanup(client.CloseIdleConnections)
	var next atomic.Int64
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := []byte(`{"message_id":"bm-` + strconv.FormatInt(next.Add(1)-1, 10) + `","status":"delivered"}`)
			req, err := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			req.Header.Set(receipt.WebhookSignatureHeader, receipt.SignWebhook(secret, body, time.Now()))
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if got := reported.Load(); got != int64(b.N) {
		b.Fatalf("%d messages reported, want %d", got, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "receipts/s")
}

// BenchmarkThroughputTrackedPostgres is BenchmarkThroughputPostgres with a
// Tracker on the worker: the cost of recording each message's sending and
// sent. Every message must be recorded sent. Run it with a fixed count,
// for example -benchtime 5000x.
func BenchmarkThroughputTrackedPostgres(b *testing.B) {
	dsn := freshDB(b)
	_, c := idGateway(b)
	tr, _ := newTracker(b, dsn, queue.TrackerConfig{Retention: -1})
	in := startInstance(b, dsn, queue.NewWorker(c, queue.WorkerConfig{Tracker: tr}), queue.Config{})
	msgs := make([]smscourier.Message, b.N)
	for i := range msgs {
		msgs[i] = message(fmt.Sprintf("tracked-%07d", i))
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
	var sent int
	require.NoError(b, stdlib.OpenDBFromPool(newPool(b, dsn)).QueryRow(`SELECT count(*) FROM smscourier_messages WHERE state = 'sent'`).Scan(&sent))
	if sent != b.N {
		b.Fatalf("%d messages recorded sent, want %d", sent, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}
