//go:build postgres

// Package pgtests runs the queue's scenarios against a real PostgreSQL: a
// throwaway cluster started by internal/pgtest (or the server named by
// SMSCOURIER_TEST_POSTGRES_DSN).
package pgtests

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/internal/pgtest"
	"github.com/smscourier/smscourier/queue"
	"github.com/smscourier/smscourier/smstest"
)

// Environment of the re-executed test binary that plays a worker process
// killed mid-send.
const (
	envKillWorkerDSN = "SMSCOURIER_PGTESTS_WORKER_DSN"
	envKillWorkerGW  = "SMSCOURIER_PGTESTS_WORKER_GATEWAY"
)

func TestMain(m *testing.M) {
	if dsn := os.Getenv(envKillWorkerDSN); dsn != "" {
		runDoomedWorker(dsn, os.Getenv(envKillWorkerGW))
		return
	}
	pgtest.Main(m)
}

const waitLimit = 60 * time.Second

const bodyTemplate = `function(ctx) { to: ctx.to, text: ctx.body, key: ctx.idempotency_key }`

func b64(s string) string { return "base64://" + base64.StdEncoding.EncodeToString([]byte(s)) }

func courierFor(t testing.TB, gatewayURL string, opts ...smscourier.Option) *smscourier.Courier {
	t.Helper()
	c, err := smscourier.New(smscourier.SMSConfig{
		Enabled: true,
		From:    "+12065550110",
		RequestConfig: smscourier.RequestConfig{
			URL: gatewayURL + "/v1/messages", Method: "POST", Body: b64(bodyTemplate),
		},
	}, append([]smscourier.Option{smscourier.WithoutRetries()}, opts...)...)
	require.NoError(t, err)
	return c
}

// newPool opens a pool on a fresh, migrated database.
func newPool(t testing.TB, dsn string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

func freshDB(t testing.TB) string {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	defer pool.Close()
	require.NoError(t, queue.Migrate(context.Background(), riverpgxv5.New(pool)))
	return dsn
}

// instance is one "service instance": its own pool and River client.
type instance struct {
	client *river.Client[pgx.Tx]
	events <-chan *river.Event
}

func startInstance(t testing.TB, dsn string, w *queue.Worker, cfg queue.Config) *instance {
	t.Helper()
	client, err := queue.NewClient(riverpgxv5.New(newPool(t, dsn)), w, cfg)
	require.NoError(t, err)
	in := &instance{client: client}
	if w != nil {
		events, cancel := client.SubscribeConfig(&river.SubscribeConfig{
			ChanSize: 10_000,
			Kinds:    []river.EventKind{river.EventKindJobCompleted, river.EventKindJobCancelled, river.EventKindJobFailed},
		})
		t.Cleanup(cancel)
		in.events = events
		require.NoError(t, client.Start(context.Background()))
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := client.Stop(ctx); err != nil {
			t.Errorf("stop River client: %v", err)
		}
	})
	return in
}

// waitFinal collects final events (completed, cancelled, discarded) from the
// instances until n jobs are final.
func waitFinal(t testing.TB, n int, ins ...*instance) map[int64]*rivertype.JobRow {
	t.Helper()
	var mu sync.Mutex
	got := map[int64]*rivertype.JobRow{}
	done := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	var wg sync.WaitGroup
	for _, in := range ins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case ev := <-in.events:
					if ev.Kind == river.EventKindJobFailed && ev.Job.State != rivertype.JobStateDiscarded {
						continue
					}
					mu.Lock()
					got[ev.Job.ID] = ev.Job
					if len(got) == n {
						close(done)
					}
					mu.Unlock()
				case <-done:
					return
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, n, "jobs final within %s", waitLimit)
	return got
}

func message(key string) smscourier.Message {
	return smscourier.Message{To: "+14134242223", Body: "Your code is 123456", IdempotencyKey: key}
}

func keysAt(gw *smstest.Gateway) map[string]int {
	counts := map[string]int{}
	for _, r := range gw.Requests() {
		key, _ := r.JSONField("key").(string)
		counts[key]++
	}
	return counts
}

// snoozesOf returns how often River snoozed job: the "snoozes" count River
// keeps in the job's metadata (absent: 0).
func snoozesOf(t testing.TB, job *rivertype.JobRow) int {
	t.Helper()
	var md struct {
		Snoozes int `json:"snoozes"`
	}
	require.NoError(t, json.Unmarshal(job.Metadata, &md), "metadata %s", job.Metadata)
	return md.Snoozes
}

func outputOf(t testing.TB, job *rivertype.JobRow) queue.Output {
	t.Helper()
	out, ok := queue.OutputOf(job)
	require.True(t, ok, "job %d has no output", job.ID)
	return out
}

// TestTwoInstancesDeliverEachMessageOnce: two River clients (two service
// instances) share one database; 1,000 messages are each delivered once.
func TestTwoInstancesDeliverEachMessageOnce(t *testing.T) {
	dsn := freshDB(t)
	gw := smstest.New(t)
	c := courierFor(t, gw.URL())
	a := startInstance(t, dsn, queue.NewWorker(c, queue.WorkerConfig{}), queue.Config{})
	b := startInstance(t, dsn, queue.NewWorker(c, queue.WorkerConfig{}), queue.Config{})

	const n = 1000
	msgs := make([]smscourier.Message, n)
	for i := range msgs {
		msgs[i] = message(fmt.Sprintf("two-instances-%04d", i))
	}
	for i := 0; i < n; i += 250 {
		_, err := queue.EnqueueMany(context.Background(), a.client, msgs[i:i+250], nil)
		require.NoError(t, err)
	}
	jobs := waitFinal(t, n, a, b)
	for _, job := range jobs {
		require.Equal(t, rivertype.JobStateCompleted, job.State)
	}
	counts := keysAt(gw)
	require.Len(t, counts, n)
	for key, c := range counts {
		require.Equal(t, 1, c, "deliveries of %s", key)
	}
	assert.Equal(t, n, gw.Count())
}

func TestScenarios(t *testing.T) {
	for _, tc := range []struct {
		name      string
		script    []smstest.Reply
		msg       smscourier.Message
		opts      []smscourier.Option
		twice     bool
		wantState rivertype.JobState
		wantDeliv int // requests at the gateway
		wantOut   string
		// wantAttempt is the job's final attempt number: snoozes use up
		// none, River's retries one each.
		wantAttempt int
		wantSnoozes int           // River's snooze count in the job's metadata
		wantGap     time.Duration // least time between the first two requests
	}{
		{name: "the same message enqueued twice", twice: true, wantState: rivertype.JobStateCompleted, wantDeliv: 1, wantOut: queue.OutcomeSent, wantAttempt: 1},
		{
			// Snoozed, not retried: the 201 comes on attempt 1, after the
			// wait the gateway asked for.
			name:      "503 with Retry-After 1, then 201",
			script:    []smstest.Reply{{Status: 503, RetryAfter: "1"}, {Status: 201}},
			wantState: rivertype.JobStateCompleted, wantDeliv: 2, wantOut: queue.OutcomeSent,
			wantAttempt: 1, wantSnoozes: 1, wantGap: time.Second,
		},
		{name: "4xx is cancelled after one attempt", script: []smstest.Reply{{Status: 400}}, wantState: rivertype.JobStateCancelled, wantDeliv: 1, wantOut: queue.OutcomeCancelled, wantAttempt: 1},
		{
			name:      "outcome unknown without an idempotency header",
			script:    []smstest.Reply{{Reset: true}},
			wantState: rivertype.JobStateCancelled, wantDeliv: 1, wantOut: queue.OutcomeMaybeDelivered, wantAttempt: 1,
		},
		{
			name:      "outcome unknown with an idempotency header is retried",
			script:    []smstest.Reply{{Reset: true}, {Status: 201}},
			opts:      []smscourier.Option{smscourier.WithIdempotencyKeyHeader("Idempotency-Key")},
			wantState: rivertype.JobStateCompleted, wantDeliv: 2, wantOut: queue.OutcomeSent, wantAttempt: 2,
		},
		{
			name:      "an expired NotAfter",
			msg:       smscourier.Message{To: "+14134242223", Body: "late", NotAfter: time.Now().Add(-time.Minute)},
			wantState: rivertype.JobStateCancelled, wantDeliv: 0, wantOut: queue.OutcomeCancelled, wantAttempt: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := freshDB(t)
			gw := smstest.New(t)
			if tc.script != nil {
				gw.Script(tc.script...)
			}
			in := startInstance(t, dsn, queue.NewWorker(courierFor(t, gw.URL(), tc.opts...), queue.WorkerConfig{}), queue.Config{})
			msg := tc.msg
			if msg.To == "" {
				msg = message("scenario-key")
			}
			res, err := queue.Enqueue(context.Background(), in.client, msg, nil)
			require.NoError(t, err)
			if tc.twice {
				again, err := queue.Enqueue(context.Background(), in.client, msg, nil)
				require.NoError(t, err)
				assert.True(t, again.UniqueSkippedAsDuplicate)
				assert.Equal(t, res.Job.ID, again.Job.ID)
			}
			job := waitFinal(t, 1, in)[res.Job.ID]
			require.NotNil(t, job)
			assert.Equal(t, tc.wantState, job.State)
			out := outputOf(t, job)
			assert.Equal(t, tc.wantOut, out.Outcome)
			if tc.wantState == rivertype.JobStateCancelled {
				assert.NotEmpty(t, out.Reason, "reason recorded")
			}
			assert.Equal(t, tc.wantAttempt, job.Attempt, "attempts")
			assert.Equal(t, tc.wantAttempt, out.JobAttempt, "the attempt that recorded the output")
			assert.Equal(t, tc.wantSnoozes, snoozesOf(t, job), "snoozes; metadata %s", job.Metadata)
			if tc.wantOut == queue.OutcomeSent {
				assert.Equal(t, 1, out.Attempts, "the last attempt delivered with one request")
				assert.Equal(t, 201, out.Status)
			}
			reqs := gw.Requests()
			assert.Len(t, reqs, tc.wantDeliv, "requests at the gateway")
			if tc.wantGap > 0 && len(reqs) >= 2 {
				assert.GreaterOrEqual(t, reqs[1].Time.Sub(reqs[0].Time), tc.wantGap, "the second request waited")
			}
			for _, r := range reqs {
				assert.Equal(t, msg.IdempotencyKey, r.JSONField("key"), "the same key on every delivery")
			}
		})
	}
}

// runDoomedWorker is the body of the re-executed test binary: a worker
// process that sends the queued message to a gateway that never answers,
// and is killed there by the test.
func runDoomedWorker(dsn, gatewayURL string) {
	c, err := smscourier.New(smscourier.SMSConfig{
		Enabled: true,
		RequestConfig: smscourier.RequestConfig{
			URL: gatewayURL + "/v1/messages", Method: "POST", Body: b64(bodyTemplate),
		},
	}, smscourier.WithoutRetries(), smscourier.WithIdempotencyKeyHeader("Idempotency-Key"),
		smscourier.WithHTTPClient(&http.Client{}))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	client, err := queue.NewClient(riverpgxv5.New(pool), queue.NewWorker(c, queue.WorkerConfig{}), queue.Config{})
	if err == nil {
		err = client.Start(context.Background())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	select {} // until killed
}

// TestWorkerKilledMidSend: a worker process is killed with SIGKILL while
// its request is at the gateway; River rescues the job and another instance
// delivers it with the same idempotency key.
//
// Two waits of River's are cut short, so that the test takes a few seconds
// rather than half a minute: the dead process's leadership lease (up to
// 15 s) is ended by deleting it, as its expiry would, and the job is made to
// have been running for a minute, past the survivor's 2 s rescue window, so
// that the rescuer's first run on the survivor, at once when it becomes
// leader, finds it stuck (its next run is 30 s later).
func TestWorkerKilledMidSend(t *testing.T) {
	dsn := freshDB(t)
	gw := smstest.New(t)
	gw.Script(smstest.Reply{Delay: time.Hour}, smstest.Reply{Status: 201})

	inserter := startInstance(t, dsn, nil, queue.Config{})
	res, err := queue.Enqueue(context.Background(), inserter.client, message("killed-mid-send"), nil)
	require.NoError(t, err)

	self, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), envKillWorkerDSN+"="+dsn, envKillWorkerGW+"="+gw.URL())
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	require.Eventually(t, func() bool { return gw.Count() == 1 }, waitLimit, 10*time.Millisecond, "the doomed worker's request reached the gateway")
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()

	db := newPool(t, dsn)
	tag, err := db.Exec(context.Background(), `UPDATE river_job SET attempted_at = now() - interval '1 minute' WHERE id = $1 AND state = 'running'`, res.Job.ID)
	require.NoError(t, err)
	require.EqualValues(t, 1, tag.RowsAffected(), "the doomed worker's job is running")
	_, err = db.Exec(context.Background(), `DELETE FROM river_leader`)
	require.NoError(t, err)

	// A survivor with a short rescue window takes the stuck job over.
	c := courierFor(t, gw.URL(), smscourier.WithIdempotencyKeyHeader("Idempotency-Key"))
	survivor := startInstance(t, dsn, queue.NewWorker(c, queue.WorkerConfig{}),
		queue.Config{JobTimeout: time.Second, RescueStuckJobsAfter: 2 * time.Second})
	job := waitFinal(t, 1, survivor)[res.Job.ID]
	require.NotNil(t, job)
	assert.Equal(t, rivertype.JobStateCompleted, job.State)
	require.Equal(t, 2, gw.Count())
	reqs := gw.Requests()
	assert.Equal(t, reqs[0].Header.Get("Idempotency-Key"), reqs[1].Header.Get("Idempotency-Key"))
	assert.Equal(t, "killed-mid-send", reqs[1].Header.Get("Idempotency-Key"))
}
