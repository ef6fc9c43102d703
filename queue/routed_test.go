package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/queue/internal/accepted"
	"github.com/smscourier/smscourier/smstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRoutedJobs sends one message through a Router over a primary and a
// secondary gateway, built WithoutRetries, and checks what each gateway
// accepted and what the job became: one job attempt walks the route once.
func TestRoutedJobs(t *testing.T) {
	const key = "otp-routed"
	for _, tc := range []struct {
		name      string
		primary   []smstest.Reply // nil: the primary refuses connections
		secondary []smstest.Reply // nil: 201
		opts      []smscourier.Option
		wantState rivertype.JobState
		wantOut   string
		wantClass string
		wantGW    string
		wantTried []smscourier.Try
		// Requests and deliveries (accepted requests) of the message at
		// each gateway.
		wantPrimaryReqs, wantSecondaryReqs int
		wantPrimary, wantSecondary         map[string]int
		// wantSnoozes is River's snooze count; the first attempt's output
		// is then snoozed, with wantSnoozedTried and a Retry-After of at
		// most wantSnooze.
		wantSnoozes      int
		wantSnoozedTried []smscourier.Try
		wantSnooze       time.Duration
	}{
		{
			name:      "primary refuses connections: once via the secondary",
			wantState: rivertype.JobStateCompleted, wantOut: OutcomeSent, wantClass: "ok", wantGW: "secondary",
			wantTried:         []smscourier.Try{{Gateway: "primary", Class: smscourier.ClassNotSent}, {Gateway: "secondary", Class: smscourier.ClassOK}},
			wantSecondaryReqs: 1, wantPrimary: map[string]int{}, wantSecondary: map[string]int{key: 1},
		},
		{
			name:      "primary 503 with Retry-After: once via the secondary",
			primary:   []smstest.Reply{{Status: http.StatusServiceUnavailable, RetryAfter: "120"}},
			wantState: rivertype.JobStateCompleted, wantOut: OutcomeSent, wantClass: "ok", wantGW: "secondary",
			wantTried:       []smscourier.Try{{Gateway: "primary", Class: smscourier.ClassRefused}, {Gateway: "secondary", Class: smscourier.ClassOK}},
			wantPrimaryReqs: 1, wantSecondaryReqs: 1, wantPrimary: map[string]int{}, wantSecondary: map[string]int{key: 1},
		},
		{
			name:      "primary 400: cancelled, nothing sent to the secondary",
			primary:   []smstest.Reply{{Status: http.StatusBadRequest}},
			wantState: rivertype.JobStateCancelled, wantOut: OutcomeCancelled, wantClass: "rejected", wantGW: "primary",
			wantTried:       []smscourier.Try{{Gateway: "primary", Class: smscourier.ClassRejected}},
			wantPrimaryReqs: 1, wantPrimary: map[string]int{}, wantSecondary: map[string]int{},
		},
		{
			// The primary takes the message, then hangs past the client's
			// timeout: it may have been delivered, so it is sent nowhere
			// else and never again.
			name:      "primary hangs past the client timeout: may have been delivered, nothing sent to the secondary",
			primary:   []smstest.Reply{{Status: http.StatusCreated, Delay: waitLimit}},
			opts:      []smscourier.Option{smscourier.WithHTTPClient(&http.Client{Timeout: 200 * time.Millisecond})},
			wantState: rivertype.JobStateCancelled, wantOut: OutcomeMaybeDelivered, wantClass: "outcome_unknown", wantGW: "primary",
			wantTried:       []smscourier.Try{{Gateway: "primary", Class: smscourier.ClassOutcomeUnknown}},
			wantPrimaryReqs: 1, wantPrimary: map[string]int{key: 1}, wantSecondary: map[string]int{},
		},
		{
			// Snoozed for the secondary's 1 s, not the primary's 30 s: when
			// the job runs again the primary's wait has not passed, so it
			// is passed over without a request.
			name:      "both 503 with Retry-After: snoozed for the shorter wait, then once via the secondary",
			primary:   []smstest.Reply{{Status: http.StatusServiceUnavailable, RetryAfter: "30"}},
			secondary: []smstest.Reply{{Status: http.StatusServiceUnavailable, RetryAfter: "1"}, {Status: http.StatusCreated}},
			wantState: rivertype.JobStateCompleted, wantOut: OutcomeSent, wantClass: "ok", wantGW: "secondary",
			wantTried:       []smscourier.Try{{Gateway: "primary", Skipped: smscourier.SkipRetryAfter}, {Gateway: "secondary", Class: smscourier.ClassOK}},
			wantPrimaryReqs: 1, wantSecondaryReqs: 2, wantPrimary: map[string]int{}, wantSecondary: map[string]int{key: 1},
			wantSnoozes:      1,
			wantSnoozedTried: []smscourier.Try{{Gateway: "primary", Class: smscourier.ClassRefused}, {Gateway: "secondary", Class: smscourier.ClassRefused}},
			wantSnooze:       time.Second,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			primaryURL := refusingEndpoint()
			primary := smstest.New(t)
			var primaryDeliveries *accepted.Counts
			if tc.primary != nil {
				primaryURL = primary.Endpoint("/v1/messages")
				primaryDeliveries = accepted.Answer(primary, accepted.Script(tc.primary...))
			}
			secondary := smstest.New(t)
			secondaryDeliveries := accepted.Answer(secondary, accepted.Script(tc.secondary...))
			router := newRouter(t, primaryURL, secondary.Endpoint("/v1/messages"), smscourier.BreakerConfig{}, tc.opts...)
			h := newHarness(t, NewWorker(router, WorkerConfig{}), testConfig())
			snoozed, cancel := h.client.Subscribe(river.EventKindJobSnoozed)
			defer cancel()
			res, err := Enqueue(context.Background(), h.client, message(key), nil)
			require.NoError(t, err)
			h.start(t)

			job := h.waitOne(t, res.Job.ID)
			assert.Equal(t, tc.wantState, job.State)
			assert.Equal(t, 1, job.Attempt, "one job attempt")
			out := output(t, job)
			assert.Equal(t, tc.wantOut, out.Outcome)
			assert.Equal(t, tc.wantClass, out.Class)
			assert.Equal(t, tc.wantGW, out.Gateway)
			assert.Equal(t, tc.wantTried, out.Tried)
			assert.Equal(t, tc.wantSnoozes, snoozes(&river.Job[SendArgs]{JobRow: job}), "snoozes; metadata %s", job.Metadata)

			assert.Equal(t, tc.wantPrimaryReqs, primary.Count(), "requests at the primary")
			assert.Equal(t, tc.wantSecondaryReqs, secondary.Count(), "requests at the secondary")
			if primaryDeliveries != nil {
				assert.Equal(t, tc.wantPrimary, primaryDeliveries.ByKey(), "deliveries at the primary")
			}
			assert.Equal(t, tc.wantSecondary, secondaryDeliveries.ByKey(), "deliveries at the secondary")

			if tc.wantSnoozes == 0 {
				return
			}
			select {
			case ev := <-snoozed:
				first := output(t, ev.Job)
				assert.Equal(t, OutcomeSnoozed, first.Outcome)
				assert.Equal(t, "refused", first.Class)
				assert.Equal(t, "secondary", first.Gateway, "the last gateway tried")
				assert.Equal(t, tc.wantSnoozedTried, first.Tried)
				assert.Equal(t, 2, first.Attempts)
				// The wait left of the shorter Retry-After.
				assert.Greater(t, first.RetryAfterSeconds, 0.0)
				assert.LessOrEqual(t, first.RetryAfterSeconds, tc.wantSnooze.Seconds())
				require.NotNil(t, ev.Job.AttemptedAt)
				wait := ev.Job.ScheduledAt.Sub(*ev.Job.AttemptedAt)
				assert.GreaterOrEqual(t, wait.Seconds(), first.RetryAfterSeconds, "snoozed for the wait asked")
				assert.Less(t, wait, 10*time.Second, "not for the primary's 30 s")
			default:
				t.Fatal("no snooze event")
			}
			reqs := secondary.Requests()
			require.Len(t, reqs, 2)
			assert.GreaterOrEqual(t, reqs[1].Time.Sub(reqs[0].Time), tc.wantSnooze-100*time.Millisecond, "the retry waited for the shorter Retry-After")
		})
	}
}

// TestRoutedOutcomeUnknownWithHeaderIsRetried: a Router built with an
// idempotency key header reports it, so the worker retries an outcome
// unknown under the same key.
func TestRoutedOutcomeUnknownWithHeaderIsRetried(t *testing.T) {
	primary, secondary := smstest.New(t), smstest.New(t)
	primaryDeliveries := accepted.Answer(primary, accepted.Script(smstest.Reply{Reset: true}, smstest.Reply{Status: http.StatusCreated}))
	secondaryDeliveries := accepted.Answer(secondary, accepted.Script())
	router := newRouter(t, primary.Endpoint("/v1/messages"), secondary.Endpoint("/v1/messages"), smscourier.BreakerConfig{},
		smscourier.WithIdempotencyKeyHeader("Idempotency-Key"))
	h := newHarness(t, NewWorker(router, WorkerConfig{}), testConfig())
	res, err := Enqueue(context.Background(), h.client, message("otp-routed-retry"), nil)
	require.NoError(t, err)
	h.start(t)

	job := h.waitOne(t, res.Job.ID)
	assert.Equal(t, rivertype.JobStateCompleted, job.State)
	assert.Equal(t, 2, job.Attempt, "retried by River")
	out := output(t, job)
	assert.Equal(t, "primary", out.Gateway)
	assert.Equal(t, []smscourier.Try{{Gateway: "primary", Class: smscourier.ClassOK}}, out.Tried)
	reqs := primary.Requests()
	require.Len(t, reqs, 2)
	for _, r := range reqs {
		assert.Equal(t, "otp-routed-retry", r.Header.Get("Idempotency-Key"))
	}
	assert.Equal(t, map[string]int{"otp-routed-retry": 1}, primaryDeliveries.ByKey())
	assert.Empty(t, secondaryDeliveries.ByKey())
	assert.Equal(t, 0, secondary.Count())
}

// TestRoutedFlappingDeliversEachMessageOnce queues 200 messages while the
// primary flaps between accepting and refusing (10 requests each way), and
// checks that each was delivered exactly once across both gateways, by
// the gateway its output names.
func TestRoutedFlappingDeliversEachMessageOnce(t *testing.T) {
	primary, secondary := smstest.New(t), smstest.New(t)
	primaryDeliveries := accepted.Answer(primary, func(n int64) smstest.Reply {
		if n/10%2 == 1 {
			return smstest.Reply{Status: http.StatusServiceUnavailable}
		}
		return smstest.Reply{Status: http.StatusCreated}
	})
	secondaryDeliveries := accepted.Answer(secondary, accepted.Script())
	// A short cool-down, so that the primary's breaker does not keep
	// every message on the secondary.
	router := newRouter(t, primary.Endpoint("/v1/messages"), secondary.Endpoint("/v1/messages"),
		smscourier.BreakerConfig{Failures: 3, CoolDown: time.Millisecond})
	h := newHarness(t, NewWorker(router, WorkerConfig{}), testConfig())

	const n = 200
	msgs := make([]smscourier.Message, n)
	for i := range msgs {
		msgs[i] = message(fmt.Sprintf("otp-flap-%03d", i))
	}
	_, err := EnqueueMany(context.Background(), h.client, msgs, nil)
	require.NoError(t, err)
	h.start(t)
	done := h.waitFinal(t, n)

	byPrimary, bySecondary := primaryDeliveries.ByKey(), secondaryDeliveries.ByKey()
	for _, m := range msgs {
		assert.Equal(t, 1, byPrimary[m.IdempotencyKey]+bySecondary[m.IdempotencyKey], "deliveries of %s", m.IdempotencyKey)
	}
	assert.Equal(t, n, len(byPrimary)+len(bySecondary), "no other key delivered")
	assert.Positive(t, len(byPrimary), "the primary took some")
	assert.Positive(t, len(bySecondary), "the secondary took some")
	for id, ev := range done {
		require.Equal(t, river.EventKindJobCompleted, ev.Kind, "job %d", id)
		out := output(t, ev.Job)
		assert.Equal(t, OutcomeSent, out.Outcome)
		require.NotEmpty(t, out.Tried)
		assert.Equal(t, smscourier.Try{Gateway: out.Gateway, Class: smscourier.ClassOK}, out.Tried[len(out.Tried)-1])
		delivered := map[string]map[string]int{"primary": byPrimary, "secondary": bySecondary}[out.Gateway]
		assert.Equal(t, 1, delivered[out.IdempotencyKey], "job %d: delivered by the gateway its output names (%s)", id, out.Gateway)
	}
	t.Logf("primary %d requests, %d delivered; secondary %d", primary.Count(), len(byPrimary), len(bySecondary))
}

// TestRoutedLogRecordNamesTheGateway: the worker's log record names the
// gateway that sent the message, and the output its route.
func TestRoutedLogRecordNamesTheGateway(t *testing.T) {
	secondary := smstest.New(t)
	var logs lockedBuffer
	router := newRouter(t, refusingEndpoint(), secondary.Endpoint("/v1/messages"), smscourier.BreakerConfig{})
	h := newHarness(t, NewWorker(router, WorkerConfig{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}), testConfig())
	res, err := Enqueue(context.Background(), h.client, message("otp-logged"), nil)
	require.NoError(t, err)
	h.start(t)
	job := h.waitOne(t, res.Job.ID)
	require.Equal(t, rivertype.JobStateCompleted, job.State)

	var rec map[string]any
	require.NoError(t, json.Unmarshal([]byte(logs.String()), &rec), "one record")
	assert.Equal(t, "secondary", rec["gateway"])
	assert.Equal(t, 2.0, rec["attempts"], "HTTP requests over the route")

	var recorded map[string]any
	require.NoError(t, json.Unmarshal(job.Output(), &recorded))
	assert.Equal(t, "secondary", recorded["gateway"])
	assert.Equal(t, []any{
		map[string]any{"gateway": "primary", "class": "not_sent"},
		map[string]any{"gateway": "secondary", "class": "ok"},
	}, recorded["tried"])
}

// TestNewWorkerNilSenderPanics: a nil Sender, as a nil interface or a nil
// pointer of either kind, is refused at once.
func TestNewWorkerNilSenderPanics(t *testing.T) {
	for name, s := range map[string]smscourier.Sender{
		"nil interface": nil,
		"nil Courier":   (*smscourier.Courier)(nil),
		"nil Router":    (*smscourier.Router)(nil),
	} {
		t.Run(name, func(t *testing.T) {
			assert.PanicsWithValue(t, "smscourier/queue: NewWorker: nil Sender", func() { NewWorker(s, WorkerConfig{}) })
		})
	}
}

// TestRoutedOutcomeUnknownStaysAtItsGateway: with an idempotency key
// header, a job whose outcome was unknown at one gateway of its route is
// retried at that gateway alone, whatever the route would now choose: only
// there does the key make a repeat a no-op.
func TestRoutedOutcomeUnknownStaysAtItsGateway(t *testing.T) {
	const key = "otp-pinned"
	hang := smstest.Reply{Status: http.StatusCreated, Delay: waitLimit} // taken, then no reply
	for _, tc := range []struct {
		name               string
		primary, secondary []smstest.Reply
		breaker            smscourier.BreakerConfig
		wantGW             string
		// Requests at each gateway, every one under the message's key.
		wantPrimaryReqs, wantSecondaryReqs int
	}{
		{
			// Its breaker opens on the unknown outcome: the route would now
			// pass the primary over and send through the secondary.
			name:    "unknown at the primary, whose breaker then opens",
			primary: []smstest.Reply{hang, {Status: http.StatusCreated}},
			breaker: smscourier.BreakerConfig{Failures: 1, CoolDown: time.Hour},
			wantGW:  "primary", wantPrimaryReqs: 2, wantSecondaryReqs: 0,
		},
		{
			// The route would now send through the primary.
			name:      "unknown at the secondary after the primary refused, the primary up again",
			primary:   []smstest.Reply{{Status: http.StatusServiceUnavailable}, {Status: http.StatusCreated}},
			secondary: []smstest.Reply{hang, {Status: http.StatusCreated}},
			wantGW:    "secondary", wantPrimaryReqs: 1, wantSecondaryReqs: 2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			primary, secondary := smstest.New(t), smstest.New(t)
			primaryDeliveries := accepted.Answer(primary, accepted.Script(tc.primary...))
			secondaryDeliveries := accepted.Answer(secondary, accepted.Script(tc.secondary...))
			router := newRouter(t, primary.Endpoint("/v1/messages"), secondary.Endpoint("/v1/messages"), tc.breaker,
				smscourier.WithIdempotencyKeyHeader("Idempotency-Key"),
				smscourier.WithHTTPClient(&http.Client{Timeout: 200 * time.Millisecond}))
			h := newHarness(t, NewWorker(router, WorkerConfig{}), testConfig())
			res, err := Enqueue(context.Background(), h.client, message(key), nil)
			require.NoError(t, err)
			h.start(t)

			job := h.waitOne(t, res.Job.ID)
			assert.Equal(t, rivertype.JobStateCompleted, job.State)
			assert.Equal(t, 2, job.Attempt, "retried by River")
			out := output(t, job)
			assert.Equal(t, tc.wantGW, out.Gateway)
			assert.Equal(t, tc.wantGW, out.Pinned)
			assert.Equal(t, []smscourier.Try{{Gateway: tc.wantGW, Class: smscourier.ClassOK}}, out.Tried)

			assert.Equal(t, tc.wantPrimaryReqs, primary.Count(), "requests at the primary")
			assert.Equal(t, tc.wantSecondaryReqs, secondary.Count(), "requests at the secondary")
			for _, r := range append(primary.Requests(), secondary.Requests()...) {
				assert.Equal(t, key, r.Header.Get("Idempotency-Key"))
			}
			// Accepted by one gateway only, which deduplicates on the key.
			other := map[string]*accepted.Counts{"primary": secondaryDeliveries, "secondary": primaryDeliveries}[tc.wantGW]
			assert.Empty(t, other.ByKey(), "deliveries at the other gateway")
		})
	}
}

// TestRoutedAttemptAfterUnknownOutcome covers job attempts that follow one
// whose outcome was unknown under a Router with an idempotency key header,
// set up by hand as River would leave them: a crashed attempt, which may
// have sent through any gateway of the route, and an attempt pinned to a
// gateway that the Router no longer has.
func TestRoutedAttemptAfterUnknownOutcome(t *testing.T) {
	for _, tc := range []struct {
		name      string
		gateways  int    // of the route: 1 (primary) or 2 (primary, secondary)
		output    string // the output recorded before; "": none (a crash)
		wantState rivertype.JobState
		wantOut   string
		wantReqs  int // requests at the primary
	}{
		{name: "crash, route of two gateways: not resent", gateways: 2,
			wantState: rivertype.JobStateCancelled, wantOut: OutcomeMaybeDelivered},
		{name: "crash, route of one gateway: resent under the key", gateways: 1,
			wantState: rivertype.JobStateCompleted, wantOut: OutcomeSent, wantReqs: 1},
		{name: "pinned to a gateway the router no longer has: not resent", gateways: 2,
			output:    `{"outcome":"retry","class":"outcome_unknown","attempts":1,"gateway":"old","pinned":"old","job_attempt":1,"idempotency_key":"otp-after","to":"********2223"}`,
			wantState: rivertype.JobStateCancelled, wantOut: OutcomeMaybeDelivered},
		{name: "pinned to the primary: resent there", gateways: 2,
			output:    `{"outcome":"retry","class":"outcome_unknown","attempts":1,"gateway":"primary","pinned":"primary","job_attempt":1,"idempotency_key":"otp-after","to":"********2223"}`,
			wantState: rivertype.JobStateCompleted, wantOut: OutcomeSent, wantReqs: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			primary, secondary := smstest.New(t), smstest.New(t)
			cfg := smscourier.RoutingConfig{
				Gateways: map[string]smscourier.SMSConfig{"primary": gatewayConfig(primary)},
				Default:  smscourier.Route{Gateways: []smscourier.RouteStep{{Gateway: "primary"}}},
			}
			if tc.gateways == 2 {
				cfg.Gateways["secondary"] = gatewayConfig(secondary)
				cfg.Default.Gateways = append(cfg.Default.Gateways, smscourier.RouteStep{Gateway: "secondary"})
			}
			router, err := smscourier.NewRouter(cfg, smscourier.WithoutRetries(), smscourier.WithIdempotencyKeyHeader("Idempotency-Key"))
			require.NoError(t, err)
			h := newHarness(t, NewWorker(router, WorkerConfig{}), testConfig())
			res, err := Enqueue(context.Background(), h.client, message("otp-after"), nil)
			require.NoError(t, err)
			// Attempt 1 started, and recorded tc.output or nothing.
			metadata := `{}`
			if tc.output != "" {
				metadata = `{"output":` + tc.output + `}`
			}
			_, err = h.db.Exec(`UPDATE river_job SET attempt = 1, attempted_at = datetime('now'), metadata = ? WHERE id = ?`, metadata, res.Job.ID)
			require.NoError(t, err)
			h.start(t)

			job := h.waitOne(t, res.Job.ID)
			assert.Equal(t, tc.wantState, job.State)
			out := output(t, job)
			assert.Equal(t, tc.wantOut, out.Outcome)
			if tc.wantState == rivertype.JobStateCancelled {
				assert.Contains(t, out.Reason, "may have been delivered")
			}
			assert.Equal(t, tc.wantReqs, primary.Count(), "requests at the primary")
			assert.Equal(t, 0, secondary.Count(), "requests at the secondary")
		})
	}
}
