//go:build postgres

package pgtests

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/smscourier/smscourier"
	"github.com/smscourier/smscourier/queue"
	"github.com/smscourier/smscourier/queue/internal/accepted"
	"github.com/smscourier/smscourier/smstest"
)

// routerFor returns a Router that sends every message to the gateway named
// primary at primaryURL, then to the one named secondary at secondaryURL,
// built WithoutRetries, with extra options after that.
func routerFor(t testing.TB, primaryURL, secondaryURL string, breaker smscourier.BreakerConfig, opts ...smscourier.Option) *smscourier.Router {
	t.Helper()
	gateway := func(url string) smscourier.SMSConfig {
		return smscourier.SMSConfig{
			Enabled: true,
			From:    "+12065550110",
			RequestConfig: smscourier.RequestConfig{
				URL: url + "/v1/messages", Method: "POST", Body: b64(bodyTemplate),
			},
		}
	}
	r, err := smscourier.NewRouter(smscourier.RoutingConfig{
		Gateways: map[string]smscourier.SMSConfig{"primary": gateway(primaryURL), "secondary": gateway(secondaryURL)},
		Default:  smscourier.Route{Gateways: []smscourier.RouteStep{{Gateway: "primary"}, {Gateway: "secondary"}}},
		Breaker:  breaker,
	}, append([]smscourier.Option{smscourier.WithoutRetries()}, opts...)...)
	require.NoError(t, err)
	return r
}

// refusingURL returns the URL of a gateway that refuses connections:
// nothing listens on its loopback port any more.
func refusingURL() string {
	gw := smstest.NewServer()
	url := gw.URL()
	gw.Close()
	return url
}

// TestRoutedScenarios sends one message through a Router over a primary
// and a secondary gateway, built WithoutRetries: one job attempt walks the
// route once.
func TestRoutedScenarios(t *testing.T) {
	const key = "routed-key"
	for _, tc := range []struct {
		name      string
		primary   []smstest.Reply // nil: the primary refuses connections
		secondary []smstest.Reply // nil: 201
		opts      []smscourier.Option
		wantState rivertype.JobState
		wantOut   string
		wantGW    string
		wantTried []smscourier.Try
		wantPin   string
		// Requests at each gateway, and the message's deliveries
		// (accepted requests).
		wantPrimaryReqs, wantSecondaryReqs int
		wantPrimary, wantSecondary         int
		wantAttempt                        int
		wantSnoozes                        int
		wantGap                            time.Duration // least time between the secondary's first two requests
	}{
		{
			name:      "primary refuses connections: once via the secondary",
			wantState: rivertype.JobStateCompleted, wantOut: queue.OutcomeSent, wantGW: "secondary",
			wantTried:         []smscourier.Try{{Gateway: "primary", Class: smscourier.ClassNotSent}, {Gateway: "secondary", Class: smscourier.ClassOK}},
			wantSecondaryReqs: 1, wantSecondary: 1, wantAttempt: 1,
		},
		{
			name:      "primary 503 with Retry-After: once via the secondary",
			primary:   []smstest.Reply{{Status: 503, RetryAfter: "120"}},
			wantState: rivertype.JobStateCompleted, wantOut: queue.OutcomeSent, wantGW: "secondary",
			wantTried:       []smscourier.Try{{Gateway: "primary", Class: smscourier.ClassRefused}, {Gateway: "secondary", Class: smscourier.ClassOK}},
			wantPrimaryReqs: 1, wantSecondaryReqs: 1, wantSecondary: 1, wantAttempt: 1,
		},
		{
			name:      "primary 400: cancelled, nothing sent to the secondary",
			primary:   []smstest.Reply{{Status: 400}},
			wantState: rivertype.JobStateCancelled, wantOut: queue.OutcomeCancelled, wantGW: "primary",
			wantTried:       []smscourier.Try{{Gateway: "primary", Class: smscourier.ClassRejected}},
			wantPrimaryReqs: 1, wantAttempt: 1,
		},
		{
			name:      "primary hangs past the client timeout: may have been delivered, nothing sent to the secondary",
			primary:   []smstest.Reply{{Status: 201, Delay: waitLimit}},
			opts:      []smscourier.Option{smscourier.WithHTTPClient(&http.Client{Timeout: 200 * time.Millisecond})},
			wantState: rivertype.JobStateCancelled, wantOut: queue.OutcomeMaybeDelivered, wantGW: "primary",
			wantTried:       []smscourier.Try{{Gateway: "primary", Class: smscourier.ClassOutcomeUnknown}},
			wantPrimaryReqs: 1, wantPrimary: 1, wantAttempt: 1,
		},
		{
			// Snoozed for the secondary's 1 s, not the primary's 30 s: when
			// the job runs again, the primary is passed over.
			name:      "both 503 with Retry-After: snoozed for the shorter wait, then once via the secondary",
			primary:   []smstest.Reply{{Status: 503, RetryAfter: "30"}},
			secondary: []smstest.Reply{{Status: 503, RetryAfter: "1"}, {Status: 201}},
			wantState: rivertype.JobStateCompleted, wantOut: queue.OutcomeSent, wantGW: "secondary",
			wantTried:       []smscourier.Try{{Gateway: "primary", Skipped: smscourier.SkipRetryAfter}, {Gateway: "secondary", Class: smscourier.ClassOK}},
			wantPrimaryReqs: 1, wantSecondaryReqs: 2, wantSecondary: 1, wantAttempt: 1, wantSnoozes: 1,
			wantGap: 900 * time.Millisecond,
		},
		{
			// With the header, retried at the secondary alone, which
			// deduplicates on the key: the primary, up again, would not
			// know it.
			name:      "unknown at the secondary after the primary refused, with a header: retried at the secondary",
			primary:   []smstest.Reply{{Status: 503}, {Status: 201}},
			secondary: []smstest.Reply{{Status: 201, Delay: waitLimit}, {Status: 201}},
			opts: []smscourier.Option{smscourier.WithIdempotencyKeyHeader("Idempotency-Key"),
				smscourier.WithHTTPClient(&http.Client{Timeout: 200 * time.Millisecond})},
			wantState: rivertype.JobStateCompleted, wantOut: queue.OutcomeSent, wantGW: "secondary", wantPin: "secondary",
			wantTried:       []smscourier.Try{{Gateway: "secondary", Class: smscourier.ClassOK}},
			wantPrimaryReqs: 1, wantSecondaryReqs: 2, wantSecondary: 2, wantAttempt: 2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := freshDB(t)
			primaryURL := refusingURL()
			primary := smstest.New(t)
			var primaryDeliveries *accepted.Counts // nil: no primary answers
			if tc.primary != nil {
				primaryURL = primary.URL()
				primaryDeliveries = accepted.Answer(primary, accepted.Script(tc.primary...))
			}
			secondary := smstest.New(t)
			secondaryDeliveries := accepted.Answer(secondary, accepted.Script(tc.secondary...))
			router := routerFor(t, primaryURL, secondary.URL(), smscourier.BreakerConfig{}, tc.opts...)
			in := startInstance(t, dsn, queue.NewWorker(router, queue.WorkerConfig{}), queue.Config{})
			res, err := queue.Enqueue(context.Background(), in.client, message(key), nil)
			require.NoError(t, err)

			job := waitFinal(t, 1, in)[res.Job.ID]
			require.NotNil(t, job)
			assert.Equal(t, tc.wantState, job.State)
			out := outputOf(t, job)
			assert.Equal(t, tc.wantOut, out.Outcome)
			assert.Equal(t, tc.wantGW, out.Gateway)
			assert.Equal(t, tc.wantTried, out.Tried)
			assert.Equal(t, tc.wantPin, out.Pinned)
			assert.Equal(t, tc.wantAttempt, job.Attempt, "attempts")
			assert.Equal(t, tc.wantSnoozes, snoozesOf(t, job), "snoozes; metadata %s", job.Metadata)
			if tc.wantState == rivertype.JobStateCancelled {
				assert.NotEmpty(t, out.Reason, "reason recorded")
			}

			assert.Equal(t, tc.wantPrimaryReqs, primary.Count(), "requests at the primary")
			assert.Equal(t, tc.wantSecondaryReqs, secondary.Count(), "requests at the secondary")
			want := func(n int) map[string]int {
				if n == 0 {
					return map[string]int{}
				}
				return map[string]int{key: n}
			}
			if primaryDeliveries != nil {
				assert.Equal(t, want(tc.wantPrimary), primaryDeliveries.ByKey(), "deliveries at the primary")
			}
			assert.Equal(t, want(tc.wantSecondary), secondaryDeliveries.ByKey(), "deliveries at the secondary")
			if reqs := secondary.Requests(); tc.wantGap > 0 && len(reqs) >= 2 {
				assert.GreaterOrEqual(t, reqs[1].Time.Sub(reqs[0].Time), tc.wantGap, "the retry waited for the shorter Retry-After")
			}
		})
	}
}

// TestRoutedFlappingDeliversEachMessageOnce: two instances, each with a
// Router of its own, share one database; 200 messages are queued while the
// primary flaps between accepting and refusing (10 requests each way), and
// each is delivered exactly once across both gateways, by the gateway its
// output names.
func TestRoutedFlappingDeliversEachMessageOnce(t *testing.T) {
	dsn := freshDB(t)
	primary, secondary := smstest.New(t), smstest.New(t)
	primaryDeliveries := accepted.Answer(primary, func(n int64) smstest.Reply {
		if n/10%2 == 1 {
			return smstest.Reply{Status: 503}
		}
		return smstest.Reply{Status: 201}
	})
	secondaryDeliveries := accepted.Answer(secondary, accepted.Script())
	breaker := smscourier.BreakerConfig{Failures: 3, CoolDown: time.Millisecond}
	a := startInstance(t, dsn, queue.NewWorker(routerFor(t, primary.URL(), secondary.URL(), breaker), queue.WorkerConfig{}), queue.Config{})
	b := startInstance(t, dsn, queue.NewWorker(routerFor(t, primary.URL(), secondary.URL(), breaker), queue.WorkerConfig{}), queue.Config{})

	const n = 200
	msgs := make([]smscourier.Message, n)
	for i := range msgs {
		msgs[i] = message(fmt.Sprintf("routed-flap-%03d", i))
	}
	_, err := queue.EnqueueMany(context.Background(), a.client, msgs, nil)
	require.NoError(t, err)
	jobs := waitFinal(t, n, a, b)

	byPrimary, bySecondary := primaryDeliveries.ByKey(), secondaryDeliveries.ByKey()
	for _, m := range msgs {
		require.Equal(t, 1, byPrimary[m.IdempotencyKey]+bySecondary[m.IdempotencyKey], "deliveries of %s", m.IdempotencyKey)
	}
	assert.Equal(t, n, len(byPrimary)+len(bySecondary), "no other key delivered")
	assert.Positive(t, len(byPrimary), "the primary took some")
	assert.Positive(t, len(bySecondary), "the secondary took some")
	for _, job := range jobs {
		require.Equal(t, rivertype.JobStateCompleted, job.State)
		out := outputOf(t, job)
		require.NotEmpty(t, out.Tried)
		assert.Equal(t, smscourier.Try{Gateway: out.Gateway, Class: smscourier.ClassOK}, out.Tried[len(out.Tried)-1])
		delivered := map[string]map[string]int{"primary": byPrimary, "secondary": bySecondary}[out.Gateway]
		assert.Equal(t, 1, delivered[out.IdempotencyKey], "job %d: delivered by the gateway its output names (%s)", job.ID, out.Gateway)
	}
	t.Logf("primary %d requests, %d delivered; secondary %d", primary.Count(), len(byPrimary), len(bySecondary))
}
