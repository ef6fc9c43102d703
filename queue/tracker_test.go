package queue

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/smscourier/smscourier/queue/sqlitedb"
	"github.com/smscourier/smscourier/receipt"
	"github.com/smscourier/smscourier/smstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// reportLog collects the reports of a Tracker's OnFinal.
type reportLog struct {
	mu  sync.Mutex
	got []DeliveryReport
}

func (l *reportLog) add(_ context.Context, r DeliveryReport) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, r)
}

func (l *reportLog) all() []DeliveryReport {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]DeliveryReport(nil), l.got...)
}

// byKey counts the reports per idempotency key.
func (l *reportLog) byKey() map[string]int {
	counts := map[string]int{}
	for _, r := range l.all() {
		counts[r.IdempotencyKey]++
	}
	return counts
}

// newTracker returns a migrated Tracker on db that reports to a new
// reportLog; cfg's OnFinal is replaced.
func newTracker(t testing.TB, db *sql.DB, cfg TrackerConfig) (*Tracker, *reportLog) {
	t.Helper()
	log := &reportLog{}
	cfg.OnFinal = log.add
	tr, err := NewTracker(db, cfg)
	require.NoError(t, err)
	require.NoError(t, tr.Migrate(context.Background()))
	return tr, log
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// recordSent records, as a worker does, that job id's message with key
// was queued at t0, taken at t0+1s and sent under messageID at t0+2s, and
// reports it when that ended it.
func recordSent(t testing.TB, tr *Tracker, id int64, key, messageID string) {
	t.Helper()
	tj := trackedJob{key: key, jobID: id, to: "********2223", prefix: "+1", queuedAt: t0}
	require.NoError(t, tr.recordSending(context.Background(), tj, t0.Add(time.Second)))
	rep, err := tr.recordSent(context.Background(), tj, "gw.example:443", messageID, t0.Add(2*time.Second))
	require.NoError(t, err)
	if rep != nil {
		tr.report(context.Background(), []DeliveryReport{*rep})
	}
}

// constantClock returns a clock that always reads at.
func constantClock(at time.Time) func() time.Time {
	return func() time.Time { return at }
}

// dlr is a receipt of the "twilio" provider for messageID.
func dlr(messageID string, s receipt.Status, code string, at time.Time) receipt.Receipt {
	return receipt.Receipt{Provider: "twilio", MessageID: messageID, Status: s, ProviderStatus: string(s) + "!",
		ErrorCode: code, Time: at, Raw: receipt.Raw(`{"MessageSid":"` + messageID + `"}`)}
}

// TestTrackerReceipts plays receipts and sends in order and checks the
// message's lifecycle and the reports.
func TestTrackerReceipts(t *testing.T) {
	type step struct {
		send     bool              // the worker records the send
		receipts []receipt.Receipt // else: one callback with these
	}
	at := func(s int) time.Time { return t0.Add(time.Minute + time.Duration(s)*time.Second) }
	const mid = "SM0001"
	for _, tc := range []struct {
		name      string
		steps     []step
		state     State
		code      string
		receipts  int  // stored
		reported  bool // one report, else none
		finalTime time.Time
	}{
		{name: "delivered",
			steps: []step{{send: true}, {receipts: []receipt.Receipt{dlr(mid, receipt.StatusDelivered, "", at(0))}}},
			state: StateDelivered, receipts: 1, reported: true, finalTime: at(0)},
		{name: "duplicate receipt is a no-op",
			steps: []step{{send: true},
				{receipts: []receipt.Receipt{dlr(mid, receipt.StatusDelivered, "", at(0))}},
				{receipts: []receipt.Receipt{dlr(mid, receipt.StatusDelivered, "", at(5))}}}, // resent, arrival time differs
			state: StateDelivered, receipts: 1, reported: true, finalTime: at(0)},
		{name: "duplicate within one callback",
			steps: []step{{send: true},
				{receipts: []receipt.Receipt{dlr(mid, receipt.StatusDelivered, "", at(0)), dlr(mid, receipt.StatusDelivered, "", at(0))}}},
			state: StateDelivered, receipts: 1, reported: true, finalTime: at(0)},
		{name: "sent after delivered does not move back",
			steps: []step{{send: true},
				{receipts: []receipt.Receipt{dlr(mid, receipt.StatusDelivered, "", at(2))}},
				{receipts: []receipt.Receipt{dlr(mid, receipt.StatusSent, "", at(1))}}},
			state: StateDelivered, receipts: 2, reported: true, finalTime: at(2)},
		{name: "receipt before send is applied at the send",
			steps: []step{
				{receipts: []receipt.Receipt{dlr(mid, receipt.StatusAccepted, "", at(0)), dlr(mid, receipt.StatusDelivered, "", at(1))}},
				{send: true}},
			state: StateDelivered, receipts: 2, reported: true, finalTime: at(1)},
		{name: "undelivered with error code",
			steps: []step{{send: true},
				{receipts: []receipt.Receipt{dlr(mid, receipt.StatusSent, "", at(0)), dlr(mid, receipt.StatusUndelivered, "30003", at(1))}}},
			state: StateUndelivered, code: "30003", receipts: 2, reported: true, finalTime: at(1)},
		{name: "failed",
			steps: []step{{send: true}, {receipts: []receipt.Receipt{dlr(mid, receipt.StatusFailed, "30008", at(0))}}},
			state: StateFailed, code: "30008", receipts: 1, reported: true, finalTime: at(0)},
		{name: "first final receipt wins",
			steps: []step{{send: true},
				{receipts: []receipt.Receipt{dlr(mid, receipt.StatusUndelivered, "30003", at(0))}},
				{receipts: []receipt.Receipt{dlr(mid, receipt.StatusDelivered, "", at(1))}}},
			state: StateUndelivered, code: "30003", receipts: 2, reported: true, finalTime: at(0)},
		{name: "earliest final of one callback",
			steps: []step{{send: true},
				{receipts: []receipt.Receipt{dlr(mid, receipt.StatusDelivered, "", at(3)), dlr(mid, receipt.StatusFailed, "1", at(2))}}},
			state: StateFailed, code: "1", receipts: 2, reported: true, finalTime: at(2)},
		{name: "unknown and accepted move nothing",
			steps: []step{{send: true},
				{receipts: []receipt.Receipt{dlr(mid, receipt.StatusUnknown, "", at(0)), dlr(mid, receipt.StatusAccepted, "", at(1)), dlr(mid, "bogus", "", at(2))}}},
			state: StateSent, receipts: 3},
		{name: "receipt for another message",
			steps: []step{{send: true}, {receipts: []receipt.Receipt{dlr("SM9999", receipt.StatusDelivered, "", at(0))}}},
			state: StateSent, receipts: 0},
		{name: "receipt without message id is ignored",
			steps: []step{{send: true}, {receipts: []receipt.Receipt{dlr("", receipt.StatusDelivered, "", at(0))}}},
			state: StateSent, receipts: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, reports := newTracker(t, newDB(t), TrackerConfig{now: constantClock(t0.Add(time.Hour))})
			for _, s := range tc.steps {
				if s.send {
					recordSent(t, tr, 7, "key-1", mid)
					continue
				}
				require.NoError(t, tr.Receive(context.Background(), s.receipts))
			}
			lc, err := tr.Lookup(context.Background(), "key-1")
			require.NoError(t, err)
			assert.Equal(t, tc.state, lc.State)
			assert.Equal(t, tc.code, lc.ErrorCode)
			assert.Len(t, lc.Receipts, tc.receipts)
			byID, err := tr.LookupMessageID(context.Background(), mid)
			require.NoError(t, err)
			assert.Equal(t, lc, byID)

			want := []Step{
				{State: StateQueued, Time: t0},
				{State: StateSending, Time: t0.Add(time.Second)},
				{State: StateSent, Time: t0.Add(2 * time.Second), Gateway: "gw.example:443"},
			}
			if tc.state.Final() {
				want = append(want, Step{State: tc.state, Time: tc.finalTime, Gateway: "gw.example:443"})
			}
			assert.Equal(t, want, lc.Steps)

			got := reports.all()
			if !tc.reported {
				assert.Empty(t, got)
				return
			}
			require.Len(t, got, 1)
			assert.Equal(t, DeliveryReport{
				IdempotencyKey: "key-1", State: tc.state, Gateway: "gw.example:443", CountryPrefix: "+1", To: "********2223",
				MessageID: mid, Provider: "twilio", ErrorCode: tc.code,
				QueuedAt: t0, SentAt: t0.Add(2 * time.Second), FinalAt: tc.finalTime, Latency: got[0].Latency,
			}, got[0])
		})
	}
}

// TestTrackerReceiptRoundTrip: a stored receipt reads back whole, its raw
// payload included.
func TestTrackerReceiptRoundTrip(t *testing.T) {
	tr, _ := newTracker(t, newDB(t), TrackerConfig{now: constantClock(t0.Add(time.Hour))})
	recordSent(t, tr, 1, "k", "SM1")
	in := dlr("SM1", receipt.StatusUndelivered, "30003", t0.Add(90*time.Second+123456789))
	require.NoError(t, tr.Receive(context.Background(), []receipt.Receipt{in}))
	lc, err := tr.Lookup(context.Background(), "k")
	require.NoError(t, err)
	require.Len(t, lc.Receipts, 1)
	want := in
	want.Time = in.Time.Truncate(time.Microsecond)
	assert.Equal(t, StoredReceipt{Receipt: want, ReceivedAt: t0.Add(time.Hour)}, lc.Receipts[0])
}

// TestTrackerLatency: the latency runs from the recorded send to the final
// receipt's arrival, and is zero for a receipt that came first.
func TestTrackerLatency(t *testing.T) {
	var clock time.Time
	tr, reports := newTracker(t, newDB(t), TrackerConfig{now: func() time.Time { return clock }})
	clock = t0.Add(time.Second) // before the send at t0+2s
	require.NoError(t, tr.Receive(context.Background(), []receipt.Receipt{dlr("SM2", receipt.StatusDelivered, "", t0)}))
	recordSent(t, tr, 2, "before", "SM2")
	recordSent(t, tr, 1, "after", "SM1")
	clock = t0.Add(time.Minute)
	require.NoError(t, tr.Receive(context.Background(), []receipt.Receipt{dlr("SM1", receipt.StatusDelivered, "", t0)}))
	got := map[string]time.Duration{}
	for _, r := range reports.all() {
		got[r.IdempotencyKey] = r.Latency
	}
	assert.Equal(t, map[string]time.Duration{"after": time.Minute - 2*time.Second, "before": 0}, got)
}

// waitKind waits until n jobs of kind reached a final state and returns
// them by id; events of other kinds are skipped.
func (h *harness) waitKind(t testing.TB, kind string, n int) map[int64]*rivertype.JobRow {
	t.Helper()
	got := map[int64]*rivertype.JobRow{}
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for len(got) < n {
		select {
		case ev := <-h.events:
			if ev.Job.Kind != kind || !finalKinds[ev.Kind] || ev.Kind == river.EventKindJobFailed && ev.Job.State != rivertype.JobStateDiscarded {
				continue
			}
			got[ev.Job.ID] = ev.Job
		case <-deadline.C:
			t.Fatalf("%d of %d %s jobs finished within %s", len(got), n, kind, waitLimit)
		}
	}
	return got
}

// TestTrackerWorker: a worker with a Tracker records queued, sending and
// sent with the gateway and the message id; a receipt then delivers the
// message, reported once; a message the gateway rejects is failed with
// the Output's reason.
func TestTrackerWorker(t *testing.T) {
	gw := smstest.New(t)
	gw.Respond(func(r smstest.Request) smstest.Reply {
		if to, _ := r.JSONField("to").(string); to == "+447700900123" {
			return smstest.Reply{Status: 400, Body: `{"error":"invalid number"}`}
		}
		key, _ := r.JSONField("key").(string)
		return smstest.Reply{Status: 201, Body: `{"id":"id-` + key + `"}`}
	})
	db := newDB(t)
	tr, reports := newTracker(t, db, TrackerConfig{Retention: -1})
	h := &harness{db: db}
	h.client = newClient(t, db, NewWorker(newCourier(t, gw), WorkerConfig{Tracker: tr}), testConfig())

	ok, err := Enqueue(context.Background(), h.client, message("ok"), nil)
	require.NoError(t, err)
	bad := message("bad")
	bad.To = "+447700900123"
	_, err = Enqueue(context.Background(), h.client, bad, nil)
	require.NoError(t, err)

	queued, err := tr.Lookup(context.Background(), "ok")
	require.NoError(t, err, "a queued job answers before any worker took it")
	assert.Equal(t, Lifecycle{
		IdempotencyKey: "ok", JobID: ok.Job.ID, State: StateQueued, To: "********2223", CountryPrefix: "+1",
		Steps: []Step{{State: StateQueued, Time: ok.Job.CreatedAt.UTC()}},
	}, queued)

	h.start(t)
	h.waitKind(t, Kind, 2)
	require.Len(t, reports.all(), 1, "sent is not final; failed is")

	lc, err := tr.Lookup(context.Background(), "ok")
	require.NoError(t, err)
	gateway := gw.URL()[len("http://"):]
	assert.Equal(t, StateSent, lc.State)
	assert.Equal(t, "id-ok", lc.MessageID)
	assert.Equal(t, gateway, lc.Gateway)
	assert.Equal(t, ok.Job.ID, lc.JobID)
	require.Len(t, lc.Steps, 3)
	assert.Equal(t, []State{StateQueued, StateSending, StateSent}, []State{lc.Steps[0].State, lc.Steps[1].State, lc.Steps[2].State})
	assert.Equal(t, ok.Job.CreatedAt.UTC().Truncate(time.Microsecond), lc.Steps[0].Time)
	assert.False(t, lc.Steps[1].Time.Before(lc.Steps[0].Time))
	assert.False(t, lc.Steps[2].Time.Before(lc.Steps[1].Time))
	assert.Equal(t, gateway, lc.Steps[2].Gateway)

	failed, err := tr.Lookup(context.Background(), "bad")
	require.NoError(t, err)
	assert.Equal(t, StateFailed, failed.State)
	assert.Equal(t, "+44", failed.CountryPrefix)
	assert.Contains(t, failed.Reason, "rejected by the gateway (status 400)")
	assert.Equal(t, StateFailed, reports.all()[0].State)
	assert.Equal(t, "bad", reports.all()[0].IdempotencyKey)
	assert.Equal(t, failed.Reason, reports.all()[0].Reason)

	require.NoError(t, tr.Receive(context.Background(), []receipt.Receipt{dlr("id-ok", receipt.StatusDelivered, "", time.Now())}))
	lc, err = tr.Lookup(context.Background(), "ok")
	require.NoError(t, err)
	assert.Equal(t, StateDelivered, lc.State)
	got := reports.all()
	require.Len(t, got, 2)
	assert.Equal(t, "ok", got[1].IdempotencyKey)
	assert.Equal(t, StateDelivered, got[1].State)
	assert.Equal(t, gateway, got[1].Gateway)
	assert.Equal(t, "+1", got[1].CountryPrefix)
}

// TestTrackerWorkerMaybeDelivered: a send whose outcome is unknown, not
// retried, ends the message as may have been delivered.
func TestTrackerWorkerMaybeDelivered(t *testing.T) {
	gw := smstest.New(t)
	gw.Script(smstest.Reply{Reset: true})
	db := newDB(t)
	tr, reports := newTracker(t, db, TrackerConfig{Retention: -1})
	h := &harness{db: db}
	h.client = newClient(t, db, NewWorker(newCourier(t, gw), WorkerConfig{Tracker: tr}), testConfig())
	_, err := Enqueue(context.Background(), h.client, message("k"), nil)
	require.NoError(t, err)
	h.start(t)
	h.waitKind(t, Kind, 1)
	lc, err := tr.Lookup(context.Background(), "k")
	require.NoError(t, err)
	assert.Equal(t, StateMaybeDelivered, lc.State)
	require.Len(t, reports.all(), 1)
	assert.Equal(t, StateMaybeDelivered, reports.all()[0].State)
}

// TestTrackerWriteFailureKeepsSending: a Tracker whose writes fail (its
// tables are missing) changes nothing in the sends; the failures are
// logged.
func TestTrackerWriteFailureKeepsSending(t *testing.T) {
	gw := smstest.New(t)
	db := newDB(t)
	tr, err := NewTracker(db, TrackerConfig{Retention: -1}) // not migrated
	require.NoError(t, err)
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &logs}, nil))
	h := &harness{db: db}
	h.client = newClient(t, db, NewWorker(newCourier(t, gw), WorkerConfig{Tracker: tr, Logger: logger}), testConfig())
	_, err = Enqueue(context.Background(), h.client, message("k"), nil)
	require.NoError(t, err)
	h.start(t)
	job := h.waitKind(t, Kind, 1)
	for _, j := range job {
		assert.Equal(t, rivertype.JobStateCompleted, j.State)
		assert.Equal(t, OutcomeSent, output(t, j).Outcome)
	}
	assert.Equal(t, 1, gw.Count())
	mu.Lock()
	defer mu.Unlock()
	assert.Contains(t, logs.String(), `msg="smscourier/queue: tracker write" job_id=1 state=sending`)
	assert.Contains(t, logs.String(), `msg="smscourier/queue: tracker write" job_id=1 state=sent`)
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestTrackerLookupFromJob: a message sent by a worker without a Tracker
// is read from its job's Output; an unknown key is ErrNotFound.
func TestTrackerLookupFromJob(t *testing.T) {
	gw := smstest.New(t)
	db := newDB(t)
	tr, _ := newTracker(t, db, TrackerConfig{})
	h := &harness{db: db}
	h.client = newClient(t, db, NewWorker(newCourier(t, gw), WorkerConfig{}), testConfig())
	res, err := Enqueue(context.Background(), h.client, message("k"), nil)
	require.NoError(t, err)
	h.start(t)
	h.waitKind(t, Kind, 1)
	lc, err := tr.Lookup(context.Background(), "k")
	require.NoError(t, err)
	assert.Equal(t, StateSent, lc.State)
	assert.Equal(t, res.Job.ID, lc.JobID)
	assert.Equal(t, "msg-1", lc.MessageID)
	assert.Equal(t, gw.URL()[len("http://"):], lc.Gateway)

	_, err = tr.Lookup(context.Background(), "nope")
	assert.ErrorIs(t, err, ErrNotFound)
	_, err = tr.LookupMessageID(context.Background(), "nope")
	assert.ErrorIs(t, err, ErrNotFound)
}

// TestTrackerConcurrentReceipts: many goroutines deliver receipts,
// duplicates among them, for many messages while the sends are being
// recorded: each receipt is stored once, each message ends once, with one
// report.
func TestTrackerConcurrentReceipts(t *testing.T) {
	const (
		messages   = 40
		goroutines = 8
	)
	tr, reports := newTracker(t, newDB(t), TrackerConfig{})
	var wg sync.WaitGroup
	errs := make(chan error, goroutines+1)
	for g := range goroutines {
		wg.Go(func() {
			for i := range messages {
				id := fmt.Sprintf("SM%03d", (i+g*5)%messages)
				batch := []receipt.Receipt{
					dlr(id, receipt.StatusSent, "", t0),
					dlr(id, receipt.StatusDelivered, "", t0.Add(time.Second)),
				}
				if err := tr.Receive(context.Background(), batch); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range messages {
			tj := trackedJob{key: fmt.Sprintf("key-%03d", i), jobID: int64(i + 1), queuedAt: t0}
			rep, err := tr.recordSent(context.Background(), tj, "gw", fmt.Sprintf("SM%03d", i), t0)
			if err != nil {
				errs <- err
				return
			}
			if rep != nil {
				tr.report(context.Background(), []DeliveryReport{*rep})
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	want := map[string]int{}
	for i := range messages {
		key := fmt.Sprintf("key-%03d", i)
		want[key] = 1
		lc, err := tr.Lookup(context.Background(), key)
		require.NoError(t, err)
		assert.Equal(t, StateDelivered, lc.State, key)
		assert.Len(t, lc.Receipts, 2, key)
	}
	assert.Equal(t, want, reports.byKey())
}

// TestTrackerPrune: Prune deletes lifecycles and receipts older than its
// bound and keeps the others.
func TestTrackerPrune(t *testing.T) {
	clock := t0
	tr, _ := newTracker(t, newDB(t), TrackerConfig{now: func() time.Time { return clock }})
	tj := func(key string, id int64) trackedJob { return trackedJob{key: key, jobID: id, queuedAt: clock} }
	_, err := tr.recordSent(context.Background(), tj("old", 1), "gw", "SM-old", clock)
	require.NoError(t, err)
	require.NoError(t, tr.Receive(context.Background(), []receipt.Receipt{dlr("SM-old", receipt.StatusDelivered, "", clock), dlr("SM-orphan", receipt.StatusSent, "", clock)}))
	clock = t0.Add(time.Hour)
	_, err = tr.recordSent(context.Background(), tj("new", 2), "gw", "SM-new", clock)
	require.NoError(t, err)
	require.NoError(t, tr.Receive(context.Background(), []receipt.Receipt{dlr("SM-new", receipt.StatusDelivered, "", clock)}))

	n, err := tr.Prune(context.Background(), t0.Add(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, int64(4), n, "old: message, delivery and receipt; the orphan receipt")
	_, err = tr.Lookup(context.Background(), "old")
	assert.ErrorIs(t, err, ErrNotFound)
	lc, err := tr.Lookup(context.Background(), "new")
	require.NoError(t, err)
	assert.Equal(t, StateDelivered, lc.State)
	assert.Len(t, lc.Receipts, 1)
	n, err = tr.Prune(context.Background(), t0.Add(time.Minute))
	require.NoError(t, err)
	assert.Zero(t, n)
}

// TestTrackerPeriodicPrune: a worker client with a Tracker prunes it at
// its start, by the Tracker's Retention.
func TestTrackerPeriodicPrune(t *testing.T) {
	db := newDB(t)
	clock := t0
	tr, _ := newTracker(t, db, TrackerConfig{Retention: time.Hour, now: func() time.Time { return clock }})
	_, err := tr.recordSent(context.Background(), trackedJob{key: "k", jobID: 1, queuedAt: t0}, "gw", "SM1", t0)
	require.NoError(t, err)
	clock = t0.Add(2 * time.Hour)
	h := &harness{db: db}
	h.client = newClient(t, db, NewWorker(newCourier(t, smstest.New(t)), WorkerConfig{Tracker: tr}), testConfig())
	h.start(t)
	for _, j := range h.waitKind(t, pruneKind, 1) {
		assert.Equal(t, rivertype.JobStateCompleted, j.State)
	}
	_, err = tr.Lookup(context.Background(), "k")
	assert.ErrorIs(t, err, ErrNotFound)
}

// TestTrackerMigrate: Migrate is idempotent, and refuses a database of a
// newer version; Migrated says whether it ran.
func TestTrackerMigrate(t *testing.T) {
	db := newDB(t)
	fresh, err := NewTracker(db, TrackerConfig{})
	require.NoError(t, err)
	migrated, err := fresh.Migrated(context.Background())
	require.NoError(t, err)
	assert.False(t, migrated, "before Migrate")
	tr, _ := newTracker(t, db, TrackerConfig{})
	migrated, err = tr.Migrated(context.Background())
	require.NoError(t, err)
	assert.True(t, migrated, "after Migrate")
	require.NoError(t, tr.Migrate(context.Background()))
	var versions int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM smscourier_migrations`).Scan(&versions))
	assert.Equal(t, TrackerSchemaVersion, versions)

	_, err = db.Exec(`INSERT INTO smscourier_migrations (version, applied_at) VALUES ($1, 0)`, TrackerSchemaVersion+1)
	require.NoError(t, err)
	assert.ErrorContains(t, tr.Migrate(context.Background()), "newer than this package's")
}

// TestNewTracker: the dialect is found from the driver, or must be valid.
func TestNewTracker(t *testing.T) {
	db := newDB(t)
	tr, err := NewTracker(db, TrackerConfig{})
	require.NoError(t, err)
	assert.Equal(t, DialectSQLite, tr.Dialect())
	for _, tc := range []struct {
		name string
		db   *sql.DB
		cfg  TrackerConfig
		want string
	}{
		{"nil database", nil, TrackerConfig{}, "nil database"},
		{"unknown dialect", db, TrackerConfig{Dialect: "oracle"}, `unknown dialect "oracle"`},
		{"negative prune interval", db, TrackerConfig{PruneInterval: -1}, "PruneInterval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewTracker(tc.db, tc.cfg)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

// TestTrackerSQLiteFile: a Tracker on a database opened by sqlitedb in a
// file of its own works without River's tables, apart from Lookup's
// fallback to the job.
func TestTrackerSQLiteFile(t *testing.T) {
	db, err := sqlitedb.Open(context.Background(), filepath.Join(t.TempDir(), "tracker.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	tr, _ := newTracker(t, db, TrackerConfig{})
	recordSent(t, tr, 1, "k", "SM1")
	lc, err := tr.LookupMessageID(context.Background(), "SM1")
	require.NoError(t, err)
	assert.Equal(t, "k", lc.IdempotencyKey)
}

// TestDeliveryReportDelivery checks the conversion of a report for
// delivery metrics: only a final state a receipt set is a Delivery.
func TestDeliveryReportDelivery(t *testing.T) {
	for _, tc := range []struct {
		name   string
		report DeliveryReport
		want   receipt.Delivery
		ok     bool
	}{
		{name: "delivered", report: DeliveryReport{State: StateDelivered, Provider: "twilio", Gateway: "primary", CountryPrefix: "+44", Latency: 3 * time.Second},
			want: receipt.Delivery{Gateway: "primary", CallingCode: "+44", Status: receipt.StatusDelivered, Latency: 3 * time.Second}, ok: true},
		{name: "undelivered", report: DeliveryReport{State: StateUndelivered, Provider: "vonage-sms", Gateway: "backup", CountryPrefix: "+33"},
			want: receipt.Delivery{Gateway: "backup", CallingCode: "+33", Status: receipt.StatusUndelivered}, ok: true},
		{name: "failed by a receipt", report: DeliveryReport{State: StateFailed, Provider: "plivo", Gateway: "primary"},
			want: receipt.Delivery{Gateway: "primary", Status: receipt.StatusFailed}, ok: true},
		{name: "failed by the worker", report: DeliveryReport{State: StateFailed, Reason: "rejected by the gateway"}},
		{name: "may have been delivered", report: DeliveryReport{State: StateMaybeDelivered}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.report.Delivery()
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, got)
		})
	}
}
