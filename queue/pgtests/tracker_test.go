//go:build postgres

package pgtests

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/queue"
	"github.com/smscourier/smscourier/receipt"
	"github.com/smscourier/smscourier/smstest"
)

// idResponse reads the gateway's {"id": ...} as the message id.
const idResponse = `function(ctx) std.prune({
  message_id: if ctx.status >= 200 && ctx.status <= 299 && std.isObject(ctx.body) && std.objectHas(ctx.body, 'id') then ctx.body.id,
})`

// idGateway is a gateway that accepts every message under the id
// "id-"+its idempotency key, and a courier sending to it.
func idGateway(t testing.TB) (*smstest.Gateway, *smscourier.Courier) {
	t.Helper()
	gw := smstest.New(t)
	gw.Respond(func(r smstest.Request) smstest.Reply {
		key, _ := r.JSONField("key").(string)
		return smstest.Reply{Status: 201, Body: `{"id":"id-` + key + `"}`}
	})
	c, err := smscourier.New(smscourier.SMSConfig{
		Enabled: true,
		From:    "+12065550110",
		RequestConfig: smscourier.RequestConfig{
			URL: gw.URL() + "/v1/messages", Method: "POST", Body: b64(bodyTemplate), Response: b64(idResponse),
		},
	}, smscourier.WithoutRetries())
	require.NoError(t, err)
	return gw, c
}

// reportLog collects a Tracker's reports.
type reportLog struct {
	mu  sync.Mutex
	got []queue.DeliveryReport
}

func (l *reportLog) add(_ context.Context, r queue.DeliveryReport) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, r)
}

func (l *reportLog) all() []queue.DeliveryReport {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]queue.DeliveryReport(nil), l.got...)
}

func (l *reportLog) byKey() map[string]int {
	counts := map[string]int{}
	for _, r := range l.all() {
		counts[r.IdempotencyKey]++
	}
	return counts
}

// sqlDB is a database/sql view of a new pool on dsn, as an application
// that shares River's pool makes it.
func sqlDB(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db := stdlib.OpenDBFromPool(newPool(t, dsn))
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	return db
}

// newTracker returns a migrated Tracker on dsn, its dialect found from the
// driver, reporting to a new reportLog.
func newTracker(t testing.TB, dsn string, cfg queue.TrackerConfig) (*queue.Tracker, *reportLog) {
	t.Helper()
	log := &reportLog{}
	cfg.OnFinal = log.add
	tr, err := queue.NewTracker(sqlDB(t, dsn), cfg)
	require.NoError(t, err)
	require.Equal(t, queue.DialectPostgres, tr.Dialect())
	require.NoError(t, tr.Migrate(context.Background()))
	return tr, log
}

func dlr(messageID string, s receipt.Status, code string, at time.Time) receipt.Receipt {
	return receipt.Receipt{Provider: "twilio", MessageID: messageID, Status: s, ProviderStatus: string(s) + "!",
		ErrorCode: code, Time: at, Raw: receipt.Raw(`{"MessageSid":"` + messageID + `"}`)}
}

// sendOne queues the message with key and waits until its job ends.
func sendOne(t testing.TB, in *instance, key string) {
	t.Helper()
	_, err := queue.Enqueue(context.Background(), in.client, message(key), nil)
	require.NoError(t, err)
	for _, job := range waitFinal(t, 1, in) {
		require.Equal(t, rivertype.JobStateCompleted, job.State)
	}
}

// TestTrackerPostgresWorker: on PostgreSQL, a worker with a Tracker
// records queued, sending and sent; a receipt delivers the message, once.
func TestTrackerPostgresWorker(t *testing.T) {
	dsn := freshDB(t)
	gw, c := idGateway(t)
	tr, reports := newTracker(t, dsn, queue.TrackerConfig{Retention: -1})
	inserter := startInstance(t, dsn, nil, queue.Config{})
	res, err := queue.Enqueue(context.Background(), inserter.client, message("pg-1"), nil)
	require.NoError(t, err)
	lc, err := tr.Lookup(context.Background(), "pg-1")
	require.NoError(t, err)
	assert.Equal(t, queue.StateQueued, lc.State)
	assert.Equal(t, res.Job.ID, lc.JobID)
	assert.Equal(t, []queue.Step{{State: queue.StateQueued, Time: res.Job.CreatedAt.UTC().Truncate(time.Microsecond)}}, lc.Steps)

	in := startInstance(t, dsn, queue.NewWorker(c, queue.WorkerConfig{Tracker: tr}), queue.Config{})
	waitFinal(t, 1, in)
	lc, err = tr.Lookup(context.Background(), "pg-1")
	require.NoError(t, err)
	assert.Equal(t, queue.StateSent, lc.State)
	assert.Equal(t, "id-pg-1", lc.MessageID)
	assert.Equal(t, gw.URL()[len("http://"):], lc.Gateway)
	require.Len(t, lc.Steps, 3)
	assert.Equal(t, queue.StateSending, lc.Steps[1].State)
	assert.Equal(t, queue.StateSent, lc.Steps[2].State)

	require.NoError(t, tr.Receive(context.Background(), []receipt.Receipt{dlr("id-pg-1", receipt.StatusDelivered, "", time.Now())}))
	require.NoError(t, tr.Receive(context.Background(), []receipt.Receipt{dlr("id-pg-1", receipt.StatusDelivered, "", time.Now())}))
	lc, err = tr.LookupMessageID(context.Background(), "id-pg-1")
	require.NoError(t, err)
	assert.Equal(t, queue.StateDelivered, lc.State)
	assert.Len(t, lc.Receipts, 1)
	got := reports.all()
	require.Len(t, got, 1)
	assert.Equal(t, "pg-1", got[0].IdempotencyKey)
	assert.Equal(t, queue.StateDelivered, got[0].State)
	assert.Equal(t, "+1", got[0].CountryPrefix)
	assert.Equal(t, lc.Gateway, got[0].Gateway)
	assert.Positive(t, got[0].Latency)
}

// TestTrackerPostgresReceipts plays receipts and sends (through the
// worker) in order, each case on a message of its own.
func TestTrackerPostgresReceipts(t *testing.T) {
	dsn := freshDB(t)
	_, c := idGateway(t)
	tr, reports := newTracker(t, dsn, queue.TrackerConfig{Retention: -1})
	in := startInstance(t, dsn, queue.NewWorker(c, queue.WorkerConfig{Tracker: tr}), queue.Config{})
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	at := func(s int) time.Time { return base.Add(time.Duration(s) * time.Second) }
	type step struct {
		send     bool
		statuses []receipt.Status // else: one callback with these, a second apart
		code     string
	}
	for i, tc := range []struct {
		name     string
		steps    []step
		state    queue.State
		code     string
		receipts int
		reported bool
	}{
		{name: "delivered", steps: []step{{send: true}, {statuses: []receipt.Status{receipt.StatusDelivered}}},
			state: queue.StateDelivered, receipts: 1, reported: true},
		{name: "duplicate receipt", steps: []step{{send: true}, {statuses: []receipt.Status{receipt.StatusDelivered}}, {statuses: []receipt.Status{receipt.StatusDelivered}}},
			state: queue.StateDelivered, receipts: 1, reported: true},
		{name: "sent after delivered", steps: []step{{send: true}, {statuses: []receipt.Status{receipt.StatusDelivered}}, {statuses: []receipt.Status{receipt.StatusSent}}},
			state: queue.StateDelivered, receipts: 2, reported: true},
		{name: "receipt before send", steps: []step{{statuses: []receipt.Status{receipt.StatusAccepted, receipt.StatusDelivered}}, {send: true}},
			state: queue.StateDelivered, receipts: 2, reported: true},
		{name: "undelivered with error code", steps: []step{{send: true}, {statuses: []receipt.Status{receipt.StatusSent, receipt.StatusUndelivered}, code: "30003"}},
			state: queue.StateUndelivered, code: "30003", receipts: 2, reported: true},
		{name: "first final receipt wins", steps: []step{{send: true}, {statuses: []receipt.Status{receipt.StatusUndelivered}, code: "30003"}, {statuses: []receipt.Status{receipt.StatusDelivered}}},
			state: queue.StateUndelivered, code: "30003", receipts: 2, reported: true},
		{name: "unknown moves nothing", steps: []step{{send: true}, {statuses: []receipt.Status{receipt.StatusUnknown}}},
			state: queue.StateSent, receipts: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprintf("case-%d", i)
			id := "id-" + key
			before := len(reports.all())
			for _, s := range tc.steps {
				if s.send {
					sendOne(t, in, key)
					continue
				}
				var batch []receipt.Receipt
				for j, st := range s.statuses {
					code := ""
					if st.Final() {
						code = s.code
					}
					batch = append(batch, dlr(id, st, code, at(j)))
				}
				require.NoError(t, tr.Receive(context.Background(), batch))
			}
			lc, err := tr.Lookup(context.Background(), key)
			require.NoError(t, err)
			assert.Equal(t, tc.state, lc.State)
			assert.Equal(t, tc.code, lc.ErrorCode)
			assert.Len(t, lc.Receipts, tc.receipts)
			byID, err := tr.LookupMessageID(context.Background(), id)
			require.NoError(t, err)
			assert.Equal(t, lc, byID)
			got := reports.all()[before:]
			if !tc.reported {
				assert.Empty(t, got)
				return
			}
			require.Len(t, got, 1)
			assert.Equal(t, key, got[0].IdempotencyKey)
			assert.Equal(t, tc.state, got[0].State)
			assert.Equal(t, tc.code, got[0].ErrorCode)
			assert.Equal(t, lc.Steps[len(lc.Steps)-1].Time, got[0].FinalAt)
		})
	}
}

// TestTrackerPostgresConcurrent: while workers of two instances send
// messages, goroutines deliver their receipts (duplicates among them,
// some before the send is recorded): each receipt is stored once and each
// message ends once, with one report.
func TestTrackerPostgresConcurrent(t *testing.T) {
	const (
		messages   = 300
		goroutines = 8
	)
	dsn := freshDB(t)
	gw, c := idGateway(t)
	tr, reports := newTracker(t, dsn, queue.TrackerConfig{Retention: -1})
	trB, reportsB := newTracker(t, dsn, queue.TrackerConfig{Retention: -1}) // another process's
	a := startInstance(t, dsn, queue.NewWorker(c, queue.WorkerConfig{Tracker: tr}), queue.Config{})
	b := startInstance(t, dsn, queue.NewWorker(c, queue.WorkerConfig{Tracker: trB}), queue.Config{})

	msgs := make([]smscourier.Message, messages)
	for i := range msgs {
		msgs[i] = message(fmt.Sprintf("conc-%03d", i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	start := make(chan struct{})
	base := time.Now().UTC()
	for g := range goroutines {
		sink := tr
		if g%2 == 1 {
			sink = trB
		}
		wg.Go(func() {
			<-start
			for i := range messages {
				id := fmt.Sprintf("id-conc-%03d", (i*7+g*37)%messages)
				sent, delivered := dlr(id, receipt.StatusSent, "", base), dlr(id, receipt.StatusDelivered, "", base.Add(time.Second))
				callbacks := [][]receipt.Receipt{{sent, delivered}}
				if g%4 >= 2 {
					callbacks = [][]receipt.Receipt{{delivered}, {sent}} // out of order, one by one
				}
				for _, batch := range callbacks {
					if err := sink.Receive(context.Background(), batch); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	close(start)
	_, err := queue.EnqueueMany(context.Background(), a.client, msgs, nil)
	require.NoError(t, err)
	jobs := waitFinal(t, messages, a, b)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for _, job := range jobs {
		require.Equal(t, rivertype.JobStateCompleted, job.State)
	}
	assert.Equal(t, messages, gw.Count())

	want := map[string]int{}
	for _, m := range msgs {
		want[m.IdempotencyKey] = 1
		lc, err := tr.Lookup(context.Background(), m.IdempotencyKey)
		require.NoError(t, err)
		assert.Equal(t, queue.StateDelivered, lc.State, m.IdempotencyKey)
		assert.Len(t, lc.Receipts, 2, m.IdempotencyKey)
	}
	got := reports.byKey()
	for k, n := range reportsB.byKey() {
		got[k] += n
	}
	early := 0
	for _, r := range append(reports.all(), reportsB.all()...) {
		if r.Latency == 0 {
			early++
		}
	}
	t.Logf("%d of %d messages had their final receipt before the send was recorded", early, messages)
	assert.Equal(t, want, got, "one report per message, across both processes")
}

// TestTrackerPostgresPrune: Prune deletes what is older than its bound.
func TestTrackerPostgresPrune(t *testing.T) {
	dsn := freshDB(t)
	_, c := idGateway(t)
	tr, _ := newTracker(t, dsn, queue.TrackerConfig{Retention: -1})
	in := startInstance(t, dsn, queue.NewWorker(c, queue.WorkerConfig{Tracker: tr}), queue.Config{})
	sendOne(t, in, "old")
	require.NoError(t, tr.Receive(context.Background(), []receipt.Receipt{dlr("id-old", receipt.StatusDelivered, "", time.Now())}))
	cutoff := time.Now()
	sendOne(t, in, "new")
	require.NoError(t, tr.Receive(context.Background(), []receipt.Receipt{dlr("id-new", receipt.StatusDelivered, "", time.Now())}))

	n, err := tr.Prune(context.Background(), cutoff)
	require.NoError(t, err)
	assert.Equal(t, int64(3), n, "old's message, delivery and receipt")
	lc, err := tr.LookupMessageID(context.Background(), "id-new")
	require.NoError(t, err)
	assert.Equal(t, queue.StateDelivered, lc.State)
	_, err = tr.LookupMessageID(context.Background(), "id-old")
	assert.ErrorIs(t, err, queue.ErrNotFound)
}

// TestTrackerPostgresMigrateConcurrently: processes migrating at once
// all succeed, and the version is recorded once.
func TestTrackerPostgresMigrateConcurrently(t *testing.T) {
	dsn := freshDB(t)
	db := sqlDB(t, dsn)
	before, err := queue.NewTracker(db, queue.TrackerConfig{})
	require.NoError(t, err)
	migrated, err := before.Migrated(context.Background())
	require.NoError(t, err)
	assert.False(t, migrated, "before Migrate")
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			tr, err := queue.NewTracker(db, queue.TrackerConfig{})
			if err == nil {
				err = tr.Migrate(context.Background())
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM smscourier_migrations`).Scan(&n))
	assert.Equal(t, queue.TrackerSchemaVersion, n)
	migrated, err = before.Migrated(context.Background())
	require.NoError(t, err)
	assert.True(t, migrated, "after Migrate")
}
