package queue

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/smstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

func TestEnqueueManyDeliversEachMessageOnce(t *testing.T) {
	gw := smstest.New(t)
	h := newHarness(t, NewWorker(newCourier(t, gw), WorkerConfig{}), testConfig())

	const n = 200
	msgs := make([]smscourier.Message, n)
	for i := range msgs {
		msgs[i] = message(fmt.Sprintf("otp-%03d", i))
	}
	res, err := EnqueueMany(context.Background(), h.client, msgs, nil)
	require.NoError(t, err)
	require.Len(t, res, n)
	for i, r := range res {
		require.False(t, r.UniqueSkippedAsDuplicate, "message %d", i)
	}

	h.start(t)
	done := h.waitFinal(t, n)

	counts := keysAt(gw)
	assert.Len(t, counts, n, "distinct keys delivered")
	for _, m := range msgs {
		assert.Equal(t, 1, counts[m.IdempotencyKey], "deliveries of %s", m.IdempotencyKey)
	}
	assert.Equal(t, n, gw.Count())
	for id, ev := range done {
		require.Equal(t, river.EventKindJobCompleted, ev.Kind, "job %d", id)
		out := output(t, ev.Job)
		assert.Equal(t, OutcomeSent, out.Outcome)
		assert.Equal(t, http.StatusCreated, out.Status)
		assert.True(t, strings.HasPrefix(out.MessageID, "msg-"), "message id %q", out.MessageID)
		assert.Equal(t, 1, out.Attempts)
		assert.Equal(t, "********2223", out.To)
	}
}

func TestSameKeyTwiceIsOneJob(t *testing.T) {
	gw := smstest.New(t)
	h := newHarness(t, NewWorker(newCourier(t, gw), WorkerConfig{}), testConfig())
	ctx := context.Background()

	first, err := Enqueue(ctx, h.client, message("otp-same"), nil)
	require.NoError(t, err)
	require.False(t, first.UniqueSkippedAsDuplicate)
	second, err := Enqueue(ctx, h.client, message("otp-same"), nil)
	require.NoError(t, err)
	assert.True(t, second.UniqueSkippedAsDuplicate)
	assert.Equal(t, first.Job.ID, second.Job.ID)

	// A different text under the same key is the same message.
	other := message("otp-same")
	other.Body = "another text"
	batch, err := EnqueueMany(ctx, h.client, []smscourier.Message{other, message("otp-new"), message("otp-new")}, nil)
	require.NoError(t, err)
	assert.True(t, batch[0].UniqueSkippedAsDuplicate)
	assert.Equal(t, first.Job.ID, batch[0].Job.ID)
	assert.False(t, batch[1].UniqueSkippedAsDuplicate)
	assert.True(t, batch[2].UniqueSkippedAsDuplicate, "repeat within the batch")
	assert.Equal(t, batch[1].Job.ID, batch[2].Job.ID)

	h.start(t)
	h.waitFinal(t, 2)
	assert.Equal(t, map[string]int{"otp-same": 1, "otp-new": 1}, keysAt(gw))

	// A finished job still holds its key until it is deleted.
	again, err := Enqueue(ctx, h.client, message("otp-same"), nil)
	require.NoError(t, err)
	assert.True(t, again.UniqueSkippedAsDuplicate)
	assert.Equal(t, rivertype.JobStateCompleted, again.Job.State)
	assert.Equal(t, 2, gw.Count())
}

func TestEnqueueAssignsKey(t *testing.T) {
	gw := smstest.New(t)
	h := newHarness(t, NewWorker(newCourier(t, gw), WorkerConfig{}), testConfig())
	ctx := context.Background()

	res, err := Enqueue(ctx, h.client, message(""), nil)
	require.NoError(t, err)
	var args SendArgs
	require.NoError(t, json.Unmarshal(res.Job.EncodedArgs, &args))
	key := args.Message.IdempotencyKey
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, key)

	// River's own Insert goes through the same hook.
	direct, err := h.client.Insert(ctx, SendArgs{Message: message("")}, nil)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(direct.Job.EncodedArgs, &args))
	assert.NotEmpty(t, args.Message.IdempotencyKey)
	assert.NotEqual(t, key, args.Message.IdempotencyKey)
	dup, err := h.client.Insert(ctx, SendArgs{Message: message(key)}, nil)
	require.NoError(t, err)
	assert.True(t, dup.UniqueSkippedAsDuplicate)

	h.start(t)
	h.waitFinal(t, 2)
	assert.Equal(t, 1, keysAt(gw)[key])
	assert.Equal(t, 2, gw.Count())
}

func TestEnqueueRefusesInvalidMessages(t *testing.T) {
	db := newDB(t)
	client := newClient(t, db, nil, testConfig())
	for name, m := range map[string]smscourier.Message{
		"empty to":         {Body: "x"},
		"blank to":         {To: " \t ", Body: "x"},
		"key with space":   {To: "+1", Body: "x", IdempotencyKey: "a b"},
		"key too long":     {To: "+1", Body: "x", IdempotencyKey: strings.Repeat("k", 256)},
		"key not ascii":    {To: "+1", Body: "x", IdempotencyKey: "clé"},
		"key with control": {To: "+1", Body: "x", IdempotencyKey: "a\n"},
		// The rest of smscourier.Message.Validate's rules. (Invalid UTF-8
		// never reaches the hook: encoding the args as JSON replaces it.)
		"to with control":       {To: "+1\n2", Body: "x"},
		"from with control":     {To: "+1", From: "a\tb", Body: "x"},
		"template data too big": {To: "+1", Body: "x", TemplateData: map[string]string{"k": strings.Repeat("x", 70_000)}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Enqueue(context.Background(), client, m, nil)
			require.ErrorIs(t, err, smscourier.ErrInvalidMessage)
			assert.NotContains(t, err.Error(), "+1")
		})
	}
	jobs, err := client.JobList(context.Background(), river.NewJobListParams())
	require.NoError(t, err)
	assert.Empty(t, jobs.Jobs)
}

func TestRetryAfterSnoozes(t *testing.T) {
	gw := smstest.New(t)
	gw.Script(smstest.Reply{Status: http.StatusServiceUnavailable, RetryAfter: "1"}, smstest.Reply{Status: http.StatusCreated})
	h := newHarness(t, NewWorker(newCourier(t, gw), WorkerConfig{}), testConfig())
	res, err := Enqueue(context.Background(), h.client, message("otp-snooze"), nil)
	require.NoError(t, err)
	h.start(t)

	job := h.waitOne(t, res.Job.ID)
	assert.Equal(t, rivertype.JobStateCompleted, job.State)
	assert.Equal(t, 1, job.Attempt, "a snooze uses up no attempt")
	assert.Contains(t, string(job.Metadata), `"snoozes":1`)
	reqs := gw.Requests()
	require.Len(t, reqs, 2)
	assert.GreaterOrEqual(t, reqs[1].Time.Sub(reqs[0].Time), time.Second, "the retry waited for Retry-After")
	assert.Equal(t, OutcomeSent, output(t, job).Outcome)
}

func TestSnoozePastNotAfterCancels(t *testing.T) {
	gw := smstest.New(t)
	gw.Script(smstest.Reply{Status: http.StatusTooManyRequests, RetryAfter: "120"})
	h := newHarness(t, NewWorker(newCourier(t, gw), WorkerConfig{}), testConfig())
	m := message("otp-late")
	m.NotAfter = time.Now().Add(time.Minute)
	res, err := Enqueue(context.Background(), h.client, m, nil)
	require.NoError(t, err)
	h.start(t)

	job := h.waitOne(t, res.Job.ID)
	assert.Equal(t, rivertype.JobStateCancelled, job.State)
	out := output(t, job)
	assert.Equal(t, OutcomeCancelled, out.Outcome)
	assert.Equal(t, "refused", out.Class)
	assert.Equal(t, 120.0, out.RetryAfterSeconds)
	assert.Contains(t, out.Reason, "NotAfter")
	assert.Equal(t, 1, gw.Count())
}

func TestMaxSnoozesFallsBackToRetries(t *testing.T) {
	gw := smstest.New(t)
	gw.Script(smstest.Reply{Status: http.StatusServiceUnavailable, RetryAfter: "1"})
	h := newHarness(t, NewWorker(newCourier(t, gw), WorkerConfig{MaxSnoozes: 1}), Config{testOnly: true, MaxJobAttempts: 1})
	res, err := Enqueue(context.Background(), h.client, message("otp-busy"), nil)
	require.NoError(t, err)
	h.start(t)

	job := h.waitOne(t, res.Job.ID)
	assert.Equal(t, rivertype.JobStateDiscarded, job.State)
	assert.Equal(t, OutcomeRetry, output(t, job).Outcome)
	assert.Equal(t, 2, gw.Count(), "one snooze, then one attempt")
}

// TestCancelled covers the failures that are never retried: one request at
// most, the job cancelled with its reason recorded.
func TestCancelled(t *testing.T) {
	cancelTemplate := `function(ctx) if ctx.body == 'stop' then error 'cancel' else { to: ctx.to, key: ctx.idempotency_key }`
	brokenTemplate := `function(ctx) { to: ctx.to, n: std.parseInt(ctx.body) }`
	for _, tc := range []struct {
		name         string
		reply        smstest.Reply
		body         string // template, default bodyTemplate
		response     string // template, default responseTemplate
		disabled     bool
		opts         []smscourier.Option // courier options after WithoutRetries
		msg          smscourier.Message
		wantClass    string
		wantReason   string
		wantMaybe    bool // OutcomeMaybeDelivered rather than OutcomeCancelled
		wantRequests int
	}{
		{name: "400", reply: smstest.Reply{Status: http.StatusBadRequest, Body: `{"error":"invalid number +14134242223"}`},
			wantClass: "rejected", wantReason: "rejected by the gateway (status 400)", wantRequests: 1},
		{name: "404", reply: smstest.Reply{Status: http.StatusNotFound},
			wantClass: "rejected", wantReason: "status 404", wantRequests: 1},
		{name: "template cancel", body: cancelTemplate, msg: smscourier.Message{To: "+14134242223", Body: "stop"},
			wantClass: "cancelled", wantReason: "template cancelled"},
		{name: "template error", body: brokenTemplate, msg: smscourier.Message{To: "+14134242223", Body: "Your code is 123456"},
			wantClass: "template", wantReason: "template failed"},
		{name: "response template fails on 2xx", response: `function(ctx) { message_id: std.parseInt(ctx.body.id) }`,
			reply:     smstest.Reply{Status: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Body: `{"id": "Your code is 123456"}`},
			wantMaybe: true, wantClass: "outcome_unknown", wantReason: "may have been delivered", wantRequests: 1},
		// Valid for every courier (the insert hook takes it), invalid
		// for this one.
		{name: "invalid message", opts: []smscourier.Option{smscourier.WithStrictE164()},
			msg:       smscourier.Message{To: "04134242223", Body: "Your code is 123456"},
			wantClass: "invalid_message", wantReason: "invalid message"},
		{name: "disabled", disabled: true,
			wantClass: "disabled", wantReason: "disabled"},
		{name: "expired", msg: smscourier.Message{To: "+14134242223", Body: "Your code is 123456", NotAfter: time.Now().Add(-time.Second)},
			wantClass: "expired", wantReason: "NotAfter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := smstest.New(t)
			gw.Script(tc.reply)
			cfg := gatewayConfig(gw)
			if tc.body != "" {
				cfg.RequestConfig.Body = b64(tc.body)
			}
			if tc.response != "" {
				cfg.RequestConfig.Response = b64(tc.response)
			}
			cfg.Enabled = !tc.disabled
			courier, err := smscourier.New(cfg, append([]smscourier.Option{smscourier.WithoutRetries()}, tc.opts...)...)
			require.NoError(t, err)
			h := newHarness(t, NewWorker(courier, WorkerConfig{}), testConfig())
			msg := tc.msg
			if msg.To == "" {
				msg = message("")
			}
			res, err := Enqueue(context.Background(), h.client, msg, nil)
			require.NoError(t, err)
			h.start(t)

			job := h.waitOne(t, res.Job.ID)
			assert.Equal(t, rivertype.JobStateCancelled, job.State)
			assert.Equal(t, 1, job.Attempt)
			assert.Equal(t, tc.wantRequests, gw.Count(), "deliveries")
			out := output(t, job)
			if tc.wantMaybe {
				assert.Equal(t, OutcomeMaybeDelivered, out.Outcome)
			} else {
				assert.Equal(t, OutcomeCancelled, out.Outcome)
			}
			assert.Equal(t, tc.wantClass, out.Class)
			assert.Contains(t, out.Reason, tc.wantReason)
			require.Len(t, job.Errors, 1, "the cause is recorded")
			for _, text := range []string{job.Errors[0].Error, out.Reason, string(job.Output())} {
				assert.NotContains(t, text, "4242223", "no number in the record")
				assert.NotContains(t, text, "123456", "no text in the record")
			}
		})
	}
}

func TestOutcomeUnknownWithoutHeaderIsCancelled(t *testing.T) {
	gw := smstest.New(t)
	gw.Script(smstest.Reply{Reset: true}, smstest.Reply{Status: http.StatusCreated})
	h := newHarness(t, NewWorker(newCourier(t, gw), WorkerConfig{}), testConfig())
	res, err := Enqueue(context.Background(), h.client, message("otp-reset"), nil)
	require.NoError(t, err)
	h.start(t)

	job := h.waitOne(t, res.Job.ID)
	assert.Equal(t, rivertype.JobStateCancelled, job.State)
	assert.Equal(t, 1, gw.Count(), "one delivery attempt, never resent")
	out := output(t, job)
	assert.Equal(t, OutcomeMaybeDelivered, out.Outcome)
	assert.Equal(t, "outcome_unknown", out.Class)
	assert.Contains(t, out.Reason, "may have been delivered")
	require.Len(t, job.Errors, 1)
	assert.Contains(t, job.Errors[0].Error, "outcome unknown")
}

func TestOutcomeUnknownWithHeaderIsRetried(t *testing.T) {
	gw := smstest.New(t)
	gw.Script(smstest.Reply{Reset: true}, smstest.Reply{Status: http.StatusCreated})
	courier := newCourier(t, gw, smscourier.WithIdempotencyKeyHeader("Idempotency-Key"))
	h := newHarness(t, NewWorker(courier, WorkerConfig{}), testConfig())
	res, err := Enqueue(context.Background(), h.client, message("otp-retry"), nil)
	require.NoError(t, err)
	h.start(t)

	job := h.waitOne(t, res.Job.ID)
	assert.Equal(t, rivertype.JobStateCompleted, job.State)
	assert.Equal(t, 2, job.Attempt)
	reqs := gw.Requests()
	require.Len(t, reqs, 2)
	for _, r := range reqs {
		assert.Equal(t, "otp-retry", r.Header.Get("Idempotency-Key"))
	}
	assert.Len(t, job.Errors, 1)
}

// TestRefusedWithoutRetryAfterIsRetried: a 429 without Retry-After (class
// refused) is retried with River's backoff.
func TestRefusedWithoutRetryAfterIsRetried(t *testing.T) {
	gw := smstest.New(t)
	gw.Script(smstest.Reply{Status: http.StatusTooManyRequests}, smstest.Reply{Status: http.StatusCreated})
	h := newHarness(t, NewWorker(newCourier(t, gw), WorkerConfig{}), testConfig())
	res, err := Enqueue(context.Background(), h.client, message("otp-429"), nil)
	require.NoError(t, err)
	h.start(t)

	job := h.waitOne(t, res.Job.ID)
	assert.Equal(t, rivertype.JobStateCompleted, job.State)
	assert.Equal(t, 2, job.Attempt, "retried with River's backoff")
	assert.Equal(t, 2, gw.Count())
}

// TestNotSentIsRetried: nothing listens on the gateway's port, so the
// connection is refused and the request never written: the courier's error
// wraps smscourier.ErrNotSent, and River retries the job with its backoff
// (1 s for the first retry). The gateway comes up on that port before the
// retry, which delivers the message once.
func TestNotSentIsRetried(t *testing.T) {
	ctx := context.Background()
	gw := smstest.New(t)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close()) // a loopback port with nothing listening

	cfg := gatewayConfig(gw)
	cfg.RequestConfig.URL = "http://" + addr + "/v1/messages"
	courier, err := smscourier.New(cfg, smscourier.WithoutRetries())
	require.NoError(t, err)
	_, err = courier.SendMessage(ctx, message("otp-probe"))
	require.ErrorIs(t, err, smscourier.ErrNotSent, "the gateway is unreachable")

	h := newHarness(t, NewWorker(courier, WorkerConfig{}), testConfig())
	failed, cancel := h.client.Subscribe(river.EventKindJobFailed)
	defer cancel()
	res, err := Enqueue(ctx, h.client, message("otp-unreachable"), nil)
	require.NoError(t, err)
	h.start(t)

	var job *rivertype.JobRow
	select {
	case ev := <-failed:
		job = ev.Job
	case <-time.After(waitLimit):
		t.Fatal("no failed attempt")
	}
	require.Equal(t, res.Job.ID, job.ID)
	// River makes a retry due within its scheduler's interval available at
	// once, with its time in ScheduledAt; a later one retryable.
	assert.Contains(t, []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStateRetryable}, job.State)
	assert.Equal(t, 1, job.Attempt)
	require.Len(t, job.Errors, 1, "the failure is recorded")
	assert.Contains(t, job.Errors[0].Error, "not sent")
	// River's backoff for a first retry is 1 s ±10%, counted from the
	// failure; the error's At is the attempt's start, a little earlier.
	backoff := job.ScheduledAt.Sub(job.Errors[0].At)
	assert.GreaterOrEqual(t, backoff, 850*time.Millisecond, "retried with River's backoff, not at once")
	assert.Less(t, backoff, 5*time.Second, "River's first backoff step (the next is 16 s)")
	out := output(t, job)
	assert.Equal(t, OutcomeRetry, out.Outcome)
	assert.Equal(t, "not_sent", out.Class)
	assert.Equal(t, 1, out.Attempts, "one request tried, refused before it was written")
	assert.Equal(t, 0, gw.Count())

	// The gateway comes up on the refused port (a proxy to gw).
	l, err = net.Listen("tcp4", addr)
	require.NoError(t, err)
	target, err := url.Parse(gw.URL())
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	transport := &http.Transport{}
	proxy.Transport = transport
	srv := httptest.NewUnstartedServer(proxy)
	require.NoError(t, srv.Listener.Close())
	srv.Listener = l
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		transport.CloseIdleConnections()
	})

	job = h.waitOne(t, res.Job.ID)
	assert.Equal(t, rivertype.JobStateCompleted, job.State)
	assert.Equal(t, 2, job.Attempt, "delivered by the retry")
	assert.Len(t, job.Errors, 1)
	assert.Equal(t, OutcomeSent, output(t, job).Outcome)
	assert.Equal(t, map[string]int{"otp-unreachable": 1}, keysAt(gw), "delivered once")
}

// TestAttemptAfterCrashIsOutcomeUnknown simulates a job River rescued after
// its worker died mid-send: its next attempt finds no recorded outcome.
func TestAttemptAfterCrashIsOutcomeUnknown(t *testing.T) {
	for _, retry := range []bool{false, true} {
		t.Run(fmt.Sprintf("header=%v", retry), func(t *testing.T) {
			gw := smstest.New(t)
			var opts []smscourier.Option
			if retry {
				opts = append(opts, smscourier.WithIdempotencyKeyHeader("Idempotency-Key"))
			}
			h := newHarness(t, NewWorker(newCourier(t, gw, opts...), WorkerConfig{}), testConfig())
			res, err := Enqueue(context.Background(), h.client, message("otp-crash"), nil)
			require.NoError(t, err)
			// Attempt 1 started and left no trace, as after a crash.
			_, err = h.db.Exec(`UPDATE river_job SET attempt = 1, attempted_at = datetime('now') WHERE id = ?`, res.Job.ID)
			require.NoError(t, err)
			h.start(t)

			job := h.waitOne(t, res.Job.ID)
			if retry {
				assert.Equal(t, rivertype.JobStateCompleted, job.State)
				assert.Equal(t, 1, gw.Count())
				return
			}
			assert.Equal(t, rivertype.JobStateCancelled, job.State)
			assert.Equal(t, 0, gw.Count(), "not resent")
			assert.Equal(t, OutcomeMaybeDelivered, output(t, job).Outcome)
		})
	}
}

// TestHardStopMidSendCancels stops the client while the gateway holds a
// request: the job is cancelled as outcome unknown, not put back in the
// queue, so it is never resent.
func TestHardStopMidSendCancels(t *testing.T) {
	gw := smstest.New(t)
	gw.Script(smstest.Reply{Delay: waitLimit})
	h := newHarness(t, NewWorker(newCourier(t, gw), WorkerConfig{}), testConfig())
	res, err := Enqueue(context.Background(), h.client, message("otp-stop"), nil)
	require.NoError(t, err)
	h.start(t)
	require.Eventually(t, func() bool { return gw.Count() == 1 }, waitLimit, 10*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	require.NoError(t, h.client.StopAndCancel(ctx))

	job, err := h.client.JobGet(context.Background(), res.Job.ID)
	require.NoError(t, err)
	assert.Equal(t, rivertype.JobStateCancelled, job.State)
	assert.Equal(t, OutcomeMaybeDelivered, output(t, job).Outcome)
}

// TestSoftStopBeforeSendRequeues stops the client while a job waits for the
// rate limiter: nothing was sent, so the job goes back to the queue with
// its attempt not used up.
func TestSoftStopBeforeSendRequeues(t *testing.T) {
	gw := smstest.New(t)
	limiter := rate.NewLimiter(rate.Every(time.Hour), 1)
	require.True(t, limiter.Allow()) // empty the bucket
	h := newHarness(t, NewWorker(newCourier(t, gw), WorkerConfig{Limiter: limiter}), Config{testOnly: true, JobTimeout: -1})
	res, err := Enqueue(context.Background(), h.client, message("otp-wait"), nil)
	require.NoError(t, err)
	h.start(t)
	require.Eventually(t, func() bool {
		job, err := h.client.JobGet(context.Background(), res.Job.ID)
		return err == nil && job.State == rivertype.JobStateRunning
	}, waitLimit, 10*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	require.NoError(t, h.client.StopAndCancel(ctx))

	job, err := h.client.JobGet(context.Background(), res.Job.ID)
	require.NoError(t, err)
	assert.Equal(t, rivertype.JobStateAvailable, job.State)
	assert.Equal(t, 0, job.Attempt)
	assert.Equal(t, 0, gw.Count())
}

func TestEnqueueTxIsTransactional(t *testing.T) {
	gw := smstest.New(t)
	h := newHarness(t, NewWorker(newCourier(t, gw), WorkerConfig{}), testConfig())
	h.start(t)
	ctx := context.Background()

	tx, err := h.db.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = EnqueueTx(ctx, h.client, tx, message("otp-rolled-back"), nil)
	require.NoError(t, err)
	require.NoError(t, tx.Rollback())

	// Insert options apply as with Enqueue; UniqueOpts give way to the key.
	opts := &river.InsertOpts{Tags: []string{"signup"}, MaxAttempts: 2, UniqueOpts: river.UniqueOpts{ByArgs: true}}
	tx, err = h.db.BeginTx(ctx, nil)
	require.NoError(t, err)
	committed, err := EnqueueTx(ctx, h.client, tx, message("otp-committed"), opts)
	require.NoError(t, err)
	other := message("otp-committed")
	other.Body = "other args, same key"
	dup, err := EnqueueTx(ctx, h.client, tx, other, opts)
	require.NoError(t, err)
	require.NoError(t, tx.Commit())
	assert.True(t, dup.UniqueSkippedAsDuplicate, "unique by key, not by args")
	assert.Equal(t, committed.Job.ID, dup.Job.ID)
	assert.Equal(t, []string{"signup"}, committed.Job.Tags)
	assert.Equal(t, 2, committed.Job.MaxAttempts)
	assert.Equal(t, QueueName, committed.Job.Queue)

	job := h.waitOne(t, committed.Job.ID)
	assert.Equal(t, rivertype.JobStateCompleted, job.State)
	assert.Equal(t, map[string]int{"otp-committed": 1}, keysAt(gw))
	jobs, err := h.client.JobList(ctx, river.NewJobListParams().States(rivertype.JobStates()...))
	require.NoError(t, err)
	require.Len(t, jobs.Jobs, 1, "the rolled-back job does not exist")
	assert.Equal(t, committed.Job.ID, jobs.Jobs[0].ID)
}

// TestRetentionDeletesFinishedJobs checks that finished jobs, with the
// message text in their args, are deleted after the retention period. River
// cleans when a client becomes leader and then every 30 s, so a second
// client starts after the first finished its jobs.
func TestRetentionDeletesFinishedJobs(t *testing.T) {
	gw := smstest.New(t)
	gw.Respond(func(r smstest.Request) smstest.Reply {
		if r.JSONField("key") == "otp-rejected" {
			return smstest.Reply{Status: http.StatusBadRequest}
		}
		return smstest.Reply{Status: http.StatusCreated}
	})
	cfg := Config{testOnly: true, CompletedJobRetentionPeriod: time.Millisecond, CancelledJobRetentionPeriod: time.Millisecond}
	h := newHarness(t, NewWorker(newCourier(t, gw), WorkerConfig{}), cfg)
	ctx := context.Background()
	res, err := EnqueueMany(ctx, h.client, []smscourier.Message{message("otp-sent"), message("otp-rejected")}, nil)
	require.NoError(t, err)
	h.start(t)
	done := h.waitFinal(t, 2)
	assert.Equal(t, river.EventKindJobCompleted, done[res[0].Job.ID].Kind)
	assert.Equal(t, river.EventKindJobCancelled, done[res[1].Job.ID].Kind)
	stopCtx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	require.NoError(t, h.client.Stop(stopCtx))

	cleaner := newClient(t, h.db, NewWorker(newCourier(t, gw), WorkerConfig{}), cfg)
	require.NoError(t, cleaner.Start(ctx))
	require.Eventually(t, func() bool {
		jobs, err := cleaner.JobList(ctx, river.NewJobListParams().States(rivertype.JobStates()...))
		return err == nil && len(jobs.Jobs) == 0
	}, waitLimit, 20*time.Millisecond, "finished jobs deleted")

	// With the rows gone, the keys are free again.
	again, err := Enqueue(ctx, cleaner, message("otp-sent"), nil)
	require.NoError(t, err)
	assert.False(t, again.UniqueSkippedAsDuplicate)
}

// countingLimiter counts the waits of the limiter it wraps.
type countingLimiter struct {
	*rate.Limiter
	waits atomic.Int64
}

func (l *countingLimiter) Wait(ctx context.Context) error {
	l.waits.Add(1)
	return l.Limiter.Wait(ctx)
}

func TestRateLimit(t *testing.T) {
	const (
		n     = 10
		r     = 20 // sends per second
		burst = 2
	)
	gw := smstest.New(t)
	start := time.Now()
	limiter := &countingLimiter{Limiter: rate.NewLimiter(r, burst)}
	h := newHarness(t, NewWorker(newCourier(t, gw), WorkerConfig{Limiter: limiter}), testConfig())
	msgs := make([]smscourier.Message, n)
	for i := range msgs {
		msgs[i] = message(fmt.Sprintf("otp-rate-%d", i))
	}
	_, err := EnqueueMany(context.Background(), h.client, msgs, nil)
	require.NoError(t, err)
	h.start(t)
	h.waitFinal(t, n)

	assert.Equal(t, int64(n), limiter.waits.Load(), "one wait per send")
	reqs := gw.Requests()
	require.Len(t, reqs, n)
	// The bucket started full at start: the n-th send cannot come before
	// (n-burst)/r later. A lower bound only, so a slow machine cannot fail it.
	last := reqs[n-1].Time
	minimum := time.Duration(float64(n-burst) / r * float64(time.Second))
	assert.GreaterOrEqual(t, last.Sub(start), minimum)
}

func TestRateLimitWaitPastDeadlineSnoozes(t *testing.T) {
	gw := smstest.New(t)
	limiter := rate.NewLimiter(rate.Every(time.Hour), 1)
	require.True(t, limiter.Allow()) // the next token is an hour away
	w := NewWorker(newCourier(t, gw), WorkerConfig{Limiter: limiter})
	h := newHarness(t, w, testConfig())
	res, err := Enqueue(context.Background(), h.client, message("otp-starved"), nil)
	require.NoError(t, err)
	events, cancel := h.client.Subscribe(river.EventKindJobSnoozed)
	defer cancel()
	h.start(t)

	select {
	case ev := <-events:
		assert.Equal(t, res.Job.ID, ev.Job.ID)
		assert.Equal(t, 0, ev.Job.Attempt, "a snooze uses up no attempt")
		assert.Equal(t, OutcomeSnoozed, output(t, ev.Job).Outcome)
	case <-time.After(waitLimit):
		t.Fatal("no snooze")
	}
	assert.Equal(t, 0, gw.Count())
}

func TestNewWorkerNilCourierPanics(t *testing.T) {
	assert.Panics(t, func() { NewWorker(nil, WorkerConfig{}) })
}

func TestConfigRejectsNegative(t *testing.T) {
	for _, cfg := range []Config{{MaxWorkers: -1}, {MaxJobAttempts: -1}, {FetchCooldown: -1}, {JobTimeout: -2}} {
		_, err := cfg.RiverConfig(nil)
		assert.Error(t, err, "%+v", cfg)
	}
}

func TestRiverConfigDefaults(t *testing.T) {
	gw := smstest.New(t)
	rc, err := Config{}.RiverConfig(NewWorker(newCourier(t, gw), WorkerConfig{}))
	require.NoError(t, err)
	assert.Equal(t, DefaultMaxJobAttempts, rc.MaxAttempts)
	assert.Equal(t, DefaultFetchCooldown, rc.FetchCooldown)
	assert.Equal(t, DefaultFetchPollIntervalPostgres, rc.FetchPollInterval)
	assert.Equal(t, DefaultRetentionPeriod, rc.CompletedJobRetentionPeriod)
	assert.Equal(t, DefaultRetentionPeriod, rc.CancelledJobRetentionPeriod)
	assert.Equal(t, DefaultRetentionPeriod, rc.DiscardedJobRetentionPeriod)
	assert.Equal(t, DefaultRescueStuckJobsAfter, rc.RescueStuckJobsAfter)
	assert.Equal(t, map[string]river.QueueConfig{QueueName: {MaxWorkers: DefaultMaxWorkers}}, rc.Queues)

	rc, err = Config{CompletedJobRetentionPeriod: -1, JobTimeout: 10 * time.Minute}.RiverConfig(nil)
	require.NoError(t, err)
	assert.Equal(t, time.Duration(-1), rc.CompletedJobRetentionPeriod, "kept forever")
	assert.Equal(t, 11*time.Minute, rc.RescueStuckJobsAfter)
	assert.Nil(t, rc.Queues)
	assert.Nil(t, rc.Workers)
}

func TestFinalErrorHidesContextErrors(t *testing.T) {
	err := cancel(smscourier.ErrOutcomeUnknown, fmt.Errorf("x: %w", errors.Join(smscourier.ErrOutcomeUnknown, context.Canceled)))
	assert.NotErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, smscourier.ErrOutcomeUnknown)
	var ce *river.JobCancelError
	assert.ErrorAs(t, err, &ce)
}

// TestUniqueInEveryState checks the unique states the insert hook gives a
// job, as River reads them back from the stored bitmask: every state, also
// when the caller asked for other unique options.
func TestUniqueInEveryState(t *testing.T) {
	db := newDB(t)
	client := newClient(t, db, nil, testConfig())
	ctx := context.Background()
	want := rivertype.JobStates()
	slices.Sort(want)
	for _, tc := range []struct {
		name string
		opts *river.InsertOpts
	}{
		{"no options", nil},
		{"caller's by args", &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}},
		{"caller's states", &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByState: rivertype.UniqueOptsByStateDefault()}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "otp-states-" + strings.ReplaceAll(tc.name, " ", "-")
			res, err := Enqueue(ctx, client, message(key), tc.opts)
			require.NoError(t, err)
			job, err := client.JobGet(ctx, res.Job.ID)
			require.NoError(t, err)
			got := slices.Clone(job.UniqueStates)
			slices.Sort(got)
			assert.Equal(t, want, got)
			assert.Equal(t, uniqueKey(key), job.UniqueKey)
		})
	}
}

// otherTx stands for the transaction type of a driver not on database/sql.
type otherTx struct{}

func TestNewClientFetchPollInterval(t *testing.T) {
	for _, tc := range []struct {
		name string
		rc   func(Config, *Worker) (*river.Config, error)
		cfg  Config
		want time.Duration
	}{
		{"sql.Tx (SQLite)", riverConfigFor[*sql.Tx], Config{}, DefaultFetchPollIntervalSQLite},
		{"other (PostgreSQL)", riverConfigFor[otherTx], Config{}, DefaultFetchPollIntervalPostgres},
		{"sql.Tx, set", riverConfigFor[*sql.Tx], Config{FetchPollInterval: time.Second}, time.Second},
		{"other, set", riverConfigFor[otherTx], Config{FetchPollInterval: 70 * time.Millisecond}, 70 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc, err := tc.rc(tc.cfg, nil)
			require.NoError(t, err)
			assert.Equal(t, tc.want, rc.FetchPollInterval)
		})
	}
}

// lockedBuffer is a bytes.Buffer safe for the worker's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAttemptWords: the output and the log record name HTTP requests
// "attempts", as the courier does, and River's attempt at the job
// "job_attempt".
func TestAttemptWords(t *testing.T) {
	gw := smstest.New(t)
	gw.Script(smstest.Reply{Status: http.StatusTooManyRequests}, smstest.Reply{Status: http.StatusCreated})
	var logs lockedBuffer
	// Up to two HTTP requests per job attempt: the first job attempt
	// sends with its second request.
	courier, err := smscourier.New(gatewayConfig(gw), smscourier.WithRetryPolicy(smscourier.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}))
	require.NoError(t, err)
	h := newHarness(t, NewWorker(courier, WorkerConfig{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}), testConfig())
	res, err := Enqueue(context.Background(), h.client, message("otp-words"), nil)
	require.NoError(t, err)
	h.start(t)
	job := h.waitOne(t, res.Job.ID)
	require.Equal(t, rivertype.JobStateCompleted, job.State)
	require.Equal(t, 2, gw.Count())

	var recorded map[string]any
	require.NoError(t, json.Unmarshal(job.Output(), &recorded))
	assert.Equal(t, 2.0, recorded["attempts"], "HTTP requests")
	assert.Equal(t, 1.0, recorded["job_attempt"])
	assert.NotContains(t, recorded, "requests")

	var rec map[string]any
	require.NoError(t, json.Unmarshal([]byte(logs.String()), &rec), "one record")
	assert.Equal(t, 2.0, rec["attempts"], "HTTP requests")
	assert.Equal(t, 1.0, rec["job_attempt"])
	assert.NotContains(t, rec, "attempt")
	assert.NotContains(t, rec, "requests")
}

// TestOutputOfEarlierOutput: an output recorded before Attempts was named
// "attempts" (it was "requests") still decodes, with its job attempt, which
// is what a later attempt's crash check reads.
func TestOutputOfEarlierOutput(t *testing.T) {
	job := &rivertype.JobRow{Metadata: []byte(`{"output":{"outcome":"retry","class":"not_sent","requests":1,"job_attempt":2,"idempotency_key":"k","to":"****"}}`)}
	out, ok := OutputOf(job)
	require.True(t, ok)
	assert.Equal(t, Output{Outcome: OutcomeRetry, Class: "not_sent", JobAttempt: 2, IdempotencyKey: "k", To: "****"}, out)
}
