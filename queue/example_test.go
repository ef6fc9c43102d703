package queue_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/queue"
	"github.com/smscourier/smscourier/queue/sqlitedb"
	"github.com/smscourier/smscourier/smstest"
)

// Example queues a message on SQLite and lets a worker send it to a local
// fake gateway. Queueing the same idempotency key again is a no-op.
func Example() {
	ctx := context.Background()
	gw := smstest.NewServer()
	defer gw.Close()
	courier, err := smscourier.New(smscourier.SMSConfig{
		Enabled: true,
		RequestConfig: smscourier.RequestConfig{
			URL:    gw.Endpoint("/v1/messages"),
			Method: "POST",
			Body:   "base64://" + base64.StdEncoding.EncodeToString([]byte(`function(ctx) { to: ctx.to, text: ctx.body }`)),
		},
	}, smscourier.WithoutRetries()) // River retries
	if err != nil {
		log.Fatal(err)
	}

	dir, err := os.MkdirTemp("", "smscourier-queue-example")
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
	client, err := queue.NewClient(riversqlite.New(db), queue.NewWorker(courier, queue.WorkerConfig{}),
		queue.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	completed, cancel := client.Subscribe(river.EventKindJobCompleted)
	defer cancel()
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)

	msg := smscourier.Message{To: "+14134242223", Body: "Your code is 123456", IdempotencyKey: "otp-7f3a"}
	if _, err := queue.Enqueue(ctx, client, msg, nil); err != nil {
		log.Fatal(err)
	}
	again, err := queue.Enqueue(ctx, client, msg, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("second enqueue skipped:", again.UniqueSkippedAsDuplicate)

	out, _ := queue.OutputOf((<-completed).Job)
	fmt.Println(out.Outcome, out.Status, out.To, out.IdempotencyKey)
	fmt.Println("requests at the gateway:", gw.Count())
	// Output:
	// second enqueue skipped: true
	// sent 201 ********2223 otp-7f3a
	// requests at the gateway: 1
}
