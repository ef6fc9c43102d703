package queue_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/queue"
	"github.com/smscourier/smscourier/queue/sqlitedb"
	"github.com/smscourier/smscourier/receipt"
	"github.com/smscourier/smscourier/smstest"
)

// ExampleTracker records a message's lifecycle on SQLite: a worker with a
// Tracker records its send and the gateway's message id, and the delivery
// receipt for that id (which a receipt.Handler hands to the Tracker, its
// Sink) delivers it.
func ExampleTracker() {
	ctx := context.Background()
	gw := smstest.NewServer() // replies {"id": "msg-1"}
	defer gw.Close()
	courier, err := smscourier.New(smscourier.SMSConfig{
		Enabled: true,
		RequestConfig: smscourier.RequestConfig{
			URL:      gw.Endpoint("/v1/messages"),
			Method:   "POST",
			Body:     "base64://" + base64.StdEncoding.EncodeToString([]byte(`function(ctx) { to: ctx.to, text: ctx.body }`)),
			Response: "base64://" + base64.StdEncoding.EncodeToString([]byte(`function(ctx) { message_id: ctx.body.id }`)),
		},
	}, smscourier.WithoutRetries())
	if err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "smscourier-tracker-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sqlitedb.Open(ctx, filepath.Join(dir, "queue.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := queue.Migrate(ctx, riversqlite.New(db)); err != nil {
		log.Fatal(err)
	}

	tracker, err := queue.NewTracker(db, queue.TrackerConfig{
		OnFinal: func(_ context.Context, r queue.DeliveryReport) {
			fmt.Println("final:", r.IdempotencyKey, r.State, r.CountryPrefix, r.Latency >= 0)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := tracker.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	client, err := queue.NewClient(riversqlite.New(db), queue.NewWorker(courier, queue.WorkerConfig{Tracker: tracker}),
		queue.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	completed, cancel := client.Subscribe(river.EventKindJobCompleted)
	defer cancel()

	msg := smscourier.Message{To: "+447700900123", Body: "Your code is 123456", IdempotencyKey: "otp-7f3a"}
	if _, err := queue.Enqueue(ctx, client, msg, nil); err != nil {
		log.Fatal(err)
	}
	lc, err := tracker.Lookup(ctx, "otp-7f3a")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(lc.State, lc.To)

	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)
	for ev := range completed {
		if ev.Job.Kind == queue.Kind {
			break
		}
	}
	lc, err = tracker.Lookup(ctx, "otp-7f3a")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(lc.State, lc.MessageID)

	// What a receipt.Handler does with the provider's callback.
	var sink receipt.Sink = tracker
	dlr := receipt.Receipt{Provider: "webhook", MessageID: "msg-1", Status: receipt.StatusDelivered, Time: time.Now()}
	if err := sink.Receive(ctx, []receipt.Receipt{dlr}); err != nil {
		log.Fatal(err)
	}
	lc, err = tracker.LookupMessageID(ctx, "msg-1")
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range lc.Steps {
		fmt.Print(s.State, " ")
	}
	fmt.Println()
	// Output:
	// queued *********0123
	// sent msg-1
	// final: otp-7f3a delivered +44 true
	// queued sending sent delivered
}
