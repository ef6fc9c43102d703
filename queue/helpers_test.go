package queue

import (
	"context"
	"database/sql"
	"encoding/base64"
	"path/filepath"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"
	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/queue/sqlitedb"
	"github.com/smscourier/smscourier/smstest"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitLimit bounds every wait for River in the tests: far more than any
// scenario needs, so that only a real failure reaches it.
const waitLimit = 30 * time.Second

// bodyTemplate renders a JSON body with the recipient, the text and the
// idempotency key, so that the gateway's records can be counted per key.
const bodyTemplate = `function(ctx) { to: ctx.to, text: ctx.body, key: ctx.idempotency_key }`

// responseTemplate reads the smstest default reply {"id": "msg-N"} as the
// message id; other replies keep the class of their status.
const responseTemplate = `function(ctx) std.prune({
  message_id: if ctx.status >= 200 && ctx.status <= 299 && std.isObject(ctx.body) && std.objectHas(ctx.body, 'id') then ctx.body.id,
})`

func b64(s string) string { return "base64://" + base64.StdEncoding.EncodeToString([]byte(s)) }

// gatewayConfig returns an enabled courier config that sends JSON to gw.
func gatewayConfig(gw *smstest.Gateway) smscourier.SMSConfig {
	return gatewayConfigAt(gw.Endpoint("/v1/messages"))
}

// gatewayConfigAt returns an enabled courier config that sends JSON to the
// endpoint url.
func gatewayConfigAt(url string) smscourier.SMSConfig {
	return smscourier.SMSConfig{
		Enabled: true,
		From:    "+12065550110",
		RequestConfig: smscourier.RequestConfig{
			URL:      url,
			Method:   "POST",
			Body:     b64(bodyTemplate),
			Response: b64(responseTemplate),
		},
	}
}

// newCourier returns a courier sending to gw in one attempt per call, as
// recommended under the queue, with extra options after that.
func newCourier(t testing.TB, gw *smstest.Gateway, opts ...smscourier.Option) *smscourier.Courier {
	t.Helper()
	c, err := smscourier.New(gatewayConfig(gw), append([]smscourier.Option{smscourier.WithoutRetries()}, opts...)...)
	require.NoError(t, err)
	return c
}

// newDB opens a migrated SQLite database in a temporary directory, closed
// when the test ends.
func newDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sqlitedb.Open(context.Background(), filepath.Join(t.TempDir(), "queue.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	require.NoError(t, Migrate(context.Background(), riversqlite.New(db)))
	return db
}

// testConfig is the client config of the tests: defaults, and maintenance
// services that start at once.
func testConfig() Config {
	return Config{testOnly: true}
}

// harness is a worker client on a fresh SQLite database, with a
// subscription to its job events.
type harness struct {
	db     *sql.DB
	client *river.Client[*sql.Tx]
	events <-chan *river.Event
}

// newHarness builds a worker client for w on a new database; it is not
// started.
func newHarness(t testing.TB, w *Worker, cfg Config) *harness {
	t.Helper()
	h := &harness{db: newDB(t)}
	h.client = newClient(t, h.db, w, cfg)
	return h
}

// newClient builds a client on db, subscribed to nothing yet, and stops it
// (if it was started) when the test ends.
func newClient(t testing.TB, db *sql.DB, w *Worker, cfg Config) *river.Client[*sql.Tx] {
	t.Helper()
	client, err := NewClient(riversqlite.New(db), w, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		// Stop of a client that was never started returns at once.
		if err := client.Stop(ctx); err != nil {
			t.Errorf("stop River client: %v", err)
		}
	})
	return client
}

// start subscribes to the client's job events and starts it.
func (h *harness) start(t testing.TB) {
	t.Helper()
	events, cancel := h.client.SubscribeConfig(&river.SubscribeConfig{
		ChanSize: 10_000,
		Kinds:    []river.EventKind{river.EventKindJobCompleted, river.EventKindJobCancelled, river.EventKindJobFailed},
	})
	t.Cleanup(cancel)
	h.events = events
	require.NoError(t, h.client.Start(context.Background()))
}

// finalKinds are the events after which a job does not run again.
var finalKinds = map[river.EventKind]bool{
	river.EventKindJobCompleted: true,
	river.EventKindJobCancelled: true,
	river.EventKindJobFailed:    true, // discarded or retryable: see the job's state
}

// waitFinal waits until n jobs have reached a final event kind (completed,
// cancelled, or failed with no attempt left) and returns their events by
// job id. Snoozes and retries are skipped.
func (h *harness) waitFinal(t testing.TB, n int) map[int64]*river.Event {
	t.Helper()
	got := make(map[int64]*river.Event, n)
	limit := waitLimit + time.Duration(n)*10*time.Millisecond
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for len(got) < n {
		select {
		case ev := <-h.events:
			if !finalKinds[ev.Kind] {
				continue
			}
			if ev.Kind == river.EventKindJobFailed && ev.Job.State != rivertype.JobStateDiscarded {
				continue // to be retried
			}
			got[ev.Job.ID] = ev
		case <-deadline.C:
			t.Fatalf("%d of %d jobs finished within %s", len(got), n, limit)
		}
	}
	return got
}

// waitOne waits for the one job with id to finish and returns its row as
// the event reported it.
func (h *harness) waitOne(t testing.TB, id int64) *rivertype.JobRow {
	t.Helper()
	ev, ok := h.waitFinal(t, 1)[id]
	require.True(t, ok, "another job than %d finished", id)
	return ev.Job
}

// output returns the Output recorded on job, failing the test without one.
func output(t testing.TB, job *rivertype.JobRow) Output {
	t.Helper()
	out, ok := OutputOf(job)
	require.True(t, ok, "job %d has no output: metadata %s", job.ID, job.Metadata)
	return out
}

// keysAt counts the gateway's requests per idempotency key.
func keysAt(gw *smstest.Gateway) map[string]int {
	counts := map[string]int{}
	for _, r := range gw.Requests() {
		key, _ := r.JSONField("key").(string)
		counts[key]++
	}
	return counts
}

// message returns a test message with the given key.
func message(key string) smscourier.Message {
	return smscourier.Message{To: "+14134242223", Body: "Your code is 123456", IdempotencyKey: key}
}

// refusingEndpoint returns the endpoint of a gateway that refuses
// connections: nothing listens on its loopback port any more.
func refusingEndpoint() string {
	gw := smstest.NewServer()
	url := gw.Endpoint("/v1/messages")
	gw.Close()
	return url
}

// newRouter returns a Router that sends every message to the gateway named
// primary at primaryURL, then to the one named secondary at secondaryURL,
// built WithoutRetries as recommended under the queue, with extra options
// after that.
func newRouter(t testing.TB, primaryURL, secondaryURL string, breaker smscourier.BreakerConfig, opts ...smscourier.Option) *smscourier.Router {
	t.Helper()
	r, err := smscourier.NewRouter(smscourier.RoutingConfig{
		Gateways: map[string]smscourier.SMSConfig{
			"primary":   gatewayConfigAt(primaryURL),
			"secondary": gatewayConfigAt(secondaryURL),
		},
		Default: smscourier.Route{Gateways: []smscourier.RouteStep{{Gateway: "primary"}, {Gateway: "secondary"}}},
		Breaker: breaker,
	}, append([]smscourier.Option{smscourier.WithoutRetries()}, opts...)...)
	require.NoError(t, err)
	return r
}
